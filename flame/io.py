"""Reading and writing FLAME model files and landmark embeddings, exactly as users have them.

Supported inputs
----------------
* FLAME 2020 ``generic_model.pkl`` (and the male/female files), FLAME 2023 ``flame2023.pkl``,
  ``flame2023_no_jaw.pkl``, ``flame2023_Open.pkl``: Python-2 pickles holding chumpy objects and a
  ``scipy.sparse`` ``J_regressor``. They are read by :class:`RestrictedUnpickler`, which needs no
  chumpy, works with any numpy and refuses every global outside a short allow-list.
* A dense ``.npz`` with the same keys (smplx's ``FLAME_NEUTRAL.npz`` layout).
* DECA / EMOCA / NeuFace ``landmark_embedding.npy`` (a pickled dict holding torch tensors) and
  RingNet's ``flame_static_embedding.pkl`` + ``flame_dynamic_embedding.npy``.

Licensed files are never downloaded. The procedural stand-in (:mod:`flame.standin`) is written in
the same layouts and read by the same code.
"""

from __future__ import annotations

import _compat_pickle
import codecs
import copyreg
import hashlib
import io
import os
import pickle
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np
import scipy.sparse

__all__ = [
    "FlameModelData",
    "LandmarkEmbedding",
    "ModelFileError",
    "UnsafePickleError",
    "RestrictedUnpickler",
    "restricted_load",
    "load_npy",
    "load_model",
    "load_landmark_embedding",
    "load_ringnet_embedding",
    "find_landmark_embedding",
    "write_model_pkl",
    "write_model_npz",
    "write_deca_embedding",
    "write_ringnet_embedding",
    "atomic_write_bytes",
    "read_npz",
    "FLAME_DOWNLOAD_HINT",
]

FLAME_DOWNLOAD_HINT = (
    "FLAME is licensed: register at https://flame.is.tue.mpg.de and download it yourself (DECA's "
    "landmark_embedding.npy ships with DECA, the RingNet embeddings with RingNet/smplx examples); "
    "or build the procedural stand-in with `python -m flame standin --out DIR`."
)
STANDIN_KEY = "neuface_standin"
REQUIRED_MODEL_KEYS = ("v_template", "f", "shapedirs", "posedirs", "J_regressor", "weights", "kintree_table")


class ModelFileError(ValueError):
    """A model or embedding file exists but is not what it should be."""


class UnsafePickleError(pickle.UnpicklingError):
    """A pickle referenced a global outside the allow-list (possibly malicious)."""


# ----------------------------------------------------------------------------------------------
# Restricted unpickling
# ----------------------------------------------------------------------------------------------
class _Stub:
    """Stand-in for a chumpy or scipy.sparse object: keeps the pickled state, nothing else."""

    kind = "stub"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.state: Any = None

    def __setstate__(self, state: Any) -> None:
        self.state = state


class _ChumpyStub(_Stub):
    kind = "chumpy"


class _CscStub(_Stub):
    kind = "csc"


class _CsrStub(_Stub):
    kind = "csr"


def _reconstructor(cls: type, base: type, state: Any) -> Any:
    """Safe ``copyreg._reconstructor`` restricted to our stubs and plain ``object``."""
    if isinstance(cls, type) and issubclass(cls, _Stub) and base is object:
        return cls()
    raise UnsafePickleError(f"refusing to reconstruct {cls!r}")


def _rebuild_tensor(storage: Any, offset: int, size: tuple, stride: tuple, *rest: Any) -> Any:
    import torch._utils

    return torch._utils._rebuild_tensor_v2(storage, offset, size, stride, False, OrderedDict())


def _storage_from_bytes(data: bytes) -> Any:
    import torch

    return torch.load(io.BytesIO(data), weights_only=True)


def _numpy_allowed() -> dict[tuple[str, str], Any]:
    """numpy globals that appear in pickled arrays (numpy 1.x and 2.x names)."""
    from numpy._core import multiarray, numeric

    allowed: dict[tuple[str, str], Any] = {("numpy", "ndarray"): np.ndarray, ("numpy", "dtype"): np.dtype}
    for mod in ("numpy.core.multiarray", "numpy._core.multiarray"):
        allowed[(mod, "_reconstruct")] = multiarray._reconstruct  # noqa: SLF001
        allowed[(mod, "scalar")] = multiarray.scalar
    for mod in ("numpy.core.numeric", "numpy._core.numeric"):
        allowed[(mod, "_frombuffer")] = numeric._frombuffer  # noqa: SLF001
    return allowed


