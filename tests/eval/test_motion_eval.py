"""``python -m eval motion`` end to end: motion files through the head model, planted effects, the MEAD layout."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from eval.__main__ import main
from eval.motion import score_set
from eval.motion_features import load_motion_set, sequence_features
from flame.head import head_layer
from flame.official import MEAD_VIEWS, to_neuface_params
from flame.sequence import FlameSequence

FPS = 30.0


@pytest.fixture(scope="module")
def layer(standin_paths):
    return head_layer(standin_paths.pkl, dtype=torch.float64)


def talking(layer, seed: int, seconds: float = 8.0, fps: float = FPS, jaw_hz: float = 4.0, yaw_drift_deg: float = 0.0,
            views: int = 1) -> FlameSequence:
    """Stationary talking-like motion: slow head sway, a jaw opening at ``jaw_hz``, slow expression."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * fps)) / fps
    pose = np.zeros((views, len(t), 15))
    for v in range(views):
        ph = rng.uniform(0, 2 * np.pi, 6)
        pose[v, :, 0] = 0.08 * np.sin(2 * np.pi * 0.3 * t + ph[0])
        pose[v, :, 1] = 0.15 * np.sin(2 * np.pi * 0.2 * t + ph[1]) + np.radians(yaw_drift_deg) * t / seconds
        pose[v, :, 6] = 0.12 + 0.1 * np.sin(2 * np.pi * jaw_hz * t + ph[2])
    expr = np.zeros((views, len(t), 50))
    expr[..., :3] = 0.8 * np.sin(2 * np.pi * 0.25 * t[:, None] + rng.uniform(0, 6, 3))
    return FlameSequence.from_params(shape=rng.normal(size=100) * 0.2, expression=expr, pose=pose, fps=fps,
                                     model=layer.model_label, model_sha256=layer.model_sha256)


@pytest.fixture(scope="module")
def real(layer):
    return [c for i in range(6) for c in sequence_features(talking(layer, i), layer, f"real{i}")]


def test_motion_judged_against_itself(real):
    s = score_set(real, real)
    assert all(s[f"fd_{v}"] == pytest.approx(0.0, abs=1e-6) for v in ("expression", "pose", "landmarks", "combined"))
    assert s["variance_ratio"] == pytest.approx(1.0) and s["out_of_range"] == 0.0 and s["nonfinite_fraction"] == 0.0
    assert s["speed_ratio"] == pytest.approx(1.0) and s["acceleration_ratio"] == pytest.approx(1.0)
    assert s["jaw_peak_hz"] == pytest.approx(4.0, abs=0.05) and s["jaw_3-6Hz"] > 0.9
    assert s["rotation_invalid"] == 0.0 and len(s["horizon"]) == 8


def test_planted_differences_move_the_metric_they_should(layer, real):
    def score(clips):
        return score_set(clips, real, horizon=False)

    base = score([c for i in range(6, 10) for c in sequence_features(talking(layer, i), layer, "g")])
    # a drifting head: 60 degrees of yaw over 8 s - pose FD and the out-of-range fraction, not the expression
    drift = score([c for i in range(6, 10) for c in sequence_features(talking(layer, i, yaw_drift_deg=60), layer, "d")])
    assert drift["fd_pose"] > 20 * base["fd_pose"] and drift["out_of_range"] > base["out_of_range"] + 0.3
    assert drift["fd_expression"] == pytest.approx(base["fd_expression"], rel=1e-6)
    assert drift["fd_landmarks"] == pytest.approx(base["fd_landmarks"], rel=0.05)  # head-canonical: the face is unchanged
    # time-scaled: the same motion at half speed (the file says 15 fps) - speeds and rhythm, not the poses
    slow = score([c.frames(0, 240) for i in range(6, 10)
                  for c in sequence_features(talking(layer, i).replace(fps=15.0), layer, "s")])
    assert slow["speed_ratio"] == pytest.approx(0.5 * base["speed_ratio"], rel=0.05)
    assert slow["jaw_speed_ratio"] == pytest.approx(0.5 * base["jaw_speed_ratio"], rel=0.05)
    assert slow["jaw_peak_hz"] == pytest.approx(2.0, abs=0.05) and slow["jaw_3-6Hz"] < 0.1
    assert slow["out_of_range"] <= base["out_of_range"] + 0.02
    assert slow["variance_ratio"] == pytest.approx(base["variance_ratio"], rel=0.25)
    # frozen clips: one frame held - freeze rate 1 and no motion; its poses are real ones (in range)
    frozen = [c.frames(0, 1) for c in sequence_features(talking(layer, 6), layer, "f")]
    still = [type(c)(c.name, c.group, *(np.repeat(a, 240, 0) for a in (c.head, c.jaw, c.expression, c.landmarks,
                                                                      c.canonical)), c.fps) for c in frozen]
    f = score(still)
    assert f["freeze_rate"] == 1.0 and f["speed_ratio"] == 0.0 and f["out_of_range"] == 0.0
    assert base["freeze_rate"] < 0.2


