"""``python -m motionprior``: the motion-prior command line."""

from __future__ import annotations

import argparse
import sys


def build_parser() -> argparse.ArgumentParser:
    return argparse.ArgumentParser(
        prog="python -m motionprior",
        description="Train HuMoR-Face on annotated FlameSequence splits and sample long facial motion. "
                    "No subcommands are available yet: 'fit' (LightningCLI training) and 'sample' "
                    "(autoregressive rollouts) are being built (issue 5).",
    )


def main(argv: list[str] | None = None) -> int:
    build_parser().parse_args(argv if argv is not None else sys.argv[1:] or ["--help"])
    return 0


if __name__ == "__main__":
    sys.exit(main())
