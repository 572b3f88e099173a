"""Mesh export: Wavefront OBJ, binary PLY and glTF binary (GLB) (vertices, faces, optional vertex colors)."""

from __future__ import annotations

import io
import json
import os
import struct
from pathlib import Path

import numpy as np
import torch

from flame.files import atomic_write_bytes
from flame.layer import FlameLayer
from flame.normals import vertex_normals
from flame.sequence import FlameSequence, sequence_to_params

__all__ = ["write_obj", "write_ply", "read_obj", "write_glb", "read_glb", "export_meshes", "MESH_FORMATS"]

#: the formats :func:`export_meshes` writes
MESH_FORMATS = ("obj", "ply", "glb")


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


_GLB_MAGIC, _JSON, _BIN = 0x46546C67, 0x4E4F534A, 0x004E4942


def write_glb(path: str | os.PathLike, vertices: np.ndarray, faces: np.ndarray, colors: np.ndarray | None = None) -> Path:
    """A single-mesh glTF 2.0 binary: float32 positions (metres, +y up as glTF) and smooth normals,
    uint32 triangle indices, optional ``colors (V, 3)`` in [0, 1] as ``COLOR_0``."""
    v = np.ascontiguousarray(vertices, "<f4")
    f = np.ascontiguousarray(faces, "<u4")
    normals = vertex_normals(torch.from_numpy(v.astype(np.float64))[None], torch.from_numpy(f.astype(np.int64)))[0]
    arrays = [("POSITION", v), ("NORMAL", normals.numpy().astype("<f4"))]
    if colors is not None:
        arrays.append(("COLOR_0", np.ascontiguousarray(np.clip(colors, 0, 1), "<f4")))
    blobs, views, accessors, attributes, offset = [], [], [], {}, 0
    for i, (name, a) in enumerate(arrays + [("indices", f.reshape(-1))]):
        data = a.tobytes()
        views.append({"buffer": 0, "byteOffset": offset, "byteLength": len(data),
                      "target": 34963 if name == "indices" else 34962})
        acc = {"bufferView": i, "componentType": 5125 if name == "indices" else 5126, "count": int(len(a)),
               "type": "SCALAR" if name == "indices" else "VEC3"}
        if name == "POSITION":
            acc |= {"min": v.min(0).tolist(), "max": v.max(0).tolist()}
        accessors.append(acc)
        if name != "indices":
            attributes[name] = i
        blobs.append(data)
        offset += len(data)  # every element is 4-byte aligned already
    doc = {"asset": {"version": "2.0", "generator": "neuface-motion-suite"}, "scene": 0, "scenes": [{"nodes": [0]}],
           "nodes": [{"mesh": 0}], "meshes": [{"primitives": [{"attributes": attributes, "indices": len(arrays),
                                                                "mode": 4}]}],
           "buffers": [{"byteLength": offset}], "bufferViews": views, "accessors": accessors}
    js = json.dumps(doc, separators=(",", ":")).encode()
    js += b" " * (-len(js) % 4)
    binary = b"".join(blobs)
    binary += b"\0" * (-len(binary) % 4)
    total = 12 + 8 + len(js) + 8 + len(binary)
    data = (struct.pack("<III", _GLB_MAGIC, 2, total) + struct.pack("<II", len(js), _JSON) + js
            + struct.pack("<II", len(binary), _BIN) + binary)
    atomic_write_bytes(path, lambda fh: fh.write(data))
    return Path(path)


def read_glb(path: str | os.PathLike) -> dict[str, np.ndarray]:
    """The first primitive of a GLB written by :func:`write_glb`: its attributes (``POSITION``,
    ``NORMAL``, ``COLOR_0`` as ``(V, 3)``) and ``faces (F, 3)``."""
    raw = Path(path).read_bytes()
    magic, version, total = struct.unpack_from("<III", raw, 0)
    if magic != _GLB_MAGIC or version != 2 or total != len(raw):
        raise ValueError(f"{path}: not a glTF 2.0 binary")
    n_js, _ = struct.unpack_from("<II", raw, 12)
    doc = json.loads(raw[20:20 + n_js])
    n_bin, _ = struct.unpack_from("<II", raw, 20 + n_js)
    binary = raw[28 + n_js:28 + n_js + n_bin]

    def accessor(i: int) -> np.ndarray:
        acc = doc["accessors"][i]
        view = doc["bufferViews"][acc["bufferView"]]
        dtype = "<u4" if acc["componentType"] == 5125 else "<f4"
        a = np.frombuffer(binary, dtype, offset=view["byteOffset"], count=view["byteLength"] // 4)
        return a.reshape(-1, 3) if acc["type"] == "VEC3" else a

    prim = doc["meshes"][0]["primitives"][0]
    out = {name: accessor(i) for name, i in prim["attributes"].items()}
    out["faces"] = accessor(prim["indices"]).reshape(-1, 3).astype(np.int64)
    return out


def export_meshes(layer: FlameLayer, seq: FlameSequence, frames: list[int], folder: str | os.PathLike,
                  view: int = 0, fmt: str = "obj") -> list[Path]:
    """Mesh files (``fmt``: one of :data:`MESH_FORMATS`) of chosen ``frames`` of one view, posed in the view's
    camera-aligned frame (metres), named ``<view>_<frame id>.<fmt>``; OBJ files name the model, frame and view."""
    if fmt not in MESH_FORMATS:
        raise ValueError(f"mesh format {fmt!r}: choose one of {MESH_FORMATS}")
    folder = Path(folder)
    t = np.asarray(frames, dtype=int)
    if (t < 0).any() or (t >= seq.n_frames).any():
        raise ValueError(f"frames {frames} outside the sequence (0..{seq.n_frames - 1})")
    with torch.no_grad():
        verts = layer(sequence_to_params(seq, layer, view, t)).vertices.double().cpu().numpy()
    faces = layer.faces.cpu().numpy()
    colors = None if layer.vertex_colors is None else layer.vertex_colors.double().cpu().numpy()
    paths = []
    for i, ti in enumerate(t):
        name = folder / f"{seq.view_names[view]}_{int(seq.frame_ids[ti]):05d}.{fmt}"
        if fmt == "obj":
            note = f"{seq.model}\nframe {int(seq.frame_ids[ti])}, view {seq.view_names[view]}, metres, FLAME frame"
            paths.append(write_obj(name, verts[i], faces, colors, comment=note))
        else:
            paths.append((write_ply if fmt == "ply" else write_glb)(name, verts[i], faces, colors))
    return paths
