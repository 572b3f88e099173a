"""Scores on occluded corpora (error inside the occluded frames, NME on the others) and the gap of the
real-clip experiment."""

from __future__ import annotations

import numpy as np
import pytest

from eval.annotation import occluded_of, score_sequence
from eval.experiments.real_gaps import gap_frames
from flame.errors import InputError


def test_an_error_planted_inside_the_occluders_moves_only_the_gap_scores(standin_paths, layer64, tmp_path):
    from annotator.capture import Capture
    from annotator.synthetic.builder import SynthConfig, build_corpus
    from annotator.synthetic.occlusion import Occlusion
    from flame.layout import read_corpus
    from flame.sequence import FlameSequence

    corpus = build_corpus(SynthConfig(domain="wild", identities=1, sequences=1, frames=60, out=str(tmp_path / "c"),
                                      model=str(standin_paths.pkl), seed=3, split_fractions=(0, 0, 1),
                                      occlusion=Occlusion(rate=1.0)), progress=False)
    entry = read_corpus(corpus).sequence()
    cap, gt = Capture.load(entry.capture), FlameSequence.load(entry.gt)
    gap = occluded_of(cap)
    assert 0 < gap.mean() < 1
    exact = gt.replace(fitted_landmarks2d=None)
    expression = exact.expression.copy()
    expression[gap] += 1.0  # wrong only inside the occluders
    wrong = exact.replace(expression=expression)
    a, b = (score_sequence(layer64, gt, p, cap.landmarks, cap.valid, gap) for p in (exact, wrong))
    assert a["mpve_gap_mm"] == pytest.approx(0.0, abs=1e-9) and b["mpve_gap_mm"] > 1.0
    assert b["mpve_mm"] == pytest.approx(b["occluded_fraction"] * b["mpve_gap_mm"], rel=1e-6)  # visible frames: 0
    assert b["nme68_visible"] == pytest.approx(a["nme68_visible"], rel=1e-12) and b["nme68"] > a["nme68"]
    assert "mpve_gap_mm" not in score_sequence(layer64, gt, exact)  # no occluders given, no gap scores


def test_the_gap_of_a_real_clip_is_centred_on_frames_with_a_face():
    valid = np.ones(10, bool)
    assert np.flatnonzero(gap_frames(valid, 4)).tolist() == [3, 4, 5, 6]
    valid[5] = False  # the gap hides only real detections: it moves to the nearest stretch with a face throughout
    assert np.flatnonzero(gap_frames(valid, 4)).tolist() == [1, 2, 3, 4]
    with pytest.raises(InputError, match="does not fit"):
        gap_frames(valid, 9)
    with pytest.raises(InputError, match="no stretch of 5 frames"):
        gap_frames(valid, 5)


@pytest.mark.slow  # detection and two annotations of a short real-photo video
def test_real_gaps_scores_both_fits_against_the_hidden_detections(tmp_path, standin_paths, layer32_small_encoder,
                                                                 write_generator):
    from demos.examples import face_frames
    from eval.experiments.real_gaps import run_real_gaps
    from flame.media import write_video

    _, _, pretrain, cache = layer32_small_encoder
    face_video_folder = tmp_path / "clips"
    write_video(face_video_folder / "face.mp4", face_frames(20), fps=10)  # a real photo drifting: a face in every frame
    prior = write_generator(tmp_path / "prior.pt", standin_paths.pkl, layer32_small_encoder[0].model_sha256)
    out = tmp_path / "out"
    rows = run_real_gaps(str(face_video_folder), str(prior), str(out), gap_seconds=0.5, model=str(standin_paths.pkl),
                         encoder_cache=str(cache), pretrain=pretrain, sheet_frames=4)
    assert [r["method"] for r in rows] == ["neuface", "neuface + prior"] and rows[0]["gap"] == "7-11"  # 5 frames, centred
    for r in rows:  # the hidden detections are the reference: finite, and worse than on the frames the fit saw
        assert 0 < r["nme_visible"] < r["nme_gap"] < 50
    assert (out / "face_gap.png").is_file() and (out / "real_gaps.md").is_file()
    again = run_real_gaps(str(face_video_folder), str(prior), str(out), gap_seconds=0.5, model=str(standin_paths.pkl),
                          encoder_cache=str(cache), pretrain=pretrain, sheet_frames=4)
    assert again == rows  # resumed from the saved capture and annotations