def test_apd_groups_samples_by_start_and_skips_the_shared_start(layer):
    seqs = [talking(layer, i, seconds=2.0) for i in range(3)]
    pose = np.concatenate([s.pose for s in seqs])
    pose[:, 0] = pose[0, 0]  # the three samples start from the same frame
    expr = np.concatenate([s.expression for s in seqs])
    expr[:, 0] = expr[0, 0]
    seq = FlameSequence.from_params(shape=seqs[0].shape, expression=expr, pose=pose, fps=FPS, model=layer.model_label,
                                    model_sha256=layer.model_sha256, metadata={"start": "clip7"})
    clips = sequence_features(seq, layer, "samples")
    assert {c.group for c in clips} == {"clip7"}
    s = score_set(clips, clips)
    lm = np.stack([c.landmarks[1:] for c in clips])
    pairs = [(0, 1), (0, 2), (1, 2)]
    expected = np.mean([np.linalg.norm(lm[a] - lm[b], axis=-1).mean() for a, b in pairs])
    assert s["apd_mean_world"] == pytest.approx(expected, rel=1e-9)


def test_identity_removed_distance_is_zero_for_the_same_motion_on_two_faces(layer):
    """Real clips' mutual distance: the same motion (head, expression; no jaw) on two faces is 0 with each
    clip's mean face removed, and the faces' difference without; a different motion is not 0."""
    same = talking(layer, 0, seconds=3.0)
    same = same.replace(pose=same.pose * np.r_[np.ones(3), np.zeros(12)])  # the jaw rotation mixes in identity
    other_face = same.replace(shape=np.random.default_rng(9).normal(size=100).astype(np.float32))
    clips = [c for i, s in enumerate((same, other_face)) for c in sequence_features(s, layer, f"face{i}")]
    s = score_set(clips, clips)
    assert s["apd_mean_identity_removed"] < 1e-6 < 0.1 < s["apd_mean_head_canonical"]
    moved = talking(layer, 5, seconds=3.0).replace(shape=same.shape)
    clips = [c for i, s in enumerate((same, moved)) for c in sequence_features(s, layer, f"m{i}")]
    assert score_set(clips, clips)["apd_mean_identity_removed"] > 0.05


def test_mead_params_evaluate_as_seven_clips(layer, tmp_path):
    seq = talking(layer, 0, seconds=2.0, views=7).replace(view_names=np.array(MEAD_VIEWS))
    path = to_neuface_params(seq, tmp_path / "M003_angry_level_1_001" / "flame_params" / "params.npz")
    clips = load_motion_set(path, layer, layout="mead", progress=False)
    assert [c.name.rsplit("/", 1)[1] for c in clips] == list(MEAD_VIEWS) and all(len(c) == 60 for c in clips)
    with pytest.raises(ValueError, match="does not record its frame rate or views"):
        load_motion_set(path, layer, progress=False)
    vox = load_motion_set(path, layer, layout="voxceleb2", progress=False)  # 7 x 60 rows read as one 25 fps view
    assert len(vox) == 1 and len(vox[0]) == int((420 - 1) * 30 / 25) + 1


def test_cli_aggregates_runs_and_writes_the_report(layer, tmp_path, standin_paths, capsys):
    sets = (("real", range(4)), ("ref", range(4, 7)), ("seed0", [7, 8]), ("seed1", [9, 10]), ("seed2", [11, 12]))
    for name, seeds in sets:
        for i in seeds:
            talking(layer, i, seconds=3.0).save(tmp_path / name / f"s{i}.npz")
    out = tmp_path / "eval"
    assert main(["motion", "--generated", json.dumps([str(tmp_path / f"seed{k}") for k in range(3)]),
                 "--real", str(tmp_path / "real"), "--reference", str(tmp_path / "ref"), "--model", str(standin_paths.pkl),
                 "--out", str(out)]) == 0
    result = json.loads((out / "motion.json").read_text())
    gen = result["rows"][0]
    assert gen["set"] == "generated" and gen["runs"] == 3 and gen["fd_pose_std"] > 0
    runs = [r["fd_pose"] for r in result["runs"] if r["set"] == "generated"]
    assert gen["fd_pose"] == pytest.approx(np.mean(runs)) and gen["fd_pose_std"] == pytest.approx(np.std(runs, ddof=1))
    assert [r["kind"] for r in result["rows"]] == ["generated", "reference", "real"]
    text = (out / "motion.md").read_text()
    assert "±" in text and "real clips of other identities (reference)" in text
    for f in ("motion.csv", "horizon.csv", "horizon.png", "spectra.png"):
        assert (out / f).stat().st_size > 0
    assert main(["motion", "--generated", "[" + str(tmp_path / "nowhere") + "]", "--real", str(tmp_path / "real"),
                 "--out", str(out)]) == 2
    assert "nowhere" in capsys.readouterr().err
