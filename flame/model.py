"""FLAME model data and its file formats, exactly as users have them.

Supported inputs
----------------
* FLAME 2020 ``generic_model.pkl`` (and the male/female files), FLAME 2023 ``flame2023.pkl``,
  ``flame2023_no_jaw.pkl``, ``flame2023_Open.pkl``: Python-2 pickles holding chumpy objects and a
  ``scipy.sparse`` ``J_regressor``, read by the restricted unpickler (:mod:`flame.unpickle`).
* A dense ``.npz`` with the same keys (smplx's ``FLAME_NEUTRAL.npz`` layout).

Licensed files are never downloaded. The procedural stand-in (:mod:`flame.standin`) is written in
the same layouts and read by the same code. Landmark embeddings are in :mod:`flame.embedding`.
"""

from __future__ import annotations

import copyreg
import hashlib
import io
import os
import pickle
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import scipy.sparse

from flame.errors import ModelFileError
from flame.files import atomic_write_bytes, read_npz
from flame.unpickle import load_pickle_file

__all__ = ["FlameModelData", "load_model", "write_model_pkl", "write_model_npz", "require_file",
           "default_vertex_colors", "FLAME_DOWNLOAD_HINT", "SKIN"]

FLAME_DOWNLOAD_HINT = (
    "FLAME is licensed: register at https://flame.is.tue.mpg.de and download it yourself (DECA's "
    "landmark_embedding.npy ships with DECA, the RingNet embeddings with RingNet/smplx examples); "
    "or build the procedural stand-in with `python -m flame standin --out DIR`."
)
STANDIN_KEY = "neuface_standin"
REQUIRED_MODEL_KEYS = ("v_template", "f", "shapedirs", "posedirs", "J_regressor", "weights", "kintree_table")
#: Albedo of skin (RGB in [0, 1]) for models without vertex colours (FLAME has none).
SKIN = (0.80, 0.64, 0.55)


def require_file(path: Path, what: str) -> None:
    """Raise :class:`FileNotFoundError` naming ``what`` was expected and where FLAME comes from."""
    if not path.is_file():
        raise FileNotFoundError(f"{path}: file not found; expected {what}. {FLAME_DOWNLOAD_HINT}")


