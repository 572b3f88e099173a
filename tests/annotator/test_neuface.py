"""NeuFace and its baselines on small synthetic captures with ground truth."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from annotator.capture import Capture
from annotator.neuface import AnnotateConfig, annotate, face_vertex_ids
from annotator.observations import Observations, camera_centre
from eval.annotation import score_sequence
from flame.rotations import axis_angle_to_matrix
from flame.sequence import FlameSequence

pytestmark = pytest.mark.slow  # annotation with the pretrained encoder


def _first(corpus):
    e = json.loads((corpus / "manifest.jsonl").read_text().splitlines()[0])
    return Capture.load(corpus / e["path"] / "capture.npz"), FlameSequence.load(corpus / e["path"] / "gt.npz")


@pytest.fixture(scope="module")
def lab_results(tiny_corpus, layer32_small_encoder, layer64):
    layer, enc, _, _ = layer32_small_encoder
    cap, gt = _first(tiny_corpus["lab"])
    out = {}
    for name, cfg in {"regress": AnnotateConfig(method="regress"),
                      "neuface": AnnotateConfig(epochs=20),
                      "neuface per view": AnnotateConfig(epochs=20, share_views=False),
                      "fit": AnnotateConfig(method="fit", epochs=24, lr=1e-2)}.items():
        res = annotate(cap, layer, enc, cfg)
        out[name] = (res, score_sequence(layer64, gt, res.sequence, cap.landmarks, cap.valid))
    out["truth"] = gt
    return out


def test_neuface_improves_on_regress(lab_results):
    (_, rg), (res, nf) = lab_results["regress"], lab_results["neuface"]
    assert nf["nme68"] < rg["nme68"] and nf["cvd_mm"] < rg["cvd_mm"] and nf["mpve_mm"] < rg["mpve_mm"]
    assert nf["msi_l"] > rg["msi_l"]
    totals = [h["total"] for h in res.history]
    assert totals[-1] < totals[0]
    seq = res.sequence
    assert seq.metadata["method"] == "neuface" and seq.fitted_landmarks2d.shape == (7, 24, 68, 2)
    assert seq.losses["lmk"].shape == (7, 24) and np.isfinite(seq.pose).all()
    assert np.abs(seq.pose[..., 3:6]).max() == 0 and np.abs(seq.pose[..., 9:]).max() == 0  # neck and eyes stay 0


def test_views_share_one_expression_and_jaw(lab_results):
    """The cameras film one face: one expression and jaw per frame, so the canonical meshes agree exactly. Each view
    with its own, pulled together by the multi-view term through the encoder's shared weights, opens the jaw less."""
    (res, nf), (per_view, pv) = lab_results["neuface"], lab_results["neuface per view"]
    seq = res.sequence
    assert np.ptp(seq.expression, axis=0).max() == 0 and np.ptp(seq.pose[..., 6:9], axis=0).max() == 0
    assert nf["cvd_mm"] < 1e-6 < pv["cvd_mm"]
    assert np.ptp(per_view.sequence.expression, axis=0).max() > 0
    opening = lambda s: float(np.std(s.pose[..., 6]))  # noqa: E731  (rad, over views and frames)
    truth = opening(lab_results["truth"])
    assert abs(opening(seq) / truth - 1) < abs(opening(per_view.sequence) / truth - 1)  # 0.95x against 0.84x here
    assert nf["jaw_err_deg"] < pv["jaw_err_deg"]


def test_a_calibrated_rig_sees_one_head_pose(lab_results, tiny_corpus, layer32_small_encoder):
    """On a calibrated rig the views also share the head pose in the world: one rotation and one root position per
    frame. Seven views then place the head better than each view alone."""
    (res, nf), (_, pv) = lab_results["neuface"], lab_results["neuface per view"]
    layer = layer32_small_encoder[0]
    seq, cap = res.sequence, _first(tiny_corpus["lab"])[0]
    obs = Observations(cap, torch.float64, "perspective")
    rotation = torch.as_tensor(seq.pose[..., :3], dtype=torch.float64)
    world = obs.rig.transpose(-1, -2) @ axis_angle_to_matrix(rotation)
    assert float((world - world[:1]).abs().max()) < 1e-4
    root = layer.rest_joints(torch.as_tensor(seq.shape), torch.as_tensor(seq.expression))[..., 0, :].double()
    aligned = root - camera_centre(torch.as_tensor(seq.cam, dtype=torch.float64), obs.focal, obs.principal)
    position = (obs.rig.transpose(-1, -2) @ (aligned - obs.rig_origin)[..., None])[..., 0]  # metres, world
    assert float((position - position[:1]).abs().max()) < 1e-4
    assert nf["head_err_deg"] < pv["head_err_deg"] and nf["mpve_mm"] < pv["mpve_mm"]