class RestrictedUnpickler(pickle.Unpickler):
    """Unpickler for FLAME-ecosystem files that allows only data, never code.

    Allowed globals: numpy array reconstruction, ``copyreg._reconstructor`` for our stubs, chumpy
    classes (mapped to a stub that keeps the pickled ``__dict__``; the array is under ``'x'``),
    ``scipy.sparse`` csc/csr matrices under their old (``scipy.sparse.csc``) and new names (mapped to
    a stub rebuilt from ``data/indices/indptr/_shape``), ``collections.OrderedDict``, and - when
    ``allow_torch`` - torch tensor/storage rebuilding with the storages loaded by
    ``torch.load(weights_only=True)``. Anything else (``os.system``, ``builtins.eval``...) raises
    :class:`pickle.UnpicklingError` naming the global.
    """

    def __init__(self, file: Any, *, source: str = "<stream>", allow_torch: bool = False) -> None:
        super().__init__(file, encoding="latin1")
        self.source = source
        self.allow_torch = allow_torch

    def find_class(self, module: str, name: str) -> Any:
        # Python-2 names (copy_reg, __builtin__) -> Python-3 names, as the default find_class does.
        if (module, name) in _compat_pickle.NAME_MAPPING:
            module, name = _compat_pickle.NAME_MAPPING[(module, name)]
        elif module in _compat_pickle.IMPORT_MAPPING:
            module = _compat_pickle.IMPORT_MAPPING[module]
        if module == "chumpy" or module.startswith("chumpy."):
            return _ChumpyStub
        if module.startswith("scipy.sparse") and name in ("csc_matrix", "csr_matrix"):
            return _CscStub if name == "csc_matrix" else _CsrStub
        if (module, name) == ("copyreg", "_reconstructor"):
            return _reconstructor
        if module == "builtins" and name in ("object", "set", "frozenset", "slice", "complex"):
            return {"object": object, "set": set, "frozenset": frozenset, "slice": slice, "complex": complex}[name]
        if (module, name) == ("collections", "OrderedDict"):
            return OrderedDict
        if (module, name) == ("_codecs", "encode"):  # how protocol-2 pickles from Python 3 store bytes
            return codecs.encode
        allowed = _numpy_allowed()
        if (module, name) in allowed:
            return allowed[(module, name)]
        if self.allow_torch:
            if (module, name) in (("torch._utils", "_rebuild_tensor_v2"), ("torch._utils", "_rebuild_tensor")):
                return _rebuild_tensor
            if (module, name) == ("torch.storage", "_load_from_bytes"):
                return _storage_from_bytes
        raise UnsafePickleError(
            f"{self.source}: refusing to load '{module}.{name}'. Only FLAME-style data (numpy arrays, "
            f"chumpy arrays, scipy sparse matrices, torch tensors) may appear in this file; it may be "
            f"malicious or not a FLAME/landmark file."
        )


def _resolve_stubs(obj: Any, where: str) -> Any:
    """Replace stubs by numpy arrays / scipy matrices, recursively through dicts and lists."""
    if isinstance(obj, _ChumpyStub):
        state = obj.state if isinstance(obj.state, dict) else {}
        if "x" not in state:
            raise ModelFileError(f"{where}: a chumpy object without an 'x' array (keys {sorted(state)})")
        return np.asarray(_resolve_stubs(state["x"], where))
    if isinstance(obj, (_CscStub, _CsrStub)):
        st = obj.state if isinstance(obj.state, dict) else {}
        try:
            shape = tuple(st.get("_shape", st.get("shape")))
            parts = (np.asarray(st["data"]), np.asarray(st["indices"]), np.asarray(st["indptr"]))
        except (KeyError, TypeError) as e:
            raise ModelFileError(f"{where}: malformed sparse matrix state ({e})") from None
        cls = scipy.sparse.csc_matrix if isinstance(obj, _CscStub) else scipy.sparse.csr_matrix
        return cls(parts, shape=shape)
    if isinstance(obj, dict):
        return type(obj)((k, _resolve_stubs(v, f"{where}[{k!r}]")) for k, v in obj.items())
    if isinstance(obj, list):
        return [_resolve_stubs(v, where) for v in obj]
    if isinstance(obj, tuple):
        return tuple(_resolve_stubs(v, where) for v in obj)
    return obj


