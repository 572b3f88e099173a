"""Shared fixtures: the stand-in head is built once per test session (per xdist worker)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from flame.embedding import load_landmark_embedding
from flame.layer import FlameLayer
from flame.model import load_model
from flame.standin import StandinPaths, write_standin


def pytest_configure(config) -> None:
    """Under pytest-xdist each worker gets one thread, so two workers do not fight over two cores."""
    import os

    if os.environ.get("PYTEST_XDIST_WORKER"):
        torch.set_num_threads(1)


@pytest.fixture(scope="session")
def standin_paths(tmp_path_factory) -> StandinPaths:
    return write_standin(tmp_path_factory.mktemp("standin"))


@pytest.fixture(scope="session")
def standin_model(standin_paths):
    return load_model(standin_paths.pkl)


@pytest.fixture(scope="session")
def standin_embedding(standin_paths):
    return load_landmark_embedding(standin_paths.deca_embedding)


@pytest.fixture(scope="session")
def layer64(standin_model, standin_embedding) -> FlameLayer:
    """Full-basis float64 layer (300 shape, 100 expression)."""
    return FlameLayer(standin_model, standin_embedding, n_shape=300, n_exp=100, dtype=torch.float64)


@pytest.fixture(scope="session")
def layer32(standin_model, standin_embedding) -> FlameLayer:
    return FlameLayer(standin_model, standin_embedding, n_shape=100, n_exp=50)


@pytest.fixture()
def rng() -> np.random.Generator:
    return np.random.default_rng(0)


@pytest.fixture(scope="session")
def layer32_small_encoder(standin_paths, tmp_path_factory):
    """The float32 layer and a landmark encoder pretrained briefly (shared by the annotator tests)."""
    from annotator.pretrain import PretrainConfig, load_or_pretrain

    layer = FlameLayer.from_files(standin_paths.pkl, n_shape=100, n_exp=50)
    cfg = PretrainConfig(steps=500, batch=128)
    cache = tmp_path_factory.mktemp("encoders")
    enc = load_or_pretrain(layer, cache, cfg, progress=False)
    return layer, enc, cfg, cache


@pytest.fixture(scope="session")
def tiny_prior_args() -> list[str]:
    """``fit`` overrides for a seconds-long HuMoR-Face training on the quick config (pipeline tests)."""
    return ["--trainer.max_epochs", "2", "--model.network.hidden", "64", "--model.network.layers", "2", "--model.network.latent", "8",
            "--model.losses.vertex_stride", "32", "--model.drift.sched_sampling", "[0, 1]", "--model.optim.milestones", "[5]",
            "--data.epoch_windows", "64", "--data.batch_size", "32", "--trainer.enable_progress_bar", "false",
            "--model.plot_every_n_epochs", "0"]


@pytest.fixture(scope="session")
def tiny_diffusion_args() -> list[str]:
    """``fit`` overrides for a seconds-long training of the long-context family (windows of 24 frames)."""
    return ["--trainer.max_epochs", "2", "--model.network.window", "24", "--model.network.context", "12",
            "--model.network.width", "32", "--model.network.layers", "1", "--model.network.sampling_steps", "4",
            "--data.window", "23", "--data.epoch_windows", "64", "--data.batch_size", "32",
            "--trainer.enable_progress_bar", "false", "--model.training.statistics_batches", "2",
            "--trainer.check_val_every_n_epoch", "1"]


def _write_generator(path, model_file, model_sha256: str | None, family: str = "humor-face"):
    """An untrained generator file (random weights): HuMoR-Face (10 expression components, jaw velocity), or
    the long-context family; ``model_sha256`` is the head-model hash it records."""
    from motionprior.diffusion import DiffusionGenerator, DiffusionNetwork, MotionDenoiser
    from motionprior.generator import GENERATOR_FORMAT
    from motionprior.losses import HumorLosses
    from motionprior.model import HumorFace, HumorNetwork
    from motionprior.rollout import HumorGenerator
    from motionprior.settings import HeadModel, blocks_to_dict
    from motionprior.state import StateSpec

    torch.manual_seed(0)
    if family == "humor-face":
        spec = StateSpec(n_exp=10, extra_velocities=("jaw",))
        network = HumorNetwork(hidden=32, layers=2, latent=4)
        model = HumorFace(spec, network)
        scale = torch.rand(spec.out_dim) * 0.1 + 0.02
        model.set_statistics(torch.zeros(spec.dim), torch.ones(spec.dim), scale)
        config = blocks_to_dict(state=spec, head=HeadModel(str(model_file)), network=network,
                                losses=HumorLosses(kl_weight=0.05))
    else:
        network = DiffusionNetwork(window=24, context=12, width=32, layers=1, sampling_steps=4)
        model = MotionDenoiser(StateSpec(n_exp=10), network)
        config = blocks_to_dict(state=StateSpec(n_exp=10), head=HeadModel(str(model_file)), network=network)
    revision = (HumorGenerator if family == "humor-face" else DiffusionGenerator).revision
    torch.save({"format": GENERATOR_FORMAT, "version": 1, "family": family, "config": config,
                "model_sha256": model_sha256, "revision": revision, "state_dict": model.state_dict()}, path)
    return path


@pytest.fixture(scope="session")
def write_generator():
    """``write_generator(path, model_file, model_sha256, family="humor-face")``: an untrained generator file,
    for tests of what uses a generator without needing a trained one (the motion term's math, commands)."""
    return _write_generator
