"""``python -m annotator``: annotate videos / captures / corpora, build and preview synthetic corpora.

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


def run_parser(**kwargs) -> ArgumentParser:
    """The ``run`` subcommand's parser (typed by :class:`~annotator.runner.RunConfig`)."""
    from annotator.runner import RunConfig

    p = ArgumentParser(description="Annotate videos, multi-view captures or a synthetic corpus with NeuFace (or the "
                                   "fit / regress baselines); resumable, shardable, one manifest line per input.",
                       **kwargs)
    p.add_argument("--config", action=ActionConfigFile)
    p.add_class_arguments(RunConfig, nested_key=None)
    return p


def pretrain_parser(**kwargs) -> ArgumentParser:
    from annotator.pretrain import PretrainConfig

    p = ArgumentParser(description="Pretrain the landmark encoder on random samples of a model and cache it by "
                                   "model hash (done automatically on first use by 'run').", **kwargs)
    p.add_argument("--config", action=ActionConfigFile)
    p.add_argument("--model", default=None, help="FLAME model file (default: the stand-in)")
    p.add_argument("--assets", default="runs/assets/standin")
    p.add_argument("--encoder_cache", default="runs/assets/encoders")
    p.add_class_arguments(PretrainConfig, "pretrain")
    return p


def build_parser() -> ArgumentParser:
    parser = ArgumentParser(
        prog="python -m annotator",
        description="Annotate face videos and multi-view captures with FLAME sequences (NeuFace): 'run' "
                    "annotates, 'pretrain-encoder' prepares the landmark encoder, 'synth' builds the synthetic "
                    "capture corpus with ground truth and 'preview' renders a sequence of it.",
    )
    sub = parser.add_subcommands(dest="command")
    sub.add_subcommand("synth", synth_parser(), help="build a synthetic corpus (lab / wild / mocap)")
    sub.add_subcommand("run", run_parser(), help="annotate inputs (neuface / fit / regress)")
    sub.add_subcommand("pretrain-encoder", pretrain_parser(), help="pretrain and cache the landmark encoder")
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
    from flame.media import write_png

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


def _run(ns) -> None:
    from annotator.neuface import AnnotateConfig
    from annotator.runner import RunConfig, run

    from annotator.pretrain import PretrainConfig

    d = ns.clone().as_dict()
    d.pop("config", None)
    ann, pre = d.pop("annotate") or {}, d.pop("pretrain") or {}
    cfg = RunConfig(**d, annotate=AnnotateConfig(**ann) if isinstance(ann, dict) else ann,
                    pretrain=PretrainConfig(**{k: tuple(v) if isinstance(v, list) else v for k, v in pre.items()})
                    if isinstance(pre, dict) else pre)
    entries = run(cfg)
    counts = {s: sum(e["status"] == s for e in entries) for s in ("done", "rejected", "failed")}
    print(f"annotated into {cfg.output}: {counts['done']} done, {counts['rejected']} rejected, {counts['failed']} failed")
    for e in entries:
        if e["status"] != "done":
            print(f"  {e['id']}: {e['status']} - {e.get('error') or '; '.join(e.get('flags', []))}")


def _pretrain(ns) -> None:
    from pathlib import Path

    from annotator.pretrain import PretrainConfig, encoder_cache_path, load_or_pretrain
    from flame.layer import FlameLayer
    from flame.standin import ensure_standin

    model = Path(ns.model) if ns.model else ensure_standin(ns.assets).pkl
    layer = FlameLayer.from_files(model, n_shape=100, n_exp=50)
    cfg = PretrainConfig(**ns.pretrain.as_dict())
    load_or_pretrain(layer, ns.encoder_cache, cfg)
    print(f"landmark encoder for {layer.model_label}: {encoder_cache_path(layer, cfg, ns.encoder_cache)}")


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
        elif cfg.command == "run":
            _run(cfg.run)
        elif cfg.command == "pretrain-encoder":
            _pretrain(cfg["pretrain-encoder"])
    except (FileNotFoundError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