def restricted_load(file: Any, *, source: str = "<stream>", allow_torch: bool = False) -> Any:
    """Unpickle ``file`` (a binary stream) with :class:`RestrictedUnpickler` and resolve stubs."""
    return _resolve_stubs(RestrictedUnpickler(file, source=source, allow_torch=allow_torch).load(), source)


def _load_pickle_file(path: Path, what: str) -> Any:
    """Restricted-unpickle a file; a refused global stays an :class:`UnsafePickleError`, any other
    failure (truncated, not a pickle) becomes a :class:`ModelFileError` naming ``what`` was expected."""
    with open(path, "rb") as f:
        try:
            return restricted_load(f, source=str(path))
        except UnsafePickleError:
            raise
        except Exception as e:
            raise ModelFileError(f"{path}: cannot unpickle ({type(e).__name__}: {e}); expected {what}") from None


def load_npy(path: str | os.PathLike, *, allow_torch: bool = False) -> Any:
    """Read a ``.npy`` file; object arrays (pickled dicts) go through the restricted unpickler.

    Returns the array, or for a 0-d object array its single item.
    """
    path = Path(path)
    _require_file(path, "a .npy file")
    with open(path, "rb") as f:
        try:
            version = np.lib.format.read_magic(f)
            read_header = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
            shape, fortran, dtype = read_header(f)
        except ValueError as e:
            raise ModelFileError(f"{path}: not a .npy file ({e})") from None
        if dtype.hasobject:
            try:
                arr = restricted_load(f, source=str(path), allow_torch=allow_torch)
            except UnsafePickleError:
                raise
            except Exception as e:  # truncated or corrupt
                raise ModelFileError(f"{path}: cannot read the pickled content ({type(e).__name__}: {e})") from None
            return arr.item() if isinstance(arr, np.ndarray) and arr.shape == () else arr
    return np.load(path, allow_pickle=False)


def _require_file(path: Path, what: str) -> None:
    if not path.is_file():
        raise FileNotFoundError(f"{path}: file not found; expected {what}. {FLAME_DOWNLOAD_HINT}")


# ----------------------------------------------------------------------------------------------
# Model data
# ----------------------------------------------------------------------------------------------
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
    _require_file(path, "a FLAME model (generic_model.pkl, flame2023*.pkl or a dense .npz)")
    if path.suffix == ".npz":
        raw = read_npz(path, "dense FLAME model .npz (numeric arrays only)")
    elif path.suffix == ".pkl":
        raw = _load_pickle_file(path, "a FLAME .pkl")
        if not isinstance(raw, dict):
            raise ModelFileError(f"{path}: expected a pickled dict of FLAME arrays, got {type(raw).__name__}")
    else:
        raise ModelFileError(f"{path}: unknown model file type '{path.suffix}'; expected .pkl or .npz")
    return FlameModelData.from_arrays(raw, name=path.name, source=str(path), n_shape_total=n_shape_total)


