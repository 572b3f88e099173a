"""What the annotation objective compares with: a capture's detections in the crop, their weights, and the
camera model that projects a fitted head into that crop.

Projections (:class:`Observations.project`):

* ``weak`` - DECA's orthographic camera (the official NeuFace): a head rotation fitted with it is relative to
  the ray through the face, so a face away from the image centre reads as turned towards it, by the angle of
  that ray (up to 10-15 degrees for a face in a corner of a wide-angle video), and perspective foreshortening
  of a near face is explained by expressions.
* ``perspective`` - a pinhole camera written around DECA's (:func:`flame.camera.perspective_project`), with
  the capture's calibrated intrinsics when it has them, otherwise a focal length assumed from the image size.
  The encoder's weak-perspective head rotation is turned by the ray through the crop centre (averaged over
  :data:`RAY_SMOOTHING_S`, as the crop follows the detections' jitter; :func:`flame.camera.ray_rotation`) so
  the fit starts relative to the camera's axes.

A capture of a calibrated rig (extrinsics for every view) also gives :attr:`Observations.rig`: every view then
sees one head rotation in the world, which the temporal term's targets use (:func:`rig_consensus`).
"""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor

from annotator.capture import Capture
from annotator.crop import CROP_SIZE, interpolate_invalid, normalize_landmarks
from annotator.losses import box_average
from flame.camera import (
    crop_intrinsics,
    invert_transform,
    perspective_project,
    pixels_to_ndc,
    ray_rotation,
    transform_points,
    weak_perspective_project,
)
from flame.rotations import axis_angle_to_matrix, matrix_to_axis_angle, matrix_to_quaternion, quaternion_to_matrix

__all__ = ["Observations", "assumed_intrinsics", "camera_centre", "centre_to_cam", "rig_consensus", "rig_share",
           "triangulate", "OPENCV_TO_FLAME"]

#: seconds over which the crop centres are averaged for the ray turn of the encoder's head rotation
RAY_SMOOTHING_S = 0.3
#: camera axes: OpenCV (x right, y down, z forward) <-> the camera-aligned FLAME frame (y up, z towards the camera)
OPENCV_TO_FLAME = (1.0, -1.0, -1.0)


def assumed_intrinsics(image_size: np.ndarray, n_frames: int, focal: float, dtype: torch.dtype) -> Tensor:
    """``(V, T, 3, 3)`` pinhole K of uncalibrated views: square pixels, the principal point at the image
    centre, the focal length ``focal`` times the image's larger side (``image_size (V, 2)`` width, height)."""
    size = torch.as_tensor(np.asarray(image_size, np.float64), dtype=dtype)
    K = torch.zeros(len(size), n_frames, 3, 3, dtype=dtype)
    K[..., 0, 0] = K[..., 1, 1] = focal * size.amax(-1)[:, None]
    K[..., :2, 2] = size[:, None] / 2
    K[..., 2, 2] = 1.0
    return K


def rig_consensus(rotations: Tensor, rig: Tensor) -> Tensor:
    """Each view's head rotation ``(V, T, 3)`` axis-angle (camera-aligned FLAME frame) replaced by the one
    world rotation all views agree on - the normalized mean of their world quaternions - seen from that
    view. ``rig (V, T, 3, 3)``: world -> camera-aligned rotation of every view."""
    world = rig.transpose(-1, -2) @ axis_angle_to_matrix(rotations)
    q = matrix_to_quaternion(world)
    q = torch.where((q * q[:1]).sum(-1, keepdim=True) < 0, -q, q)  # one hemisphere for all views
    mean = quaternion_to_matrix(torch.nn.functional.normalize(q.mean(0), dim=-1))
    return matrix_to_axis_angle(rig @ mean[None])


def camera_centre(cam: Tensor, focal: Tensor, principal: Tensor) -> Tensor:
    """``(..., 3)``: where :func:`flame.camera.perspective_project` puts the camera, in the posed model's frame
    (the camera-aligned FLAME frame with the model at its origin; the camera looks along -z), for ``cam (..., 3)``
    ``(s, tx, ty)`` and the camera's ``focal (...)`` and ``principal (..., 2)`` in crop NDC."""
    s, tx, ty = cam.unbind(-1)
    return torch.stack([principal[..., 0] / s - tx, -principal[..., 1] / s - ty, focal / s], -1)


