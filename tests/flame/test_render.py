"""The rasterizer against a naive per-pixel reference, plus shading, visibility and video output."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from flame.camera import OrthoCamera, PinholeCamera, look_at, to_screen
from flame.draw import draw_landmarks, draw_points, to_uint8
from flame.media import write_png, write_video
from flame.raster import rasterize, vertex_visibility
from flame.render import render_mesh
from flame.types import FlameParams


def naive_rasterize(screen: np.ndarray, faces: np.ndarray, h: int, w: int, perspective: bool):
    """Reference: loop over pixels and faces; barycentric inside test; nearest depth wins."""
    face_idx = np.full((h, w), -1)
    depth = np.full((h, w), np.inf)
    for i in range(h):
        for j in range(w):
            p = np.array([j + 0.5, i + 0.5])
            for f, (a, b, c) in enumerate(faces):
                A, B, C = screen[a], screen[b], screen[c]
                area = (B[0] - A[0]) * (C[1] - A[1]) - (B[1] - A[1]) * (C[0] - A[0])
                if abs(area) < 1e-12:
                    continue
                l0 = ((C[0] - B[0]) * (p[1] - B[1]) - (C[1] - B[1]) * (p[0] - B[0])) / area
                l1 = ((A[0] - C[0]) * (p[1] - C[1]) - (A[1] - C[1]) * (p[0] - C[0])) / area
                l2 = 1 - l0 - l1
                if min(l0, l1, l2) < 0:
                    continue
                if perspective:
                    d = 1.0 / (l0 / A[2] + l1 / B[2] + l2 / C[2])
                else:
                    d = l0 * A[2] + l1 * B[2] + l2 * C[2]
                if d < depth[i, j]:
                    depth[i, j], face_idx[i, j] = d, f
    return face_idx, depth


@pytest.mark.parametrize("perspective", [False, True])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_rasterizer_matches_naive_reference(seed, perspective):
    rng = np.random.default_rng(seed)
    h, w, n_tri = 19, 23, 9
    verts = np.concatenate([rng.uniform(-3, w + 3, (3 * n_tri, 1)), rng.uniform(-3, h + 3, (3 * n_tri, 1)),
                            rng.uniform(1.0, 3.0, (3 * n_tri, 1))], axis=1)
    faces = np.arange(3 * n_tri).reshape(n_tri, 3)
    ref_face, ref_depth = naive_rasterize(verts, faces, h, w, perspective)
    frags = rasterize(torch.from_numpy(verts)[None], torch.from_numpy(faces), (h, w), perspective=perspective)
    face_idx, depth = frags.face_idx[0].numpy(), frags.depth[0].numpy()
    np.testing.assert_array_equal(face_idx >= 0, ref_face >= 0)
    covered = ref_face >= 0
    np.testing.assert_allclose(depth[covered], ref_depth[covered], rtol=0, atol=1e-9)
    np.testing.assert_array_equal(face_idx, ref_face)
    assert covered.mean() > 0.2
    # barycentrics are those of the 3D surface point (perspective-correct), so they reproduce its depth
    b = frags.bary[0].numpy()[covered]
    z = verts[faces[face_idx[covered]], 2]
    zi = (b * z).sum(1)
    np.testing.assert_allclose(zi, depth[covered], atol=1e-9)
    np.testing.assert_allclose(b.sum(1), 1.0, atol=1e-9)


def test_batch_matches_single(layer32):
    g = torch.Generator().manual_seed(0)
    pose = 0.2 * torch.randn(3, 15, generator=g)
    verts = layer32(FlameParams(torch.zeros(3, 100), torch.zeros(3, 50), pose)).vertices
    cam = OrthoCamera(torch.tensor([[7.7, 0.0, 0.02]]).expand(3, 3), 64)
    screen, _ = to_screen(verts, cam)
    batch = rasterize(screen, layer32.faces, (64, 64))
    for i in range(3):
        one = rasterize(screen[i:i + 1], layer32.faces, (64, 64))
        assert torch.equal(one.face_idx[0], batch.face_idx[i])


def test_front_and_back_faces_and_mouth_interior(layer32):
    out = layer32(FlameParams(torch.zeros(100), torch.zeros(50), torch.tensor([0, 0, 0, 0, 0, 0, 0.35] + [0.0] * 8)))
    cam = OrthoCamera(torch.tensor([[7.7, 0.0, 0.02]]), 128)
    screen, _ = to_screen(out.vertices[None], cam)
    frags = rasterize(screen, layer32.faces, (128, 128))
    lm = screen[0, :0]
    del lm
    mouth = ((out.landmarks2d_3d[62] + out.landmarks2d_3d[66]) / 2)[None, None]
    mx, my = (to_screen(mouth, cam)[0][0, 0, :2]).long().tolist()
    assert not frags.front[0, my, mx], "through the open mouth we see the inside (back faces)"
    nose = to_screen(out.landmarks2d_3d[30][None, None], cam)[0][0, 0, :2].long().tolist()
    assert frags.front[0, nose[1], nose[0]]
    img = render_mesh(out.vertices[None], layer32.faces, cam, (128, 128), colors=layer32.vertex_colors)[0]
    assert img[my, mx, :3].sum() < img[nose[1], nose[0], :3].sum()  # dark mouth, lit nose
    assert img[0, 0, 3] == 0 and img[nose[1], nose[0], 3] == 1


def test_vertex_visibility_two_planes():
    # a near square (z = 1) in front of the left half of a far square (z = 2)
    near = np.array([[-1, -1, 1], [0, -1, 1], [0, 1, 1], [-1, 1, 1]], dtype=np.float64)
    far = np.array([[-0.8, -0.5, 2], [0.8, -0.5, 2], [0.8, 0.5, 2], [-0.8, 0.5, 2]], dtype=np.float64)
    verts = torch.from_numpy(np.concatenate([near, far]))[None]
    quad = np.array([[0, 2, 1], [0, 3, 2]])  # normals toward -z, facing a camera on -z
    faces = torch.from_numpy(np.concatenate([quad, quad + 4]))
    R, t = look_at(torch.tensor([0.0, 0.0, -3.0], dtype=torch.float64), torch.zeros(3, dtype=torch.float64),
                   torch.tensor([0.0, 1.0, 0.0], dtype=torch.float64))
    cam = PinholeCamera.from_fov(60.0, (64, 64), R, t)
    vis = vertex_visibility(verts, faces, cam, (64, 64), depth_tolerance=1e-3)[0].tolist()
    # the camera looks along +z: world +x appears on the image left; the near square covers world x in [-1, 0]
    assert vis[:4] == [True, True, True, True]
    assert vis[4:] == [False, True, True, False]


def test_png_video_and_drawing(tmp_path):
    img = np.zeros((31, 33, 3), dtype=np.uint8)
    dotted = draw_points(img, np.array([[5.5, 6.5]]), (255, 0, 0), radius=1.0)
    assert (dotted[6, 5] == [255, 0, 0]).all() and dotted[20, 20].sum() == 0 and img.sum() == 0
    lm = np.stack([np.linspace(2, 30, 68), np.linspace(2, 28, 68)], 1)
    assert draw_landmarks(img, lm).sum() > 0
    write_png(tmp_path / "a.png", dotted)
    import imageio.v3 as iio

    np.testing.assert_array_equal(iio.imread(tmp_path / "a.png"), dotted)
    frames = [np.full((31, 33, 3), 10 * i, dtype=np.uint8) for i in range(12)]
    write_video(tmp_path / "v.mp4", frames, fps=10)
    back = iio.imread(tmp_path / "v.mp4", plugin="pyav") if False else np.stack(list(iio.imiter(tmp_path / "v.mp4")))
    assert back.shape[0] == 12 and back.shape[1:3] == (32, 34)  # padded to even sizes
    assert abs(float(back[7, :31, :33].mean()) - 70) < 3
    assert not list(tmp_path.glob(".*tmp*"))  # no temporary files left behind
    with pytest.raises(ValueError, match="no frames"):
        write_video(tmp_path / "empty.mp4", [], fps=10)
    assert to_uint8(np.array([[[2.0, -1.0, 0.5]]])).tolist() == [[[255, 0, 128]]]


def test_overlay_blends_only_the_mesh():
    from flame.draw import overlay

    frame = np.zeros((4, 4, 3), dtype=np.uint8)
    rgba = np.zeros((4, 4, 4))
    rgba[1:3, 1:3] = [1.0, 0.0, 0.0, 1.0]
    out = overlay(frame, rgba, alpha=0.5)
    assert out[0, 0].tolist() == [0, 0, 0]
    assert out[1, 1].tolist() == [128, 0, 0]
    assert overlay(frame, rgba, alpha=1.0)[2, 2].tolist() == [255, 0, 0]
