"""``python -m demos``: the quickstart (the suite's main job, end to end) and the web demo."""

from __future__ import annotations

import sys

from flame.cli import Command
from flame.cli import main as cli_main


def _quickstart(argv: list[str]) -> int:
    from demos.quickstart import main

    return main(argv)


def _app(argv: list[str]) -> int:
    from demos.app import main

    return main(argv)


COMMANDS = {
    "quickstart": Command("run the main job on the embedded default, end to end (also: neuface-quickstart)",
                          _quickstart),
    "app": Command("serve the Gradio web demo on 127.0.0.1 (also: neuface-demo)", _app),
}


def main(argv: list[str] | None = None) -> int:
    return cli_main("python -m demos", "The quickstart and the web demo of the NeuFace Motion Suite.", COMMANDS, argv)


if __name__ == "__main__":
    sys.exit(main())