# ----------------------------------------------------------------------------------------------
# Landmark embeddings
# ----------------------------------------------------------------------------------------------
@dataclass(frozen=True, eq=False)
class LandmarkEmbedding:
    """Barycentric landmark embedding on the FLAME mesh (iBUG-68 order).

    Attributes:
        static_faces: ``(51,)`` face index of iBUG points 17..67.
        static_bary: ``(51, 3)`` barycentric coordinates.
        dynamic_faces: ``(79, 17)`` contour faces per yaw row (rows 0..39 = yaw 0..39 degrees,
            40..78 = yaw -1..-39 degrees, DECA sign convention).
        dynamic_bary: ``(79, 17, 3)``.
        full_faces: ``(68,)`` the fixed "full" embedding used for 3D landmarks.
        full_bary: ``(68, 3)``.
    """

    static_faces: np.ndarray
    static_bary: np.ndarray
    dynamic_faces: np.ndarray
    dynamic_bary: np.ndarray
    full_faces: np.ndarray
    full_bary: np.ndarray

    def validate(self, n_faces: int, source: str = "landmark embedding") -> None:
        want = {"static_faces": (51,), "static_bary": (51, 3), "dynamic_faces": (79, 17),
                "dynamic_bary": (79, 17, 3), "full_faces": (68,), "full_bary": (68, 3)}
        for key, shape in want.items():
            got = getattr(self, key).shape
            if got != shape:
                raise ModelFileError(f"{source}: '{key}' has shape {got}, expected {shape}")
        for key in ("static_faces", "dynamic_faces", "full_faces"):
            a = getattr(self, key)
            if a.min() < 0 or a.max() >= n_faces:
                raise ModelFileError(
                    f"{source}: '{key}' indexes faces up to {a.max()}, but the model has {n_faces} faces; "
                    f"the embedding belongs to a different mesh"
                )


def _as_numpy(v: Any, dtype: Any) -> np.ndarray:
    if hasattr(v, "detach"):  # torch tensor
        v = v.detach().cpu().numpy()
    return np.asarray(v, dtype=dtype)


def load_landmark_embedding(path: str | os.PathLike) -> LandmarkEmbedding:
    """DECA/EMOCA/NeuFace ``landmark_embedding.npy`` (pickled dict; contour parts are torch tensors)."""
    path = Path(path)
    raw = load_npy(path, allow_torch=True)
    keys = ("static_lmk_faces_idx", "static_lmk_bary_coords", "dynamic_lmk_faces_idx",
            "dynamic_lmk_bary_coords", "full_lmk_faces_idx", "full_lmk_bary_coords")
    if not isinstance(raw, dict) or any(k not in raw for k in keys):
        found = sorted(raw) if isinstance(raw, dict) else type(raw).__name__
        raise ModelFileError(f"{path}: not a DECA landmark_embedding.npy; expected keys {list(keys)}, found {found}")
    return LandmarkEmbedding(
        static_faces=_as_numpy(raw["static_lmk_faces_idx"], np.int64).reshape(-1),
        static_bary=_as_numpy(raw["static_lmk_bary_coords"], np.float64).reshape(-1, 3),
        dynamic_faces=_as_numpy(raw["dynamic_lmk_faces_idx"], np.int64),
        dynamic_bary=_as_numpy(raw["dynamic_lmk_bary_coords"], np.float64),
        full_faces=_as_numpy(raw["full_lmk_faces_idx"], np.int64).reshape(-1),
        full_bary=_as_numpy(raw["full_lmk_bary_coords"], np.float64).reshape(-1, 3),
    )


def load_ringnet_embedding(static_path: str | os.PathLike, dynamic_path: str | os.PathLike) -> LandmarkEmbedding:
    """RingNet/smplx ``flame_static_embedding.pkl`` + ``flame_dynamic_embedding.npy``.

    RingNet has no separate "full" embedding; it is built as the yaw-0 contour row + the 51 static
    points, which is what DECA's full embedding contains for the released model.
    """
    static_path, dynamic_path = Path(static_path), Path(dynamic_path)
    _require_file(static_path, "RingNet's flame_static_embedding.pkl")
    st = _load_pickle_file(static_path, "RingNet's flame_static_embedding.pkl")
    if not isinstance(st, dict) or "lmk_face_idx" not in st or "lmk_b_coords" not in st:
        raise ModelFileError(f"{static_path}: expected a dict with 'lmk_face_idx' and 'lmk_b_coords'")
    dyn = load_npy(dynamic_path)
    if not isinstance(dyn, dict) or "lmk_face_idx" not in dyn or "lmk_b_coords" not in dyn:
        raise ModelFileError(f"{dynamic_path}: expected a dict with 'lmk_face_idx' (79x17) and 'lmk_b_coords'")
    static_faces = np.asarray(st["lmk_face_idx"], dtype=np.int64).reshape(-1)
    static_bary = np.asarray(st["lmk_b_coords"], dtype=np.float64).reshape(-1, 3)
    dyn_faces = np.asarray(dyn["lmk_face_idx"], dtype=np.int64)
    dyn_bary = np.asarray(dyn["lmk_b_coords"], dtype=np.float64)
    return LandmarkEmbedding(
        static_faces=static_faces, static_bary=static_bary, dynamic_faces=dyn_faces, dynamic_bary=dyn_bary,
        full_faces=np.concatenate([dyn_faces[0], static_faces]),
        full_bary=np.concatenate([dyn_bary[0], static_bary]),
    )


