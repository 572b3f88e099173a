"""``python -m flame``: build the stand-in, inspect and convert model files, render a showcase."""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path


def _cmd_standin(args: argparse.Namespace) -> None:
    from flame.standin import write_standin

    paths = write_standin(args.out, seed=args.seed)
    print(f"stand-in written to {paths.folder}:")
    for p in paths.all():
        print(f"  {p.name}")


def _is_sequence_file(path: Path) -> bool:
    import numpy as np

    try:
        with np.load(path, allow_pickle=False) as z:
            return "format" in z.files
    except Exception:
        return False


def _cmd_info(args: argparse.Namespace) -> None:
    from flame.embedding import find_landmark_embedding
    from flame.model import load_model
    from flame.sequence import FlameSequence

    path = Path(args.path)
    if path.suffix == ".npz" and path.is_file() and _is_sequence_file(path):
        seq = FlameSequence.load(path)
        print(json.dumps({"file": str(path), "model": seq.model, "fps": seq.fps, "views": list(seq.view_names),
                          "frames": seq.n_frames, "n_shape": seq.n_shape, "n_exp": seq.n_exp,
                          "valid_frames": int(seq.valid.sum()), "metadata": seq.metadata}, indent=2))
        return
    model = load_model(path)
    info = {"file": str(path), "label": model.label, "sha256": model.sha256, "vertices": model.n_vertices,
            "faces": int(len(model.faces)), "shape_components": int(model.shapedirs.shape[2]),
            "expression_components": int(model.exprdirs.shape[2]), "parents": model.parents.tolist(),
            "bbox_m": (model.v_template.max(0) - model.v_template.min(0)).round(4).tolist()}
    try:
        find_landmark_embedding(path)
        info["landmark_embedding"] = "found"
    except FileNotFoundError as e:
        info["landmark_embedding"] = str(e)
    print(json.dumps(info, indent=2))


def _cmd_convert(args: argparse.Namespace) -> None:
    from flame.model import load_model, write_model_npz

    model = load_model(args.model)
    write_model_npz(model, args.out)
    print(f"wrote {args.out} (dense, chumpy-free; loadable by smplx as FLAME_NEUTRAL.npz)")


def _cmd_showcase(args: argparse.Namespace) -> None:
    from flame.layer import FlameLayer
    from flame.showcase import render_showcase

    layer = FlameLayer.from_files(args.model, args.embedding, n_shape=args.n_shape, n_exp=args.n_exp)
    names = None
    info = Path(args.model).with_name("standin_info.json")
    if layer.is_standin and info.is_file():
        names = list(json.loads(info.read_text())["expression_components"].values())
    png, mp4 = render_showcase(layer, args.out, size=args.size, expression_names=names)
    print(f"wrote {png}\nwrote {mp4}")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m flame",
        description="FLAME core of the NeuFace Motion Suite: model files, the procedural stand-in head, renders.",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="log progress")
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("standin", help="build the procedural stand-in head (FLAME file layout, not FLAME)")
    p.add_argument("--out", required=True, help="output folder")
    p.add_argument("--seed", type=int, default=0)
    p.set_defaults(func=_cmd_standin)
    p = sub.add_parser("info", help="summarize a model file (.pkl/.npz) or a FlameSequence file")
    p.add_argument("path")
    p.set_defaults(func=_cmd_info)
    p = sub.add_parser("convert", help="convert a FLAME .pkl (chumpy) to a dense .npz without chumpy")
    p.add_argument("model")
    p.add_argument("out")
    p.set_defaults(func=_cmd_convert)
    p = sub.add_parser("showcase", help="render a model's range of motion (PNG grid + mp4)")
    p.add_argument("--model", required=True, help="FLAME .pkl/.npz or the stand-in")
    p.add_argument("--embedding", default=None, help="landmark embedding (default: next to the model)")
    p.add_argument("--out", required=True)
    p.add_argument("--size", type=int, default=256)
    p.add_argument("--n-shape", type=int, default=100)
    p.add_argument("--n-exp", type=int, default=50)
    p.set_defaults(func=_cmd_showcase)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    try:
        args.func(args)
    except (FileNotFoundError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