def test_fit_improves_on_its_initialization(lab_results):
    (_, rg), (res, ft) = lab_results["regress"], lab_results["fit"]
    assert ft["nme68"] < rg["nme68"] and ft["cvd_mm"] < rg["cvd_mm"]
    assert res.history[-1]["lmk"] < res.history[0]["lmk"]


def test_official_variant_and_tensorboard(tiny_corpus, layer32_small_encoder, tmp_path):
    layer, enc, _, _ = layer32_small_encoder
    cap, _ = _first(tiny_corpus["lab"])
    em = annotate(cap, layer, enc, AnnotateConfig(epochs=3, lr=3e-4))
    official = annotate(cap, layer, enc, AnnotateConfig(epochs=5, lr=1e-4, targets="official", batch_frames=20,
                                                        share_views=False, mv_frames=5, tensorboard=str(tmp_path / "tb")))
    assert not np.allclose(em.sequence.pose, official.sequence.pose)
    assert official.history[-1]["lmk"] < official.history[0]["lmk"]
    assert list((tmp_path / "tb").glob("events.out.tfevents*"))


def test_frames_without_a_face_get_parameters(tiny_corpus, layer32_small_encoder):
    layer, enc, _, _ = layer32_small_encoder
    cap, _ = _first(tiny_corpus["wild"])
    lm, valid = cap.landmarks.copy(), cap.valid.copy()
    valid[0, 10:16] = False
    lm[0, 10:16, :, :2] = np.nan
    lm[0, 10:16, :, 2] = 0
    res = annotate(cap.replace(landmarks=lm, valid=valid), layer, enc, AnnotateConfig(epochs=3))
    seq = res.sequence
    assert np.isfinite(seq.pose).all() and np.isfinite(seq.fitted_landmarks2d).all()
    assert not seq.valid[0, 10:16].any() and np.isnan(seq.landmarks2d[0, 12, :, 0]).all()
    with pytest.raises(ValueError, match="no frame with a detected face"):
        annotate(cap.replace(valid=np.zeros_like(valid)), layer, enc, AnnotateConfig(method="regress"))


def test_face_vertices_cover_what_expression_and_jaw_move(layer32_small_encoder):
    layer = layer32_small_encoder[0]
    ids = face_vertex_ids(layer)
    assert 0.2 * layer.n_vertices < len(ids) < 0.9 * layer.n_vertices
    from flame.types import FlameParams

    g = torch.Generator().manual_seed(0)
    p = FlameParams(torch.zeros(100), torch.randn(50, generator=g), torch.tensor([0.0] * 6 + [0.3] + [0.0] * 8))
    moved = (layer(p).vertices - layer(FlameParams(torch.zeros(100), torch.zeros(50), torch.zeros(15))).vertices).norm(dim=-1)
    outside = torch.ones(layer.n_vertices, dtype=torch.bool)
    outside[ids] = False
    assert float(moved[outside].max()) < 0.002 < float(moved[ids].max())


def test_deca_encoder_runs_in_the_neuface_loop(tiny_corpus, layer32_small_encoder, tmp_path, standin_paths):
    """The image path end to end with random DECA weights (the real ones are licensed): crops are
    warped from rendered frames, BatchNorm stays frozen, the landmark loss goes down."""
    from annotator.encoders import DecaEncoder
    from annotator.neuface import crops_for
    from annotator.sources import iter_view
    from annotator.synthetic.builder import SynthConfig, build_corpus

    layer = layer32_small_encoder[0]
    corpus = build_corpus(SynthConfig(domain="mocap", identities=1, sequences=1, frames=3, out=str(tmp_path / "c"),
                                      model=str(standin_paths.pkl), image_size=128, render=True), progress=False)
    seq_dir = next(corpus.rglob("capture.npz")).parent
    cap = Capture.load(seq_dir / "capture.npz")
    crops = crops_for(cap, [iter_view(seq_dir / str(cap.videos[0]))])
    assert crops.shape == (1, 3, 3, 224, 224) and 0 < float(crops.mean()) < 1
    torch.manual_seed(0)
    enc = DecaEncoder()
    with torch.no_grad():
        enc.layers[2].weight.mul_(0.01)  # small random outputs instead of DECA's trained ones
        enc.layers[2].bias.zero_()
        enc.layers[2].bias[206] = 5.0  # a plausible camera scale
    res = annotate(cap, layer, enc, AnnotateConfig(epochs=2, lr=1e-4, batch_frames=3), crops=crops)
    assert res.history[-1]["lmk"] < res.history[0]["lmk"]
    with pytest.raises(ValueError, match="image crops"):
        annotate(cap, layer, enc, AnnotateConfig(epochs=1))