@dataclass(frozen=True, eq=False)
class FlameModelData:
    """A FLAME-layout model held as numpy arrays (float64), the file's own content.

    Attributes:
        v_template: ``(V, 3)`` metres, FLAME frame.
        faces: ``(F, 3)`` int64 vertex indices.
        shapedirs: ``(V, 3, S)`` identity basis (S = 300 for FLAME), scaled by the PCA std.
        exprdirs: ``(V, 3, E)`` expression basis (E = 100 for FLAME).
        posedirs: ``(V, 3, 36)`` pose-corrective basis for the features ``(R_j - I)``, j = 1..4.
        j_regressor: ``(5, V)`` dense joint regressor.
        weights: ``(V, 5)`` skinning weights.
        parents: ``(5,)`` parent of each joint, -1 for the root.
        name: file name the model came from (or ``"standin"``).
        is_standin: True for the procedural stand-in; every output built on it says so.
        sha256: content hash over the arrays (identical for the .pkl and .npz of one model).
        vertex_colors: optional ``(V, 3)`` RGB in [0, 1] (stand-in only; FLAME has none).
    """

    v_template: np.ndarray
    faces: np.ndarray
    shapedirs: np.ndarray
    exprdirs: np.ndarray
    posedirs: np.ndarray
    j_regressor: np.ndarray
    weights: np.ndarray
    parents: np.ndarray
    name: str
    is_standin: bool
    sha256: str
    vertex_colors: np.ndarray | None = None

    @property
    def n_vertices(self) -> int:
        return int(self.v_template.shape[0])

    def albedo(self) -> np.ndarray:
        """``(V, 3)`` RGB in [0, 1] for renders: the file's vertex colours, or
        :func:`default_vertex_colors`."""
        if self.vertex_colors is not None:
            return self.vertex_colors
        return default_vertex_colors(self.v_template, self.weights)

    @property
    def label(self) -> str:
        """Human-readable model label for outputs and the demo."""
        return f"procedural stand-in head (not FLAME) [{self.sha256[:8]}]" if self.is_standin else (
            f"FLAME ({self.name}) [{self.sha256[:8]}]")

    @staticmethod
    def from_arrays(raw: dict[str, Any], *, name: str, source: str, n_shape_total: int = 300) -> "FlameModelData":
        """Validate a dict with FLAME keys (``v_template, f, shapedirs, posedirs, J_regressor, weights,
        kintree_table``) and build the model. ``source`` names the file in error messages."""
        missing = [k for k in REQUIRED_MODEL_KEYS if k not in raw]
        if missing:
            raise ModelFileError(
                f"{source}: not a FLAME model file - missing keys {missing} (found {sorted(map(str, raw))}). "
                f"Expected the keys of FLAME's generic_model.pkl. {FLAME_DOWNLOAD_HINT}"
            )

        def arr(key: str, dtype: Any = np.float64) -> np.ndarray:
            v = raw[key]
            if scipy.sparse.issparse(v):
                v = v.toarray()
            try:
                return np.ascontiguousarray(np.asarray(v, dtype=dtype))
            except (TypeError, ValueError) as e:
                raise ModelFileError(f"{source}: key '{key}' is not a numeric array ({e})") from None

        v_template = arr("v_template")
        n_v = v_template.shape[0] if v_template.ndim == 2 else -1
        faces = arr("f", np.int64)
        dirs = arr("shapedirs")
        posedirs = arr("posedirs")
        jreg = arr("J_regressor")
        weights = arr("weights")
        kintree = arr("kintree_table", np.int64)
        checks = [
            (v_template.ndim == 2 and v_template.shape[1] == 3, "v_template", "(V, 3)", v_template.shape),
            (faces.ndim == 2 and faces.shape[1] == 3, "f", "(F, 3)", faces.shape),
            (dirs.ndim == 3 and dirs.shape[:2] == (n_v, 3) and dirs.shape[2] > n_shape_total, "shapedirs",
             f"({n_v}, 3, >{n_shape_total})", dirs.shape),
            (posedirs.shape in ((n_v, 3, 36), (36, 3 * n_v)), "posedirs", f"({n_v}, 3, 36)", posedirs.shape),
            (jreg.shape == (5, n_v), "J_regressor", f"(5, {n_v})", jreg.shape),
            (weights.shape == (n_v, 5), "weights", f"({n_v}, 5)", weights.shape),
            (kintree.shape == (2, 5), "kintree_table", "(2, 5)", kintree.shape),
        ]
        for ok, key, want, got in checks:
            if not ok:
                raise ModelFileError(f"{source}: key '{key}' has shape {tuple(got)}, expected {want}")
        if faces.min() < 0 or faces.max() >= n_v:
            raise ModelFileError(f"{source}: face indices out of range [0, {n_v})")
        if posedirs.shape == (36, 3 * n_v):
            posedirs = posedirs.T.reshape(n_v, 3, 36)
        for key, a in (("v_template", v_template), ("shapedirs", dirs), ("posedirs", posedirs),
                       ("J_regressor", jreg), ("weights", weights)):
            if not np.isfinite(a).all():
                raise ModelFileError(f"{source}: key '{key}' contains NaN or Inf")
        parents = kintree[0].copy()
        parents[0] = -1
        colors = raw.get("vertex_colors")
        colors = None if colors is None else np.asarray(colors, dtype=np.float64)
        standin = raw.get(STANDIN_KEY)
        is_standin = standin is not None and str(np.asarray(standin)) != ""
        model = dict(
            v_template=v_template, faces=faces, shapedirs=dirs[:, :, :n_shape_total],
            exprdirs=dirs[:, :, n_shape_total:], posedirs=posedirs, j_regressor=jreg, weights=weights,
            parents=parents,
        )
        return FlameModelData(**model, name=name, is_standin=is_standin, sha256=_content_hash(model),
                              vertex_colors=colors)

    def to_raw(self) -> dict[str, Any]:
        """The FLAME key layout (dense arrays), as written to .npz / .pkl."""
        raw: dict[str, Any] = {
            "v_template": self.v_template,
            "f": self.faces.astype(np.uint32),
            "shapedirs": np.concatenate([self.shapedirs, self.exprdirs], axis=2),
            "posedirs": self.posedirs,
            "J_regressor": self.j_regressor,
            "weights": self.weights,
            "kintree_table": np.stack([np.where(self.parents < 0, 4294967295, self.parents), np.arange(5)]).astype(np.int64),
            "bs_style": "lbs",
            "bs_type": "lrotmin",
        }
        if self.is_standin:
            raw[STANDIN_KEY] = "NeuFace Motion Suite procedural stand-in head; not FLAME"
        if self.vertex_colors is not None:
            raw["vertex_colors"] = self.vertex_colors
        return raw


def _content_hash(model: dict[str, np.ndarray]) -> str:
    h = hashlib.sha256()
    for key in sorted(model):
        a = model[key]
        a = a.astype(np.int64) if a.dtype.kind in "iu" else a.astype(np.float32)
        h.update(key.encode())
        h.update(str(a.shape).encode())
        h.update(np.ascontiguousarray(a).tobytes())
    return h.hexdigest()


