"""The command-line conventions of every ``python -m <package>`` and ``neuface-*`` command.

* A package's subcommands are listed by ``--help`` and dispatched lazily (a subcommand's code is
  imported only when it runs).
* Every subcommand parses its options with jsonargparse: typed options, ``--config FILE.yaml`` (keys as
  on the command line), and an unknown option or key is an error.
* The project's own errors (:class:`~flame.errors.SuiteError`: a bad model file, an unsafe pickle, a
  bad sequence, no face...), missing files and bad values print one line, ``error: <message>``, and
  exit with status 2. ``NEUFACE_TRACEBACK=1`` shows the traceback instead.
"""

from __future__ import annotations

import logging
import os
import sys
from dataclasses import dataclass
from typing import Any, Callable

from flame.errors import SuiteError

__all__ = ["Command", "main", "guarded", "new_parser", "parse_settings", "ERROR_STATUS"]

#: Exit status of a run stopped by an error in its input (also jsonargparse's status for bad options).
ERROR_STATUS = 2


@dataclass(frozen=True)
class Command:
    """A subcommand: one line of help, and the function that parses its options and runs it
    (``run(argv) -> exit status or None``)."""

    help: str
    run: Callable[[list[str]], int | None]


def new_parser(prog: str, description: str | None = None):
    """A jsonargparse parser with ``--config FILE.yaml``."""
    from jsonargparse import ActionConfigFile, ArgumentParser

    parser = ArgumentParser(prog=prog, description=description)
    parser.add_argument("--config", action=ActionConfigFile, help="a YAML file with any of these options")
    return parser


def parse_settings(target: type | Callable, argv: list[str], prog: str, description: str | None = None) -> Any:
    """Options typed by ``target``'s signature and documented by its docstring (nested dataclasses
    become groups, e.g. ``--annotate.lr``), parsed from ``argv``. ``target`` is a dataclass (returns an
    instance) or a function (returns its keyword arguments)."""
    parser = new_parser(prog, description)
    if isinstance(target, type):
        parser.add_class_arguments(target, None)
    else:
        parser.add_function_arguments(target, None)
    ns = parser.instantiate(parser.parse_args(argv))
    kwargs = {k: v for k, v in vars(ns).items() if k not in ("config", "__path__")}
    return target(**kwargs) if isinstance(target, type) else kwargs


def _one_line(e: BaseException) -> str:
    """The message on one line, naming the file of an ``OSError`` if the message does not."""
    text = " ".join(str(e).split()) or type(e).__name__
    if isinstance(e, OSError) and e.filename is not None and str(e.filename) not in text:
        return f"{e.filename}: {text}"
    return text


def guarded(fn: Callable[[], int | None]) -> int:
    """Run ``fn`` as a command: its exit status, or ``2`` with one ``error:`` line for the project's
    errors (see the module docstring)."""
    if not logging.getLogger().handlers:
        logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    try:
        return int(fn() or 0)
    except (SuiteError, OSError, ValueError) as e:
        if os.environ.get("NEUFACE_TRACEBACK"):
            raise
        print(f"error: {_one_line(e)}", file=sys.stderr)
        return ERROR_STATUS
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


def main(prog: str, description: str, commands: dict[str, Command], argv: list[str] | None = None) -> int:
    """Dispatch ``argv`` (default ``sys.argv[1:]``) to one of ``commands``; without a command, print
    the list."""
    argv = list(sys.argv[1:] if argv is None else argv)
    width = max(map(len, commands))
    listing = "\n".join(f"  {name:<{width}}  {c.help}" for name, c in commands.items())
    usage = (f"usage: {prog} {{{','.join(commands)}}} [options]\n\n{description}\n\ncommands:\n{listing}\n\n"
             f"'{prog} <command> --help' lists a command's options; any of them can come from a YAML file "
             f"with --config FILE.yaml.")
    if not argv or argv[0] in ("-h", "--help"):
        print(usage)
        return 0
    name, rest = argv[0], argv[1:]
    if name not in commands:
        print(f"{usage}\n\nerror: unknown command {name!r}; choose one of {', '.join(commands)}", file=sys.stderr)
        return ERROR_STATUS
    return guarded(lambda: commands[name].run(rest))
