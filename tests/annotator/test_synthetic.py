"""The synthetic capture corpus: determinism, splits, resume, ground-truth geometry, noise, motion."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from annotator.capture import Capture
from annotator.synthetic.builder import SynthConfig, build_corpus
from annotator.synthetic.noise import NOISE, expected_nme
from eval.annotation import score_corpus
from eval.metrics import msi3d
from flame.layer import FlameLayer
from flame.sequence import FlameSequence
from flame.types import FlameParams

FLIP = np.diag([1.0, -1.0, -1.0])


@pytest.fixture(scope="module")
def lab(tmp_path_factory, standin_paths):
    cfg = SynthConfig(domain="lab", identities=3, sequences=1, frames=45, out=str(tmp_path_factory.mktemp("lab")),
                      assets=str(standin_paths.folder), seed=3)
    return build_corpus(cfg, progress=False), cfg


@pytest.fixture(scope="module")
def wild(tmp_path_factory, standin_paths):
    cfg = SynthConfig(domain="wild", identities=4, sequences=2, frames=60, out=str(tmp_path_factory.mktemp("wild")),
                      assets=str(standin_paths.folder), seed=5)
    return build_corpus(cfg, progress=False), cfg


@pytest.fixture(scope="module")
def layer(standin_paths):
    return FlameLayer.from_files(standin_paths.pkl, n_shape=100, n_exp=50, dtype=torch.float64)


def _manifest(folder):
    return [json.loads(x) for x in (folder / "manifest.jsonl").read_text().splitlines()]


def test_layout_and_identity_splits(wild):
    folder, cfg = wild
    info = json.loads((folder / "corpus.json").read_text())
    assert info["complete"] and info["sequences"] == 8 and "stand-in" in info["model"]
    manifest = _manifest(folder)
    split_of = {}
    for e in manifest:
        assert split_of.setdefault(e["identity"], e["split"]) == e["split"]  # an identity never spans splits
        for name in ("gt.npz", "capture.npz", "cameras.npz"):
            assert (folder / e["path"] / name).is_file()
    assert set(split_of.values()) == {"train", "val", "test"}
    assert sorted(sum(info["splits"].values(), [])) == sorted(split_of)


def test_deterministic_and_resumable(tmp_path, standin_paths, wild):
    folder, cfg = wild
    again = build_corpus(SynthConfig(**{**cfg.__dict__, "out": str(tmp_path / "again")}), progress=False)
    for e in _manifest(folder):
        a = FlameSequence.load(folder / e["path"] / "gt.npz")
        b = FlameSequence.load(again / e["path"] / "gt.npz")
        assert a.equals(b)
        ca, cb = Capture.load(folder / e["path"] / "capture.npz"), Capture.load(again / e["path"] / "capture.npz")
        np.testing.assert_array_equal(ca.landmarks, cb.landmarks)
    # resume: a missing sequence is rebuilt identically, the others are not touched
    e0, e1 = _manifest(again)[:2]
    (again / e0["path"] / "gt.npz").unlink()
    kept = (again / e1["path"] / "gt.npz").stat().st_mtime_ns
    build_corpus(SynthConfig(**{**cfg.__dict__, "out": str(again)}), progress=False)
    assert FlameSequence.load(again / e0["path"] / "gt.npz").equals(FlameSequence.load(folder / e0["path"] / "gt.npz"))
    assert (again / e1["path"] / "gt.npz").stat().st_mtime_ns == kept
    with pytest.raises(ValueError, match="other settings"):
        build_corpus(SynthConfig(**{**cfg.__dict__, "out": str(again), "frames": 61}), progress=False)
    other = build_corpus(SynthConfig(**{**cfg.__dict__, "out": str(tmp_path / "other"), "seed": 6}), progress=False)
    e_other = _manifest(other)[0]
    e_same = next(x for x in _manifest(folder) if x["id"] == e_other["id"])
    a = FlameSequence.load(other / e_other["path"] / "gt.npz")
    assert not a.equals(FlameSequence.load(folder / e_same["path"] / "gt.npz"))


def _camera_points(layer, gt, cams, v, t_slice=slice(None)):
    with torch.no_grad():
        out = layer(FlameParams(torch.as_tensor(gt.shape, dtype=torch.float64), torch.as_tensor(gt.expression[v, t_slice],
                                dtype=torch.float64), torch.as_tensor(gt.pose[v, t_slice], dtype=torch.float64)))
    tau = cams["aligned_translation"][v, t_slice]
    to_cam = lambda x: np.einsum("ij,tnj->tni", FLIP, x.numpy() + tau[:, None])  # noqa: E731
    return to_cam(out.vertices), to_cam(out.landmarks2d_3d)


def test_views_see_one_head_and_landmarks_are_its_projections(lab, layer):
    folder, _ = lab
    e = _manifest(folder)[0]
    gt = FlameSequence.load(folder / e["path"] / "gt.npz")
    cams = dict(np.load(folder / e["path"] / "cameras.npz"))
    assert list(gt.view_names) == ["front", "left_30", "left_60", "right_30", "right_60", "top", "down"]
    world = []
    for v in range(gt.n_views):
        verts, lm = _camera_points(layer, gt, cams, v)
        uv = np.einsum("tij,tnj->tni", cams["K"][v], lm / lm[..., 2:3])[..., :2]
        np.testing.assert_allclose(uv, gt.landmarks2d[v, :, :, :2], atol=1e-3)  # stored = true projections
        R, t = cams["R"][v], cams["t"][v]
        world.append(np.einsum("tji,tnj->tni", R, verts - t[:, None]))  # camera -> world
    for v in range(1, gt.n_views):
        np.testing.assert_allclose(world[v], world[0], atol=1e-6)  # every view sees the same head in the world
    # the camera on the subject's left sees the left cheek: the left eye (+x, landmark 45) is nearer to it
    _, lm_left = _camera_points(layer, gt, cams, 1)
    assert (lm_left[:, 45, 2] < lm_left[:, 36, 2]).all()


def test_ground_truth_scores_zero_and_detections_have_the_intended_error(lab, layer, tmp_path):
    folder, cfg = lab
    rows = score_corpus(folder, "gt", tmp_path / "gt", layer=layer)
    mean = rows[-1]
    assert mean["mpve_mm"] < 1e-9 and mean["cvd_mm"] < 1e-9 and mean["nme68"] < 1e-9 and mean["pa_mpve_mm"] < 1e-6
    assert (tmp_path / "gt" / "scores.md").is_file() and (tmp_path / "gt" / "scores.csv").is_file()
    det = score_corpus(folder, "detections", tmp_path / "det", layer=layer)[-1]["nme68"]
    expected = []
    for e in _manifest(folder):
        gt = FlameSequence.load(folder / e["path"] / "gt.npz")
        for v in range(gt.n_views):
            expected.append(expected_nme(gt.landmarks2d[v, :, :, :2], np.zeros((gt.n_frames, 68), bool), NOISE["lab"]))
    assert 0.9 * np.mean(expected) < det < 1.5 * np.mean(expected), (det, np.mean(expected))
    assert 1.5 < det < 6.0  # of the order of a good 68-point detector


def test_msi_of_ground_truth_beats_per_frame_noise(lab, layer):
    folder, _ = lab
    e = _manifest(folder)[0]
    gt = FlameSequence.load(folder / e["path"] / "gt.npz")
    with torch.no_grad():
        lm = layer(FlameParams(torch.as_tensor(gt.shape, dtype=torch.float64), torch.as_tensor(gt.expression[0],
                   dtype=torch.float64), torch.as_tensor(gt.pose[0], dtype=torch.float64))).landmarks3d * 1000
    noisy = lm + torch.randn(lm.shape, generator=torch.Generator().manual_seed(0), dtype=torch.float64) * 1.0
    # 1 mm of per-frame noise (what a per-frame regressor adds) makes the tracks several times less stable
    assert float(msi3d(lm, gt.fps)) > 5 * float(msi3d(noisy, gt.fps))


def test_weak_perspective_ground_truth_camera_is_close(lab, layer):
    from eval.annotation import fitted_landmarks_px

    folder, _ = lab
    gt = FlameSequence.load(folder / _manifest(folder)[0]["path"] / "gt.npz")
    approx = fitted_landmarks_px(layer, gt.replace(fitted_landmarks2d=None))
    err = np.linalg.norm(approx - gt.landmarks2d[..., :2], axis=-1).mean(-1)
    iod = np.linalg.norm(gt.landmarks2d[..., 36, :2] - gt.landmarks2d[..., 45, :2], axis=-1)
    # at 1 m the weak-perspective camera is within ~2 % of the inter-ocular distance of the true projection:
    # the floor of NME for any annotator that, like DECA, uses this camera
    assert 0.003 < (err / iod).mean() < 0.03


def test_detector_noise_properties(wild, lab):
    folder, _ = lab
    caps = [Capture.load(folder / e["path"] / "capture.npz") for e in _manifest(folder)]
    lm = np.concatenate([c.landmarks for c in caps], axis=1)  # (7 views, T, 68, 3)
    conf = lm[..., 2]
    # side views hide more of the far side of the face: more low-confidence (self-occluded) points
    low = (conf < 0.5) & (conf > 0)
    assert low[[2, 4]].mean() > 3 * low[0].mean()
    wfolder, _ = wild
    wcaps = [Capture.load(wfolder / e["path"] / "capture.npz") for e in _manifest(wfolder)]
    valid = np.concatenate([c.valid.ravel() for c in wcaps])
    assert 0.7 < valid.mean() < 1.0
    for c in wcaps:
        assert np.isnan(c.landmarks[~c.valid][..., :2]).all() and (c.landmarks[~c.valid][..., 2] == 0).all()
        assert np.isfinite(c.landmarks[c.valid]).all()
        assert c.intrinsics is None  # in-the-wild cameras are unknown to the annotator


def test_motion_statistics(wild, lab, layer):
    """Talking, blinking heads: syllable-rate jaw motion, blinks that close the eyes, domain head ranges."""
    from scipy.signal import periodogram

    folder, _ = lab
    yaw_lab, yaw_wild, closures, speech_peaks = [], [], [], []
    for f, store in ((folder, yaw_lab), (wild[0], yaw_wild)):
        for e in _manifest(f):
            gt = FlameSequence.load(f / e["path"] / "gt.npz")
            cams = dict(np.load(f / e["path"] / "cameras.npz"))
            store.append(np.rad2deg(np.abs(cams["head_pose"][:, 1])).max())
            if gt.metadata["speaking"]:
                # above the phrase/pause envelope (< 1.5 Hz), jaw motion peaks at the syllable rate
                freqs, power = periodogram(gt.pose[0, :, 6] - gt.pose[0, :, 6].mean(), fs=gt.fps)
                band = freqs > 1.5
                speech_peaks.append(freqs[band][np.argmax(power[band])])
                assert 1.5 < gt.metadata["syllables"] / (gt.n_frames / gt.fps) < 6.0
            if gt.metadata["blinks"]:
                with torch.no_grad():
                    lm = layer(FlameParams(torch.as_tensor(gt.shape, dtype=torch.float64),
                                           torch.as_tensor(gt.expression[0], dtype=torch.float64),
                                           torch.as_tensor(gt.pose[0], dtype=torch.float64))).landmarks2d_3d
                gap = (lm[:, 37] - lm[:, 41]).norm(dim=-1)
                closures.append(float(gap.min() / gap.max()))
    assert np.mean(yaw_wild) > 2 * np.mean(yaw_lab)
    assert speech_peaks and 2.0 < np.median(speech_peaks) < 7.0, speech_peaks
    assert closures and min(closures) < 0.15  # the lids (nearly) meet during a blink
