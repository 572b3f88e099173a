"""The procedural stand-in: layout, determinism, topology, and that it behaves like a face."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse
import torch
from scipy.sparse.csgraph import connected_components

from flame.camera import OrthoCamera
from flame.render import render_mesh
from flame.standin import EXPRESSION_NAMES, FULL_EXPRESSION, SHAPE_NAMES, build_standin
from flame.types import POSE_SLICES, FlameParams


def _params(layer, shape=None, expression=None, **pose):
    dt = layer.v_template.dtype
    p = FlameParams.zeros((), layer.n_shape, layer.n_exp, like=layer.v_template)
    pv = p.pose.clone()
    for k, v in pose.items():
        pv[POSE_SLICES[k]] = torch.tensor(v, dtype=dt)
    return FlameParams(p.shape if shape is None else shape, p.expression if expression is None else expression, pv)


def _unit(layer, n, k, value):
    v = torch.zeros(n, dtype=layer.v_template.dtype)
    v[k] = value
    return v


def test_file_layout(standin_model, standin_paths):
    m = standin_model
    assert 4500 <= m.n_vertices <= 5500 and 9000 <= len(m.faces) <= 11000
    assert m.shapedirs.shape == (m.n_vertices, 3, 300) and m.exprdirs.shape == (m.n_vertices, 3, 100)
    assert m.posedirs.shape == (m.n_vertices, 3, 36)
    assert m.parents.tolist() == [-1, 0, 1, 1, 1]
    np.testing.assert_allclose(m.weights.sum(1), 1.0, atol=1e-12)
    np.testing.assert_allclose(m.j_regressor.sum(1), 1.0, atol=1e-12)
    assert (m.j_regressor != 0).sum() < 40  # sparse, as in FLAME
    assert m.is_standin and "not FLAME" in m.label
    assert np.abs(m.posedirs[:, :, :18]).max() > 1e-4  # neck and jaw correctives exist
    assert np.abs(m.posedirs[:, :, 18:]).max() == 0  # eyes turn rigidly
    for name in ("shapedirs", "exprdirs"):
        cols = getattr(m, name).reshape(-1, getattr(m, name).shape[2])
        assert np.linalg.matrix_rank(cols) == cols.shape[1], f"{name} columns are linearly dependent"


@pytest.mark.slow
def test_deterministic(standin_model):
    again, emb = build_standin(seed=0)
    assert again.sha256 == standin_model.sha256
    other, _ = build_standin(seed=1)
    assert other.sha256 != standin_model.sha256


def test_topology(standin_model):
    m = standin_model
    f = m.faces
    edges = np.sort(np.concatenate([f[:, [0, 1]], f[:, [1, 2]], f[:, [2, 0]]]), axis=1)
    _, counts = np.unique(edges, axis=0, return_counts=True)
    assert counts.max() == 2, "non-manifold edge"
    directed = np.concatenate([f[:, [0, 1]], f[:, [1, 2]], f[:, [2, 0]]])
    assert len(np.unique(directed, axis=0)) == len(directed), "inconsistent face orientation"
    adj = scipy.sparse.coo_matrix((np.ones(len(edges)), (edges[:, 0], edges[:, 1])), shape=(m.n_vertices,) * 2)
    n_comp, labels = connected_components(adj, directed=False)
    assert n_comp == 3  # head, left eyeball, right eyeball
    for joint in (3, 4):
        eye = np.nonzero(m.weights[:, joint] == 1.0)[0]
        assert len(eye) > 100 and len(np.unique(labels[eye])) == 1
        others = np.setdiff1d(np.arange(m.n_vertices), eye)
        assert not np.isin(labels[others], labels[eye]).any(), "an eyeball is connected to something else"
    # left eyeball (joint 3) on the subject's left (+x), as in FLAME
    assert m.v_template[m.weights[:, 3] == 1.0, 0].mean() > 0.02
    # outward normals: most faces point away from the centroid of the head
    v = m.v_template
    n = np.cross(v[f[:, 1]] - v[f[:, 0]], v[f[:, 2]] - v[f[:, 0]])
    assert np.mean(np.sum(n * (v[f].mean(1) - v.mean(0)), 1) > 0) > 0.9


def test_jaw_opens_the_lips(layer64):
    closed = layer64(_params(layer64)).landmarks2d_3d
    opened = layer64(_params(layer64, jaw=(0.3, 0.0, 0.0))).landmarks2d_3d
    gap = lambda lm: float((lm[62] - lm[66]).norm())  # noqa: E731  inner lip centre, upper vs lower
    assert gap(closed) < 1e-9
    assert gap(opened) > 0.012
    assert opened[66, 1] < closed[66, 1] - 0.01 and abs(float(opened[62, 1] - closed[62, 1])) < 0.002


def test_blink_closes_the_eyelids(layer64, layer32):
    blink = EXPRESSION_NAMES.index("blink")
    open_lm = layer64(_params(layer64)).landmarks2d_3d
    shut_lm = layer64(_params(layer64, expression=_unit(layer64, 100, blink, FULL_EXPRESSION))).landmarks2d_3d
    pairs = [(37, 41), (38, 40), (43, 47), (44, 46)]  # upper vs lower lid
    open_gap = min(float((open_lm[a] - open_lm[b]).norm()) for a, b in pairs)
    shut_gap = max(float((shut_lm[a] - shut_lm[b]).norm()) for a, b in pairs)
    assert open_gap > 0.006 and shut_gap < 1e-4
    # rendered: the centre of the eye shows the bluish iris when open and skin when closed
    cam = OrthoCamera(torch.tensor([[12.0, -0.031, -0.028]]), 96)  # zoom on the left eye
    px = []
    for expr in (torch.zeros(50), _unit(layer32, 50, blink, FULL_EXPRESSION)):
        out = layer32(_params(layer32, expression=expr))
        img = render_mesh(out.vertices[None], layer32.faces, cam, (96, 96), colors=layer32.vertex_colors)[0]
        px.append(img[48, 48, :3])
    assert px[0][2] > px[0][0], f"expected the bluish iris at the eye centre, got {px[0]}"
    assert px[1][0] > px[1][2], f"expected skin over the closed eye, got {px[1]}"


def test_eye_pose_turns_only_the_eyeballs(layer64, standin_model):
    rest = layer64(_params(layer64))
    turned = layer64(_params(layer64, left_eye=(0.1, 0.4, 0.0), right_eye=(-0.2, 0.3, 0.0)))
    eyes = (standin_model.weights[:, 3] == 1.0) | (standin_model.weights[:, 4] == 1.0)
    moved = (turned.vertices - rest.vertices).norm(dim=-1) > 1e-12
    assert moved[torch.from_numpy(eyes)].float().mean() > 0.9
    assert not moved[torch.from_numpy(~eyes)].any()
    for joint in (3, 4):
        ids = torch.from_numpy(np.nonzero(standin_model.weights[:, joint] == 1.0)[0])
        d0 = (rest.vertices[ids] - rest.joints[joint]).norm(dim=-1)
        d1 = (turned.vertices[ids] - turned.joints[joint]).norm(dim=-1)
        torch.testing.assert_close(d0, d1)  # rigid rotation about the eye centre


@pytest.mark.parametrize("name,landmarks,axis,sign", [
    ("smile", [48, 54], 1, +1), ("brow raise", list(range(17, 27)), 1, +1), ("frown", [48, 54], 1, -1),
    ("lips apart", [66], 1, -1), ("pucker", [51, 57], 2, +1),
])
def test_semantic_expressions_move_their_region(layer64, name, landmarks, axis, sign):
    k = EXPRESSION_NAMES.index(name)
    rest = layer64(_params(layer64)).landmarks2d_3d
    expr = layer64(_params(layer64, expression=_unit(layer64, 100, k, FULL_EXPRESSION))).landmarks2d_3d
    delta = sign * (expr[landmarks, axis] - rest[landmarks, axis])
    assert (delta > 0.001).all(), f"{name}: {delta}"


def test_semantic_shapes(layer64):
    rest = layer64(_params(layer64))
    width = lambda out: float(out.vertices[:, 0].max() - out.vertices[:, 0].min())  # noqa: E731
    wide = layer64(_params(layer64, shape=_unit(layer64, 300, SHAPE_NAMES.index("head width"), 2.0)))
    assert width(wide) > width(rest) * 1.05
    nose = layer64(_params(layer64, shape=_unit(layer64, 300, SHAPE_NAMES.index("nose length"), 2.0)))
    assert float(nose.landmarks2d_3d[30, 2] - rest.landmarks2d_3d[30, 2]) > 0.005
    # later components are smaller than the leading ones (decaying scale)
    dirs = np.linalg.norm(layer64.blend_dirs[:300].numpy(), axis=1)
    assert dirs[250:].mean() < 0.2 * dirs[:15].mean()


def test_landmarks_sit_on_their_features(layer64):
    lm = layer64(_params(layer64)).landmarks2d_3d
    assert float(lm[30, 2]) == pytest.approx(float(lm[:, 2].max()))  # nose tip is the most forward point
    assert (lm[17:27, 1] > lm[36:48, 1].max()).all()  # brows above eyes
    assert (lm[48:68, 1] < lm[31:36, 1].min()).all()  # mouth below the nose
    assert lm[8, 1] < lm[:, 1].min() + 0.001  # chin is the lowest point
    assert (lm[42:48, 0] > 0).all() and (lm[36:42, 0] < 0).all()  # left eye on +x
