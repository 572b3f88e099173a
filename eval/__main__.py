"""``python -m eval``: benchmarks, scoring of annotations against synthetic ground truth, scoring of
prior samples, and the paper-replication experiments."""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] in (["sample"], ["prior-benchmark"]):  # typed (jsonargparse) parsers of their own
        from eval.experiments.sampling import main as sample_main

        logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
        try:
            return (sample_main if argv[0] == "sample" else prior_benchmark_main)(argv[1:])
        except (FileNotFoundError, ValueError) as e:
            print(f"error: {e}", file=sys.stderr)
            return 2
    parser = argparse.ArgumentParser(prog="python -m eval", description="Evaluation of the NeuFace Motion Suite.")
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("bench", help="speed benchmarks with in-process reference ratios")
    p.add_argument("which", choices=["flame", "annotation", "prior", "scaling", "metrics", "all"],
                   help="flame: FLAME layer vs smplx and renderer timings; annotation: seconds per clip / capture; "
                        "prior: HuMoR-Face training transitions/s and rollout frames/s; scaling: cost vs sequence "
                        "length, views and samples; metrics: FD / APD vs naive references; all: everything + summary")
    p.add_argument("--encoder_cache", default="runs/assets/encoders", help="cached landmark encoders")
    p.add_argument("--out", default="runs/bench", help="folder for the Markdown report")
    p.add_argument("--assets", default="runs/assets/standin", help="where the stand-in model is built/cached")
    sub.add_parser("sample", help="roll out a trained prior from test start frames and score the samples (FD, APD, "
                                  "health, real-vs-real reference); 'python -m eval sample --help'")
    sub.add_parser("prior-benchmark", help="the paper's Table S3 on synthetic data: HuMoR-Face trained on mocap / lab / "
                                           "wild NeuFace annotations, wild ground truth and wild regress annotations, "
                                           "evaluated on held-out wild identities; 'python -m eval prior-benchmark --help'")
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


def prior_benchmark_parser(**kwargs):
    """The parser of ``python -m eval prior-benchmark`` (typed by ``PriorBenchmarkConfig``)."""
    from jsonargparse import ArgumentParser

    from eval.experiments import prior_benchmark

    parser = ArgumentParser(prog="python -m eval prior-benchmark", description=prior_benchmark.__doc__, **kwargs)
    parser.add_argument("--config", action="config")
    parser.add_class_arguments(prior_benchmark.PriorBenchmarkConfig, nested_key=None)
    return parser


def prior_benchmark_main(argv: list[str]) -> int:
    from eval.experiments import prior_benchmark

    parser = prior_benchmark_parser()
    cfg = parser.instantiate_classes(parser.parse_args(argv))
    kwargs = {k: v for k, v in vars(cfg).items() if k not in ("config", "__path__")}
    prior_benchmark.run_prior_benchmark(prior_benchmark.PriorBenchmarkConfig(**kwargs))
    print((Path(kwargs["out"]) / "prior_benchmark.md").read_text())
    return 0


if __name__ == "__main__":
    sys.exit(main())
