"""``python -m eval``: benchmarks and scoring of annotations against synthetic ground truth."""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m eval", description="Evaluation of the NeuFace Motion Suite.")
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("bench", help="speed benchmarks with in-process reference ratios")
    p.add_argument("which", choices=["flame", "annotation", "prior", "all"],
                   help="flame: FLAME layer vs smplx and renderer timings; annotation: seconds per clip / capture; "
                        "prior: HuMoR-Face training transitions/s and rollout frames/s")
    p.add_argument("--encoder_cache", default="runs/assets/encoders", help="cached landmark encoders")
    p.add_argument("--out", default="runs/bench", help="folder for the Markdown report")
    p.add_argument("--assets", default="runs/assets/standin", help="where the stand-in model is built/cached")
    p = sub.add_parser("score", help="score annotated sequences against a synthetic corpus's ground truth "
                                     "(MPVE, CVD, NME, MSI, jitter); writes scores.md and scores.csv")
    p.add_argument("--corpus", required=True, help="synthetic corpus folder (python -m annotator synth)")
    p.add_argument("--pred", required=True,
                   help="folder of predicted FlameSequence files named <sequence>.npz, or 'gt' (ground truth "
                        "against itself) or 'detections' (the simulated detector, 2D only)")
    p.add_argument("--split", default=None, help="only this split (train / val / test)")
    p.add_argument("--out", required=True, help="output folder")
    p = sub.add_parser("annotation-benchmark", help="the paper's Table 2 on synthetic data: regress / fit / NeuFace "
                                                    "and loss ablations on lab (7 views) and wild test corpora")
    p.add_argument("--out", default="runs/annotation_benchmark")
    p.add_argument("--model", default=None, help="FLAME model file (default: the stand-in)")
    p.add_argument("--assets", default="runs/assets/standin")
    p.add_argument("--encoder_cache", default="runs/assets/encoders")
    p.add_argument("--lab_identities", type=int, default=4)
    p.add_argument("--lab_frames", type=int, default=100)
    p.add_argument("--wild_identities", type=int, default=8)
    p.add_argument("--wild_frames", type=int, default=150)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    try:
        if args.command == "bench":
            from eval.bench import flame_bench

            flame_bench.run(args.out, args.assets, args.which, args.encoder_cache)
        elif args.command == "score":
            from eval.experiments.score import score_corpus

            rows = score_corpus(args.corpus, args.pred, args.out, split=args.split)
            print((Path(args.out) / "scores.md").read_text())
            print(f"{len(rows) - 1} sequences scored; wrote {args.out}/scores.md and scores.csv")
        elif args.command == "annotation-benchmark":
            from eval.experiments.annotation_benchmark import run_benchmark

            run_benchmark(args.out, model=args.model, assets=args.assets, encoder_cache=args.encoder_cache,
                          lab_identities=args.lab_identities, lab_frames=args.lab_frames,
                          wild_identities=args.wild_identities, wild_frames=args.wild_frames)
            print((Path(args.out) / "annotation_benchmark.md").read_text())
    except (FileNotFoundError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
