"""Shared fixtures: the stand-in head is built once per test session (per xdist worker)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from flame.io import load_landmark_embedding, load_model
from flame.layer import FlameLayer
from flame.standin import StandinPaths, write_standin


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
