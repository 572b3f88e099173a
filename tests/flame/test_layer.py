"""FlameLayer behaviour: batching, dtypes, gradients, the dynamic contour and its yaw convention."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from flame.layer import FlameLayer
from flame.rotations import axis_angle_to_matrix
from flame.types import FlameParams

# iBUG-68 left/right mirror permutation
MIRROR = np.array(list(range(16, -1, -1)) + list(range(26, 16, -1)) + [27, 28, 29, 30] + [35, 34, 33, 32, 31]
                  + [45, 44, 43, 42, 47, 46, 39, 38, 37, 36, 41, 40]
                  + [54, 53, 52, 51, 50, 49, 48, 59, 58, 57, 56, 55] + [64, 63, 62, 61, 60, 67, 66, 65])


def _random_params(b, n_shape, n_exp, dtype=torch.float64, seed=0, scale=0.3):
    g = torch.Generator().manual_seed(seed)
    return FlameParams(torch.randn(b, n_shape, generator=g, dtype=dtype), torch.randn(b, n_exp, generator=g, dtype=dtype),
                       scale * torch.randn(b, 15, generator=g, dtype=dtype))


def test_mirror_permutation_is_an_involution():
    assert sorted(MIRROR) == list(range(68))
    assert (MIRROR[MIRROR] == np.arange(68)).all()


def test_any_leading_dims_and_broadcast_shape(layer32):
    b, t = 2, 5
    p = _random_params(b * t, 100, 50, dtype=torch.float32)
    flat = layer32(p)
    # (B, T) params with a sequence-level shape (B, 1, n_shape) broadcast over time
    shape = p.shape.view(b, t, 100)[:, :1]
    p2 = FlameParams(shape, p.expression.view(b, t, 50), p.pose.view(b, t, 15))
    out = layer32(p2)
    assert out.vertices.shape == (b, t, layer32.n_vertices, 3)
    assert out.landmarks2d_3d.shape == (b, t, 68, 3) and out.joints.shape == (b, t, 5, 3)
    expected = layer32(FlameParams(shape.expand(b, t, 100).reshape(b * t, 100), p.expression, p.pose)).vertices
    torch.testing.assert_close(out.vertices.reshape(b * t, -1, 3), expected)
    assert flat.vertices.shape == (b * t, layer32.n_vertices, 3)
    single = layer32(FlameParams(p.shape[0], p.expression[0], p.pose[0]))
    assert single.vertices.shape == (layer32.n_vertices, 3)


def test_float32_matches_float64(standin_model, standin_embedding, layer64):
    l32 = FlameLayer(standin_model, standin_embedding, n_shape=300, n_exp=100, dtype=torch.float32)
    p = _random_params(4, 300, 100)
    torch.testing.assert_close(l32(p.to(torch.float32)).vertices.double(), layer64(p).vertices, atol=2e-6, rtol=0)


def test_dtype_mismatch_is_a_clear_error(layer32):
    with pytest.raises(ValueError, match="move one with .to"):
        layer32(_random_params(1, 100, 50, dtype=torch.float64))
    with pytest.raises(ValueError, match="ends in 300 values"):
        layer32(FlameParams(torch.zeros(1, 300), torch.zeros(1, 50), torch.zeros(1, 15)))


def test_gradients_reach_every_input(layer32):
    p = _random_params(3, 100, 50, dtype=torch.float32)
    leaves = {k: getattr(p, k).clone().requires_grad_(True) for k in ("shape", "expression", "pose")}
    tr = torch.zeros(3, 3, requires_grad=True)
    out = layer32(FlameParams(**leaves, translation=tr))
    (out.vertices.square().sum() + out.landmarks2d_3d.sum() + out.landmarks3d.sum() + out.joints.sum()).backward()
    for name, t in list(leaves.items()) + [("translation", tr)]:
        assert t.grad is not None and torch.isfinite(t.grad).all(), name
        assert t.grad.abs().sum() > 0, name


def test_gradcheck_float64(standin_model, standin_embedding):
    """Analytical vs numerical Jacobian on a small case (a fixed projection of the outputs)."""
    layer = FlameLayer(standin_model, standin_embedding, n_shape=4, n_exp=3, dtype=torch.float64)
    g = torch.Generator().manual_seed(3)
    proj = torch.randn(6, layer.n_vertices * 3 + 68 * 3, generator=g, dtype=torch.float64)

    def f(shape, expression, pose, translation):
        out = layer(FlameParams(shape, expression, pose, translation))
        return proj @ torch.cat([out.vertices.reshape(-1), out.landmarks3d.reshape(-1)])

    inputs = (torch.randn(4, generator=g, dtype=torch.float64), torch.randn(3, generator=g, dtype=torch.float64),
              0.3 * torch.randn(15, generator=g, dtype=torch.float64), 0.01 * torch.randn(3, generator=g, dtype=torch.float64))
    inputs = tuple(x.requires_grad_(True) for x in inputs)
    assert torch.autograd.gradcheck(f, inputs, eps=1e-6, atol=1e-5)


def _mirror_axis_angle(aa: torch.Tensor) -> torch.Tensor:
    """Axis-angle of M R M with M = diag(-1, 1, 1): (x, y, z) -> (x, -y, -z)."""
    return aa * torch.tensor([1.0, -1.0, -1.0], dtype=aa.dtype)


@pytest.mark.parametrize("yaw_deg", [12.0, 25.0, 37.0, 50.0])
def test_mirrored_pose_gives_mirrored_contour(layer64, yaw_deg):
    """On the symmetric neutral head, a mirrored head pose gives the mirrored 68 landmarks,
    contour included (rows for +yaw and -yaw are mirror images)."""
    z = torch.zeros(300, dtype=torch.float64)
    e = torch.zeros(100, dtype=torch.float64)
    aa = torch.tensor([0.15, math.radians(yaw_deg), -0.1], dtype=torch.float64)
    pose = torch.zeros(15, dtype=torch.float64)
    pose[:3] = aa
    pose_m = pose.clone()
    pose_m[:3] = _mirror_axis_angle(aa)
    lm = layer64(FlameParams(z, e, pose)).landmarks2d_3d
    lm_m = layer64(FlameParams(z, e, pose_m)).landmarks2d_3d
    mirrored = lm_m[MIRROR] * torch.tensor([-1.0, 1.0, 1.0], dtype=torch.float64)
    torch.testing.assert_close(lm, mirrored, atol=1e-9, rtol=0)
    # and the contour really changed with yaw (it is dynamic)
    front = layer64(FlameParams(z, e, torch.zeros(15, dtype=torch.float64))).landmarks2d_3d
    rot = axis_angle_to_matrix(aa)
    assert ((front[:17] @ rot.T) - lm[:17]).norm(dim=-1).max() > 1e-3


def test_contour_follows_the_silhouette_for_positive_yaw(layer64):
    """DECA sign convention: turning the face toward +x (positive yaw about +y), the +x contour
    points (9..16) must sit on the image silhouette of a camera on +z. Using the row of the opposite
    yaw - the other sign convention - puts them well inside the face."""
    yaw = math.radians(30)
    pose = torch.zeros(15, dtype=torch.float64)
    pose[1] = yaw
    z, e = torch.zeros(300, dtype=torch.float64), torch.zeros(100, dtype=torch.float64)
    out = layer64(FlameParams(z, e, pose))
    verts = out.vertices
    lm = out.landmarks2d_3d[:17]
    # silhouette: the largest image x among head vertices at about the landmark's height
    def silhouette_gap(points):
        gaps = []
        for p in points[10:16]:
            band = verts[:layer64.n_vertices][(verts[:, 1] - p[1]).abs() < 0.003]
            gaps.append(float(band[:, 0].max() - p[0]))
        return np.mean(gaps)
    from flame import lbs
    wrong_row = int(lbs.yaw_to_contour_row(torch.tensor([-30.0])))
    wrong = lbs.barycentric_interpolate(verts[None], layer64.faces, layer64.dynamic_faces[wrong_row][None],
                                        layer64.dynamic_bary[wrong_row][None])[0]
    right_gap, wrong_gap = silhouette_gap(lm), silhouette_gap(wrong)
    assert right_gap < 0.004, right_gap
    assert wrong_gap > 3 * right_gap and wrong_gap > 0.008, (right_gap, wrong_gap)


def test_contour_row_mapping():
    from flame.lbs import yaw_to_contour_row

    yaw = torch.tensor([0.0, 0.4, 0.6, 39.0, 80.0, -0.6, -1.0, -39.0, -39.4, -39.6, -80.0])
    assert yaw_to_contour_row(yaw).tolist() == [0, 0, 1, 39, 39, 40, 40, 78, 78, 78, 78]


def test_canonical_vertices_remove_global_rotation(layer32):
    p = _random_params(2, 100, 50, dtype=torch.float32)
    canon = layer32.canonical_vertices(p)
    pose0 = p.pose.clone()
    pose0[:, :3] = 0
    torch.testing.assert_close(canon, layer32(FlameParams(p.shape, p.expression, pose0)).vertices)


def test_from_pose6_layout():
    pose6 = torch.arange(6.0).view(1, 6)
    p = FlameParams.from_pose6(torch.zeros(1, 2), torch.zeros(1, 2), pose6)
    assert p.pose[0, :3].tolist() == [0, 1, 2] and p.pose[0, 3:6].tolist() == [0, 0, 0]
    assert p.pose[0, 6:9].tolist() == [3, 4, 5] and p.pose[0, 9:].abs().sum() == 0
    torch.testing.assert_close(p.pose6(), pose6)
    with pytest.raises(ValueError, match="15 values"):
        FlameParams(torch.zeros(2), torch.zeros(2), torch.zeros(6))
