"""The head-model resolver: a model file or the stand-in, loaded once, layers of the sizes asked for."""

from __future__ import annotations

import os
import shutil

import pytest
import torch

from flame.head import head_layer, load_head, resolve_model_file


def test_without_a_model_the_standin_in_assets_is_used(standin_paths, tmp_path):
    shutil.copytree(standin_paths.folder, tmp_path / "assets")  # as ensure_standin leaves it (built in test_standin)
    path = resolve_model_file(None, tmp_path / "assets")
    assert path == (tmp_path / "assets" / "standin_head.pkl").resolve() and path.is_file()
    layer = head_layer(assets=tmp_path / "assets", n_shape=20, n_exp=10, dtype=torch.float64)
    assert layer.is_standin and (layer.n_shape, layer.n_exp) == (20, 10) and layer.v_template.dtype == torch.float64


def test_a_model_is_read_once_and_again_when_its_file_changes(standin_paths, tmp_path):
    folder = tmp_path / "model"
    shutil.copytree(standin_paths.folder, folder)
    model = folder / "standin_head.pkl"
    first = load_head(model)
    assert load_head(str(model))[0] is first[0]  # cached: the same arrays
    a, b = head_layer(model), head_layer(model)
    assert a is not b and a.model_sha256 == first[0].sha256  # every caller owns its layer
    os.utime(model, ns=(model.stat().st_atime_ns, model.stat().st_mtime_ns + 10**9))
    assert load_head(model)[0] is not first[0]


def test_a_missing_model_names_the_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="generic_model.pkl: file not found"):
        head_layer(tmp_path / "generic_model.pkl")