def load_model(path: str | os.PathLike, *, n_shape_total: int = 300) -> FlameModelData:
    """Load a FLAME model (``.pkl`` as distributed, or a dense ``.npz``) or the stand-in."""
    path = Path(path)
    require_file(path, "a FLAME model (generic_model.pkl, flame2023*.pkl or a dense .npz)")
    if path.suffix == ".npz":
        raw = read_npz(path, "dense FLAME model .npz (numeric arrays only)", ModelFileError)
    elif path.suffix == ".pkl":
        raw = load_pickle_file(path, "a FLAME .pkl")
        if not isinstance(raw, dict):
            raise ModelFileError(f"{path}: expected a pickled dict of FLAME arrays, got {type(raw).__name__}")
    else:
        raise ModelFileError(f"{path}: unknown model file type '{path.suffix}'; expected .pkl or .npz")
    return FlameModelData.from_arrays(raw, name=path.name, source=str(path), n_shape_total=n_shape_total)


def default_vertex_colors(v_template: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """``(V, 3)`` albedo for models without colors (FLAME): skin, and eyeballs (vertices driven by
    the eye joints 3 and 4) white with an iris and pupil around their forward (+z) pole."""
    colors = np.tile(np.asarray(SKIN), (len(v_template), 1))
    for joint in (3, 4):
        ids = np.nonzero(weights[:, joint] > 0.5)[0]
        if len(ids) < 4:
            continue
        e = v_template[ids]
        c = 0.5 * (e.max(0) + e.min(0))
        d = e - c
        ang = np.degrees(np.arccos(np.clip(d[:, 2] / np.maximum(np.linalg.norm(d, axis=1), 1e-12), -1, 1)))
        col = np.tile([0.95, 0.94, 0.92], (len(ids), 1))
        col[ang < 34] = [0.33, 0.45, 0.58]
        col[ang < 14] = [0.05, 0.05, 0.06]
        colors[ids] = col
    return colors


# ----------------------------------------------------------------------------------------------
# Writers (the stand-in and conversions; atomic)
# ----------------------------------------------------------------------------------------------
class _FakeCh:
    """Pickles like a chumpy ``Ch``: global ``chumpy.ch.Ch`` plus its ``__dict__`` (array under 'x')."""

    def __init__(self, x: np.ndarray) -> None:
        self.x = x
        self._dirty_vars = set()
        self._itr = None


class _LegacyPickler(pickle._Pickler):  # noqa: SLF001 - the pure-Python pickler lets us name globals
    """Writes ``_FakeCh`` as ``chumpy.ch.Ch`` and csc matrices as ``scipy.sparse.csc.csc_matrix``,
    the names found in the distributed FLAME pickles."""

    _NAMES = {_FakeCh: b"chumpy.ch\nCh\n", scipy.sparse.csc_matrix: b"scipy.sparse.csc\ncsc_matrix\n"}

    def save_global(self, obj: Any, name: str | None = None) -> None:
        if obj in self._NAMES:
            self.write(pickle.GLOBAL + self._NAMES[obj])
            self.memoize(obj)
            return
        super().save_global(obj, name)

    def reducer_override(self, obj: Any) -> Any:
        if isinstance(obj, scipy.sparse.csc_matrix):
            state = {"_shape": obj.shape, "data": obj.data, "indices": obj.indices, "indptr": obj.indptr,
                     "maxprint": 50}
            return copyreg._reconstructor, (scipy.sparse.csc_matrix, object, None), state  # noqa: SLF001
        return NotImplemented


def write_model_pkl(model: FlameModelData, path: str | os.PathLike, protocol: int = 2) -> None:
    """FLAME ``generic_model.pkl`` layout: ``shapedirs`` as a chumpy-shaped object, ``J_regressor``
    as ``scipy.sparse.csc.csc_matrix``; protocol 2 like the distributed files (protocol 0/1 write
    Python-2 names such as ``copy_reg._reconstructor`` and ``__builtin__.object``)."""
    raw = model.to_raw()
    raw["shapedirs"] = _FakeCh(raw["shapedirs"])
    raw["J_regressor"] = scipy.sparse.csc_matrix(raw["J_regressor"])
    buf = io.BytesIO()
    _LegacyPickler(buf, protocol=protocol).dump(raw)
    atomic_write_bytes(path, lambda f: f.write(buf.getvalue()))


def write_model_npz(model: FlameModelData, path: str | os.PathLike) -> None:
    """Dense ``.npz`` with FLAME keys (smplx's ``FLAME_NEUTRAL.npz`` layout), no pickled objects."""
    raw = model.to_raw()
    raw = {k: np.asarray(v) for k, v in raw.items()}
    atomic_write_bytes(path, lambda f: np.savez(f, **raw))


