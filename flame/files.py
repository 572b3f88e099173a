"""Atomic file writing and safe ``.npz`` reading, shared by every module that writes results.

A crash never leaves a half-written file under the final name: everything is written to a temporary
file in the same folder, flushed to disk and renamed. ``.npz`` files are read without unpickling.
"""

from __future__ import annotations

import io
import json
import os
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Callable, Iterator

import numpy as np

from flame.errors import InputError

__all__ = ["atomic_write_bytes", "atomic_write_text", "atomic_write_json", "atomic_path", "read_npz"]


@contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """A temporary path beside ``path`` (same suffix) for a writer that needs a file name (e.g. a video
    encoder); on success it is renamed to ``path``, on failure removed."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.stem}.tmp{os.getpid()}{path.suffix}")
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


def atomic_write_bytes(path: str | os.PathLike, write: Callable[[io.BufferedWriter], None]) -> None:
    """Call ``write(f)`` on a temporary file in the same folder, flush it to disk, then rename it to
    ``path``."""
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())


def atomic_write_text(path: str | os.PathLike, text: str) -> None:
    """Write ``text`` (UTF-8) atomically."""
    data = text.encode()
    atomic_write_bytes(path, lambda f: f.write(data))


def atomic_write_json(path: str | os.PathLike, obj: Any) -> None:
    """Write ``obj`` as indented JSON atomically."""
    atomic_write_text(path, json.dumps(obj, indent=2))


#: the first bytes of a zip archive (a .npz), and of an empty one
_ZIP_MAGIC = (b"PK\x03\x04", b"PK\x05\x06")


def read_npz(path: str | os.PathLike, what: str, error: type[Exception] = InputError) -> dict[str, np.ndarray]:
    """All arrays of a ``.npz`` without unpickling anything; a missing file raises
    :class:`FileNotFoundError`, a corrupt or pickle-holding one ``error``, both naming ``what`` it should be."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such {what}")
    with open(path, "rb") as f:
        magic = f.read(4)
    if magic not in _ZIP_MAGIC:
        raise error(f"{path}: not a {what} - not a valid .npz (a .npz is a zip archive of arrays; this file is "
                    f"{path.stat().st_size} bytes of something else)")
    try:
        with np.load(path, allow_pickle=False) as z:
            return {k: z[k] for k in z.files}
    except ValueError as e:
        if "pickle" not in str(e):
            raise error(f"{path}: not a {what} - a corrupt .npz ({e})") from None
        raise error(f"{path}: not a {what} - it holds pickled objects, which are never loaded from files (they can "
                    f"run code); save plain arrays") from None
    except Exception as e:
        raise error(f"{path}: not a {what} - not a readable .npz ({type(e).__name__}: {e})") from None
