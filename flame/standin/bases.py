"""Identity (shape) and expression bases of the stand-in head.

Columns are displacement fields ``(V, 3)`` in metres per unit coefficient; as in FLAME, a unit
coefficient is about one standard deviation. The leading columns are semantic and smooth; later
columns are smooth random fields (sums of Gaussian bumps) whose size decays with the index.
Eyeballs never deform: under identity they translate with the field at their centre, under
expression they do not move.
"""

from __future__ import annotations

import numpy as np

from flame.standin import mesh as M
from flame.standin import sdf
from flame.standin.mesh import HeadMesh
from flame.standin.rig import gauss, mirror_abs, smoothstep

SHAPE_NAMES = [
    "head size", "head width", "head depth", "face length", "jaw width", "chin protrusion",
    "nose length", "nose width", "eye spacing", "brow ridge", "cheek fullness", "lip fullness",
    "forehead slope", "ear size", "neck thickness",
]
EXPRESSION_NAMES = [
    "smile", "pucker", "brow raise", "brow furrow", "blink", "cheek puff", "lip press", "frown",
    "mouth stretch", "sneer", "lips apart", "squint", "left smile", "mouth shift left",
]
#: Expression coefficient at which a semantic expression is complete (blink = eyes closed).
FULL_EXPRESSION = 2.0


def vertex_normals(mesh: HeadMesh) -> np.ndarray:
    """Unit normals of the closed surface: the two copies of each inner-lip vertex share one normal,
    so normal displacements never open the mouth."""
    v, f = mesh.vertices, mesh.faces
    fn = np.cross(v[f[:, 1]] - v[f[:, 0]], v[f[:, 2]] - v[f[:, 0]])
    vn = np.zeros_like(v)
    for k in range(3):
        np.add.at(vn, f[:, k], fn)
    shared = vn[mesh.lip_upper] + vn[mesh.lip_lower]
    vn[mesh.lip_upper] = shared
    vn[mesh.lip_lower] = shared
    return vn / np.maximum(np.linalg.norm(vn, axis=1, keepdims=True), 1e-12)


def _rigid_eyes(mesh: HeadMesh, d: np.ndarray) -> np.ndarray:
    """Eyeballs follow the field at their centre (shape) - keeps them round and in the lids."""
    centre = sdf.EYE_CENTER
    head = mesh.vertices[: mesh.n_head]
    for sl, sx in ((mesh.eye_slices[0], 1.0), (mesh.eye_slices[1], -1.0)):
        c = centre * [sx, 1, 1]
        w = gauss(head, c, (0.006, 0.006, 0.006))
        d[sl] = (w[:, None] * d[: mesh.n_head]).sum(0) / w.sum()
    return d


def _random_field(mesh: HeadMesh, rng: np.random.Generator, sigma: float, mask: np.ndarray,
                  n_bumps: int = 6) -> np.ndarray:
    p = mesh.vertices
    d = np.zeros_like(p)
    weights = mask / mask.sum()
    for _ in range(n_bumps):
        c = p[rng.choice(len(p), p=weights)]
        s = sigma * rng.uniform(0.7, 1.4)
        d += gauss(p, c, (s, s, s))[:, None] * rng.normal(size=3)
    d *= mask[:, None]
    return d / np.abs(d).max()