def centre_to_cam(centre: Tensor, focal: Tensor, principal: Tensor) -> Tensor:
    """The inverse of :func:`camera_centre`: ``(s, tx, ty)`` that puts the camera at ``centre (..., 3)``."""
    s = focal / centre[..., 2]
    return torch.stack([s, principal[..., 0] / s - centre[..., 0], -principal[..., 1] / s - centre[..., 1]], -1)


def rig_share(rotations: Tensor, cam: Tensor, root: Tensor, inputs: "Observations",
              t_idx: Tensor | slice = slice(None)) -> tuple[Tensor, Tensor]:
    """One head pose in the world for every view of a calibrated rig: the views' head rotations ``(V, B, 3)``
    (camera-aligned axis-angle) and cameras ``(V, B, 3)`` replaced by their consensus - the mean world rotation
    (:func:`rig_consensus`) and the world position of the head's root joint triangulated from the views' estimates
    (:func:`triangulate`) - seen from each view, at frames ``t_idx``. ``root (V, B, 3)``: the rest root joint of
    the fitted identity and expression (global rotation turns the head about it). Differentiable: every view's
    prediction moves the shared pose, and every view's landmarks act on it, so the rig's views triangulate the
    head's position, its size and its rotation."""
    rig, origin = inputs.rig[:, t_idx], inputs.rig_origin[:, t_idx]
    focal, principal = inputs.focal[:, t_idx], inputs.principal[:, t_idx]
    aligned = root - camera_centre(cam, focal, principal)  # the root in each camera's aligned frame
    to_world = rig.transpose(-1, -2)
    world = triangulate(to_world @ (aligned - origin)[..., None], to_world @ aligned[..., None])
    aligned = (rig @ world[None])[..., 0] + origin
    return rig_consensus(rotations, rig), centre_to_cam(root - aligned, focal, principal)


#: how much less a view's depth estimate counts than its position across its line of sight (variance ratio): a
#: face's size in the image gives its distance only as well as its size is known, a few per cent, while its place
#: in the image fixes the other two directions to a pixel
DEPTH_WEIGHT = 1e-3


def triangulate(points: Tensor, rays: Tensor) -> Tensor:
    """``(B, 3, 1)``: the point nearest to the views' estimates ``points (V, B, 3, 1)`` along their lines of sight
    ``rays (V, B, 3, 1)`` (any length), each estimate's depth along its ray counting :data:`DEPTH_WEIGHT` as much."""
    d = torch.nn.functional.normalize(rays, dim=-2)
    weight = torch.eye(3, dtype=d.dtype, device=d.device) - (1.0 - DEPTH_WEIGHT) * d @ d.transpose(-1, -2)
    return torch.linalg.solve(weight.sum(0), (weight @ points).sum(0))


