"""FLAME layer and renderer speed.

* FLAME forward: our :class:`~flame.layer.FlameLayer` vs ``smplx.FLAME`` (the independent reference)
  on the same model file (the stand-in), same batch, same process, interleaved repeats, no grad and
  forward + backward.
* Renderer: rasterize + shade a posed ~5k-vertex head at 256 and 512 pixels, batch 1 and 8. There is
  no in-process reference renderer (PyTorch3D does not install here); the figure for PyTorch3D's CPU
  rasterizer on a mesh of this size at 256 px, 2.35-2.8 s (measured on this kind of machine when the
  project chose its renderer), is quoted for scale.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import torch

from eval.bench.common import interleaved_median
from eval.report import markdown_table
from flame.camera import OrthoCamera, to_screen
from flame.head import head_layer
from flame.raster import rasterize
from flame.render import render_mesh
from flame.standin import ensure_standin
from flame.types import N_EXP, N_SHAPE, FlameParams

PYTORCH3D_CPU_256_SECONDS = 2.35  # measured on this kind of machine before PyTorch3D was ruled out, not in this run


def _smplx_flame(folder: Path, batch: int, n_shape: int, n_exp: int):
    import smplx

    return smplx.FLAME(str(folder), ext="npz", num_betas=n_shape, num_expression_coeffs=n_exp, batch_size=batch)


def bench_flame(asset_dir: Path, batches: tuple[int, ...] = (1, 64, 1024), n_shape: int = N_SHAPE, n_exp: int = N_EXP,
                repeats: int = 7) -> tuple[str, list[dict]]:
    try:
        import smplx  # noqa: F401
    except ImportError:
        return "smplx is not installed (it is a dev dependency: pip install -e '.[dev]'); FLAME bench skipped", []
    paths = ensure_standin(asset_dir)
    oracle_dir = Path(tempfile.mkdtemp(prefix="smplx_flame_"))
    try:
        shutil.copy(paths.npz, oracle_dir / "FLAME_NEUTRAL.npz")
        shutil.copy(paths.ringnet_static, oracle_dir / "flame_static_embedding.pkl")
        layer = head_layer(paths.pkl, n_shape=n_shape, n_exp=n_exp)
        rows, records = [], []
        g = torch.Generator().manual_seed(0)
        for b in batches:
            ref = _smplx_flame(oracle_dir, b, n_shape, n_exp)
            beta, psi = torch.randn(b, n_shape, generator=g), torch.randn(b, n_exp, generator=g)
            pose = 0.2 * torch.randn(b, 15, generator=g)
            params = FlameParams(beta, psi, pose)

            def ours():
                return layer(params)

            def theirs():
                return ref(betas=beta, expression=psi, global_orient=pose[:, :3], neck_pose=pose[:, 3:6],
                           jaw_pose=pose[:, 6:9], leye_pose=pose[:, 9:12], reye_pose=pose[:, 12:15])

            inner = max(1, 64 // b)
            reps = repeats if b < 1024 else max(3, repeats // 2)
            with torch.no_grad():
                t = interleaved_median({"ours": ours, "smplx": theirs}, reps, inner)
            pose_g = pose.clone().requires_grad_(True)
            beta_g = beta.clone().requires_grad_(True)

            def ours_bw():
                layer(FlameParams(beta_g, psi, pose_g)).vertices.sum().backward()

            def theirs_bw():
                ref(betas=beta_g, expression=psi, global_orient=pose_g[:, :3], neck_pose=pose_g[:, 3:6],
                    jaw_pose=pose_g[:, 6:9], leye_pose=pose_g[:, 9:12], reye_pose=pose_g[:, 12:15]).vertices.sum().backward()

            tb = interleaved_median({"ours": ours_bw, "smplx": theirs_bw}, max(3, reps // 2), inner)
            rec = {"batch": b, "ours_per_s": b / t["ours"], "smplx_per_s": b / t["smplx"],
                   "ratio": t["smplx"] / t["ours"], "ratio_fwd_bwd": tb["smplx"] / tb["ours"]}
            records.append(rec)
            rows.append([b, f"{rec['ours_per_s']:.0f}", f"{rec['smplx_per_s']:.0f}", f"{rec['ratio']:.2f}x",
                         f"{rec['ratio_fwd_bwd']:.2f}x"])
        table = markdown_table(rows, ["batch", "ours (meshes/s)", "smplx.FLAME (meshes/s)", "speed-up (forward)",
                                "speed-up (forward+backward)"])
        return table, records
    finally:
        shutil.rmtree(oracle_dir, ignore_errors=True)


def bench_render(asset_dir: Path, sizes: tuple[int, ...] = (256, 512), batches: tuple[int, ...] = (1, 8),
                 repeats: int = 7) -> tuple[str, list[dict]]:
    layer = head_layer(assets=asset_dir)
    rows, records = [], []
    for b in batches:
        g = torch.Generator().manual_seed(1)
        pose = 0.15 * torch.randn(b, 15, generator=g)
        with torch.no_grad():
            verts = layer(FlameParams(torch.zeros(b, layer.n_shape), torch.zeros(b, layer.n_exp), pose)).vertices
        for size in sizes:
            cam = OrthoCamera(torch.tensor([[7.7, 0.0, 0.02]]).expand(b, 3), size)
            screen, _ = to_screen(verts, cam)
            t = interleaved_median({
                "rasterize": lambda: rasterize(screen, layer.faces, (size, size)),
                "render": lambda: render_mesh(verts, layer.faces, cam, (size, size), colors=layer.vertex_colors),
            }, repeats)
            rec = {"batch": b, "size": size, "rasterize_ms": 1e3 * t["rasterize"] / b,
                   "render_ms": 1e3 * t["render"] / b}
            records.append(rec)
            ref = f"{PYTORCH3D_CPU_256_SECONDS / (t['rasterize'] / b):.0f}x" if size == 256 else "-"
            rows.append([f"{verts.shape[1]} V / {len(layer.faces)} F", size, b, f"{rec['rasterize_ms']:.1f}",
                         f"{rec['render_ms']:.1f}", ref])
    table = markdown_table(rows, ["mesh", "pixels", "batch", "rasterize ms/image", "rasterize+shade ms/image",
                            "vs PyTorch3D CPU rasterizer (2.35 s, quoted)"])
    return table, records