def shape_basis(mesh: HeadMesh, rng: np.random.Generator, n: int = 300) -> np.ndarray:
    """``(V, 3, n)`` identity basis."""
    p = mesh.vertices
    m = mirror_abs(p)
    sx = np.sign(p[:, 0])
    normals = vertex_normals(mesh)
    ones = np.ones(len(p))
    zero = np.zeros(len(p))
    centre = np.array([0.0, 0.0, 0.0])
    lower_face = smoothstep(0.0, -0.06, p[:, 1]) * smoothstep(-0.02, 0.03, p[:, 2])
    cols = [
        0.05 * (p - centre),                                                        # head size
        np.stack([0.05 * p[:, 0], zero, zero], 1),                                  # head width
        np.stack([zero, zero, 0.06 * np.minimum(p[:, 2] - 0.02, 0)], 1),            # head depth
        np.stack([zero, -0.07 * np.maximum(-p[:, 1], 0) * lower_face, zero], 1),   # face length
        np.stack([0.10 * p[:, 0] * gauss(p, (0, -0.06, 0.02), (1, 0.03, 1)), zero, zero], 1),  # jaw width
        np.stack([zero, -0.001 * gauss(p, (0, -0.075, 0.07), (0.02, 0.015, 0.02)),
                  0.005 * gauss(p, (0, -0.075, 0.07), (0.02, 0.015, 0.02))], 1),  # chin
        np.stack([zero, -0.002 * gauss(p, (0, -0.008, 0.1), (0.012, 0.02, 0.02)),
                  0.005 * gauss(p, (0, 0.0, 0.1), (0.012, 0.025, 0.025))], 1),    # nose length
        np.stack([0.12 * p[:, 0] * gauss(p, (0, -0.012, 0.09), (0.02, 0.012, 0.02)), zero, zero], 1),  # nose width
        np.stack([0.003 * sx * gauss(m, sdf.EYE_CENTER, (0.014, 0.014, 0.03)), zero, zero], 1),  # eye spacing
        np.stack([zero, 0.0008 * gauss(m, (0.025, 0.048, 0.07), (0.03, 0.008, 0.02)),
                  0.003 * gauss(m, (0.025, 0.048, 0.07), (0.03, 0.008, 0.02))], 1),  # brow ridge
        0.004 * (gauss(m, (0.042, -0.02, 0.05), (0.015, 0.02, 0.02)))[:, None] * normals,  # cheeks
        0.0022 * gauss(p, (0, -0.04, 0.085), (0.02, 0.008, 0.01))[:, None] * normals,     # lips
        np.stack([zero, zero, 0.006 * gauss(p, (0, 0.08, 0.05), (0.05, 0.03, 0.04))], 1),  # forehead
        np.stack([0.006 * sx, 0.002 * ones, zero], 1) * gauss(m, sdf.EAR_CENTER, (0.012, 0.03, 0.02))[:, None],  # ears
        np.stack([0.08 * p[:, 0], zero, 0.08 * (p[:, 2] - sdf.NECK_AXIS_Z)], 1)
        * smoothstep(-0.07, -0.11, p[:, 1])[:, None],                               # neck thickness
    ]
    assert len(cols) == len(SHAPE_NAMES)
    head_mask = np.zeros(len(p))
    head_mask[: mesh.n_head] = 1.0
    k0 = len(cols)
    while len(cols) < n:
        k = len(cols)
        amp = 0.0035 * ((k + 1) / (k0 + 1)) ** -1.1
        sigma = 0.05 * ((k + 1) / (k0 + 1)) ** -0.3
        cols.append(amp * _random_field(mesh, rng, sigma, head_mask))
    basis = np.stack(cols[:n], axis=-1)  # (V, 3, n)
    for i in range(n):
        basis[:, :, i] = _rigid_eyes(mesh, basis[:, :, i].copy())
    return basis


