"""Topology of the stand-in head: an adaptive, mirror-symmetric triangulation of the SDF surface
with eye openings and a mouth slit, plus two eyeball spheres.

The left half (x >= 0) of the ``(u, v)`` parameter domain is sampled with a variable-radius
Poisson-disk process (dense on the face, sparse on the back of the head and the neck), seeded
with feature curves (eye rims, the lip line) and the mirror axis; it is triangulated with Delaunay
in an approximately conformal plane, mirrored, the eye openings are cut, and the lip line is split
into an upper and a lower lip. Everything is deterministic for a given seed.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.spatial import Delaunay, cKDTree

from flame.standin import sdf

H_FACE = 0.0021  # target edge length on the face, metres
H_BACK = 0.0066  # on the back of the head and the neck
RIM_SEGMENTS = 12  # segments per eyelid rim (corners shared)
LIP_POINTS = 13  # lip-line points from the mid-line to the corner (excluded)
MOUTH_HALF_WIDTH = 0.0215
MOUTH_Y = -0.0405
EYE_OPEN_LATERAL = np.deg2rad(45.0)  # half-width of the eye opening, angle about the eye centre
EYE_OPEN_UP = np.deg2rad(27.0)
EYE_OPEN_DOWN = np.deg2rad(22.0)
EYE_TILT = np.deg2rad(4.0)  # outer corner raised
EYE_RINGS = np.deg2rad([7, 13, 19, 25, 31, 38, 46, 56, 68, 82, 97, 113, 129, 145, 162])
EYE_SEGMENTS = 24


@dataclass(frozen=True)
class HeadMesh:
    """Triangulated stand-in geometry (rest pose, metres).

    Attributes:
        vertices: ``(V, 3)``: head vertices, then the left eyeball, then the right eyeball.
        faces: ``(F, 3)`` counter-clockwise seen from outside.
        uv: ``(n_head, 2)`` surface parameters of the head vertices.
        n_head: number of head vertices; eyeballs follow.
        eye_slices: vertex slices of the left and right eyeball.
        rim_upper, rim_lower: ``(2, RIM_SEGMENTS + 1)`` vertex ids of the upper / lower lid rim per eye
            (left, right), from the outer corner (index 0) to the inner corner; the corners are shared.
        rim_alpha: ``(RIM_SEGMENTS + 1,)`` rim angle of those columns (0 = outer corner, pi = inner).
        lip_upper, lip_lower: ``(2 * LIP_POINTS - 1,)`` vertex ids of the upper / lower inner lip
            from the subject's right to the left; lip_corners ``(2,)`` right, left.
        lip_x: ``(2 * LIP_POINTS - 1,)`` x of the lip-line points.
    """

    vertices: np.ndarray
    faces: np.ndarray
    uv: np.ndarray
    n_head: int
    eye_slices: tuple[slice, slice]
    rim_upper: np.ndarray
    rim_lower: np.ndarray
    rim_alpha: np.ndarray
    lip_upper: np.ndarray
    lip_lower: np.ndarray
    lip_corners: np.ndarray
    lip_x: np.ndarray
    plane: np.ndarray  # (n_head, 2) triangulation plane coordinates (for point location)


def eye_rim_points(alpha: np.ndarray, upper: bool) -> np.ndarray:
    """3D points of the left eye opening on the lid surface at rim angles ``alpha`` (0 = outer
    corner, pi = inner corner)."""
    lateral = EYE_OPEN_LATERAL * np.cos(alpha)
    vert = (EYE_OPEN_UP if upper else -EYE_OPEN_DOWN) * np.sin(alpha) + EYE_TILT * np.cos(alpha)
    d = np.stack([np.sin(lateral) * np.cos(vert), np.sin(vert), np.cos(lateral) * np.cos(vert)], axis=-1)
    return sdf.EYE_CENTER + (sdf.EYE_RADIUS + sdf.LID_GAP) * d


def lip_line_y(x: np.ndarray) -> np.ndarray:
    """Height of the neutral lip line (the mouth slit) at ``x``."""
    return MOUTH_Y + 0.0012 * (np.asarray(x) / MOUTH_HALF_WIDTH) ** 2


def target_edge(p: np.ndarray) -> np.ndarray:
    """Target edge length at head points ``(N, 3)``: ``H_FACE`` on the face, ``H_BACK`` elsewhere."""
    q = (p - np.array([0.0, -0.008, 0.0])) / np.array([0.072, 0.092, 1.0])
    face = np.exp(-(q[:, 0] ** 2 + q[:, 1] ** 2) ** 2) * (1 / (1 + np.exp(-(p[:, 2] - 0.035) / 0.012)))
    e = (np.abs(p[:, 0:1]) - sdf.EAR_CENTER) / np.array([0.03, 0.04, 0.03])
    ear = np.exp(-(e ** 2).sum(axis=1) ** 2)
    return H_BACK + (H_FACE - H_BACK) * np.maximum(face, 0.7 * ear)


def _uv_of_direction_points(p: np.ndarray) -> np.ndarray:
    u, v = sdf.point_to_uv(p)
    return np.stack([u, v], axis=-1)


def _conformal_radius(n_u: int = 48, n_v: int = 160) -> tuple[np.ndarray, np.ndarray]:
    """Tabulate rho(v) so that ``(rho sin u, rho cos u)`` is roughly conformal to the surface."""
    v = np.linspace(0.004, 1.0, n_v)
    u = np.linspace(0, np.pi, n_u)
    U, V = np.meshgrid(u, v)
    P = sdf.surface_point(U.ravel(), V.ravel()).reshape(n_v, n_u, 3)
    ring = np.linalg.norm(np.gradient(P, u, axis=1), axis=-1).mean(axis=1)
    meridian = np.linalg.norm(np.gradient(P, v, axis=0), axis=-1).mean(axis=1)
    log_rho = np.log(v[0]) + np.concatenate([[0], np.cumsum(0.5 * (meridian[1:] / ring[1:] + meridian[:-1] / ring[:-1]) * np.diff(v))])
    return np.concatenate([[0.0], v]), np.concatenate([[0.0], np.exp(log_rho)])


def _plane(uv: np.ndarray, table: tuple[np.ndarray, np.ndarray]) -> np.ndarray:
    rho = np.interp(uv[:, 1], *table)
    return np.stack([rho * np.sin(uv[:, 0]), rho * np.cos(uv[:, 0])], axis=-1)


def _poisson_half(rng: np.random.Generator, fixed_uv: np.ndarray, fixed_h: np.ndarray,
                  holes: list[np.ndarray]) -> np.ndarray:
    """Variable-radius Poisson-disk samples on the left half, keeping ``fixed_uv`` (accepted first);
    no samples inside the ``holes`` (polygons in ``(u, v)``)."""
    # Coarse grid -> local area per cell -> candidate counts.
    nu, nv = 72, 120
    ue = np.linspace(0, np.pi, nu + 1)
    ve = np.linspace(0.0, 1.0, nv + 1)
    uc, vc = 0.5 * (ue[1:] + ue[:-1]), 0.5 * (ve[1:] + ve[:-1])
    U, V = np.meshgrid(uc, vc)
    du, dv = np.pi / nu, 1.0 / nv
    Ue, Ve = np.meshgrid(ue, ve)
    C = sdf.surface_point(Ue.ravel(), Ve.ravel()).reshape(nv + 1, nu + 1, 3)
    diag1, diag2 = C[1:, 1:] - C[:-1, :-1], C[1:, :-1] - C[:-1, 1:]
    area = 0.5 * np.linalg.norm(np.cross(diag1, diag2), axis=-1).ravel()
    h = target_edge(C[:-1, :-1].reshape(-1, 3))
    n_cand = np.maximum(1, np.round(6.0 * area / (0.866 * h ** 2))).astype(int)
    cell = np.repeat(np.arange(U.size), n_cand)
    cu = U.ravel()[cell] + (rng.random(cell.size) - 0.5) * du
    cv = V.ravel()[cell] + (rng.random(cell.size) - 0.5) * dv
    keep = (cu > 0) & (cu < np.pi) & (cv > 0.0) & (cv < 1.0)
    cand_uv = np.stack([cu[keep], cv[keep]], axis=-1)
    for hole in holes:
        cand_uv = cand_uv[~_inside_polygon(cand_uv, hole)]
    cand_p = sdf.surface_point(cand_uv[:, 0], cand_uv[:, 1])
    cand_h = target_edge(cand_p)
    # The open neck bottom (v = 1) and the mirror axis (u = 0 and u = pi), walked along the
    # meridians with the local target spacing; axis points too close to a feature are skipped.
    ring_u = np.linspace(0, np.pi, 400)
    ring_p = sdf.surface_point(ring_u, np.ones_like(ring_u))
    n_bottom = max(2, int(round(np.linalg.norm(np.diff(ring_p, axis=0), axis=1).sum() / H_BACK)))
    axis = [(u0, 1.0) for u0 in np.linspace(0, np.pi, n_bottom + 1)]
    feature_tree = cKDTree(sdf.surface_point(fixed_uv[:, 0], fixed_uv[:, 1]))
    for u0 in (0.0, np.pi):
        vs = np.linspace(0.0005, 1.0, 4000)
        pts = sdf.surface_point(np.full_like(vs, u0), vs)
        arc = np.concatenate([[0], np.cumsum(np.linalg.norm(np.diff(pts, axis=0), axis=1))])
        hs = target_edge(pts)
        s = 0.0 if u0 == np.pi else hs[0]  # the crown point is added once, from the back meridian
        while s < arc[-1] - 0.7 * hs[-1]:
            i = min(np.searchsorted(arc, s), len(vs) - 1)
            if feature_tree.query(pts[i])[0] > 0.9 * hs[i] and (not axis or axis[-1] != (u0, vs[i])):
                axis.append((u0, vs[i]))
            s += hs[i]
    axis_uv = np.array(axis)
    fixed = np.concatenate([fixed_uv, axis_uv])
    fixed_p = sdf.surface_point(fixed[:, 0], fixed[:, 1])
    fixed_h = np.concatenate([fixed_h, target_edge(fixed_p[len(fixed_uv):])])
    # Greedy elimination in random order; fixed points first.
    order = rng.permutation(len(cand_uv))
    all_p = np.concatenate([fixed_p, cand_p[order]])
    all_h = np.concatenate([fixed_h, cand_h[order]])
    all_uv = np.concatenate([fixed, cand_uv[order]])
    tree = cKDTree(all_p)
    accepted = np.zeros(len(all_p), dtype=bool)
    blocked = np.zeros(len(all_p), dtype=bool)
    n_fixed = len(fixed)
    accepted[:n_fixed] = True
    neighbours = tree.query_ball_point(all_p, r=0.9 * all_h)
    for i in range(n_fixed):
        blocked[neighbours[i]] = True
    # too close to the mirror plane: the mirrored copy would be too near
    blocked[n_fixed:] |= np.abs(all_p[n_fixed:, 0]) < 0.45 * all_h[n_fixed:]
    for i in range(n_fixed, len(all_p)):
        if blocked[i]:
            continue
        accepted[i] = True
        blocked[neighbours[i]] = True
    return all_uv[accepted]


def _uv_sphere(center: np.ndarray, radius: float) -> tuple[np.ndarray, np.ndarray]:
    """Sphere with its pole on +z (the pupil): vertices and counter-clockwise faces."""
    verts = [center + [0, 0, radius]]
    for th in EYE_RINGS:
        ph = np.linspace(0, 2 * np.pi, EYE_SEGMENTS, endpoint=False)
        ring = np.stack([np.sin(th) * np.cos(ph), np.sin(th) * np.sin(ph), np.full_like(ph, np.cos(th))], -1)
        verts += list(center + radius * ring)
    verts.append(center + [0, 0, -radius])
    n, s = len(EYE_RINGS), EYE_SEGMENTS
    faces = [(0, 1 + j, 1 + (j + 1) % s) for j in range(s)]
    for r in range(n - 1):
        a, b = 1 + r * s, 1 + (r + 1) * s
        for j in range(s):
            j1 = (j + 1) % s
            faces += [(a + j, b + j, b + j1), (a + j, b + j1, a + j1)]
    last, base = len(verts) - 1, 1 + (n - 1) * s
    faces += [(base + j, last, base + (j + 1) % s) for j in range(s)]
    return np.array(verts), np.array(faces)


def _edge_set(faces: np.ndarray) -> set[tuple[int, int]]:
    e = np.concatenate([faces[:, [0, 1]], faces[:, [1, 2]], faces[:, [2, 0]]])
    e.sort(axis=1)
    return set(map(tuple, e))


def build_mesh(seed: int = 0) -> HeadMesh:
    """Build the stand-in topology and rest geometry (deterministic)."""
    rng = np.random.default_rng(seed)
    table = _conformal_radius()
    # Feature points on the left half.
    alpha = np.linspace(0, np.pi, RIM_SEGMENTS + 1)
    rim_up = _uv_of_direction_points(eye_rim_points(alpha, upper=True))
    rim_lo = _uv_of_direction_points(eye_rim_points(alpha[1:-1], upper=False))
    lip_x = np.linspace(0, MOUTH_HALF_WIDTH, LIP_POINTS + 1)
    lip_uv = _uv_of_direction_points(np.stack([lip_x, lip_line_y(lip_x), np.full_like(lip_x, 0.09)], -1))
    lip_uv[0, 0] = 0.0
    fixed_uv = np.concatenate([rim_up, rim_lo, lip_uv])
    fixed_p = sdf.surface_point(fixed_uv[:, 0], fixed_uv[:, 1])
    rim_len = np.linalg.norm(np.diff(fixed_p[: RIM_SEGMENTS + 1], axis=0), axis=1).mean()
    lip_len = np.linalg.norm(np.diff(fixed_p[-len(lip_uv):], axis=0), axis=1).mean()
    n_rim = len(rim_up) + len(rim_lo)
    fixed_h = np.concatenate([np.full(n_rim, rim_len), np.full(len(lip_uv), lip_len)])
    eye_hole = np.concatenate([rim_up, rim_lo[::-1]])
    half_uv = _poisson_half(rng, fixed_uv, fixed_h, holes=[eye_hole])
    n_rim_up = len(rim_up)
    rim_up_ids = np.arange(n_rim_up)
    rim_lo_ids = np.concatenate([[0], n_rim_up + np.arange(len(rim_lo)), [n_rim_up - 1]])
    lip_ids = n_rim + np.arange(len(lip_uv))  # mid-line ... corner

    # Triangulate the half in the conformal plane and cut the left eye opening.
    plane = _plane(half_uv, table)
    plane[np.isclose(half_uv[:, 0], 0) | np.isclose(half_uv[:, 0], np.pi), 0] = 0.0
    tri = Delaunay(plane).simplices
    rim_poly = plane[np.concatenate([rim_up_ids, rim_lo_ids[::-1][1:-1]])]
    centroid = plane[tri].mean(axis=1)
    tri = tri[~_inside_polygon(centroid, rim_poly)]
    area = _signed_area(plane[tri])
    if np.abs(area).min() < 1e-14:
        raise RuntimeError("degenerate triangle in the stand-in triangulation")
    edges = _edge_set(tri)
    for ids in (rim_up_ids, rim_lo_ids, lip_ids):
        for a, b in zip(ids[:-1], ids[1:]):
            if (min(a, b), max(a, b)) not in edges:
                raise RuntimeError("a feature edge is missing from the stand-in triangulation")
    tri = np.where((area > 0)[:, None], tri, tri[:, ::-1])

    # Mirror: axis vertices are shared.
    on_axis = plane[:, 0] == 0.0
    n_half = len(half_uv)
    mirror_of = np.arange(n_half)
    off = np.nonzero(~on_axis)[0]
    mirror_of[off] = n_half + np.arange(len(off))
    uv = np.concatenate([half_uv, half_uv[off] * [-1, 1]])
    pl = np.concatenate([plane, plane[off] * [-1, 1]])
    faces = np.concatenate([tri, mirror_of[tri][:, ::-1]])

    # Split the lip line (mid-line .. corner-1 on both sides) into upper and lower lips.
    lip_left = lip_ids[:-1]
    lip_right = mirror_of[lip_ids[:-1]]
    inner = np.unique(np.concatenate([lip_left, lip_right]))
    n_head_before = len(uv)
    dup = {int(i): n_head_before + k for k, i in enumerate(inner)}
    uv = np.concatenate([uv, uv[inner]])
    pl = np.concatenate([pl, pl[inner]])
    fc_uv = uv[faces].mean(axis=1)
    below = fc_uv[:, 1] > np.interp(np.abs(fc_uv[:, 0]), np.abs(uv[lip_ids, 0]), uv[lip_ids, 1])
    for f in np.nonzero(below & np.isin(faces, inner).any(axis=1))[0]:
        faces[f] = [dup.get(int(i), int(i)) for i in faces[f]]

    # Positions: the half, exactly mirrored (axis vertices exactly on x = 0), then the lip copies.
    half_p = sdf.surface_point(half_uv[:, 0], half_uv[:, 1])
    half_p[on_axis, 0] = 0.0
    head_p = np.concatenate([half_p, half_p[off] * [-1, 1, 1]])
    head_p = np.concatenate([head_p, head_p[inner]])
    # Outward orientation: the normal of most faces points away from the head centre.
    fn = np.cross(head_p[faces[:, 1]] - head_p[faces[:, 0]], head_p[faces[:, 2]] - head_p[faces[:, 0]])
    if np.mean(np.sum(fn * (head_p[faces].mean(1) - sdf.HEAD_CENTER), axis=1) > 0) < 0.5:
        faces = faces[:, ::-1]
    n_head = len(head_p)
    if len(np.setdiff1d(np.arange(n_head), faces)):
        raise RuntimeError("the stand-in triangulation left unreferenced vertices")

    # Eyeballs: left (+x) then right.
    eye_l, ef = _uv_sphere(sdf.EYE_CENTER, sdf.EYE_RADIUS)
    eye_r = eye_l * [-1, 1, 1]
    ef_r = ef[:, ::-1]  # mirroring flips the winding
    vertices = np.concatenate([head_p, eye_l, eye_r])
    faces = np.concatenate([faces, ef + n_head, ef_r + n_head + len(eye_l)])
    ne = len(eye_l)

    rim_upper = np.stack([rim_up_ids, mirror_of[rim_up_ids]])
    rim_lower = np.stack([rim_lo_ids, mirror_of[rim_lo_ids]])
    order_right = mirror_of[lip_ids[::-1]]  # right corner ... mid-line
    line = np.concatenate([order_right[:-1], lip_ids])  # right corner .. mid .. left corner
    corners = np.array([line[0], line[-1]])
    upper = line[1:-1]
    lower = np.array([dup[int(i)] for i in upper])
    lx = np.concatenate([-lip_x[::-1][:-1], lip_x])[1:-1]
    return HeadMesh(
        vertices=vertices, faces=faces.astype(np.int64), uv=uv, n_head=n_head,
        eye_slices=(slice(n_head, n_head + ne), slice(n_head + ne, n_head + 2 * ne)),
        rim_upper=rim_upper, rim_lower=rim_lower, rim_alpha=alpha,
        lip_upper=upper, lip_lower=lower, lip_corners=corners, lip_x=lx, plane=pl,
    )


def _signed_area(tri: np.ndarray) -> np.ndarray:
    a, b, c = tri[:, 0], tri[:, 1], tri[:, 2]
    return 0.5 * ((b[:, 0] - a[:, 0]) * (c[:, 1] - a[:, 1]) - (c[:, 0] - a[:, 0]) * (b[:, 1] - a[:, 1]))


def _inside_polygon(points: np.ndarray, poly: np.ndarray) -> np.ndarray:
    """Even-odd rule point-in-polygon, vectorized over points."""
    x, y = points[:, 0:1], points[:, 1:2]
    x0, y0 = poly[:, 0], poly[:, 1]
    x1, y1 = np.roll(x0, -1), np.roll(y0, -1)
    cross = ((y0 > y) != (y1 > y)) & (x < (x1 - x0) * (y - y0) / np.where(y1 == y0, 1e-30, y1 - y0) + x0)
    return cross.sum(axis=1) % 2 == 1