class Observations:
    """Per view and frame of a capture: detections in crop NDC, loss weights and the camera model.

    Attributes:
        tform: ``(V, T, 3, 3)`` image -> crop transforms; ndc: ``(V, T, 68, 2)`` detections in crop NDC.
        weight: ``(V, T, 68)`` landmark weights (confidence; 0 on frames without a detection).
        conf_in: ``(V, T, 68)`` confidences given to the encoder (0.5 where there is no detection).
        valid: ``(V, T)`` frames with a detection.
        intrinsics: ``(V, T, 3, 3)`` pinhole K in image pixels, or None (weak perspective).
        focal, principal: ``(V, T)`` and ``(V, T, 2)`` the camera in crop NDC (None: weak perspective).
        ray: ``(V, T, 3, 3)`` the turn from the crop's ray to the camera's axes (None: weak perspective).
        rig: ``(V, T, 3, 3)`` world -> camera-aligned FLAME rotation of a calibrated rig's views, or None.
        rig_origin: ``(V, T, 3)`` the world origin in each view's camera-aligned frame (metres), or None.
        dense_ndc, dense_weight: the embedded dense points in the crop and their weights (when given).
    """

    def __init__(self, capture: Capture, dtype: torch.dtype, projection: str = "weak", focal: float = 1.5,
                 dense_ids: np.ndarray | None = None) -> None:
        if projection not in ("weak", "perspective"):
            raise ValueError(f"projection is 'weak' or 'perspective', got {projection!r}")
        lm = interpolate_invalid(capture.landmarks, capture.valid)
        valid = torch.as_tensor(capture.valid)
        lm_t = torch.as_tensor(lm, dtype=dtype)
        self.tform, self.ndc = normalize_landmarks(lm_t)
        conf = lm_t[..., 2].clamp(0, 1)
        self.weight = conf * valid[..., None]  # no landmark loss on frames without a detection
        self.conf_in = torch.where(valid[..., None], conf, torch.full_like(conf, 0.5))
        self.valid = valid
        self.intrinsics = self.focal = self.principal = self.ray = self.rig = self.rig_origin = None
        if projection == "perspective":
            if capture.intrinsics is not None:
                self.intrinsics = torch.as_tensor(np.asarray(capture.intrinsics, np.float64), dtype=dtype)
            else:
                self.intrinsics = assumed_intrinsics(capture.image_size, capture.n_frames, focal, dtype)
            self.focal, self.principal = crop_intrinsics(self.intrinsics, self.tform)
            self.ray = ray_rotation(self.focal, self.principal, self._steady_centre(capture.fps))
            if capture.extrinsics is not None and capture.n_views > 1:
                flip = torch.diag(torch.tensor(OPENCV_TO_FLAME, dtype=dtype))
                extrinsics = torch.as_tensor(np.asarray(capture.extrinsics, np.float64), dtype=dtype)
                self.rig, self.rig_origin = flip @ extrinsics[..., :3], extrinsics[..., 3] * flip.diagonal()
        if dense_ids is not None:  # the embedded dense points, in the crop of the 68: (V, T, K, 2) and weights
            pts = torch.as_tensor(np.asarray(capture.dense[:, :, dense_ids], np.float64), dtype=dtype)
            seen = torch.isfinite(pts[..., :2]).all(-1) & valid[..., None]
            xy = torch.where(seen[..., None], pts[..., :2], torch.zeros_like(pts[..., :2]))
            self.dense_ndc = pixels_to_ndc(transform_points(self.tform, xy), CROP_SIZE)
            self.dense_weight = torch.where(seen, pts[..., 2].nan_to_num(0.0).clamp(0, 1), torch.zeros_like(pts[..., 2]))

    def _steady_centre(self, fps: float, seconds: float = RAY_SMOOTHING_S) -> Tensor:
        """``(V, T, 2)`` crop NDC of the crop centres' image positions averaged over ``seconds``: the ray through
        the face without the crop's jitter (which follows the detections)."""
        size = torch.full((1, 1, 1, 2), CROP_SIZE / 2, dtype=self.tform.dtype)
        centre = transform_points(invert_transform(self.tform), size.expand(*self.tform.shape[:2], 1, 2))[..., 0, :]
        steady = box_average(centre, max(1, int(round(seconds * fps)) // 2 * 2 + 1))
        return pixels_to_ndc(transform_points(self.tform, steady[..., None, :])[..., 0, :], CROP_SIZE)

    def project(self, points: Tensor, cam: Tensor, t_idx: Tensor | slice = slice(None)) -> Tensor:
        """Crop NDC ``(V, B, N, 2)`` of ``points (V, B, N, 3)`` (FLAME frame) seen by ``cam (V, B, 3)`` at frames ``t_idx``."""
        if self.focal is None:
            return weak_perspective_project(points, cam)[..., :2]
        return perspective_project(points, cam, self.focal[:, t_idx], self.principal[:, t_idx])[..., :2]

    def to_camera_axes(self, rotation: Tensor, t_idx: Tensor | slice = slice(None)) -> Tensor:
        """Axis-angle head rotations ``(V, B, 3)`` seen along each crop's ray -> relative to the camera's axes
        (unchanged under weak perspective)."""
        if self.ray is None:
            return rotation
        return matrix_to_axis_angle(self.ray[:, t_idx] @ axis_angle_to_matrix(rotation))