def lid_displacement(mesh: HeadMesh, close_upper: float, close_lower: float, band_upper: float = 0.010,
                     band_lower: float = 0.006) -> np.ndarray:
    """``(V, 3)`` displacement that moves the upper lid rim ``close_upper`` and the lower rim
    ``close_lower`` of the way toward each other (1 + 0 shuts the eye on the lower rim; the
    default blink closes at 70 % of the opening). Lid vertices within ``band`` (metres, along the
    surface) of the rim follow with a smooth falloff; they slide over the eyeball because the
    displacement is taken on the lid surface ``S(u, v)``."""
    d = np.zeros_like(mesh.vertices)
    uv = mesh.uv
    head = mesh.vertices[: mesh.n_head]
    for eye in range(2):
        up, lo = mesh.rim_upper[eye], mesh.rim_lower[eye]
        uu, vu = uv[up, 0], uv[up, 1]
        ul, vl = uv[lo, 0], uv[lo, 1]
        # targets: the rims meet at the point (1 - c) of the way from the upper rim
        t_up = np.stack([uu + close_upper * (ul - uu), vu + close_upper * (vl - vu)], 1)
        t_lo = np.stack([ul + close_lower * (uu - ul), vl + close_lower * (vu - vl)], 1)
        order = np.argsort(uu)
        mid = up[len(up) // 2]
        metres_per_v = np.linalg.norm(sdf.surface_point(uv[[mid], 0], uv[[mid], 1] + 1e-4) - head[mid]) / 1e-4
        for rim_uv, tgt, band, sign in ((np.stack([uu, vu], 1), t_up, band_upper, -1.0),
                                        (np.stack([ul, vl], 1), t_lo, band_lower, 1.0)):
            du = np.interp(uv[: mesh.n_head, 0], rim_uv[order, 0], (tgt - rim_uv)[order, 0], left=0, right=0)
            dv = np.interp(uv[: mesh.n_head, 0], rim_uv[order, 0], (tgt - rim_uv)[order, 1], left=0, right=0)
            rim_v = np.interp(uv[: mesh.n_head, 0], rim_uv[order, 0], rim_uv[order, 1])
            # distance from the rim along v, positive away from the opening (above for the upper lid)
            dist_v = sign * (uv[: mesh.n_head, 1] - rim_v)
            in_range = (uv[: mesh.n_head, 0] > rim_uv[:, 0].min()) & (uv[: mesh.n_head, 0] < rim_uv[:, 0].max())
            band_v = band / metres_per_v
            fall = np.where(in_range & (dist_v >= -1e-9), 1.0 - smoothstep(0.0, band_v, dist_v), 0.0)
            side = np.abs(head[:, 0] - sdf.EYE_CENTER[0] * (1 if eye == 0 else -1)) < 0.03
            fall *= side
            idx = np.nonzero(fall > 0)[0]
            if idx.size:
                new_uv = uv[idx] + fall[idx, None] * np.stack([du[idx], dv[idx]], 1)
                d[idx] += sdf.surface_point(new_uv[:, 0], new_uv[:, 1]) - head[idx]
    return d


def expression_basis(mesh: HeadMesh, w_jaw: np.ndarray, rng: np.random.Generator, n: int = 100) -> np.ndarray:
    """``(V, 3, n)`` expression basis; semantic columns reach the full expression at
    :data:`FULL_EXPRESSION`."""
    p = mesh.vertices
    m = mirror_abs(p)
    sx = np.sign(p[:, 0])
    normals = vertex_normals(mesh)
    upper = 1.0 - w_jaw
    lower = w_jaw
    corner_c = (M.MOUTH_HALF_WIDTH, float(M.lip_line_y(M.MOUTH_HALF_WIDTH)), 0.075)
    corner = gauss(m, corner_c, (0.012, 0.010, 0.012))
    cheek = gauss(m, (0.038, -0.005, 0.06), (0.016, 0.016, 0.02))
    mouth = gauss(p, (0, -0.041, 0.085), (0.022, 0.014, 0.015))
    upper_lip = gauss(p, (0, -0.034, 0.085), (0.02, 0.007, 0.015)) * upper
    lower_lip = gauss(p, (0, -0.048, 0.083), (0.018, 0.008, 0.015)) * lower
    brow = gauss(m, (0.026, 0.050, 0.065), (0.024, 0.012, 0.03))
    inner_brow = gauss(m, (0.012, 0.046, 0.07), (0.009, 0.009, 0.03))
    lower_lid_region = gauss(m, sdf.EYE_CENTER + [0, -0.012, 0.01], (0.014, 0.006, 0.02))
    nose_ala = gauss(m, (0.013, -0.010, 0.085), (0.008, 0.008, 0.012))
    z = np.zeros(len(p))
    vec = lambda x, y, zz: np.stack([x, y, zz], 1)  # noqa: E731
    smile = (corner[:, None] * vec(0.0030 * sx, 0.0034 + z, -0.0016 + z)
             + cheek[:, None] * vec(z, 0.0012 + z, 0.0008 + z)
             + lower_lid_region[:, None] * vec(z, 0.0005 + z, z))
    blink = lid_displacement(mesh, close_upper=0.7, close_lower=0.3) / FULL_EXPRESSION
    squint = lid_displacement(mesh, close_upper=0.15, close_lower=0.3) / FULL_EXPRESSION
    cols = [
        smile,
        mouth[:, None] * vec(-0.18 * p[:, 0], z, 0.0032 + z),                       # pucker
        (brow + 0.5 * gauss(p, (0, 0.07, 0.06), (0.05, 0.02, 0.04)))[:, None] * vec(z, 0.0022 + z, z)
        + lid_displacement(mesh, -0.12, 0.0) / FULL_EXPRESSION,                       # brow raise
        inner_brow[:, None] * vec(-0.0020 * sx, -0.0018 + z, 0.0005 + z),            # brow furrow
        blink,
        0.0032 * gauss(m, (0.040, -0.035, 0.055), (0.015, 0.015, 0.02))[:, None] * normals,  # cheek puff
        mouth[:, None] * vec(z, z, -0.0016 + z),                                     # lip press
        corner[:, None] * vec(0.0004 * sx, -0.0030 + z, -0.0006 + z),                # frown
        corner[:, None] * vec(0.0032 * sx, -0.0005 + z, -0.0014 + z),                # mouth stretch
        (upper_lip * gauss(m, (0.01, -0.03, 0.085), (0.01, 0.02, 0.02)))[:, None] * vec(z, 0.0018 + z, 0.0005 + z)
        + nose_ala[:, None] * vec(z, 0.0009 + z, z),                                 # sneer
        lower_lip[:, None] * vec(z, -0.0030 + z, 0.0003 + z) + upper_lip[:, None] * vec(z, 0.0010 + z, z)
        + (gauss(p, (0, -0.07, 0.06), (0.03, 0.02, 0.04)) * lower)[:, None] * vec(z, -0.0015 + z, z),  # lips apart
        squint + cheek[:, None] * vec(z, 0.0006 + z, z),                             # squint
        smile * smoothstep(-0.01, 0.01, p[:, 0])[:, None],                           # left smile
        mouth[:, None] * vec(0.0018 + z, z, z),                                      # mouth shift left
    ]
    assert len(cols) == len(EXPRESSION_NAMES)
    face_mask = gauss(p, (0, -0.01, 0.07), (0.055, 0.065, 0.06))
    face_mask[mesh.n_head:] = 0.0
    k0 = len(cols)
    while len(cols) < n:
        k = len(cols)
        amp = 0.0018 * ((k + 1) / (k0 + 1)) ** -1.0
        sigma = 0.025 * ((k + 1) / (k0 + 1)) ** -0.25
        fu = _random_field(mesh, rng, sigma, face_mask * upper + 1e-9, n_bumps=4)
        fl = _random_field(mesh, rng, sigma, face_mask * lower + 1e-9, n_bumps=4)
        cols.append(amp * (fu * upper[:, None] + fl * lower[:, None]))
    basis = np.stack(cols[:n], axis=-1)
    basis[mesh.n_head:] = 0.0
    return basis
