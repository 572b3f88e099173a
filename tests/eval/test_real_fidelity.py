"""The real-clip fidelity experiment end to end on a video of a real photo."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.slow  # annotates a clip three times


def test_real_fidelity_compares_the_methods_and_resumes(tmp_path, standin_paths, layer32_small_encoder):
    from demos.examples import face_frames
    from eval.experiments.real_fidelity import METHODS, run_real_fidelity
    from flame.media import write_video

    _, _, pretrain, cache = layer32_small_encoder
    write_video(tmp_path / "clips" / "face.mp4", face_frames(16), fps=10)
    kw = dict(out=str(tmp_path / "out"), model=str(standin_paths.pkl), encoder_cache=str(cache), pretrain=pretrain)
    rows = run_real_fidelity(str(tmp_path / "clips"), **kw)
    assert [r["method"] for r in rows] == list(METHODS)
    assert rows[0]["expr_vs_regress"] == 1.0
    for r in rows:
        assert r["expr_norm"] > 0 and r["shape_rms"] >= 0 and 0 < r["nme_det"] < 50 and r["jaw_offaxis_deg"] >= 0
    assert (tmp_path / "out" / "face_fidelity.png").is_file() and (tmp_path / "out" / "real_fidelity.md").is_file()
    assert run_real_fidelity(str(tmp_path / "clips"), **kw) == rows  # resumed from the saved capture and annotations
