"""Named rotation conversions, thin wrappers over `roma`.

Conventions
-----------
* Rotation matrices act on column vectors: ``x' = R @ x``; shape ``(..., 3, 3)``.
* Axis-angle (rotation vector) ``(..., 3)``: direction = axis, norm = angle in radians.
* Quaternions are **XYZW** (roma's convention, *not* PyTorch3D's WXYZ), shape ``(..., 4)``.
* Every function accepts any number of leading batch dimensions, keeps dtype and device, and is
  differentiable.
"""

from __future__ import annotations

import roma
import torch
from torch import Tensor

__all__ = [
    "axis_angle_to_matrix",
    "matrix_to_axis_angle",
    "axis_angle_to_quaternion",
    "quaternion_to_axis_angle",
    "quaternion_to_matrix",
    "matrix_to_quaternion",
    "canonical_quaternion",
    "orthonormalize",
    "matrix_to_rotation_6d",
    "rotation_6d_to_matrix",
    "euler_to_matrix",
    "matrix_to_euler",
    "yaw_pitch_roll_to_matrix",
    "matrix_to_yaw_pitch_roll",
    "skew",
    "geodesic_distance",
]


def axis_angle_to_matrix(axis_angle: Tensor) -> Tensor:
    """Rodrigues: ``(..., 3)`` radians -> ``(..., 3, 3)``."""
    return roma.rotvec_to_rotmat(axis_angle)


def matrix_to_axis_angle(matrix: Tensor) -> Tensor:
    """``(..., 3, 3)`` -> ``(..., 3)`` radians, angle in [0, pi]."""
    return roma.rotmat_to_rotvec(matrix)


def axis_angle_to_quaternion(axis_angle: Tensor) -> Tensor:
    """``(..., 3)`` -> unit quaternion ``(..., 4)`` XYZW."""
    return roma.rotvec_to_unitquat(axis_angle)


def quaternion_to_axis_angle(quaternion: Tensor) -> Tensor:
    """Unit quaternion ``(..., 4)`` XYZW -> ``(..., 3)``."""
    return roma.unitquat_to_rotvec(quaternion)


def quaternion_to_matrix(quaternion: Tensor) -> Tensor:
    """Unit quaternion ``(..., 4)`` XYZW -> ``(..., 3, 3)``."""
    return roma.unitquat_to_rotmat(quaternion)


def matrix_to_quaternion(matrix: Tensor) -> Tensor:
    """``(..., 3, 3)`` -> unit quaternion ``(..., 4)`` XYZW."""
    return roma.rotmat_to_unitquat(matrix)


def canonical_quaternion(quaternion: Tensor) -> Tensor:
    """Pick the representative with non-negative scalar part (q and -q are the same rotation)."""
    sign = torch.where(quaternion[..., 3:] < 0, -1.0, 1.0).to(quaternion.dtype)
    return quaternion * sign


def orthonormalize(matrix: Tensor) -> Tensor:
    """Project ``(..., 3, 3)`` onto SO(3) (closest rotation in Frobenius norm, via SVD)."""
    return roma.special_procrustes(matrix)


def matrix_to_rotation_6d(matrix: Tensor) -> Tensor:
    """``(..., 3, 3)`` -> ``(..., 6)``: the first two columns (Zhou et al. 2019)."""
    return matrix[..., :, :2].transpose(-1, -2).reshape(*matrix.shape[:-2], 6)


def rotation_6d_to_matrix(rot6d: Tensor) -> Tensor:
    """``(..., 6)`` -> ``(..., 3, 3)`` by Gram-Schmidt of the two columns."""
    cols = rot6d.reshape(*rot6d.shape[:-1], 2, 3).transpose(-1, -2)
    return roma.special_gramschmidt(cols)


def euler_to_matrix(convention: str, angles: Tensor, degrees: bool = False) -> Tensor:
    """Euler angles ``(..., 3)`` in roma's convention string (e.g. ``"YXZ"`` intrinsic)."""
    return roma.euler_to_rotmat(convention, angles, degrees=degrees)


def matrix_to_euler(convention: str, matrix: Tensor, degrees: bool = False) -> Tensor:
    """``(..., 3, 3)`` -> Euler angles ``(..., 3)`` in roma's convention string."""
    return roma.rotmat_to_euler(convention, matrix, degrees=degrees)


def yaw_pitch_roll_to_matrix(ypr: Tensor) -> Tensor:
    """Head angles ``(..., 3)`` radians -> ``(..., 3, 3)`` in the FLAME frame.

    ``R = R_y(yaw) @ R_x(pitch) @ R_z(roll)`` (right-handed rotations). FLAME frame: +y up, the
    face looks toward +z, +x is the subject's left. Positive yaw turns the face toward +x (the
    subject's left), positive pitch tilts the face down (toward -y), positive roll tilts the top
    of the head toward -x (the subject's right shoulder).
    """
    return roma.euler_to_rotmat("YXZ", ypr)


def matrix_to_yaw_pitch_roll(matrix: Tensor) -> Tensor:
    """Inverse of :func:`yaw_pitch_roll_to_matrix`: ``(..., 3, 3)`` -> ``(..., 3)`` radians."""
    return roma.rotmat_to_euler("YXZ", matrix)


def skew(v: Tensor) -> Tensor:
    """Cross-product matrix ``[v]_x`` of ``(..., 3)`` -> ``(..., 3, 3)``."""
    x, y, z = v.unbind(-1)
    o = torch.zeros_like(x)
    return torch.stack([o, -z, y, z, o, -x, -y, x, o], dim=-1).reshape(*v.shape[:-1], 3, 3)


def geodesic_distance(a: Tensor, b: Tensor) -> Tensor:
    """Angle in radians between rotation matrices ``(..., 3, 3)``."""
    return roma.rotmat_geodesic_distance(a, b)
