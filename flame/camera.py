"""Cameras: DECA's weak perspective in crop NDC, DECA-style crops, and a pinhole camera.

Frames and units
----------------
* World / FLAME frame: metres, +y up, the face looks toward +z, +x is the subject's left.
* Crop NDC (DECA): ``x = s (X + tx)``, ``y = -s (Y + ty)`` in [-1, 1]; x to the right, y down,
  so a point's crop pixel is ``u = (x + 1) / 2 * size``, ``v = (y + 1) / 2 * size``.
* Pinhole (OpenCV): camera x right, y down, z forward; ``p_cam = R X + t``, pixels
  ``u = fx x / z + cx``. A frontal camera at ``(0, 0, d)`` looking at the face has
  ``R = diag(1, -1, -1)``, ``t = (0, 0, d)``.
* Crop transforms are 3 x 3 similarity matrices acting on homogeneous image pixels:
  ``crop_px = T @ [u, v, 1]`` (original image -> crop).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from flame.rotations import axis_angle_to_matrix

__all__ = [
    "CENTRED_CAM",
    "CROP_SIZE",
    "weak_perspective_project",
    "perspective_project",
    "crop_intrinsics",
    "project_crop",
    "ray_rotation",
    "ndc_to_pixels",
    "pixels_to_ndc",
    "crop_transform_from_landmarks",
    "crop_transform_from_box",
    "transform_points",
    "invert_transform",
    "PinholeCamera",
    "OrthoCamera",
    "to_screen",
    "camera_rotation",
    "look_at",
    "weak_perspective_to_translation",
    "fit_weak_perspective",
]


#: Side in pixels of DECA's square face crop, the frame of the weak-perspective camera and the encoders' input.
CROP_SIZE = 224
#: A weak-perspective camera ``(s, tx, ty)`` that frames a head at the origin in the crop (8 NDC units per metre:
#: a 25 cm head spans the crop); what a sequence made from parameters alone is seen with.
CENTRED_CAM = (8.0, 0.0, 0.0)

def weak_perspective_project(points: Tensor, cam: Tensor) -> Tensor:
    """DECA's orthographic camera.

    Args:
        points: ``(..., N, 3)`` metres, FLAME frame.
        cam: ``(..., 3)`` = ``(s, tx, ty)``; ``s`` in NDC units per metre, ``t`` in metres.

    Returns:
        ``(..., N, 3)``: crop NDC ``x, y`` (y down) and ``z = -s Z`` (smaller is closer to the camera).
    """
    s = cam[..., None, 0:1]
    t = cam[..., None, 1:3]
    xy = s * (points[..., :2] + t)
    return torch.cat([xy[..., :1], -xy[..., 1:2], -s * points[..., 2:3]], dim=-1)


def perspective_project(points: Tensor, cam: Tensor, focal: Tensor, principal: Tensor) -> Tensor:
    """A pinhole camera written around DECA's: the weak-perspective camera ``(s, tx, ty)`` places and scales
    the model at the depth of its origin, and a point ``Z`` metres nearer the camera than that is scaled by
    ``g = 1 / (1 - s Z / f)`` about the principal point ``p``: ``xy = p + g (xy_weak - p)``. This is exact
    perspective for a camera at distance ``f / s`` from the origin, on the optical axis through ``p``; as
    ``f`` grows it becomes :func:`weak_perspective_project`. Head rotations fitted with it are relative to
    the camera's axes, not to the ray through the face (a face off the image centre, seen obliquely, would
    otherwise read as turned).

    Args:
        points: ``(..., N, 3)`` metres, FLAME frame.
        cam: ``(..., 3)`` = ``(s, tx, ty)``.
        focal: ``(...)`` focal length in crop NDC units (:func:`crop_intrinsics`).
        principal: ``(..., 2)`` principal point in crop NDC.

    Returns:
        ``(..., N, 3)``: crop NDC ``x, y`` and ``z = -s Z`` as :func:`weak_perspective_project`.
    """
    weak = weak_perspective_project(points, cam)
    gain = 1.0 / (1.0 - cam[..., None, 0:1] * points[..., 2:3] / focal[..., None, None])
    p = principal[..., None, :]
    return torch.cat([p + gain * (weak[..., :2] - p), weak[..., 2:]], dim=-1)


def crop_intrinsics(K: Tensor, tform: Tensor, crop_size: int = CROP_SIZE) -> tuple[Tensor, Tensor]:
    """Focal length ``(...)`` and principal point ``(..., 2)`` in crop NDC of a pinhole camera with
    intrinsics ``K (..., 3, 3)`` (image pixels, square pixels), seen through crop transforms ``tform (..., 3, 3)``."""
    scale = torch.linalg.det(tform[..., :2, :2]).abs().sqrt()
    focal = K[..., 0, 0] * scale * (2.0 / crop_size)
    principal = pixels_to_ndc(transform_points(tform, K[..., None, :2, 2])[..., 0, :], crop_size)
    return focal, principal


def project_crop(points: Tensor, cam: Tensor, tform: Tensor, K: Tensor | None = None, crop_size: int = CROP_SIZE) -> Tensor:
    """Crop NDC of ``points (..., N, 3)`` (FLAME frame) under a sequence's camera: DECA's weak perspective
    ``cam (..., 3)`` alone, or with pinhole intrinsics ``K (..., 3, 3)`` (image pixels) seen through the crop
    transforms ``tform (..., 3, 3)``, :func:`perspective_project`. Returns ``(..., N, 3)`` like them."""
    if K is None:
        return weak_perspective_project(points, cam)
    focal, principal = crop_intrinsics(K.to(points.dtype), tform.to(points.dtype), crop_size)
    return perspective_project(points, cam, focal, principal)


def ray_rotation(focal: Tensor, principal: Tensor, point: Tensor | None = None) -> Tensor:
    """``(..., 3, 3)``: the rotation that turns the FLAME +z axis (towards an orthographic camera) to the
    direction from the crop-NDC ``point`` (default: the crop centre) back to a pinhole camera with
    ``focal (...)`` and ``principal (..., 2)`` in crop NDC (:func:`crop_intrinsics`). A weak-perspective fit
    sees a face along that ray, so its head rotation ``R`` is ``ray_rotation @ R`` relative to the
    camera's axes."""
    point = torch.zeros_like(principal) if point is None else point
    d = torch.stack([(point[..., 0] - principal[..., 0]) / focal, -(point[..., 1] - principal[..., 1]) / focal,
                     -torch.ones_like(focal)], dim=-1)
    w = torch.nn.functional.normalize(-d, dim=-1)
    z = torch.zeros_like(w)
    z[..., 2] = 1.0
    axis = torch.linalg.cross(z, w)
    sin, cos = axis.norm(dim=-1, keepdim=True), w[..., 2:3]
    return axis_angle_to_matrix(axis / sin.clamp_min(1e-12) * torch.atan2(sin, cos))


