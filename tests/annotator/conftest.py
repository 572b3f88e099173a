"""Fixtures for annotator tests: small synthetic corpora and face videos made from a real photo."""

from __future__ import annotations

import numpy as np
import pytest

from flame.render import write_video


def face_frames(n: int, missing: range = range(0), seed: int = 0) -> list[np.ndarray]:
    """``n`` 320 x 320 frames of skimage's astronaut photo (a real face) drifting slowly; frames in
    ``missing`` show a blank wall instead (the face leaves the picture)."""
    import skimage.data

    img = skimage.data.astronaut()
    rng = np.random.default_rng(seed)
    frames = []
    for t in range(n):
        dy, dx = int(6 * np.sin(t / 7)), int(6 * np.cos(t / 9))
        f = np.ascontiguousarray(img[20 + dy:340 + dy, 60 + dx:380 + dx])
        if t in missing:
            f = np.full_like(f, 128)
        frames.append(np.clip(f.astype(int) + rng.integers(-3, 4, f.shape), 0, 255).astype(np.uint8))
    return frames


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
