"""Every YAML file under configs/ is instantiated by the code that reads it (settings objects, model,
data module and trainer), the training configs take one optimizer step on a tiny corpus, and a typo in
any of them is an error."""

from __future__ import annotations

import contextlib
import dataclasses
import io
import math
from pathlib import Path

import pytest

from flame.cli import parse_settings

CONFIGS = Path(__file__).resolve().parents[1] / "configs"
ALL = sorted(CONFIGS.rglob("*.yaml"))


@pytest.fixture(scope="module")
def tiny_wild(tmp_path_factory, standin_paths) -> Path:
    """4 identities x 40 frames at 25 fps: train 2, val 1, test 1."""
    from annotator.synthetic.builder import SynthConfig, build_corpus

    return build_corpus(SynthConfig(domain="wild", identities=4, sequences=1, frames=60, seed=3,
                                    out=str(tmp_path_factory.mktemp("configs") / "wild"), model=str(standin_paths.pkl),
                                    split_fractions=(0.5, 0.25, 0.25)), progress=False)


def _prior_cli(configs: list[Path | str], extra: list[str], standin_paths, run: bool = False):
    """LightningCLI built from ``configs`` (``fit`` when ``run``), with the stand-in as head model."""
    from motionprior.train import lightning_cli

    args = [a for c in configs for a in ("--config", str(c))] + ["--model.head.flame_model", str(standin_paths.pkl), *extra]
    return lightning_cli(["fit", *args] if run else args, run=run)


def _check_prior_settings(prior_config: str, overrides: list[str], standin_paths) -> None:
    """A pipeline's generator config and overrides build the model it will train."""
    import yaml

    cli = _prior_cli([CONFIGS.parent / prior_config], [*overrides, "--data.data", "unused"], standin_paths)
    want = yaml.safe_load((CONFIGS.parent / prior_config).read_text())["model"]["class_path"]
    assert f"{type(cli.model).__module__}.{type(cli.model).__name__}" == want


@pytest.mark.parametrize("path", [p for p in ALL if p.parent.name == "motionprior" and p.stem != "ddp"],
                         ids=lambda p: p.name)
def test_training_config_takes_a_step(path, tiny_wild, standin_paths, tmp_path):
    import torch
    import yaml

    cli = _prior_cli([path], ["--data.data", str(tiny_wild), "--trainer.default_root_dir", str(tmp_path),
                              "--trainer.fast_dev_run", "true", "--trainer.enable_progress_bar", "false"],
                     standin_paths, run=True)
    want = yaml.safe_load(path.read_text())["model"]
    assert type(cli.model).__name__ == want["class_path"].rsplit(".", 1)[1]
    for block, settings in want["init_args"].items():  # the YAML's settings reach the model's blocks
        if block == "head":  # the test's stand-in replaces the config's head model
            continue
        got = cli.model.hparams[block]
        assert {k: got[k] for k in settings} == settings if isinstance(settings, dict) else got == settings
    assert cli.trainer.global_step == 1
    assert math.isfinite(float(cli.trainer.callback_metrics["train/loss"]))
    assert all(torch.isfinite(p).all() for p in cli.model.parameters())


def test_building_a_trainer_does_not_advertise(standin_paths):
    import logging

    from motionprior.train import LIGHTNING_RANK_ZERO_LOGGER

    seen: list[str] = []
    handler = logging.Handler()
    handler.emit = lambda record: seen.append(record.getMessage())
    rank_zero = logging.getLogger(LIGHTNING_RANK_ZERO_LOGGER)
    rank_zero.addHandler(handler)
    level = rank_zero.level
    rank_zero.setLevel(logging.INFO)
    try:
        _prior_cli([CONFIGS / "motionprior" / "quick.yaml"], ["--data.data", "unused"], standin_paths)
    finally:
        rank_zero.removeHandler(handler)
        rank_zero.setLevel(level)
    assert seen and not [m for m in seen if "litlogger" in m or "litmodels" in m], seen


def test_ddp_config_builds_a_two_process_trainer(standin_paths):
    from lightning.pytorch.strategies import DDPStrategy

    cli = _prior_cli([CONFIGS / "motionprior" / "quick.yaml", CONFIGS / "motionprior" / "ddp.yaml"],
                     ["--data.data", "unused"], standin_paths)
    assert isinstance(cli.trainer.strategy, DDPStrategy) and cli.trainer.num_devices == 2
    assert cli.datamodule.batch_size == 32