def ndc_to_pixels(xy: Tensor, size: int | float) -> Tensor:
    """Crop NDC ``(..., 2)`` in [-1, 1] -> crop pixels ``(x + 1) / 2 * size``."""
    return (xy + 1.0) * (0.5 * size)


def pixels_to_ndc(uv: Tensor, size: int | float) -> Tensor:
    """Crop pixels ``(..., 2)`` -> crop NDC (inverse of :func:`ndc_to_pixels`)."""
    return uv * (2.0 / size) - 1.0


def crop_transform_from_box(center: Tensor, box_size: Tensor, crop_size: int = CROP_SIZE) -> Tensor:
    """Similarity that maps the square ``center +- box_size / 2`` (image pixels) onto a
    ``crop_size`` crop, as DECA does (its corners go to 0 and ``crop_size - 1``).

    Args:
        center: ``(..., 2)`` pixels.
        box_size: ``(...)`` pixels.

    Returns:
        ``(..., 3, 3)`` image -> crop transform.
    """
    scale = (crop_size - 1) / box_size
    t = -(center - box_size[..., None] / 2) * scale[..., None]
    zeros, ones = torch.zeros_like(scale), torch.ones_like(scale)
    rows = [scale, zeros, t[..., 0], zeros, scale, t[..., 1], zeros, zeros, ones]
    return torch.stack(rows, dim=-1).reshape(*scale.shape, 3, 3)


