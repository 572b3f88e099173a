"""The stand-in head as a smooth signed distance function, and its ray parameterization.

Units: metres, FLAME frame (+y up, the face looks toward +z, +x is the subject's left). The head
is a smooth union of ellipsoids and round cones (cranium, face, jaw, chin, cheeks, nose, lips, ears,
neck), with eye sockets carved and lid surfaces hugging the eyeballs. All functions are numpy and
vectorized over points ``(..., 3)``.

The surface is parameterized by ``(u, v)``: ``u`` is the azimuth about +y (0 = front, +pi/2 = the
subject's left), ``v`` in [0, 1] runs from the crown (0) to the open neck bottom (1). For
``v <= V_HEAD`` a point is where the ray from :data:`HEAD_CENTER` at polar angle
``phi = v / V_HEAD * PHI_HEAD`` leaves the head; below, the neck is swept by horizontal rays from
the neck axis, from the ring at ``V_HEAD`` down to ``NECK_BOTTOM``.
"""

from __future__ import annotations

import numpy as np

HEAD_CENTER = np.array([0.0, 0.012, 0.0])
PHI_HEAD = np.deg2rad(148.0)
V_HEAD = 0.82
NECK_BOTTOM = -0.19
NECK_AXIS_Z = -0.024
EYE_CENTER = np.array([0.0315, 0.0285, 0.0545])  # left eye (+x); the right eye is mirrored
EYE_RADIUS = 0.0122
LID_GAP = 0.0009  # lid surface clearance over the eyeball
EAR_CENTER = np.array([0.077, 0.012, -0.010])


def _smin(a: np.ndarray, b: np.ndarray, k: float) -> np.ndarray:
    """Polynomial smooth minimum (union) with blend radius ``k``."""
    h = np.clip(0.5 + 0.5 * (b - a) / k, 0.0, 1.0)
    return b * (1 - h) + a * h - k * h * (1 - h)


def _smax(a: np.ndarray, b: np.ndarray, k: float) -> np.ndarray:
    """Smooth maximum (intersection / subtraction with ``-b``)."""
    return -_smin(-a, -b, k)


def _ellipsoid(p: np.ndarray, c: tuple, r: tuple) -> np.ndarray:
    """Approximate signed distance to an axis-aligned ellipsoid (Quilez's bound)."""
    q = (p - np.asarray(c)) / np.asarray(r)
    k0 = np.linalg.norm(q, axis=-1)
    k1 = np.linalg.norm(q / np.asarray(r), axis=-1)
    return k0 * (k0 - 1.0) / np.maximum(k1, 1e-12)


def _round_cone(p: np.ndarray, a: tuple, b: tuple, ra: float, rb: float) -> np.ndarray:
    """Distance to a capsule whose radius varies linearly from ``ra`` at ``a`` to ``rb`` at ``b``."""
    a, b = np.asarray(a), np.asarray(b)
    ab = b - a
    t = np.clip(((p - a) @ ab) / (ab @ ab), 0.0, 1.0)
    closest = a + t[..., None] * ab
    return np.linalg.norm(p - closest, axis=-1) - (ra + (rb - ra) * t)


def _mirror_x(p: np.ndarray) -> np.ndarray:
    """Fold onto the +x half so paired features are written once (left side)."""
    q = p.copy()
    q[..., 0] = np.abs(q[..., 0])
    return q


def head_sdf(p: np.ndarray) -> np.ndarray:
    """Signed distance (negative inside) of the stand-in head + neck at ``p (..., 3)``."""
    m = _mirror_x(p)
    cranium = _ellipsoid(p, (0, 0.030, -0.014), (0.074, 0.091, 0.097))
    forehead = _ellipsoid(p, (0, 0.040, 0.026), (0.062, 0.058, 0.060))
    face = _ellipsoid(p, (0, -0.006, 0.028), (0.063, 0.080, 0.064))
    jaw = _ellipsoid(p, (0, -0.050, 0.028), (0.051, 0.039, 0.053))
    chin = _ellipsoid(p, (0, -0.071, 0.066), (0.020, 0.019, 0.016))
    cheek = _ellipsoid(m, (0.039, -0.008, 0.050), (0.022, 0.021, 0.021))
    cheekbone = _ellipsoid(m, (0.046, 0.013, 0.046), (0.020, 0.012, 0.019))
    ear = _ellipsoid(m, tuple(EAR_CENTER), (0.012, 0.030, 0.018))
    neck = _round_cone(p, (0, NECK_BOTTOM - 0.03, NECK_AXIS_Z - 0.004), (0, -0.03, NECK_AXIS_Z), 0.053, 0.050)
    d = _smin(cranium, forehead, 0.02)
    d = _smin(d, face, 0.025)
    d = _smin(d, jaw, 0.02)
    d = _smin(d, chin, 0.012)
    d = _smin(d, cheek, 0.025)
    d = _smin(d, cheekbone, 0.012)
    d = _smin(d, ear, 0.006)
    d = _smin(d, neck, 0.03)
    # brow ridge
    brow = _round_cone(m, (0.004, 0.047, 0.066), (0.046, 0.048, 0.052), 0.0085, 0.006)
    d = _smin(d, brow, 0.01)
    # eye sockets, then the lids hugging the eyeball
    socket = _ellipsoid(m, (EYE_CENTER[0], EYE_CENTER[1] - 0.001, 0.086), (0.021, 0.0135, 0.022))
    d = _smax(d, -socket, 0.008)
    bulge = np.linalg.norm(m - EYE_CENTER, axis=-1) - (EYE_RADIUS + LID_GAP)
    d = _smin(d, bulge, 0.004)
    # nose: bridge to tip, tip ball, alae
    bridge = _round_cone(p, (0, 0.038, 0.068), (0, -0.004, 0.098), 0.0065, 0.0095)
    tip = _ellipsoid(p, (0, -0.008, 0.096), (0.0115, 0.0105, 0.0115))
    ala = _ellipsoid(m, (0.0135, -0.0125, 0.083), (0.0085, 0.0072, 0.0090))
    nose = _smin(_smin(bridge, tip, 0.006), ala, 0.005)
    d = _smin(d, nose, 0.006)
    # lips and the mouth line crease
    upper = _ellipsoid(p, (0, -0.0340, 0.0830), (0.0230, 0.0078, 0.0120))
    lower = _ellipsoid(p, (0, -0.0472, 0.0810), (0.0200, 0.0082, 0.0120))
    d = _smin(d, _smin(upper, lower, 0.004), 0.008)
    crease = _ellipsoid(p, (0, -0.0405, 0.0975), (0.026, 0.0022, 0.0075))
    d = _smax(d, -crease, 0.003)
    return d


