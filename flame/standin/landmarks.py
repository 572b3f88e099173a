"""iBUG-68 landmark embedding of the stand-in head: 51 static points, the 79 x 17 dynamic contour
table (DECA's yaw convention) and the fixed "full" 68-point embedding."""

from __future__ import annotations

import numpy as np

from flame.embedding import LandmarkEmbedding
from flame.lbs import N_CONTOUR_ROWS
from flame.standin import mesh as M
from flame.standin import sdf
from flame.standin.mesh import HeadMesh


def closest_point(points: np.ndarray, verts: np.ndarray, faces: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Closest point on a triangle mesh for each of ``points (N, 3)``: face index ``(N,)`` and
    barycentric coordinates ``(N, 3)`` (Ericson's region test, vectorized over faces)."""
    a, b, c = verts[faces[:, 0]], verts[faces[:, 1]], verts[faces[:, 2]]
    out_f = np.zeros(len(points), dtype=np.int64)
    out_b = np.zeros((len(points), 3))
    for i, p in enumerate(points):
        ab, ac, ap = b - a, c - a, p - a
        d1, d2 = (ab * ap).sum(1), (ac * ap).sum(1)
        bp = p - b
        d3, d4 = (ab * bp).sum(1), (ac * bp).sum(1)
        cp = p - c
        d5, d6 = (ab * cp).sum(1), (ac * cp).sum(1)
        va = d3 * d6 - d5 * d4
        vb = d5 * d2 - d1 * d6
        vc = d1 * d4 - d3 * d2
        denom = np.where(va + vb + vc == 0, 1e-30, va + vb + vc)
        v = vb / denom
        w = vc / denom
        bary = np.stack([1 - v - w, v, w], 1)
        # clamp to the triangle: project onto the edges when outside
        outside = (bary < 0).any(1)
        if outside.any():
            bary[outside] = _clamp_bary(p, a[outside], b[outside], c[outside])
        q = bary[:, :1] * a + bary[:, 1:2] * b + bary[:, 2:] * c
        k = int(np.argmin(np.linalg.norm(q - p, axis=1)))
        out_f[i], out_b[i] = k, bary[k]
    return out_f, out_b


def _clamp_bary(p: np.ndarray, a: np.ndarray, b: np.ndarray, c: np.ndarray) -> np.ndarray:
    """Barycentrics of the closest point on the three edges."""
    best = None
    best_d = None
    for (x, y, ix, iy) in ((a, b, 0, 1), (b, c, 1, 2), (c, a, 2, 0)):
        e = y - x
        t = np.clip(((p - x) * e).sum(1) / np.maximum((e * e).sum(1), 1e-30), 0, 1)
        q = x + t[:, None] * e
        dist = np.linalg.norm(q - p, axis=1)
        bary = np.zeros((len(a), 3))
        bary[np.arange(len(a)), ix] = 1 - t
        bary[np.arange(len(a)), iy] += t
        if best is None:
            best, best_d = bary, dist
        else:
            take = dist < best_d
            best[take], best_d[take] = bary[take], dist[take]
    return best


def _vertex_landmark(faces: np.ndarray, vid: int) -> tuple[int, np.ndarray]:
    f = int(np.nonzero((faces == vid).any(axis=1))[0][0])
    bary = (faces[f] == vid).astype(np.float64)
    return f, bary


def _surface_targets(xy: np.ndarray) -> np.ndarray:
    """Front surface points with the given ``(x, y)`` (found by re-aiming rays from the head centre)."""
    z = np.full(len(xy), 0.1)
    for _ in range(6):
        u, v = sdf.point_to_uv(np.stack([xy[:, 0], xy[:, 1], z], 1))
        p = sdf.surface_point(u, v)
        z = p[:, 2]
    return p


def static_embedding(mesh: HeadMesh) -> tuple[np.ndarray, np.ndarray]:
    """51 static iBUG points (17..67) as (face, barycentric) pairs."""
    verts, faces = mesh.vertices, mesh.faces[: _n_head_faces(mesh)]
    line = float(M.lip_line_y(0.0))
    left_brow = np.array([[0.010, 0.0475], [0.020, 0.0515], [0.030, 0.0530], [0.040, 0.0515], [0.049, 0.0470]])
    nose = np.array([[0, 0.030], [0, 0.018], [0, 0.006], [0, -0.0075]])
    lower_nose = np.array([[-0.0125, -0.0165], [-0.0065, -0.0195], [0, -0.0215], [0.0065, -0.0195], [0.0125, -0.0165]])
    outer_upper = np.array([[-0.0140, line + 0.0060], [-0.0065, line + 0.0095], [0, line + 0.0085],
                            [0.0065, line + 0.0095], [0.0140, line + 0.0060]])
    outer_lower = np.array([[0.0140, line - 0.0060], [0.0065, line - 0.0095], [0, line - 0.0105],
                            [-0.0065, line - 0.0095], [-0.0140, line - 0.0060]])
    targets = {}
    for i, xy in enumerate(left_brow[::-1] * [-1, 1]):  # 17..21: right brow, outer -> inner
        targets[17 + i] = xy
    for i, xy in enumerate(left_brow):  # 22..26: left brow, inner -> outer
        targets[22 + i] = xy
    for i, xy in enumerate(np.concatenate([nose, lower_nose])):
        targets[27 + i] = xy
    for i, xy in enumerate(outer_upper):
        targets[49 + i] = xy
    for i, xy in enumerate(outer_lower):
        targets[55 + i] = xy
    ids = sorted(targets)
    pts = _surface_targets(np.array([targets[i] for i in ids]))
    f_idx, bary = closest_point(pts, verts, faces)
    result: dict[int, tuple[int, np.ndarray]] = {i: (int(f), b) for i, f, b in zip(ids, f_idx, bary)}
    for i, p in zip(ids, pts):
        if targets[i][0] == 0.0:  # mid-line points lie exactly on the mirror plane
            result[i] = _on_axis_edge(p, verts, faces)
    # Eyes on the lid rims: columns 0 (outer corner), 4, 8, 12 (inner corner) of the rim arrays.
    right, left = 1, 0
    rim = {36: (right, "u", 0), 37: (right, "u", 4), 38: (right, "u", 8), 39: (right, "u", 12),
           40: (right, "l", 8), 41: (right, "l", 4), 42: (left, "u", 12), 43: (left, "u", 8),
           44: (left, "u", 4), 45: (left, "u", 0), 46: (left, "l", 4), 47: (left, "l", 8)}
    for lm, (eye, side, col) in rim.items():
        arr = mesh.rim_upper if side == "u" else mesh.rim_lower
        result[lm] = _vertex_landmark(faces, int(arr[eye, col]))
    # Mouth corners (outer = inner on a closed slit) and the inner lips on the upper / lower copies.
    result[48] = result[60] = _vertex_landmark(faces, int(mesh.lip_corners[0]))
    result[54] = result[64] = _vertex_landmark(faces, int(mesh.lip_corners[1]))
    for lm, x, arr in ((61, -0.0095, mesh.lip_upper), (62, 0.0, mesh.lip_upper), (63, 0.0095, mesh.lip_upper),
                       (65, 0.0095, mesh.lip_lower), (66, 0.0, mesh.lip_lower), (67, -0.0095, mesh.lip_lower)):
        result[lm] = _vertex_landmark(faces, int(arr[np.argmin(np.abs(mesh.lip_x - x))]))
    f = np.array([result[i][0] for i in range(17, 68)])
    b = np.array([result[i][1] for i in range(17, 68)])
    return f, b


def _on_axis_edge(p: np.ndarray, verts: np.ndarray, faces: np.ndarray) -> tuple[int, np.ndarray]:
    """Closest point to ``p`` on an edge lying in the plane x = 0, as (face, barycentric)."""
    best = (np.inf, 0, np.zeros(3))
    for k in range(3):
        a, b = faces[:, k], faces[:, (k + 1) % 3]
        on_axis = np.nonzero((verts[a, 0] == 0.0) & (verts[b, 0] == 0.0))[0]
        pa, pb = verts[a[on_axis]], verts[b[on_axis]]
        e = pb - pa
        t = np.clip(((p - pa) * e).sum(1) / np.maximum((e * e).sum(1), 1e-30), 0, 1)
        d = np.linalg.norm(pa + t[:, None] * e - p, axis=1)
        j = int(np.argmin(d))
        if d[j] < best[0]:
            bary = np.zeros(3)
            bary[k], bary[(k + 1) % 3] = 1 - t[j], t[j]
            best = (d[j], int(on_axis[j]), bary)
    return best[1], best[2]


def _n_head_faces(mesh: HeadMesh) -> int:
    return int(np.sum((mesh.faces < mesh.n_head).all(axis=1)))


def _ray_hits(origin: np.ndarray, dirs: np.ndarray, verts: np.ndarray, faces: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """First hit of rays from ``origin`` (Moller-Trumbore): face, barycentrics, distance."""
    a, b, c = verts[faces[:, 0]], verts[faces[:, 1]], verts[faces[:, 2]]
    e1, e2 = b - a, c - a
    out_f = np.full(len(dirs), -1)
    out_b = np.zeros((len(dirs), 3))
    out_t = np.full(len(dirs), np.inf)
    s = origin - a
    for i, d in enumerate(dirs):
        pvec = np.cross(d, e2)
        det = (e1 * pvec).sum(1)
        ok = np.abs(det) > 1e-14
        inv = np.where(ok, 1 / np.where(ok, det, 1), 0)
        u = (s * pvec).sum(1) * inv
        qvec = np.cross(s, e1)
        v = (qvec @ d) * inv
        t = (e2 * qvec).sum(1) * inv
        hit = ok & (u >= 0) & (v >= 0) & (u + v <= 1) & (t > 0)
        if hit.any():
            k = np.nonzero(hit)[0][np.argmin(t[hit])]
            out_f[i], out_b[i], out_t[i] = k, (1 - u[k] - v[k], u[k], v[k]), t[k]
    return out_f, out_b, out_t


def contour_table(mesh: HeadMesh, w_jaw: np.ndarray, n_rays: int = 120) -> tuple[np.ndarray, np.ndarray]:
    """Dynamic contour ``(79, 17)`` faces and ``(79, 17, 3)`` barycentrics.

    Contour point k (0 = the subject's right temple, 8 = chin, 16 = left temple) is searched in the
    half-plane through the face centre spanned by an image direction ``o_k`` and +z. For the yaw
    of each row (rows 0..39 = 0..39 degrees, 40..78 = -1..-39, a right-handed turn about +y), the
    chosen point is the candidate farthest along ``o_k`` in the image of a camera on +z - the
    silhouette of the rotated head. Candidates are kept on the face: in front of the ears, and
    below the mouth only on the jaw (the neck is never part of the contour).
    """
    verts, faces = mesh.vertices, mesh.faces[: _n_head_faces(mesh)]
    origin = np.array([0.0, -0.005, 0.0])
    psi = np.deg2rad(160 + np.arange(17) * (220 / 16))
    omega = np.deg2rad(np.linspace(-20, 89, n_rays))
    yaw = np.deg2rad(np.concatenate([np.arange(0, 40), -np.arange(1, 40)]))
    assert len(yaw) == N_CONTOUR_ROWS
    table_f = np.zeros((N_CONTOUR_ROWS, 17), dtype=np.int64)
    table_b = np.zeros((N_CONTOUR_ROWS, 17, 3))
    for k, ps in enumerate(psi):
        o = np.array([np.cos(ps), np.sin(ps), 0.0])
        dirs = np.cos(omega)[:, None] * o + np.sin(omega)[:, None] * np.array([0, 0, 1.0])
        f, b, _ = _ray_hits(origin, dirs, verts, faces)
        pts = (b[:, :, None] * verts[faces[f]]).sum(1)
        jaw = (b * w_jaw[faces[np.maximum(f, 0)]]).sum(1)
        ok = (f >= 0) & (pts[:, 2] > 0.012) & ((pts[:, 1] > M.MOUTH_Y) | (jaw > 0.5))
        f, b, pts = f[ok], b[ok], pts[ok]
        for r, th in enumerate(yaw):
            x_img = pts[:, 0] * np.cos(th) + pts[:, 2] * np.sin(th)
            score = o[0] * x_img + o[1] * pts[:, 1]
            j = int(np.argmax(score))
            table_f[r, k], table_b[r, k] = f[j], b[j]
    return table_f, table_b


def build_embedding(mesh: HeadMesh, w_jaw: np.ndarray) -> LandmarkEmbedding:
    sf, sb = static_embedding(mesh)
    df, db = contour_table(mesh, w_jaw)
    emb = LandmarkEmbedding(
        static_faces=sf, static_bary=sb, dynamic_faces=df, dynamic_bary=db,
        full_faces=np.concatenate([df[0], sf]), full_bary=np.concatenate([db[0], sb]),
    )
    emb.validate(len(mesh.faces), source="stand-in embedding")
    return emb