def crop_transform_from_landmarks(
    landmarks: Tensor, crop_size: int = CROP_SIZE, bbox_scale: float = 1.1, scale: float = 1.25
) -> Tensor:
    """DECA-style crop from 2D landmarks ``(..., L, 2)`` in image pixels.

    The landmark box is ``[min, max]``; its mean side times ``bbox_scale`` times ``scale`` is the crop
    side, centred on the box centre (DECA: 1.1 and 1.25; DECA truncates the side to an integer,
    we keep it real so the crop is a smooth function of the landmarks).
    """
    lo = landmarks.amin(dim=-2)
    hi = landmarks.amax(dim=-2)
    center = (lo + hi) / 2
    side = ((hi - lo).sum(dim=-1) / 2) * bbox_scale * scale
    return crop_transform_from_box(center, side, crop_size)


def transform_points(transform: Tensor, points: Tensor) -> Tensor:
    """Apply ``(..., 3, 3)`` homogeneous 2D transforms to ``(..., N, 2)`` points."""
    return points @ transform[..., :2, :2].transpose(-1, -2) + transform[..., None, :2, 2]


def invert_transform(transform: Tensor) -> Tensor:
    """Inverse of ``(..., 3, 3)`` transforms (crop -> original image for crop transforms)."""
    return torch.linalg.inv(transform)


@dataclass(frozen=True)
class PinholeCamera:
    """Pinhole camera, OpenCV convention (x right, y down, z forward).

    Attributes:
        K: ``(..., 3, 3)`` intrinsics in pixels.
        R: ``(..., 3, 3)`` world -> camera rotation.
        t: ``(..., 3)`` world -> camera translation (metres): ``p_cam = R p_world + t``.
        image_size: ``(width, height)`` in pixels.
    """

    K: Tensor
    R: Tensor
    t: Tensor
    image_size: tuple[int, int]

    @property
    def center(self) -> Tensor:
        """``(..., 3)`` camera centre in world coordinates."""
        return -(self.R.transpose(-1, -2) @ self.t.unsqueeze(-1)).squeeze(-1)

    def world_to_camera(self, points: Tensor) -> Tensor:
        """``(..., N, 3)`` world -> camera coordinates."""
        return points @ self.R.transpose(-1, -2) + self.t.unsqueeze(-2)

    def project(self, points: Tensor) -> Tensor:
        """``(..., N, 3)`` world -> ``(..., N, 3)``: pixels ``u, v`` and camera depth ``z`` (metres)."""
        pc = self.world_to_camera(points)
        z = pc[..., 2:3]
        uv = pc[..., :2] / z
        fx, fy = self.K[..., 0, 0, None, None], self.K[..., 1, 1, None, None]
        cx, cy = self.K[..., 0, 2, None, None], self.K[..., 1, 2, None, None]
        skew = self.K[..., 0, 1, None, None]
        u = fx * uv[..., :1] + skew * uv[..., 1:] + cx
        v = fy * uv[..., 1:] + cy
        return torch.cat([u, v, z], dim=-1)

    @staticmethod
    def from_fov(fov_degrees: float, image_size: tuple[int, int], R: Tensor, t: Tensor) -> "PinholeCamera":
        """Square pixels, principal point at the image centre, horizontal field of view in degrees."""
        w, h = image_size
        f = (w / 2) / torch.tan(torch.deg2rad(torch.tensor(fov_degrees / 2, dtype=R.dtype, device=R.device)))
        K = torch.zeros(*R.shape[:-2], 3, 3, dtype=R.dtype, device=R.device)
        K[..., 0, 0] = f
        K[..., 1, 1] = f
        K[..., 0, 2] = w / 2
        K[..., 1, 2] = h / 2
        K[..., 2, 2] = 1
        return PinholeCamera(K=K, R=R, t=t, image_size=image_size)


