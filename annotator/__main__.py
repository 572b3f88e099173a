"""``python -m annotator``: synthetic corpora now; annotation of videos arrives with issue 4.

Subcommands take ``--config FILE.yaml`` (keys are checked against the typed settings; a typo is an
error) and command-line overrides.
"""

from __future__ import annotations

import logging
import sys

from jsonargparse import ActionConfigFile, ArgumentParser


def synth_parser(**kwargs) -> ArgumentParser:
    """The ``synth`` subcommand's parser (typed by :class:`~annotator.synthetic.builder.SynthConfig`)."""
    from annotator.synthetic.builder import SynthConfig

    synth = ArgumentParser(description="Build a synthetic capture corpus (ground truth + simulated detections), "
                                       "split by identity; resumes an interrupted build.", **kwargs)
    synth.add_argument("--config", action=ActionConfigFile)
    synth.add_class_arguments(SynthConfig, nested_key=None)
    return synth


def build_parser() -> ArgumentParser:
    parser = ArgumentParser(
        prog="python -m annotator",
        description="Annotate face videos and multi-view captures with FLAME sequences (NeuFace). Available "
                    "now: 'synth' builds the synthetic capture corpus with ground truth and 'preview' renders "
                    "a sequence of it; the annotation runner ('run') is being built (issue 4).",
    )
    sub = parser.add_subcommands(dest="command")
    sub.add_subcommand("synth", synth_parser(), help="build a synthetic corpus (lab / wild / mocap)")
    prev = ArgumentParser(description="Render frames of one corpus sequence across its views, with the detected "
                                      "(green) and true (red) landmarks.")
    prev.add_argument("--corpus", required=True, help="corpus folder")
    prev.add_argument("--sequence", default=None, help="sequence id (default: the first of the manifest)")
    prev.add_argument("--times", type=int, default=4, help="number of sampled frames")
    prev.add_argument("--size", type=int, default=256, help="cell size in pixels")
    prev.add_argument("--out", required=True, help="output PNG")
    sub.add_subcommand("preview", prev, help="render a corpus sequence for a visual check")
    return parser


def _preview(cfg) -> None:
    import json
    from pathlib import Path

    import torch

    from annotator.synthetic.preview import preview_sequence
    from flame.layer import FlameLayer
    from flame.render import write_png

    corpus = Path(cfg.corpus)
    info = json.loads((corpus / "corpus.json").read_text())
    manifest = [json.loads(x) for x in (corpus / "manifest.jsonl").read_text().splitlines() if x.strip()]
    entry = next((e for e in manifest if e["id"] == cfg.sequence), None) if cfg.sequence else manifest[0]
    if entry is None:
        raise ValueError(f"sequence {cfg.sequence!r} is not in {corpus}/manifest.jsonl")
    layer = FlameLayer.from_files(info["model_file"], n_shape=info["settings"]["n_shape"],
                                  n_exp=info["settings"]["n_exp"], dtype=torch.float64)
    write_png(cfg.out, preview_sequence(layer, corpus / entry["path"], n_times=cfg.times, size=cfg.size))
    print(f"wrote {cfg.out} ({entry['id']})")


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    parser = build_parser()
    if not argv:
        parser.print_help()
        return 0
    cfg = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    try:
        if cfg.command == "synth":
            from annotator.synthetic.builder import SynthConfig, build_corpus

            ns = cfg.synth.clone()
            del ns["config"]
            noise = ns.pop("noise")
            settings = SynthConfig(**vars(ns), noise=noise)
            out = build_corpus(settings)
            print(f"corpus written to {out}")
        elif cfg.command == "preview":
            _preview(cfg.preview)
    except (FileNotFoundError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
