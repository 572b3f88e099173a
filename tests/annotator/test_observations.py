"""The annotation's camera models and a calibrated rig's shared head rotation."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from annotator.capture import Capture
from annotator.observations import (
    Observations,
    assumed_intrinsics,
    camera_centre,
    centre_to_cam,
    rig_consensus,
    rig_share,
)
from flame.rotations import axis_angle_to_matrix, matrix_to_axis_angle


def _capture(v=2, t=5, calibrated=False, seed=0):
    rng = np.random.default_rng(seed)
    base = rng.uniform(150, 350, (68, 2))
    lm = np.concatenate([np.broadcast_to(base, (v, t, 68, 2)) + rng.normal(0, 1, (v, t, 68, 2)), np.ones((v, t, 68, 1))], -1)
    K = np.tile(np.array([[800.0, 0, 300], [0, 800.0, 200], [0, 0, 1]]), (v, t, 1, 1)) if calibrated else None
    return Capture(source="test", fps=25.0, view_names=np.array([f"v{i}" for i in range(v)]), frame_ids=np.arange(t),
                   landmarks=lm, valid=np.ones((v, t), bool), image_size=np.tile([[640, 400]], (v, 1)), intrinsics=K)


def test_assumed_intrinsics_use_the_larger_side_and_the_image_centre():
    K = assumed_intrinsics(np.array([[640, 400]]), 3, 1.5, torch.float64)
    assert K.shape == (1, 3, 3, 3)
    torch.testing.assert_close(K[0, 0], torch.tensor([[960.0, 0, 320], [0, 960.0, 200], [0, 0, 1]], dtype=torch.float64))


def test_projections_and_the_ray_turn():
    weak = Observations(_capture(), torch.float64)
    assert weak.focal is None and weak.ray is None and weak.intrinsics is None
    rot = torch.tensor([[[0.1, 0.2, 0.0]]], dtype=torch.float64)
    assert weak.to_camera_axes(rot) is rot
    calibrated = Observations(_capture(calibrated=True), torch.float64, "perspective", focal=9.0)
    torch.testing.assert_close(calibrated.intrinsics[0, 0, 0, 0], torch.tensor(800.0, dtype=torch.float64))  # not 9 x 640
    assumed = Observations(_capture(), torch.float64, "perspective", focal=1.5)
    torch.testing.assert_close(assumed.intrinsics[0, 0, 0, 0], torch.tensor(960.0, dtype=torch.float64))
    # the face sits left of and below the image centre: the ray turn is a rotation of a few degrees
    angle = torch.rad2deg(matrix_to_axis_angle(assumed.ray).norm(dim=-1))
    assert bool(((angle > 0.5) & (angle < 20)).all())
    points = torch.zeros(2, 5, 1, 3, dtype=torch.float64)  # the model origin: projected where weak perspective puts it
    cam = torch.tensor([8.0, 0.01, -0.02], dtype=torch.float64).expand(2, 5, 3)
    torch.testing.assert_close(assumed.project(points, cam), weak.project(points, cam))
    with pytest.raises(ValueError, match="projection"):
        Observations(_capture(), torch.float64, "orthographic")


def test_rig_consensus_gives_every_view_the_shared_world_rotation():
    g = torch.Generator().manual_seed(0)
    rig = axis_angle_to_matrix(0.5 * torch.randn(3, 1, 3, generator=g, dtype=torch.float64)).expand(3, 4, 3, 3)
    world = axis_angle_to_matrix(0.3 * torch.randn(4, 3, generator=g, dtype=torch.float64))
    per_view = matrix_to_axis_angle(rig @ world[None])  # every view sees the same head
    torch.testing.assert_close(rig_consensus(per_view, rig), per_view)
    noisy = per_view.clone()
    noisy[0] += 0.05  # one view's estimate off: the consensus moves a third of the way
    out = rig_consensus(noisy, rig)
    back = rig.transpose(-1, -2) @ axis_angle_to_matrix(out)
    torch.testing.assert_close(back[0], back[1])  # one world rotation for every view
    err = lambda a: float(matrix_to_axis_angle(a.transpose(-1, -2) @ world).norm(dim=-1).mean())  # noqa: E731
    assert 0.1 * err(rig[0].transpose(-1, -2) @ axis_angle_to_matrix(noisy[0])) < err(back[0]) \
        < 0.5 * err(rig[0].transpose(-1, -2) @ axis_angle_to_matrix(noisy[0]))


def test_camera_centre_round_trip():
    g = torch.Generator().manual_seed(1)
    cam = torch.tensor([9.0, 0.01, -0.02], dtype=torch.float64) + 0.1 * torch.rand(4, 3, generator=g, dtype=torch.float64)
    focal, principal = torch.full((4,), 5.0, dtype=torch.float64), 0.2 * torch.randn(4, 2, generator=g, dtype=torch.float64)
    centre = camera_centre(cam, focal, principal)
    torch.testing.assert_close(centre[:, 2], focal / cam[:, 0])  # the camera f / s in front of the model
    torch.testing.assert_close(centre_to_cam(centre, focal, principal), cam)


@pytest.mark.slow
def test_one_world_pose_reproduces_every_view_of_a_calibrated_rig(tiny_corpus, layer64):
    """Oracle: the synthetic builder's pinhole cameras (K, R, t). The true identity, expression and head rotation with one
    world position of the root per frame, solved for through :func:`rig_share`'s camera model, land on the true 2D
    landmarks of all seven views; and the truth is a fixed point of the consensus."""
    import json

    from eval.annotation import sequence_to_params
    from flame.sequence import FlameSequence

    corpus = tiny_corpus["lab"]
    entry = json.loads((corpus / "manifest.jsonl").read_text().splitlines()[0])
    cap, gt = Capture.load(corpus / entry["path"] / "capture.npz"), FlameSequence.load(corpus / entry["path"] / "gt.npz")
    cap = cap.replace(landmarks=gt.landmarks2d, valid=np.ones_like(cap.valid))  # the true projections
    obs = Observations(cap, torch.float64, "perspective")
    params = sequence_to_params(gt, layer64)
    landmarks = layer64.landmarks(params).landmarks2d_3d
    root = layer64.rest_joints(params.shape, params.expression)[..., 0, :]
    world = torch.zeros(gt.n_frames, 3, dtype=torch.float64)
    world[:, 2] = -0.8  # in front of the rig; solved below
    world.requires_grad_(True)

    def cams():
        aligned = (obs.rig @ world[None, ..., None])[..., 0] + obs.rig_origin
        return centre_to_cam(root - aligned, obs.focal, obs.principal)

    opt = torch.optim.LBFGS([world], max_iter=100, line_search_fn="strong_wolfe", tolerance_grad=1e-12, tolerance_change=0.0)

    def closure():
        opt.zero_grad()
        loss = (obs.project(landmarks, cams()) - obs.ndc).square().sum()
        loss.backward()
        return loss

    for _ in range(3):
        opt.step(closure)
    with torch.no_grad():
        cam = cams()
        err = (obs.project(landmarks, cam) - obs.ndc).abs()  # crop NDC, all views and frames
        assert float(err.mean()) < 1e-6 and float(err.max()) < 2e-4  # the truth is stored in float32
        rotation, shared = rig_share(params.pose[..., :3], cam, root, obs)
    torch.testing.assert_close(rotation, params.pose[..., :3], atol=1e-6, rtol=0)
    torch.testing.assert_close(shared, cam, atol=1e-6, rtol=0)
