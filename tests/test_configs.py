"""Every YAML file under configs/ parses with the code that reads it; a typo fails loudly."""

from __future__ import annotations

from pathlib import Path

import pytest
from jsonargparse import ArgumentParser

CONFIGS = Path(__file__).resolve().parents[1] / "configs"


class _PriorReader:
    """The LightningCLI of ``python -m motionprior fit`` (``--print_config``: parse and validate only)."""

    def parse_path(self, path: str):
        import contextlib
        import io

        from motionprior.__main__ import main

        err = io.StringIO()
        with contextlib.redirect_stdout(io.StringIO()) as out, contextlib.redirect_stderr(err):
            try:
                main(["fit", "--config", path, "--print_config"])
            except SystemExit as e:
                if e.code:
                    raise ValueError(err.getvalue()) from None
        return out.getvalue()


def _reader(path: Path) -> ArgumentParser:
    if path.parent.name == "demos" and path.stem == "quickstart":
        from demos.quickstart import run_quickstart

        parser = ArgumentParser(exit_on_error=False)
        parser.add_function_arguments(run_quickstart)
        return parser
    if path.parent.name == "annotator" and path.stem.startswith("synth"):
        from annotator.__main__ import synth_parser

        return synth_parser(exit_on_error=False)
    if path.parent.name == "motionprior":
        return _PriorReader()
    if path.parent.name == "eval" and path.stem == "prior_benchmark":
        from eval.__main__ import prior_benchmark_parser

        return prior_benchmark_parser(exit_on_error=False)
    raise AssertionError(f"no reader registered for {path}; add it to tests/test_configs.py")


@pytest.mark.parametrize("path", sorted(CONFIGS.rglob("*.yaml")), ids=lambda p: str(p.relative_to(CONFIGS)))
def test_config_parses(path):
    cfg = _reader(path).parse_path(str(path))
    assert cfg


@pytest.mark.parametrize("path,typo", [("demos/quickstart.yaml", "sized: 256"), ("annotator/synth_lab.yaml", "identites: 3"),
                                             ("motionprior/quick.yaml", "optimiser: adam"),
                                             ("eval/prior_benchmark.yaml", "sampels: 50")])
def test_typo_is_an_error(tmp_path, path, typo):
    bad = tmp_path / "bad.yaml"
    bad.write_text((CONFIGS / path).read_text() + typo + "\n")
    with pytest.raises(Exception, match=typo.split(":")[0]):
        _reader(CONFIGS / path).parse_path(str(bad))
