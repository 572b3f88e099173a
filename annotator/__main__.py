"""``python -m annotator``: annotate videos / captures / corpora, build and preview synthetic corpora."""

from __future__ import annotations

import sys

from flame.cli import ERROR_STATUS, Command, new_parser, parse_settings
from flame.cli import main as cli_main

PROG = "python -m annotator"
DESCRIPTION = ("Annotate face videos and multi-view captures with FLAME sequences (NeuFace): 'run' annotates, "
               "'pretrain-encoder' prepares the landmark encoder, 'synth' builds the synthetic capture corpus with "
               "ground truth and 'preview' renders a sequence of it.")


def _synth(argv: list[str]) -> None:
    from annotator.synthetic.builder import SynthConfig, build_corpus

    cfg = parse_settings(SynthConfig, argv, f"{PROG} synth",
                         "Build a synthetic capture corpus (ground truth + simulated detections), split by identity; "
                         "resumes an interrupted build.")
    print(f"corpus written to {build_corpus(cfg)}")


def _run(argv: list[str]) -> int:
    """Exit status 0 when no input failed, 1 when some did, 2 when all did (rejected inputs - too few
    frames with a face, identity out of distribution - are not failures)."""
    from annotator.runner import RunConfig, run

    cfg = parse_settings(RunConfig, argv, f"{PROG} run",
                         "Annotate videos, multi-view captures or a synthetic corpus with NeuFace (or the fit / regress "
                         "baselines); resumable, shardable, one manifest line per input. Exit status: 0 when no input "
                         "failed, 1 when some failed, 2 when all failed.")
    entries = run(cfg)
    counts = {s: sum(e["status"] == s for e in entries) for s in ("done", "rejected", "failed")}
    print(f"annotated into {cfg.output}: {counts['done']} done, {counts['rejected']} rejected, {counts['failed']} failed")
    for e in entries:
        if e["status"] == "rejected":
            print(f"  {e['id']}: rejected - {'; '.join(e.get('flags', []))}")
        elif e["status"] == "failed":
            print(f"error: {e['id']}: {e['error']}", file=sys.stderr)
    if counts["failed"] == 0:
        return 0
    return ERROR_STATUS if counts["failed"] == len(entries) else 1


def _pretrain(argv: list[str]) -> None:
    from annotator.pretrain import DEFAULT_ENCODER_CACHE, PretrainConfig, encoder_cache_path, load_or_pretrain
    from flame.head import DEFAULT_ASSETS, head_layer

    parser = new_parser(f"{PROG} pretrain-encoder", "Pretrain the landmark encoder on random samples of a model and "
                                                    "cache it by model hash (done automatically on first use by 'run').")
    parser.add_argument("--model", type=str | None, default=None, help="FLAME model file (default: the stand-in)")
    parser.add_argument("--assets", type=str, default=DEFAULT_ASSETS, help="where the stand-in is built / cached")
    parser.add_argument("--encoder_cache", type=str, default=DEFAULT_ENCODER_CACHE, help="cache of pretrained encoders")
    parser.add_class_arguments(PretrainConfig, "pretrain")
    ns = parser.instantiate(parser.parse_args(argv))
    layer = head_layer(ns.model, assets=ns.assets)
    load_or_pretrain(layer, ns.encoder_cache, ns.pretrain)
    print(f"landmark encoder for {layer.model_label}: {encoder_cache_path(layer, ns.pretrain, ns.encoder_cache)}")


def _preview(argv: list[str]) -> None:
    import torch

    from annotator.synthetic.preview import preview_sequence
    from flame.head import head_layer
    from flame.layout import read_corpus
    from flame.media import write_png

    parser = new_parser(f"{PROG} preview", "Render frames of one corpus sequence across its views, with the detected "
                                           "(green) and true (red) landmarks.")
    parser.add_argument("--corpus", type=str, required=True, help="corpus folder")
    parser.add_argument("--sequence", type=str | None, default=None, help="sequence id (default: the first)")
    parser.add_argument("--times", type=int, default=4, help="number of sampled frames")
    parser.add_argument("--size", type=int, default=256, help="cell size in pixels")
    parser.add_argument("--out", type=str, required=True, help="output PNG")
    args = parser.parse_args(argv)
    corpus = read_corpus(args.corpus)
    seq = corpus.sequence(args.sequence)
    layer = head_layer(corpus.model_file, n_shape=corpus.n_shape, n_exp=corpus.n_exp, dtype=torch.float64)
    write_png(args.out, preview_sequence(layer, seq, n_times=args.times, size=args.size))
    print(f"wrote {args.out} ({seq.id})")


def _mediapipe_embedding(argv: list[str]) -> None:
    from annotator.mediapipe_embedding import build_mesh_point_embedding, check_embedding
    from flame.embedding import write_mesh_point_embedding
    from flame.head import DEFAULT_ASSETS, head_layer

    parser = new_parser(f"{PROG} mediapipe-embedding", "Build the embedding of MediaPipe's face-mesh points on a head "
                                                       "model from renders of it, and check it on other renders.")
    parser.add_argument("--model", type=str | None, default=None, help="FLAME model file (default: the stand-in)")
    parser.add_argument("--assets", type=str, default=DEFAULT_ASSETS, help="where the stand-in is built / cached")
    parser.add_argument("--max_spread_mm", type=float, default=3.0, help="keep points whose renders agree this well")
    parser.add_argument("--out", type=str, required=True, help="output mediapipe_landmark_embedding.npz")
    args = parser.parse_args(argv)
    layer = head_layer(args.model, assets=args.assets)
    emb, report = build_mesh_point_embedding(layer, args.max_spread_mm)
    write_mesh_point_embedding(emb, args.out, model_sha256=layer.model_sha256)
    check = check_embedding(layer, emb)
    print(f"wrote {args.out}: {len(emb.point_ids)} points {report['kept']} of {report['of']}; on {check.found} of "
          f"{check.renders} other renders, MediaPipe vs the embedding (% of the inter-ocular distance), median "
          f"{ {k: round(v, 2) for k, v in check.median.items()} }, 90th percentile { {k: round(v, 2) for k, v in check.p90.items()} }")


COMMANDS = {
    "synth": Command("build a synthetic corpus (lab / wild / mocap) with ground truth", _synth),
    "run": Command("annotate videos, captures or a corpus (neuface / fit / regress)", _run),
    "pretrain-encoder": Command("pretrain and cache the landmark encoder for a model", _pretrain),
    "preview": Command("render a corpus sequence for a visual check", _preview),
    "mediapipe-embedding": Command("build a head model's embedding of MediaPipe's mesh points from renders",
                                   _mediapipe_embedding),
}


def main(argv: list[str] | None = None) -> int:
    return cli_main(PROG, DESCRIPTION, COMMANDS, argv)


if __name__ == "__main__":
    sys.exit(main())