def look_at(eye: Tensor, target: Tensor, up: Tensor) -> tuple[Tensor, Tensor]:
    """OpenCV world -> camera ``(R, t)`` for a camera at ``eye (..., 3)`` looking at ``target``
    with world ``up`` (e.g. +y) pointing up in the image."""
    z = torch.nn.functional.normalize(target - eye, dim=-1)
    x = torch.nn.functional.normalize(torch.linalg.cross(-up.expand_as(z), z), dim=-1)
    y = torch.linalg.cross(z, x)
    R = torch.stack([x, y, z], dim=-2)
    t = -(R @ eye.unsqueeze(-1)).squeeze(-1)
    return R, t


def weak_perspective_to_translation(cam: Tensor, focal_pixels: float, crop_size: int = CROP_SIZE) -> Tensor:
    """Approximate pinhole translation for a DECA camera ``(..., 3)``: the head at depth
    ``tz = 2 f / (s * crop_size)`` reproduces the scale; ``(tx, ty)`` carry over (y flipped to the
    OpenCV frame). Returns ``(..., 3)`` metres for a camera with ``R = diag(1, -1, -1)``."""
    s, tx, ty = cam.unbind(-1)
    tz = 2.0 * focal_pixels / (s * crop_size)
    return torch.stack([tx, -ty, tz], dim=-1)


def fit_weak_perspective(points: Tensor, ndc: Tensor, weights: Tensor | None = None) -> Tensor:
    """Least-squares DECA camera ``(s, tx, ty)`` mapping ``points (..., N, 3)`` (model frame, metres)
    onto crop-NDC ``ndc (..., N, 2)``: minimizes ``sum_i w_i (|s (X_i + tx) - x_i|^2 + |-s (Y_i + ty) - y_i|^2)``
    in closed form (linear in ``s``, ``s tx``, ``s ty``). Returns ``(..., 3)``."""
    w = torch.ones_like(points[..., 0]) if weights is None else weights
    x, y = points[..., 0], points[..., 1]
    u, v = ndc[..., 0], -ndc[..., 1]  # both equations read: s * coord + offset = target
    sw = w.sum(-1)
    mx, my = (w * x).sum(-1) / sw, (w * y).sum(-1) / sw
    mu, mv = (w * u).sum(-1) / sw, (w * v).sum(-1) / sw
    num = (w * ((x - mx[..., None]) * (u - mu[..., None]) + (y - my[..., None]) * (v - mv[..., None]))).sum(-1)
    den = (w * ((x - mx[..., None]) ** 2 + (y - my[..., None]) ** 2)).sum(-1)
    s = num / den.clamp_min(1e-30)
    return torch.stack([s, mu / s - mx, mv / s - my], dim=-1)


@dataclass(frozen=True)
class OrthoCamera:
    """DECA's weak-perspective camera on a square crop: ``cam (B, 3) = (s, tx, ty)`` and the crop
    side in pixels."""

    cam: Tensor
    size: int


def to_screen(vertices: Tensor, camera: PinholeCamera | OrthoCamera) -> tuple[Tensor, bool]:
    """``vertices (B, V, 3)`` world -> ``(B, V, 3)`` screen ``(x px, y px, depth)`` and whether the
    projection is perspective (the rasterizer's input)."""
    if isinstance(camera, PinholeCamera):
        return camera.project(vertices), True
    p = weak_perspective_project(vertices, camera.cam)
    return torch.cat([ndc_to_pixels(p[..., :2], camera.size), p[..., 2:]], dim=-1), False


def camera_rotation(camera: PinholeCamera | OrthoCamera, like: Tensor) -> Tensor:
    """``(B, 3, 3)`` world -> camera rotation (OpenCV axes) for the batch of ``like (B, ...)``; a
    weak-perspective camera looks down the FLAME -z axis: ``diag(1, -1, -1)``."""
    if isinstance(camera, PinholeCamera):
        return camera.R.expand(like.shape[0], 3, 3)
    flip = torch.tensor([1.0, -1.0, -1.0], dtype=like.dtype, device=like.device)
    return torch.diag(flip).expand(like.shape[0], 3, 3)
