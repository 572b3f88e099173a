"""Pure FLAME functions: blendshapes, joint chain, linear blend skinning, landmarks.

All functions are stateless, take a flat batch dimension ``N`` first, follow the device and dtype
of their inputs, and are differentiable. Units: metres, radians. The math is FLAME's:

    v_shaped = v_template + S [beta, psi]
    J        = J_regressor v_shaped
    v_posed  = v_shaped + P vec(R_j - I, j = 1..4)          (36 pose features)
    v        = sum_j w_vj G_j (v_posed - J_j)               (rigid chain G over the kinematic tree)
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

__all__ = [
    "pose_features",
    "rigid_chain",
    "skin",
    "barycentric_interpolate",
    "contour_yaw_degrees",
    "yaw_to_contour_row",
    "N_CONTOUR_ROWS",
]

#: Rows of the dynamic contour table: yaw 0..39 degrees, then -1..-39 degrees.
N_CONTOUR_ROWS = 79


def pose_features(rotations: Tensor) -> Tensor:
    """``rotations (N, J, 3, 3)`` -> ``(N, 9 (J - 1))``: ``(R_j - I)`` flattened row-major for the
    non-root joints, the input of FLAME's pose-corrective blendshapes."""
    eye = torch.eye(3, dtype=rotations.dtype, device=rotations.device)
    return (rotations[:, 1:] - eye).flatten(1)


def rigid_chain(rotations: Tensor, joints: Tensor, parents: tuple[int, ...]) -> tuple[Tensor, Tensor]:
    """Forward kinematics.

    Args:
        rotations: ``(N, J, 3, 3)`` local joint rotations.
        joints: ``(N, J, 3)`` rest joint locations.
        parents: parent index per joint, ``-1`` for the root; parents precede children.

    Returns:
        posed_joints ``(N, J, 3)`` and the skinning transforms ``(N, J, 3, 4)`` that map rest-pose
        points to posed points (``G_j`` with the rest joint location subtracted).
    """
    n_joints = rotations.shape[1]
    world_r: list[Tensor] = []
    world_t: list[Tensor] = []
    for j in range(n_joints):
        p = parents[j]
        if p < 0:
            world_r.append(rotations[:, j])
            world_t.append(joints[:, j])
        else:
            rel = joints[:, j] - joints[:, p]
            world_r.append(world_r[p] @ rotations[:, j])
            world_t.append(world_t[p] + (world_r[p] @ rel.unsqueeze(-1)).squeeze(-1))
    rot = torch.stack(world_r, dim=1)
    posed = torch.stack(world_t, dim=1)
    # x' = R (x - J_rest) + J_posed  =>  translation = J_posed - R J_rest
    trans = posed - (rot @ joints.unsqueeze(-1)).squeeze(-1)
    return posed, torch.cat([rot, trans.unsqueeze(-1)], dim=-1)


def skin(vertices: Tensor, weights: Tensor, transforms: Tensor, chunk: int = 64) -> Tensor:
    """Linear blend skinning, ``v'_i = sum_j w_ij (R_j v_i + t_j)``.

    Args:
        vertices: ``(N, 3, V)`` rest-pose vertices with blendshapes applied, *planar* (all x, then
            all y, then all z): every arithmetic step then runs on contiguous rows.
        weights: ``(V, J)`` skinning weights, rows sum to one.
        transforms: ``(N, J, 3, 4)`` from :func:`rigid_chain`.
        chunk: batch elements per step; keeps the per-vertex transforms in cache for large ``N``.

    Returns:
        ``(N, V, 3)`` posed vertices.
    """
    n, _, n_verts = vertices.shape
    n_joints = transforms.shape[1]
    weights_t = weights.t()
    rows = transforms.reshape(n, n_joints, 12).transpose(1, 2)  # (N, 12, J): entry 4 i + k = [R | t][i, k]

    def posed(v: Tensor, r: Tensor) -> Tensor:
        blended = torch.matmul(r, weights_t)  # (n, 12, V) per-vertex [R | t]
        x, y, z = v.unbind(1)
        coords = [torch.addcmul(torch.addcmul(torch.addcmul(t, r0, x), r1, y), r2, z)
                  for r0, r1, r2, t in (row.unbind(1) for row in blended.view(-1, 3, 4, n_verts).unbind(1))]
        return torch.stack(coords, dim=-1)

    if n <= chunk:
        return posed(vertices, rows)
    if torch.is_grad_enabled() and (vertices.requires_grad or transforms.requires_grad):
        # split / cat keep the backward cheap (slice assignment would zero-fill full-size grads per chunk)
        return torch.cat([posed(v, r) for v, r in zip(vertices.split(chunk), rows.split(chunk))])
    out = vertices.new_empty(n, n_verts, 3)
    for s in range(0, n, chunk):
        out[s:s + chunk] = posed(vertices[s:s + chunk], rows[s:s + chunk])
    return out


def barycentric_interpolate(vertices: Tensor, faces: Tensor, face_idx: Tensor, bary: Tensor) -> Tensor:
    """Points on a mesh: ``sum_k bary_k v[faces[face_idx, k]]``.

    Args:
        vertices: ``(N, V, 3)``.
        faces: ``(F, 3)`` long.
        face_idx: ``(L,)`` or ``(N, L)`` long.
        bary: ``(L, 3)`` or ``(N, L, 3)``.

    Returns:
        ``(N, L, 3)``.
    """
    n = vertices.shape[0]
    vidx = faces[face_idx]  # (L, 3) or (N, L, 3)
    if vidx.dim() == 2:
        corners = vertices[:, vidx]  # (N, L, 3, 3)
    else:
        batch = torch.arange(n, device=vertices.device).view(n, 1, 1)
        corners = vertices[batch, vidx]
    return (corners * bary.unsqueeze(-1)).sum(dim=-2)


def contour_yaw_degrees(rotation: Tensor) -> Tensor:
    """Head yaw used to select contour landmarks: ``atan2(-R20, sqrt(R00^2 + R10^2))`` in degrees.

    ``rotation (N, 3, 3)`` is the head rotation ``R_global @ R_neck`` in the FLAME frame. A positive
    value is a right-handed turn about +y: the face turns toward +x (the subject's left); seen from
    a camera on +z, the subject's left contour then slides toward the face centre.
    """
    sy = torch.sqrt(rotation[:, 0, 0] ** 2 + rotation[:, 1, 0] ** 2)
    return torch.atan2(-rotation[:, 2, 0], sy) * (180.0 / math.pi)


def yaw_to_contour_row(yaw_degrees: Tensor) -> Tensor:
    """Row of the 79-row dynamic contour table (DECA convention, sign +1).

    ``round(min(yaw, 39))``; rows 0..39 are yaw 0..39, rows 40..78 are yaw -1..-39, and any yaw
    below -39 uses row 78.
    """
    y = torch.round(torch.clamp(yaw_degrees, max=39.0)).long()
    neg = torch.where(y < -39, torch.full_like(y, 78), 39 - y)
    return torch.where(y < 0, neg, y)
