"""Model and embedding files: the restricted unpickler, both layouts, and clear errors."""

from __future__ import annotations

import io
import os
import pickle
import pickletools
import sys

import numpy as np
import pytest
import torch

from flame.embedding import (
    find_landmark_embedding,
    load_landmark_embedding,
    load_ringnet_embedding,
    write_deca_embedding,
)
from flame.errors import ModelFileError, UnsafePickleError
from flame.model import load_model, write_model_pkl
from flame.unpickle import load_npy, restricted_load


class _Evil:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return os.system, (f"touch {self.marker}",)


def _globals(path) -> set[str]:
    data = open(path, "rb").read()
    return {str(arg) for op, arg, _ in pickletools.genops(data) if op.name in ("GLOBAL", "STACK_GLOBAL")}


def test_standin_pickle_has_the_flame_layout_and_loads_without_chumpy(standin_paths):
    names = _globals(standin_paths.pkl)
    assert "chumpy.ch Ch" in names and "scipy.sparse.csc csc_matrix" in names
    assert "chumpy" not in sys.modules
    m = load_model(standin_paths.pkl)
    assert "chumpy" not in sys.modules
    assert m.shapedirs.dtype == np.float64 and m.shapedirs.shape[2] == 300


@pytest.mark.parametrize("protocol", [0, 1, 2])
def test_python2_style_pickles(standin_model, tmp_path, protocol):
    """Protocols 0/1 write copy_reg._reconstructor and __builtin__.object, as old FLAME files do."""
    path = tmp_path / "generic_model.pkl"
    write_model_pkl(standin_model, path, protocol=protocol)
    if protocol < 2:
        assert {"copy_reg _reconstructor", "__builtin__ object"} <= _globals(path)
    again = load_model(path)
    assert again.sha256 == standin_model.sha256
    np.testing.assert_array_equal(again.j_regressor, standin_model.j_regressor)


def test_pkl_and_npz_hold_the_same_model(standin_paths):
    a, b = load_model(standin_paths.pkl), load_model(standin_paths.npz)
    assert a.sha256 == b.sha256
    for key in ("v_template", "faces", "shapedirs", "exprdirs", "posedirs", "j_regressor", "weights", "parents"):
        np.testing.assert_array_equal(getattr(a, key), getattr(b, key))


def test_malicious_pickle_is_refused(tmp_path):
    marker = tmp_path / "pwned"
    path = tmp_path / "generic_model.pkl"
    path.write_bytes(pickle.dumps({"v_template": _Evil(marker)}, protocol=2))
    with pytest.raises(pickle.UnpicklingError, match="refusing to load 'posix.system'|refusing to load 'os.system'"):
        load_model(path)
    assert not marker.exists()


def test_malicious_npy_is_refused(tmp_path):
    marker = tmp_path / "pwned"
    path = tmp_path / "landmark_embedding.npy"
    np.save(path, np.array({"static_lmk_faces_idx": _Evil(marker)}, dtype=object), allow_pickle=True)
    with pytest.raises(pickle.UnpicklingError, match="refusing"):
        load_landmark_embedding(path)
    assert not marker.exists()


def test_malicious_torch_storage_is_refused(tmp_path):
    """A storage blob inside DECA's .npy is loaded with torch.load(weights_only=True)."""
    marker = tmp_path / "pwned"
    blob = io.BytesIO()
    torch.save(_Evil(marker), blob, _use_new_zipfile_serialization=False)

    class FakeStorage:
        def __reduce__(self):
            import torch.storage

            return torch.storage._load_from_bytes, (blob.getvalue(),)

    with pytest.raises(UnsafePickleError, match="refusing to load a torch storage") as err:
        restricted_load(io.BytesIO(pickle.dumps({"x": FakeStorage()}, protocol=3)), allow_torch=True)
    assert "weights_only" not in str(err.value)  # no advice to load it unsafely
    assert not marker.exists()


