"""Cameras and crops on hand-computed cases."""

from __future__ import annotations

import math

import torch

from flame.camera import (
    PinholeCamera,
    crop_intrinsics,
    crop_transform_from_box,
    crop_transform_from_landmarks,
    invert_transform,
    look_at,
    ndc_to_pixels,
    perspective_project,
    pixels_to_ndc,
    project_crop,
    ray_rotation,
    transform_points,
    weak_perspective_project,
    weak_perspective_to_translation,
)


def test_weak_perspective_hand_case():
    pts = torch.tensor([[[0.1, 0.2, 0.3]]])
    cam = torch.tensor([[2.0, 0.05, -0.1]])
    out = weak_perspective_project(pts, cam)
    torch.testing.assert_close(out, torch.tensor([[[2 * 0.15, -2 * 0.1, -0.6]]]))
    # a point above the head (+y) lands in the upper half of the crop (smaller pixel row)
    up = ndc_to_pixels(weak_perspective_project(torch.tensor([[[0.0, 0.1, 0.0]]]), torch.tensor([[5.0, 0.0, 0.0]]))[..., :2], 224)
    assert up[0, 0, 1] < 112 and up[0, 0, 0] == 112
    torch.testing.assert_close(pixels_to_ndc(ndc_to_pixels(out[..., :2], 224), 224), out[..., :2])


def test_crop_transform_matches_deca_corners():
    center, size = torch.tensor([300.0, 200.0]), torch.tensor(150.0)
    T = crop_transform_from_box(center, size, crop_size=224)
    corners = torch.tensor([[225.0, 125.0], [225.0, 275.0], [375.0, 125.0]])
    torch.testing.assert_close(transform_points(T, corners), torch.tensor([[0.0, 0.0], [0.0, 223.0], [223.0, 0.0]]))
    back = transform_points(invert_transform(T), transform_points(T, corners))
    torch.testing.assert_close(back, corners)


def test_crop_from_landmarks_is_dec_a_style():
    lm = torch.tensor([[100.0, 50.0], [200.0, 50.0], [150.0, 170.0]])  # box 100 x 120 centred (150, 110)
    T = crop_transform_from_landmarks(lm)
    side = (100 + 120) / 2 * 1.1 * 1.25
    torch.testing.assert_close(transform_points(T, torch.tensor([[150.0, 110.0]])), torch.tensor([[111.5, 111.5]]))
    torch.testing.assert_close(T[0, 0], torch.tensor(223 / side))


def test_pinhole_projection_and_look_at():
    R, t = look_at(torch.tensor([0.0, 0.0, 1.0]), torch.zeros(3), torch.tensor([0.0, 1.0, 0.0]))
    torch.testing.assert_close(R, torch.diag(torch.tensor([1.0, -1.0, -1.0])))
    torch.testing.assert_close(t, torch.tensor([0.0, 0.0, 1.0]))
    cam = PinholeCamera.from_fov(90.0, (200, 100), R, t)
    assert math.isclose(float(cam.K[0, 0]), 100.0, rel_tol=1e-6)
    p = cam.project(torch.tensor([[0.1, 0.2, 0.0]]))  # 1 m in front of the camera
    torch.testing.assert_close(p, torch.tensor([[100 + 10.0, 50 - 20.0, 1.0]]))
    torch.testing.assert_close(cam.center, torch.tensor([0.0, 0.0, 1.0]))


def test_weak_perspective_translation_reproduces_the_projection():
    cam = torch.tensor([8.0, 0.01, -0.02])
    f = 1000.0
    t = weak_perspective_to_translation(cam, f)
    R = torch.diag(torch.tensor([1.0, -1.0, -1.0]))
    K = torch.tensor([[f, 0, 112.0], [0, f, 112.0], [0, 0, 1]])
    pin = PinholeCamera(K, R, t, (224, 224))
    pts = torch.tensor([[0.0, 0.0, 0.0], [0.001, -0.002, 0.0]])
    a = pin.project(pts)[:, :2]
    b = ndc_to_pixels(weak_perspective_project(pts, cam[None])[0, :, :2], 224)
    torch.testing.assert_close(a, b, atol=1e-3, rtol=0)


def _off_axis_scene(dtype=torch.float64):
    """A head-sized point cloud 0.5 m from a pinhole camera, well off its optical axis (FLAME-aligned
    frame: camera at the origin looking down -z), its pixels and the crop transform of those pixels."""
    g = torch.Generator().manual_seed(0)
    points = (torch.rand(68, 3, generator=g, dtype=dtype) - 0.5) * torch.tensor([0.15, 0.2, 0.1], dtype=dtype)
    offset = torch.tensor([0.12, -0.07, -0.5], dtype=dtype)  # model origin in the aligned frame
    K = torch.tensor([[600.0, 0, 330], [0, 600.0, 250], [0, 0, 1]], dtype=dtype)
    flip = torch.diag(torch.tensor([1.0, -1.0, -1.0], dtype=dtype))  # aligned frame -> OpenCV camera
    pixels = PinholeCamera(K, flip, flip @ offset, (640, 480)).project(points)[:, :2]
    return points, offset, K, pixels, crop_transform_from_landmarks(pixels)


def test_perspective_project_matches_a_pinhole_camera():
    points, offset, K, pixels, tform = _off_axis_scene()
    focal, principal = crop_intrinsics(K, tform)
    s = focal / -offset[2]  # the weak-perspective scale at the origin's depth
    cam = torch.stack([s, offset[0] + principal[0] / s, offset[1] - principal[1] / s])
    ndc = perspective_project(points, cam, focal, principal)[:, :2]
    back = transform_points(invert_transform(tform), ndc_to_pixels(ndc, 224))
    torch.testing.assert_close(back, pixels, atol=1e-9, rtol=0)
    torch.testing.assert_close(project_crop(points, cam, tform, K)[:, :2], ndc)
    # a very long lens is DECA's orthographic camera
    far = perspective_project(points, cam, focal * 1e9, principal)
    torch.testing.assert_close(far, weak_perspective_project(points, cam), atol=1e-7, rtol=0)
    torch.testing.assert_close(project_crop(points, cam, tform), weak_perspective_project(points, cam))


def test_ray_rotation_points_the_face_axis_back_at_the_camera():
    _, offset, K, pixels, tform = _off_axis_scene()
    focal, principal = crop_intrinsics(K, tform)
    # the crop centre's pixel, and the unit direction from it back to the camera (FLAME-aligned axes)
    centre = transform_points(invert_transform(tform), torch.full((1, 2), 112.0, dtype=torch.float64))[0]
    to_camera = -torch.nn.functional.normalize(torch.stack([(centre[0] - K[0, 2]) / K[0, 0],
                                                            -(centre[1] - K[1, 2]) / K[1, 1],
                                                            -torch.ones((), dtype=torch.float64)]), dim=0)
    r = ray_rotation(focal, principal)
    torch.testing.assert_close(r @ torch.tensor([0.0, 0.0, 1.0], dtype=torch.float64), to_camera)
    torch.testing.assert_close(r @ r.T, torch.eye(3, dtype=torch.float64))
    # no turn for a face on the optical axis
    torch.testing.assert_close(ray_rotation(focal, torch.zeros(2, dtype=torch.float64)), torch.eye(3, dtype=torch.float64))
