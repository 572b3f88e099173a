"""Mesh export: Wavefront OBJ and binary PLY (vertices, faces, optional vertex colors)."""

from __future__ import annotations

import io
import os
from pathlib import Path

import numpy as np

from flame.io import atomic_write_bytes

__all__ = ["write_obj", "write_ply", "read_obj"]


def write_obj(path: str | os.PathLike, vertices: np.ndarray, faces: np.ndarray, colors: np.ndarray | None = None,
              comment: str = "") -> Path:
    """``vertices (V, 3)`` metres, ``faces (F, 3)`` 0-based, optional ``colors (V, 3)`` in [0, 1]
    (written as the common ``v x y z r g b`` extension)."""
    v = np.asarray(vertices, dtype=np.float64)
    f = np.asarray(faces, dtype=np.int64) + 1
    buf = io.StringIO()
    for line in comment.splitlines():
        buf.write(f"# {line}\n")
    if colors is None:
        np.savetxt(buf, v, fmt="v %.6f %.6f %.6f")
    else:
        np.savetxt(buf, np.concatenate([v, np.asarray(colors, np.float64)], 1), fmt="v %.6f %.6f %.6f %.4f %.4f %.4f")
    np.savetxt(buf, f, fmt="f %d %d %d")
    atomic_write_bytes(path, lambda fh: fh.write(buf.getvalue().encode()))
    return Path(path)


def write_ply(path: str | os.PathLike, vertices: np.ndarray, faces: np.ndarray, colors: np.ndarray | None = None) -> Path:
    """Binary little-endian PLY with float32 vertices, optional uchar colors, int32 faces."""
    v = np.asarray(vertices, dtype="<f4")
    f = np.asarray(faces, dtype="<i4")
    header = ["ply", "format binary_little_endian 1.0", f"element vertex {len(v)}",
              "property float x", "property float y", "property float z"]
    if colors is not None:
        header += ["property uchar red", "property uchar green", "property uchar blue"]
    header += [f"element face {len(f)}", "property list uchar int vertex_indices", "end_header"]
    if colors is not None:
        c = (np.clip(np.asarray(colors), 0, 1) * 255 + 0.5).astype(np.uint8)
        vdt = np.dtype([("p", "<f4", 3), ("c", "u1", 3)])
        vrec = np.empty(len(v), vdt)
        vrec["p"], vrec["c"] = v, c
    else:
        vrec = v
    frec = np.empty(len(f), np.dtype([("n", "u1"), ("i", "<i4", 3)]))
    frec["n"], frec["i"] = 3, f
    data = ("\n".join(header) + "\n").encode() + vrec.tobytes() + frec.tobytes()
    atomic_write_bytes(path, lambda fh: fh.write(data))
    return Path(path)


def read_obj(path: str | os.PathLike) -> tuple[np.ndarray, np.ndarray]:
    """Vertices ``(V, 3)`` and 0-based triangle faces ``(F, 3)`` of an OBJ (ignores other records)."""
    verts, faces = [], []
    for line in Path(path).read_text().splitlines():
        parts = line.split()
        if not parts:
            continue
        if parts[0] == "v":
            verts.append([float(x) for x in parts[1:4]])
        elif parts[0] == "f":
            faces.append([int(p.split("/")[0]) - 1 for p in parts[1:4]])
    return np.array(verts), np.array(faces, dtype=np.int64)
