"""``python -m eval``: benchmarks now; metrics, experiments and reports arrive with their issues."""

from __future__ import annotations

import argparse
import logging
import sys


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m eval", description="Evaluation of the NeuFace Motion Suite.")
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("bench", help="speed benchmarks with in-process reference ratios")
    p.add_argument("which", choices=["flame", "all"], help="flame: FLAME layer vs smplx and renderer timings")
    p.add_argument("--out", default="runs/bench", help="folder for the Markdown report")
    p.add_argument("--assets", default="runs/assets/standin", help="where the stand-in model is built/cached")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    if args.command == "bench":
        from eval.bench import flame_bench

        flame_bench.run(args.out, args.assets)
    return 0


if __name__ == "__main__":
    sys.exit(main())