def find_landmark_embedding(model_path: str | os.PathLike) -> LandmarkEmbedding:
    """Find the embedding next to a model file: DECA's ``landmark_embedding.npy`` first, then
    RingNet's pair. Raises :class:`FileNotFoundError` naming both options."""
    folder = Path(model_path).parent
    deca = folder / "landmark_embedding.npy"
    if deca.is_file():
        return load_landmark_embedding(deca)
    st, dy = folder / "flame_static_embedding.pkl", folder / "flame_dynamic_embedding.npy"
    if st.is_file() and dy.is_file():
        return load_ringnet_embedding(st, dy)
    raise FileNotFoundError(
        f"no landmark embedding next to {model_path}: put DECA's landmark_embedding.npy, or RingNet's "
        f"flame_static_embedding.pkl + flame_dynamic_embedding.npy, in {folder}, or pass the path explicitly. "
        f"{FLAME_DOWNLOAD_HINT}"
    )


# ----------------------------------------------------------------------------------------------
# Writers (used for the stand-in and for conversions; atomic)
# ----------------------------------------------------------------------------------------------
def atomic_write_bytes(path: str | os.PathLike, write: Callable[[io.BufferedWriter], None]) -> None:
    """Write through a temporary file in the same folder, then rename: a crash never leaves a
    half-written file under ``path``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    try:
        with open(tmp, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


def read_npz(path: str | os.PathLike, what: str, error: type[Exception] = ModelFileError) -> dict[str, np.ndarray]:
    """All arrays of a ``.npz`` without unpickling anything; a missing file raises
    :class:`FileNotFoundError`, a corrupt or pickle-holding one ``error``, both naming ``what`` it should be."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such {what}")
    try:
        with np.load(path, allow_pickle=False) as z:
            return {k: z[k] for k in z.files}
    except ValueError as e:
        raise error(f"{path}: not a {what} - it holds pickled objects or is corrupt ({e})") from None
    except Exception as e:
        raise error(f"{path}: not a {what} - not a readable .npz ({type(e).__name__}: {e})") from None


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


def write_deca_embedding(emb: LandmarkEmbedding, path: str | os.PathLike) -> None:
    """DECA's ``landmark_embedding.npy``: a pickled dict whose contour arrays are torch tensors."""
    import torch

    d = {
        "static_lmk_faces_idx": emb.static_faces.astype(np.int64),
        "static_lmk_bary_coords": emb.static_bary.astype(np.float64),
        "dynamic_lmk_faces_idx": torch.from_numpy(emb.dynamic_faces.astype(np.int64)),
        "dynamic_lmk_bary_coords": torch.from_numpy(emb.dynamic_bary.astype(np.float32)),
        "full_lmk_faces_idx": emb.full_faces.astype(np.int64)[None],
        "full_lmk_bary_coords": emb.full_bary.astype(np.float64)[None],
    }
    atomic_write_bytes(path, lambda f: np.save(f, np.array(d, dtype=object), allow_pickle=True))


def write_ringnet_embedding(emb: LandmarkEmbedding, static_path: str | os.PathLike,
                            dynamic_path: str | os.PathLike) -> None:
    """RingNet's ``flame_static_embedding.pkl`` (dict of arrays) and ``flame_dynamic_embedding.npy``
    (0-d object array of a dict of lists)."""
    st = {"lmk_face_idx": emb.static_faces.astype(np.uint32), "lmk_b_coords": emb.static_bary.astype(np.float64)}
    dyn = {"lmk_face_idx": emb.dynamic_faces.astype(np.int64).tolist(),
           "lmk_b_coords": emb.dynamic_bary.astype(np.float64).tolist()}
    atomic_write_bytes(static_path, lambda f: pickle.dump(st, f, protocol=2))
    atomic_write_bytes(dynamic_path, lambda f: np.save(f, np.array(dyn, dtype=object), allow_pickle=True))
