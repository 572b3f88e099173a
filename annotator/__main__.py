"""``python -m annotator``: the annotation command line."""

from __future__ import annotations

import argparse
import sys


def build_parser() -> argparse.ArgumentParser:
    return argparse.ArgumentParser(
        prog="python -m annotator",
        description="Annotate face videos and multi-view captures with FLAME sequences (NeuFace). "
                    "No subcommands are available yet: the synthetic corpus builder ('synth') and the "
                    "annotation runner ('run') are being built (issues 3 and 4). Today, use "
                    "'python -m flame' for model files and 'neuface-quickstart' for the end-to-end demo.",
    )


def main(argv: list[str] | None = None) -> int:
    build_parser().parse_args(argv if argv is not None else sys.argv[1:] or ["--help"])
    return 0


if __name__ == "__main__":
    sys.exit(main())