def _first_exit(origin: np.ndarray, direction: np.ndarray, t_max: float = 0.3) -> np.ndarray:
    """Distance along each ray to where :func:`head_sdf` first becomes positive.

    Marches with steps of ``0.7 |sdf|`` (at least 0.4 mm) from inside, then bisects. ``origin`` and
    ``direction`` broadcast to ``(N, 3)``; directions are unit vectors.
    """
    origin, direction = np.broadcast_arrays(origin, direction)
    n = origin.shape[0]
    t = np.zeros(n)
    inside = head_sdf(origin) < 0
    if not inside.all():
        raise ValueError("ray origins must lie inside the head")
    lo = np.zeros(n)
    hi = np.full(n, np.nan)
    active = np.ones(n, dtype=bool)
    for _ in range(400):
        if not active.any():
            break
        idx = np.nonzero(active)[0]
        d = head_sdf(origin[idx] + t[idx, None] * direction[idx])
        out = d >= 0
        hi[idx[out]] = t[idx[out]]
        active[idx[out]] = False
        keep = idx[~out]
        lo[keep] = t[keep]
        t[keep] += np.maximum(0.7 * -d[~out], 4e-4)
        over = t[keep] > t_max
        if over.any():
            raise ValueError("a ray did not leave the head; the head SDF is inconsistent")
    for _ in range(18):
        mid = 0.5 * (lo + hi)
        d = head_sdf(origin + mid[:, None] * direction)
        hi = np.where(d >= 0, mid, hi)
        lo = np.where(d >= 0, lo, mid)
    return 0.5 * (lo + hi)


def _head_dirs(u: np.ndarray, v: np.ndarray) -> np.ndarray:
    phi = v / V_HEAD * PHI_HEAD
    return np.stack([np.sin(phi) * np.sin(u), np.cos(phi), np.sin(phi) * np.cos(u)], axis=-1)


def surface_point(u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """``S(u, v)``: surface points ``(N, 3)`` for parameters ``u, v (N,)`` (see module docstring)."""
    u = np.asarray(u, dtype=np.float64).ravel()
    v = np.asarray(v, dtype=np.float64).ravel()
    out = np.empty((u.size, 3))
    head = v <= V_HEAD
    if head.any():
        d = _head_dirs(u[head], v[head])
        out[head] = HEAD_CENTER + _first_exit(HEAD_CENTER[None], d)[:, None] * d
    neck = ~head
    if neck.any():
        un, vn = u[neck], v[neck]
        d = _head_dirs(un, np.full_like(un, V_HEAD))
        ring = HEAD_CENTER + _first_exit(HEAD_CENTER[None], d)[:, None] * d
        s = (vn - V_HEAD) / (1 - V_HEAD)
        y = ring[:, 1] + (NECK_BOTTOM - ring[:, 1]) * s
        origin = np.stack([np.zeros_like(y), y, np.full_like(y, NECK_AXIS_Z)], axis=-1)
        horiz = np.stack([ring[:, 0], np.zeros_like(y), ring[:, 2] - NECK_AXIS_Z], axis=-1)
        horiz /= np.linalg.norm(horiz, axis=-1, keepdims=True)
        out[neck] = origin + _first_exit(origin, horiz)[:, None] * horiz
    return out


def point_to_uv(p: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Parameters ``(u, v)`` of head points ``(N, 3)`` (inverse of :func:`surface_point` on the head
    part, ``v <= V_HEAD``)."""
    q = np.atleast_2d(p) - HEAD_CENTER
    u = np.arctan2(q[:, 0], q[:, 2])
    phi = np.arccos(np.clip(q[:, 1] / np.linalg.norm(q, axis=1), -1, 1))
    return u, phi / PHI_HEAD * V_HEAD