def test_deca_and_ringnet_embeddings_agree(standin_paths):
    deca = load_landmark_embedding(standin_paths.deca_embedding)
    ring = load_ringnet_embedding(standin_paths.ringnet_static, standin_paths.ringnet_dynamic)
    for key in ("static_faces", "dynamic_faces", "full_faces"):
        np.testing.assert_array_equal(getattr(deca, key), getattr(ring, key))
    np.testing.assert_allclose(deca.dynamic_bary, ring.dynamic_bary, atol=1e-7)  # DECA keeps them in float32
    raw = load_npy(standin_paths.deca_embedding, allow_torch=True)
    assert isinstance(raw["dynamic_lmk_faces_idx"], torch.Tensor)  # torch tensors inside, as in DECA's file
    assert raw["full_lmk_faces_idx"].shape == (1, 68)


def test_embedding_is_found_next_to_the_model(standin_paths, tmp_path):
    assert find_landmark_embedding(standin_paths.pkl).static_faces.shape == (51,)
    lonely = tmp_path / "generic_model.pkl"
    lonely.write_bytes(standin_paths.pkl.read_bytes())
    with pytest.raises(FileNotFoundError, match="landmark_embedding.npy.*flame_static_embedding.pkl"):
        find_landmark_embedding(lonely)


def test_missing_file_says_what_and_where(tmp_path):
    with pytest.raises(FileNotFoundError) as e:
        load_model(tmp_path / "generic_model.pkl")
    msg = str(e.value)
    assert "generic_model.pkl" in msg and "flame.is.tue.mpg.de" in msg and "python -m flame standin" in msg


def test_malformed_model_files(standin_model, tmp_path):
    raw = {k: np.asarray(v) for k, v in standin_model.to_raw().items()}
    broken = dict(raw)
    del broken["posedirs"]
    np.savez(tmp_path / "missing.npz", **broken)
    with pytest.raises(ModelFileError, match=r"missing keys \['posedirs'\]"):
        load_model(tmp_path / "missing.npz")
    bad = dict(raw, weights=raw["weights"][:, :4])
    np.savez(tmp_path / "shape.npz", **bad)
    with pytest.raises(ModelFileError, match="'weights' has shape"):
        load_model(tmp_path / "shape.npz")
    nan = dict(raw, v_template=raw["v_template"].copy())
    nan["v_template"][0, 0] = np.nan
    np.savez(tmp_path / "nan.npz", **nan)
    with pytest.raises(ModelFileError, match="NaN"):
        load_model(tmp_path / "nan.npz")
    (tmp_path / "text.pkl").write_text("this is not a pickle")
    with pytest.raises((ModelFileError, pickle.UnpicklingError)):
        load_model(tmp_path / "text.pkl")
    (tmp_path / "truncated.pkl").write_bytes(pickle.dumps(raw, protocol=2)[:1000])
    with pytest.raises(ModelFileError, match="cannot unpickle"):
        load_model(tmp_path / "truncated.pkl")
    (tmp_path / "model.obj").write_text("v 0 0 0")
    with pytest.raises(ModelFileError, match="expected .pkl or .npz"):
        load_model(tmp_path / "model.obj")


def test_embedding_for_another_mesh_is_refused(standin_model, standin_embedding, tmp_path):
    from flame.embedding import LandmarkEmbedding
    from flame.layer import FlameLayer

    wrong = LandmarkEmbedding(**{**standin_embedding.__dict__, "static_faces": standin_embedding.static_faces + 10**6})
    with pytest.raises(ModelFileError, match="different mesh"):
        FlameLayer(standin_model, wrong)
    path = tmp_path / "landmark_embedding.npy"
    np.save(path, np.array({"something": 1}, dtype=object), allow_pickle=True)
    with pytest.raises(ModelFileError, match="not a DECA landmark_embedding.npy"):
        load_landmark_embedding(path)


def test_written_deca_embedding_round_trips(standin_embedding, tmp_path):
    path = tmp_path / "landmark_embedding.npy"
    write_deca_embedding(standin_embedding, path)
    again = load_landmark_embedding(path)
    np.testing.assert_array_equal(again.dynamic_faces, standin_embedding.dynamic_faces)
    np.testing.assert_allclose(again.full_bary, standin_embedding.full_bary)
