"""``python -m eval bench``: run the benchmarks and write their report (``<out>/<which>.md``).

``all`` starts with one summary table of the headline figures and their in-process references. Every
figure is a ratio against a reference measured in the same run, never a timed test assertion.
"""

from __future__ import annotations

import os
from pathlib import Path

import torch

from annotator.pretrain import DEFAULT_ENCODER_CACHE
from eval.report import markdown_table
from flame.files import atomic_write_text
from flame.head import DEFAULT_ASSETS
from flame.types import N_EXP, N_SHAPE

__all__ = ["WHICH", "run"]

WHICH = ("flame", "annotation", "prior", "scaling", "metrics", "memory", "data", "all")


def run(out_dir: str | os.PathLike = "runs/bench", asset_dir: str | os.PathLike = DEFAULT_ASSETS,
        which: str = "all", encoder_cache: str | os.PathLike = DEFAULT_ENCODER_CACHE) -> str:
    """Run the benchmarks (one of :data:`WHICH`), write ``<which>.md`` and return its text."""
    if which not in WHICH:
        raise ValueError(f"which must be one of {WHICH}, got {which!r}")
    out_dir = Path(out_dir)
    torch.manual_seed(0)
    parts, summary = [], []
    if which in ("flame", "all"):
        from eval.bench.flame_speed import PYTORCH3D_CPU_256_SECONDS, bench_flame, bench_render

        flame_table, flame = bench_flame(Path(asset_dir))
        render_table, render = bench_render(Path(asset_dir))
        parts += [f"## FLAME forward: ours vs smplx.FLAME (same stand-in model, n_shape={N_SHAPE}, n_exp={N_EXP})\n\n{flame_table}\n",
                  f"## Renderer\n\n{render_table}\n"]
        for r in flame:
            summary.append([f"FLAME forward, batch {r['batch']}", f"{r['ours_per_s']:.0f} meshes/s",
                            "smplx.FLAME (same process)", f"{r['ratio']:.2f}x (fwd+bwd {r['ratio_fwd_bwd']:.2f}x)"])
        for r in render:
            if r["size"] == 256:
                summary.append([f"render 256 px, batch {r['batch']}", f"{r['render_ms']:.1f} ms/image",
                                "PyTorch3D CPU rasterizer (quoted, not run)",
                                f"{PYTORCH3D_CPU_256_SECONDS / (r['rasterize_ms'] / 1e3):.0f}x"])
    if which in ("annotation", "all"):
        from eval.bench.annotation_speed import bench_annotation

        table, ann = bench_annotation(out_dir, Path(asset_dir), Path(encoder_cache))
        parts.append(f"## Annotation speed\n\n{table}\n")
        regress = {r["case"]: r["s_per_view_frame"] for r in ann if r["method"] == "regress"}
        for r in ann:
            if r["method"] == "neuface":
                summary.append([f"NeuFace annotation, {r['case']}", f"{1e3 * r['s_per_view_frame']:.1f} ms/view-frame",
                                "regress (encoder only)", f"{r['s_per_view_frame'] / regress[r['case']]:.0f}x slower"])
    if which in ("prior", "all"):
        from eval.bench.generator_speed import bench_prior

        table, pri = bench_prior(Path(asset_dir))
        parts.append(f"## Generator speed\n\n{table}\n")
        ref = next(r for r in pri if r["what"] == "reference")
        for r in pri:
            if r["what"] == "sample":
                summary.append([f"sampling 50 x 10 s, {r['generator']}", f"{r['frames_per_s']:,.0f} frames/s "
                                f"({r['seconds']:.2f} s)", f"{ref['generator']}, one sample at a time",
                                f"{ref['seconds'] / r['seconds']:.1f}x"])
            elif r["what"] == "train step":
                summary.append([f"training step (64 windows), {r['generator']}", f"{r['seconds']:.3f} s", "-", "-"])
    if which in ("scaling", "all"):
        from eval.bench.scaling import bench_scaling

        table, _ = bench_scaling(out_dir, Path(asset_dir), Path(encoder_cache))
        parts.append(f"## How cost grows (three sizes each)\n\n{table}\n")
    if which in ("metrics", "all"):
        from eval.bench.scaling import bench_metrics

        table, met = bench_metrics()
        parts.append(f"## Motion metrics vs naive references\n\n{table}\n")
        for r in met:
            summary.append([r["case"].replace("fd", "FD,").replace("apd", "APD,") + (" dims" if "fd" in r["case"] else " samples"),
                            f"{1e3 * r['ours_s']:.1f} ms", "scipy sqrtm" if "fd" in r["case"] else "loop over pairs",
                            f"{r['reference_s'] / r['ours_s']:.1f}x (agree to {r['relative_difference']:.0e})"])
    if which == "memory":  # minutes of HD video annotation: not part of "all"
        from eval.bench.memory import bench_memory

        table, _ = bench_memory(out_dir, Path(asset_dir), Path(encoder_cache))
        parts.append(f"## Peak memory of annotating HD video with overlays\n\n{table}\n")
    if which == "data":  # generates and packs 11 h of motion: not part of "all"
        from eval.bench.data_scale import bench_data

        table, _ = bench_data(out_dir, Path(asset_dir))
        parts.append(f"## Training data at scale: packed shards vs the in-memory loader\n\n{table}\n")
    head = f"# Benchmarks\n\ntorch {torch.__version__}, {torch.get_num_threads()} threads, CPU\n"
    if summary:
        head += "\n## Summary\n\n" + markdown_table(summary, ["what", "ours", "reference (in-process unless noted)", "ratio"]) + "\n"
    report = "\n".join([head, *parts])
    atomic_write_text(out_dir / f"{which}.md", report)
    return report
