"""Our FLAME layer against smplx.FLAME, an independent implementation, on the same model files."""

from __future__ import annotations

import shutil

import pytest
import torch

from flame.types import FlameParams

smplx = pytest.importorskip("smplx")


@pytest.fixture(scope="module")
def smplx_dir(standin_paths, tmp_path_factory):
    d = tmp_path_factory.mktemp("smplx_flame")
    shutil.copy(standin_paths.npz, d / "FLAME_NEUTRAL.npz")
    shutil.copy(standin_paths.ringnet_static, d / "flame_static_embedding.pkl")
    return d


def _smplx_forward(model, p: FlameParams):
    pose = p.pose
    return model(betas=p.shape, expression=p.expression, global_orient=pose[:, 0:3], neck_pose=pose[:, 3:6],
                 jaw_pose=pose[:, 6:9], leye_pose=pose[:, 9:12], reye_pose=pose[:, 12:15], transl=p.translation)


@pytest.mark.parametrize("dtype,atol", [(torch.float64, 1e-6), (torch.float32, 1e-5)])
def test_matches_smplx_flame(smplx_dir, standin_model, standin_embedding, dtype, atol):
    from flame.layer import FlameLayer

    b = 6
    g = torch.Generator().manual_seed(0)
    p = FlameParams(
        shape=torch.randn(b, 300, generator=g, dtype=dtype),
        expression=torch.randn(b, 100, generator=g, dtype=dtype),
        pose=0.4 * torch.randn(b, 15, generator=g, dtype=dtype),
        translation=0.05 * torch.randn(b, 3, generator=g, dtype=dtype),
    )
    ref = smplx.FLAME(str(smplx_dir), ext="npz", num_betas=300, num_expression_coeffs=100, batch_size=b, dtype=dtype,
                      use_face_contour=False)
    layer = FlameLayer(standin_model, standin_embedding, n_shape=300, n_exp=100, dtype=dtype)
    with torch.no_grad():
        theirs = _smplx_forward(ref, p)
        ours = layer(p)
    # smplx appends the 51 static landmarks (its own order: static first) after the 5 joints.
    torch.testing.assert_close(ours.vertices, theirs.vertices, atol=atol, rtol=0)
    torch.testing.assert_close(ours.joints, theirs.joints[:, :5], atol=atol, rtol=0)
    torch.testing.assert_close(ours.static_landmarks, theirs.joints[:, 5:56], atol=atol, rtol=0)
    # the comparison is not vacuous: the pose moved the mesh well beyond the tolerance
    assert (ours.vertices - layer.v_template).abs().max() > 1000 * atol


def test_matches_smplx_with_fewer_components(smplx_dir, standin_model, standin_embedding):
    """Leading components: n_shape=100 / n_exp=50 must use shapedirs[:, :, :100] and [300:350]."""
    from flame.layer import FlameLayer

    b = 3
    g = torch.Generator().manual_seed(1)
    p = FlameParams(torch.randn(b, 100, generator=g, dtype=torch.float64),
                    torch.randn(b, 50, generator=g, dtype=torch.float64),
                    0.3 * torch.randn(b, 15, generator=g, dtype=torch.float64))
    ref = smplx.FLAME(str(smplx_dir), ext="npz", num_betas=100, num_expression_coeffs=50, batch_size=b,
                      dtype=torch.float64)
    layer = FlameLayer(standin_model, standin_embedding, n_shape=100, n_exp=50, dtype=torch.float64)
    with torch.no_grad():
        torch.testing.assert_close(layer(p).vertices, _smplx_forward(ref, p).vertices, atol=1e-6, rtol=0)