@pytest.mark.parametrize("path", [p for p in ALL if p.parent.name == "annotator"], ids=lambda p: p.name)
def test_synth_config_builds_a_corpus(path, standin_paths, tmp_path):
    from annotator.synthetic.builder import SynthConfig, build_corpus
    from annotator.synthetic.rigs import DOMAIN_FPS
    from flame.layout import read_corpus

    cfg = parse_settings(SynthConfig, ["--config", str(path)], "synth")
    assert isinstance(cfg, SynthConfig) and cfg.identities > 1 and cfg.frames > 1
    tiny = dataclasses.replace(cfg, identities=1, sequences=1, frames=3, out=str(tmp_path / "c"),
                               model=str(standin_paths.pkl))
    corpus = read_corpus(build_corpus(tiny, progress=False))
    assert corpus.info["fps"] == DOMAIN_FPS[cfg.domain] and corpus.info["settings"]["domain"] == cfg.domain
    assert len(corpus.sequences) == 1 and corpus.sequences[0].gt.is_file()


def test_quickstart_config(standin_paths):
    from annotator.synthetic.builder import CorpusSize
    from demos.quickstart import run_quickstart

    kwargs = parse_settings(run_quickstart, ["--config", str(CONFIGS / "demos" / "quickstart.yaml")], "quickstart")
    assert isinstance(kwargs["lab"], CorpusSize) and isinstance(kwargs["wild"], CorpusSize)
    assert kwargs["wild"].identities >= 5  # train, val and test identities
    assert kwargs == parse_settings(run_quickstart, [], "quickstart")  # `make quickstart` runs the command's defaults
    _check_prior_settings(kwargs["prior_config"], list(kwargs["prior_overrides"]), standin_paths)


@pytest.mark.parametrize("name", ["quick.yaml", "diffusion.yaml"])
def test_quick_training_configs_read_what_the_quickstart_writes(name):
    import inspect

    import yaml

    from demos.quickstart import run_quickstart, training_data

    out = inspect.signature(run_quickstart).parameters["out"].default
    assert yaml.safe_load((CONFIGS / "motionprior" / name).read_text())["data"]["data"] == str(training_data(out))


def test_prior_benchmark_config(standin_paths):
    from annotator.synthetic.builder import CorpusSize
    from eval.experiments.prior_benchmark import PriorBenchmarkConfig

    cfg = parse_settings(PriorBenchmarkConfig, ["--config", str(CONFIGS / "eval" / "prior_benchmark.yaml")], "bench")
    assert isinstance(cfg, PriorBenchmarkConfig) and isinstance(cfg.wild, CorpusSize)
    assert len(cfg.seeds) >= 3 and set(cfg.generators) == {"HuMoR-Face", "long-context diffusion"}
    for gen, config in cfg.generators.items():  # every family's training config builds its model
        _check_prior_settings(config, cfg.overrides.get(gen, []), standin_paths)


def test_every_config_is_covered():
    covered = {"annotator", "demos/quickstart.yaml", "eval/prior_benchmark.yaml", "motionprior"}
    for path in ALL:
        rel = path.relative_to(CONFIGS)
        assert rel.parts[0] in covered or str(rel) in covered, f"no test instantiates {rel}; add one here"


def _parse_error(target, path: Path) -> str:
    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()), pytest.raises(SystemExit):
        if target == "prior":
            from motionprior.train import lightning_cli

            lightning_cli(["--config", str(path)], run=False)
        else:
            parse_settings(target, ["--config", str(path)], "test")
    return err.getvalue()


@pytest.mark.parametrize("path,typo", [("demos/quickstart.yaml", "sized: 256"), ("annotator/synth_lab.yaml", "identites: 3"),
                                        ("motionprior/quick.yaml", "optimiser: adam"),
                                        ("eval/prior_benchmark.yaml", "sampels: 50")])
def test_typo_is_an_error(tmp_path, path, typo):
    from annotator.synthetic.builder import SynthConfig
    from demos.quickstart import run_quickstart
    from eval.experiments.prior_benchmark import PriorBenchmarkConfig

    target = {"demos": run_quickstart, "annotator": SynthConfig, "motionprior": "prior",
              "eval": PriorBenchmarkConfig}[path.split("/")[0]]
    bad = tmp_path / "bad.yaml"
    bad.write_text((CONFIGS / path).read_text() + typo + "\n")
    assert typo.split(":")[0] in _parse_error(target, bad)
