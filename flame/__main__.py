"""``python -m flame``: build the stand-in, inspect and convert model files, render a showcase."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from flame.cli import Command, new_parser
from flame.cli import main as cli_main

PROG = "python -m flame"


def _standin(argv: list[str]) -> None:
    parser = new_parser(f"{PROG} standin", "Build the procedural stand-in head (FLAME file layout, not FLAME) in every "
                                           "format the FLAME ecosystem uses: model .pkl / .npz and both landmark "
                                           "embeddings.")
    parser.add_argument("--out", type=str, required=True, help="output folder")
    parser.add_argument("--seed", type=int, default=0, help="seed of the procedural head")
    args = parser.parse_args(argv)
    from flame.standin import write_standin

    paths = write_standin(args.out, seed=args.seed)
    print(f"stand-in written to {paths.folder}:")
    for p in paths.all():
        print(f"  {p.name}")


def _is_sequence_file(path: Path) -> bool:
    """Whether an ``.npz`` holds a format tag (its member list only; nothing is loaded)."""
    import numpy as np

    try:
        with np.load(path, allow_pickle=False) as z:
            return "format" in z.files
    except Exception:  # noqa: BLE001 - not a readable .npz: let the model loader say what is wrong
        return False


def _info(argv: list[str]) -> None:
    parser = new_parser(f"{PROG} info", "Summarize a model file (.pkl / .npz: label, hash, sizes, landmark "
                                        "embedding) or a FlameSequence file (model, fps, views, frames) as JSON.")
    parser.add_argument("path", type=str, help="model file or FlameSequence .npz")
    path = Path(parser.parse_args(argv).path)
    from flame.embedding import find_landmark_embedding
    from flame.model import load_model
    from flame.sequence import FlameSequence

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


def _convert(argv: list[str]) -> None:
    parser = new_parser(f"{PROG} convert", "Convert a FLAME .pkl (chumpy objects) to a dense .npz that needs no "
                                           "chumpy (smplx's FLAME_NEUTRAL.npz layout).")
    parser.add_argument("model", type=str, help="FLAME .pkl (or .npz)")
    parser.add_argument("out", type=str, help="output .npz")
    args = parser.parse_args(argv)
    from flame.model import load_model, write_model_npz

    write_model_npz(load_model(args.model), args.out)
    print(f"wrote {args.out} (dense, chumpy-free; loadable by smplx as FLAME_NEUTRAL.npz)")


def _showcase(argv: list[str]) -> None:
    from flame.types import N_EXP, N_SHAPE

    parser = new_parser(f"{PROG} showcase", "Render a model's range of motion (turntable with landmarks, shape and "
                                            "expression sweeps, jaw, eyes) as a PNG grid and an mp4.")
    parser.add_argument("--model", type=str, required=True, help="FLAME .pkl / .npz or the stand-in")
    parser.add_argument("--embedding", type=str | None, default=None, help="landmark embedding (default: next to the "
                                                                           "model)")
    parser.add_argument("--out", type=str, required=True, help="output folder")
    parser.add_argument("--size", type=int, default=256, help="image side in pixels")
    parser.add_argument("--n_shape", type=int, default=N_SHAPE, help="identity components")
    parser.add_argument("--n_exp", type=int, default=N_EXP, help="expression components")
    args = parser.parse_args(argv)
    from flame.layer import FlameLayer
    from flame.showcase import render_showcase

    layer = FlameLayer.from_files(args.model, args.embedding, n_shape=args.n_shape, n_exp=args.n_exp)
    names = None
    info = Path(args.model).with_name("standin_info.json")
    if layer.is_standin and info.is_file():
        names = list(json.loads(info.read_text())["expression_components"].values())
    png, mp4 = render_showcase(layer, args.out, size=args.size, expression_names=names)
    print(f"wrote {png}\nwrote {mp4}")


COMMANDS = {
    "standin": Command("build the procedural stand-in head (FLAME file layout, not FLAME)", _standin),
    "info": Command("summarize a model file (.pkl / .npz) or a FlameSequence file", _info),
    "convert": Command("convert a FLAME .pkl (chumpy) to a dense .npz without chumpy", _convert),
    "showcase": Command("render a model's range of motion (PNG grid + mp4)", _showcase),
}


def main(argv: list[str] | None = None) -> int:
    return cli_main(PROG, "FLAME core of the NeuFace Motion Suite: model files, the procedural stand-in head, renders.",
                    COMMANDS, argv)


if __name__ == "__main__":
    sys.exit(main())
