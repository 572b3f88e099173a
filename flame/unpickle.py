"""Restricted unpickling for FLAME-ecosystem files: data only, never code.

FLAME's ``generic_model.pkl`` (Python-2 pickles of chumpy objects and ``scipy.sparse`` matrices),
RingNet's embeddings and DECA's ``landmark_embedding.npy`` (a pickled dict holding torch tensors) are
pickles, and a pickle can run any code when loaded. :class:`RestrictedUnpickler` allows only the
globals such files use (numpy arrays, chumpy and scipy.sparse objects as stubs, torch tensors) and
refuses everything else, e.g. ``os.system``, with :class:`~flame.errors.UnsafePickleError`. No chumpy
needed, any numpy.
"""

from __future__ import annotations

import _compat_pickle
import codecs
import io
import os
import pickle
from collections import OrderedDict
from pathlib import Path
from typing import Any

import numpy as np
import scipy.sparse

from flame.errors import ModelFileError, UnsafePickleError

__all__ = ["RestrictedUnpickler", "restricted_load", "load_pickle_file", "load_npy"]


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


def _storage_from_bytes(data: bytes, source: str) -> Any:
    import torch

    try:
        return torch.load(io.BytesIO(data), weights_only=True)
    except pickle.UnpicklingError:  # torch's message suggests loading unsafely: not advice we pass on
        raise UnsafePickleError(f"{source}: refusing to load a torch storage that holds more than tensor data; it may "
                                "be malicious or not a FLAME/landmark file.") from None


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
                return lambda data: _storage_from_bytes(data, self.source)
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


def load_pickle_file(path: Path, what: str) -> Any:
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
    if not path.is_file():
        raise FileNotFoundError(f"{path}: file not found; expected a .npy file")
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
