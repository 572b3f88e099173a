"""Fixtures for annotator tests: small synthetic corpora and face videos made from a real photo
(:func:`demos.examples.face_frames`)."""

from __future__ import annotations

import numpy as np
import pytest

from demos.examples import face_frames
from flame.media import write_video


@pytest.fixture(scope="session")
def tiny_corpus(tmp_path_factory, standin_paths):
    """A 2-sequence lab corpus (7 views x 24 frames) and a 3-sequence wild corpus (40 frames)."""
    from annotator.synthetic.builder import SynthConfig, build_corpus

    root = tmp_path_factory.mktemp("tiny")
    lab = build_corpus(SynthConfig(domain="lab", identities=2, sequences=1, frames=24, out=str(root / "lab"),
                                   model=str(standin_paths.pkl), seed=11, split_fractions=(0.0, 0.0, 1.0)), progress=False)
    wild = build_corpus(SynthConfig(domain="wild", identities=3, sequences=1, frames=40, out=str(root / "wild"),
                                    model=str(standin_paths.pkl), seed=12, split_fractions=(0.0, 0.0, 1.0)), progress=False)
    return {"lab": lab, "wild": wild}


@pytest.fixture(scope="session")
def face_videos(tmp_path_factory):
    root = tmp_path_factory.mktemp("videos")
    write_video(root / "face.mp4", face_frames(20), fps=10)
    write_video(root / "gap.mp4", face_frames(24, missing=range(8, 14)), fps=10)
    write_video(root / "noface.mp4", [np.full((160, 160, 3), 90, np.uint8)] * 6, fps=10)
    (root / "broken.mp4").write_bytes(b"\x00\x00\x00 ftypisom this is not a video" * 20)
    multi = root / "multiview_bad"
    multi.mkdir()
    write_video(multi / "front.mp4", face_frames(12), fps=10)
    write_video(multi / "left_30.mp4", face_frames(9), fps=10)
    return root
