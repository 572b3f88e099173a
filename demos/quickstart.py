"""The quickstart: the suite's main job on the embedded default, end to end.

Today it builds the procedural stand-in head (FLAME file layout, not FLAME), checks it loads through
the same path as real FLAME files, and renders its range of motion (a PNG grid and an mp4 with the
68 landmarks) under ``runs/quickstart/``. Later stages (synthetic corpus, NeuFace annotation,
HuMoR-Face training, rollouts, evaluation) are added here as they land.

Run ``neuface-quickstart --help`` or ``python -m demos.quickstart --help``; a YAML config can be given
with ``--config configs/demos/quickstart.yaml`` (unknown keys are errors).
"""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path

log = logging.getLogger(__name__)


def run_quickstart(out: str = "runs/quickstart", seed: int = 0, size: int = 256, fps: int = 25,
                   model: str | None = None) -> dict:
    """Run the quickstart.

    Args:
        out: output folder.
        seed: seed of the stand-in head.
        size: render size in pixels.
        fps: frame rate of the showcase video.
        model: a FLAME model file (.pkl / .npz, with its landmark embedding next to it) to use
            instead of the stand-in.
    """
    import torch

    from flame.layer import FlameLayer
    from flame.showcase import render_showcase
    from flame.standin import EXPRESSION_NAMES, FULL_EXPRESSION, ensure_standin

    torch.manual_seed(seed)
    out_dir = Path(out)
    t0 = time.perf_counter()
    if model is None:
        paths = ensure_standin(out_dir / "model", seed=seed)
        model_path, names, full = paths.pkl, EXPRESSION_NAMES, FULL_EXPRESSION
    else:
        model_path, names, full = Path(model), None, 2.0
    layer = FlameLayer.from_files(model_path, n_shape=100, n_exp=50)
    print(f"[1/2] head model: {layer.model_label} ({layer.n_vertices} vertices) from {model_path}")
    png, mp4 = render_showcase(layer, out_dir / "renders", size=size, fps=fps, expression_names=names,
                               full_expression=full)
    print(f"[2/2] renders: {png} and {mp4}")
    summary = {"model": layer.model_label, "model_file": str(model_path), "png": str(png), "mp4": str(mp4),
               "seconds": round(time.perf_counter() - t0, 1)}
    (out_dir / "summary.json").write_text(json.dumps(summary, indent=2))
    print(f"quickstart finished in {summary['seconds']} s; outputs in {out_dir}/")
    return summary


def main(argv: list[str] | None = None) -> None:
    from jsonargparse import CLI

    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    CLI(run_quickstart, args=argv, as_positional=False)


if __name__ == "__main__":
    main()
