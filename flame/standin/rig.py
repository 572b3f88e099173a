"""Skinning weights, joint regressor and pose correctives of the stand-in head."""

from __future__ import annotations

import numpy as np

from flame.standin import mesh as M
from flame.standin.mesh import HeadMesh


def smoothstep(edge0: float | np.ndarray, edge1: float | np.ndarray, x: np.ndarray) -> np.ndarray:
    t = np.clip((x - edge0) / (edge1 - edge0), 0.0, 1.0)
    return t * t * (3 - 2 * t)


def gauss(p: np.ndarray, center: tuple | np.ndarray, sigma: tuple | np.ndarray) -> np.ndarray:
    """Anisotropic Gaussian bump ``(N,)`` at head points ``p (N, 3)``."""
    q = (p - np.asarray(center)) / np.asarray(sigma)
    return np.exp(-0.5 * np.sum(q * q, axis=-1))


def mirror_abs(p: np.ndarray) -> np.ndarray:
    q = p.copy()
    q[:, 0] = np.abs(q[:, 0])
    return q


def jaw_weight(mesh: HeadMesh) -> np.ndarray:
    """``(V,)`` share of the jaw joint: 1 on the chin, lower lip and jaw, 0 above the mouth line,
    blended along the cheeks toward the jaw hinge; the inner lip copies are exactly 0 / 1."""
    p = mesh.vertices
    ax = np.abs(p[:, 0])
    beyond = np.maximum(ax - M.MOUTH_HALF_WIDTH, 0.0)
    line_y = np.where(ax <= M.MOUTH_HALF_WIDTH, M.lip_line_y(np.minimum(ax, M.MOUTH_HALF_WIDTH)), M.lip_line_y(M.MOUTH_HALF_WIDTH) + 0.85 * beyond)
    width = 0.0012 + 0.35 * beyond
    below = smoothstep(-1.0, 1.0, (line_y - p[:, 1]) / width)
    front = smoothstep(-0.014, 0.004, p[:, 2])  # the ramus ends in front of the ear
    throat = smoothstep(-0.118, -0.088, p[:, 1])  # the neck below the chin stays with the head
    w = below * front * throat
    w[mesh.n_head:] = 0.0
    w[mesh.lip_upper] = 0.0
    w[mesh.lip_lower] = 1.0
    return w


def skinning_weights(mesh: HeadMesh, w_jaw: np.ndarray) -> np.ndarray:
    """``(V, 5)`` weights over [root, neck, jaw, left eye, right eye]; rows sum to one."""
    p = mesh.vertices
    w_neck = smoothstep(-0.165, -0.085, p[:, 1])
    w = np.zeros((len(p), 5))
    w[:, 0] = 1 - w_neck
    w[:, 1] = w_neck * (1 - w_jaw)
    w[:, 2] = w_neck * w_jaw
    for j, sl in ((3, mesh.eye_slices[0]), (4, mesh.eye_slices[1])):
        w[sl] = 0.0
        w[sl, j] = 1.0
    return w


def joint_regressor(mesh: HeadMesh) -> np.ndarray:
    """``(5, V)`` rows of convex weights over vertices: root and neck from the sides of the neck,
    jaw from the hinge in front of the ears, eyes from the two poles of each eyeball (whose mean
    is its centre)."""
    p = mesh.vertices[: mesh.n_head]
    reg = np.zeros((5, len(mesh.vertices)))

    def pair_mean(target: tuple[float, float, float], k: int = 3) -> np.ndarray:
        """The k vertices nearest to the target and to its mirror image."""
        ids = []
        for sx in (1.0, -1.0):
            t = np.array([sx * target[0], target[1], target[2]])
            ids += list(np.argsort(np.linalg.norm(p - t, axis=1))[:k])
        return np.array(ids)

    for row, target in ((0, (0.055, -0.150, -0.026)), (1, (0.054, -0.062, -0.030)), (2, (0.064, -0.004, 0.004))):
        ids = pair_mean(target)
        reg[row, ids] = 1.0 / len(ids)
    for row, sl in ((3, mesh.eye_slices[0]), (4, mesh.eye_slices[1])):
        first, last = sl.start, sl.stop - 1  # the front and back poles
        reg[row, [first, last]] = 0.5
    return reg


def pose_correctives(mesh: HeadMesh, w_jaw: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """``(V, 3, 36)`` corrective offsets per pose feature ``(R_j - I)[a, b]`` of joints 1..4.

    Neck and jaw get physically motivated terms (the throat bulges when the head tilts down, the
    cheeks thin and the chin tucks when the jaw opens) plus small smooth fields on every entry, so
    that all 18 neck/jaw features are distinct; the eye joints have none (eyes turn rigidly).
    """
    p = mesh.vertices
    n = len(p)
    dirs = np.zeros((n, 3, 36))
    head = np.zeros(n, dtype=bool)
    head[: mesh.n_head] = True
    throat = gauss(p, (0, -0.095, 0.03), (0.035, 0.025, 0.025)) * head
    neck_region = gauss(p, (0, -0.09, -0.01), (0.06, 0.05, 0.06)) * head
    cheeks = gauss(mirror_abs(p), (0.05, -0.03, 0.03), (0.02, 0.025, 0.025)) * head
    jaw_region = gauss(p, (0, -0.05, 0.05), (0.05, 0.04, 0.05)) * head
    for joint, region in ((0, neck_region), (1, jaw_region)):
        for e in range(9):
            field = rng.normal(size=(3,)) * 0.0008
            centre = p[rng.integers(mesh.n_head)] * 0.3
            dirs[:, :, joint * 9 + e] = (region * (1 + 2 * (p - centre) @ rng.normal(size=3)))[:, None] * field
    # neck, feature (R - I)[2, 1] = sin(pitch): positive pitch tilts the face down -> throat bulges forward
    dirs[:, 2, 0 * 9 + 7] += 0.006 * throat
    # jaw, feature (R - I)[2, 1] = sin(opening): cheeks pull in, chin tucks back
    dirs[:, 0, 1 * 9 + 7] += -0.004 * np.sign(p[:, 0]) * cheeks
    dirs[:, 2, 1 * 9 + 7] += -0.002 * jaw_region * w_jaw
    return dirs
