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
