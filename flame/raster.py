"""A vectorized pure-PyTorch z-buffer rasterizer and vertex visibility.

No PyTorch3D, no OpenGL: triangles are expanded to the pixels of their scanline spans in one
tensor, tested with edge functions, and resolved with a scatter-min z-buffer. Runs on CPU in a few
milliseconds for a 5k-vertex head at 256 x 256. Rasterization itself is not differentiable.

Screen space: ``x`` to the right and ``y`` down in pixels, pixel ``(i, j)`` covers
``[j, j + 1) x [i, i + 1)`` and is sampled at its centre; ``depth`` grows away from the camera
(:func:`flame.camera.to_screen` projects vertices into it).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from flame.camera import OrthoCamera, PinholeCamera, camera_rotation, to_screen
from flame.normals import vertex_normals

__all__ = ["Fragments", "rasterize", "interpolate", "vertex_visibility"]


@dataclass(frozen=True)
class Fragments:
    """Per-pixel rasterization result.

    Attributes:
        face_idx: ``(B, H, W)`` long, index of the visible face, -1 on background.
        bary: ``(B, H, W, 3)`` perspective-correct barycentric coordinates (0 on background).
        depth: ``(B, H, W)`` depth of the visible surface (``inf`` on background).
        front: ``(B, H, W)`` bool, the visible face is front-facing.
    """

    face_idx: Tensor
    bary: Tensor
    depth: Tensor
    front: Tensor

    @property
    def mask(self) -> Tensor:
        """``(B, H, W)`` bool foreground."""
        return self.face_idx >= 0


def _edge(ax: Tensor, ay: Tensor, bx: Tensor, by: Tensor, px: Tensor, py: Tensor) -> Tensor:
    return (bx - ax) * (py - ay) - (by - ay) * (px - ax)


@torch.no_grad()
def rasterize(
    screen: Tensor, faces: Tensor, image_size: tuple[int, int], perspective: bool = False,
    cull_back: bool = False, near: float = 1e-6,
) -> Fragments:
    """Z-buffer rasterization of a batch of meshes sharing one topology.

    Args:
        screen: ``(B, V, 3)`` screen coordinates ``(x px, y px, depth)``; for ``perspective`` the
            depth must be the camera z (> ``near``) and attributes are interpolated
            perspective-correctly.
        faces: ``(F, 3)`` long.
        image_size: ``(H, W)``.
        cull_back: drop faces whose screen winding is clockwise (back-facing for outward CCW meshes).

    Returns:
        :class:`Fragments`.
    """
    height, width = image_size
    b, device, dtype = screen.shape[0], screen.device, screen.dtype
    n_faces = faces.shape[0]
    x, y, z = (c[:, faces] for c in screen.permute(2, 0, 1).contiguous())  # each (B, F, 3), contiguous
    area = _edge(x[..., 0], y[..., 0], x[..., 1], y[..., 1], x[..., 2], y[..., 2])
    # Screen y points down, so a triangle that is counter-clockwise as seen by the viewer has area < 0.
    front_face = area < 0
    ok = (area.abs() > 1e-12) & torch.isfinite(area)
    if perspective:
        ok &= (z > near).all(dim=-1)
    if cull_back:
        ok &= front_face
    y0 = torch.ceil(y.amin(-1) - 0.5).clamp(min=0)
    y1 = torch.floor(y.amax(-1) - 0.5).clamp(max=height - 1)
    xmin, xmax = x.amin(-1), x.amax(-1)
    ok &= (xmax >= 0) & (xmin <= width) & (y1 >= y0)
    active = torch.nonzero(ok.flatten(), as_tuple=True)[0]
    n_pix = b * height * width
    face_idx = torch.full((n_pix,), -1, dtype=torch.long, device=device)
    bary_out = torch.zeros(n_pix, 3, dtype=dtype, device=device)
    depth = torch.full((n_pix,), float("inf"), dtype=dtype, device=device)
    front = torch.zeros(n_pix, dtype=torch.bool, device=device)
    if active.numel():
        # Per active face: barycentrics and depth as affine functions of the pixel centre,
        # l_k = A_k px + B_k py + C_k (k = 0, 1), depth (or 1/z) = D px + E py + G.
        xa, ya, za = (t.flatten(0, 1).index_select(0, active) for t in (x, y, z))
        inv_area = 1.0 / area.flatten().index_select(0, active)
        a0 = (ya[:, 1] - ya[:, 2]) * inv_area
        b0 = (xa[:, 2] - xa[:, 1]) * inv_area
        c0 = (xa[:, 1] * ya[:, 2] - xa[:, 2] * ya[:, 1]) * inv_area
        a1 = (ya[:, 2] - ya[:, 0]) * inv_area
        b1 = (xa[:, 0] - xa[:, 2]) * inv_area
        c1 = (xa[:, 2] * ya[:, 0] - xa[:, 0] * ya[:, 2]) * inv_area
        zz = 1.0 / za if perspective else za
        dz0, dz1 = zz[:, 0] - zz[:, 2], zz[:, 1] - zz[:, 2]
        coef = torch.stack([a0, b0, c0, a1, b1, c1, a0 * dz0 + a1 * dz1, b0 * dz0 + b1 * dz1,
                            c0 * dz0 + c1 * dz1 + zz[:, 2]], dim=1)
        # Scanline spans: one entry per (face, pixel row), the x-interval of the triangle on the row
        # centre from its three edges (endpoints ordered by y so shared edges give identical spans).
        fy0 = y0.flatten().index_select(0, active)
        n_rows = (y1.flatten().index_select(0, active) - fy0 + 1).long()
        rface = torch.repeat_interleave(torch.arange(active.numel(), device=device), n_rows)
        row_start = (torch.cumsum(n_rows, 0) - n_rows).index_select(0, rface)
        ry = fy0.index_select(0, rface) + (torch.arange(rface.numel(), device=device) - row_start).to(dtype) + 0.5
        ex0, ey0 = xa.index_select(0, rface), ya.index_select(0, rface)
        ex1, ey1 = ex0.roll(-1, dims=1), ey0.roll(-1, dims=1)
        swap = (ey1 < ey0) | ((ey1 == ey0) & (ex1 < ex0))
        lx, ly = torch.where(swap, ex1, ex0), torch.where(swap, ey1, ey0)
        hx, hy = torch.where(swap, ex0, ex1), torch.where(swap, ey0, ey1)
        ryc = ry.unsqueeze(1)
        crosses = (ly <= ryc) & (ryc <= hy) & (hy > ly)
        t = (ryc - ly) / torch.where(hy > ly, hy - ly, torch.ones_like(hy))
        xi = lx + t * (hx - lx)
        inf = torch.tensor(float("inf"), dtype=dtype, device=device)
        xl = torch.where(crosses, xi, inf).amin(1)
        xr = torch.where(crosses, xi, -inf).amax(1)
        px0 = torch.ceil(xl - 0.5).clamp(min=0)
        px1 = torch.floor(xr - 0.5).clamp(max=width - 1)
        n_px = torch.where(torch.isfinite(xl), px1 - px0 + 1, torch.zeros_like(px0)).clamp(min=0).long()
        prow = torch.repeat_interleave(torch.arange(rface.numel(), device=device), n_px)
        col_start = (torch.cumsum(n_px, 0) - n_px).index_select(0, prow)
        cx = px0.index_select(0, prow) + (torch.arange(prow.numel(), device=device) - col_start).to(dtype) + 0.5
        cy = ry.index_select(0, prow)
        cand_face = rface.index_select(0, prow)  # index into active
        c = coef.index_select(0, cand_face)
        l0 = c[:, 0] * cx + c[:, 1] * cy + c[:, 2]
        l1 = c[:, 3] * cx + c[:, 4] * cy + c[:, 5]
        lam = torch.stack([l0, l1, 1.0 - l0 - l1], dim=-1).clamp(0.0, 1.0)  # clamp: centres on an edge
        zint = c[:, 6] * cx + c[:, 7] * cy + c[:, 8]
        fid = active.index_select(0, cand_face)  # flat batch * F + face
        if perspective:
            cand_depth = 1.0 / zint
            wz = lam / za.index_select(0, cand_face)
            lam = wz / wz.sum(-1, keepdim=True)
        else:
            cand_depth = zint
        batch_id = torch.div(fid, n_faces, rounding_mode="floor")
        key = (batch_id * height + (cy - 0.5).long()) * width + (cx - 0.5).long()
        depth.scatter_reduce_(0, key, cand_depth, reduce="amin")
        cand = torch.nonzero(cand_depth <= depth.index_select(0, key), as_tuple=True)[0]
        best = torch.full((n_pix,), -1, dtype=torch.long, device=device)
        best.scatter_reduce_(0, key.index_select(0, cand), cand, reduce="amax")
        hit = torch.nonzero(best >= 0, as_tuple=True)[0]
        sel = best.index_select(0, hit)
        fsel = fid.index_select(0, sel)
        face_idx[hit] = fsel - batch_id.index_select(0, sel) * n_faces
        bary_out[hit] = lam.index_select(0, sel)
        front[hit] = front_face.flatten().index_select(0, fsel)
    shape = (b, height, width)
    return Fragments(face_idx.view(shape), bary_out.view(*shape, 3), depth.view(shape), front.view(shape))


def interpolate(attr: Tensor, faces: Tensor, frags: Fragments) -> tuple[Tensor, Tensor]:
    """Per-vertex ``attr (B, V, C)`` at the foreground pixels: returns the flat pixel indices
    ``(M,)`` into ``B * H * W`` and the interpolated values ``(M, C)``."""
    b, n_verts, n_ch = attr.shape
    h, w = frags.face_idx.shape[1:]
    flat_face = frags.face_idx.reshape(-1)
    pix = torch.nonzero(flat_face >= 0, as_tuple=True)[0]
    face = flat_face.index_select(0, pix)
    batch = torch.div(pix, h * w, rounding_mode="floor")
    vidx = faces.index_select(0, face) + (batch * n_verts).unsqueeze(-1)  # (M, 3)
    corners = attr.reshape(-1, n_ch).index_select(0, vidx.reshape(-1)).view(-1, 3, n_ch)
    bary = frags.bary.reshape(-1, 3).index_select(0, pix)
    return pix, (corners * bary.unsqueeze(-1)).sum(1)


@torch.no_grad()
def vertex_visibility(
    vertices: Tensor, faces: Tensor, camera: PinholeCamera | OrthoCamera, image_size: tuple[int, int],
    depth_tolerance: float | None = None,
) -> Tensor:
    """``(B, V)`` bool: the vertex faces the camera and is not occluded (z-buffer test at its pixel).

    ``depth_tolerance`` is in depth units (metres for a pinhole camera); default 0.5 % of the depth
    range of the mesh.
    """
    screen, persp = to_screen(vertices, camera)
    frags = rasterize(screen, faces, image_size, perspective=persp)
    b, h, w = frags.face_idx.shape
    px = screen[..., 0].floor().long()
    py = screen[..., 1].floor().long()
    inside = (px >= 0) & (px < w) & (py >= 0) & (py < h)
    flat = (py.clamp(0, h - 1) * w + px.clamp(0, w - 1))
    zbuf = frags.depth.view(b, -1).gather(1, flat)
    if depth_tolerance is None:
        rng = screen[..., 2].amax(1, keepdim=True) - screen[..., 2].amin(1, keepdim=True)
        depth_tolerance = 0.005 * rng
    normals = vertex_normals(vertices, faces) @ camera_rotation(camera, vertices).transpose(-1, -2)
    if persp:
        view = torch.nn.functional.normalize(camera.world_to_camera(vertices), dim=-1)
    else:
        view = torch.zeros_like(normals)
        view[..., 2] = 1.0
    facing = (normals * view).sum(-1) < 0
    return inside & facing & (screen[..., 2] <= zbuf + depth_tolerance)
