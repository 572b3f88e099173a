"""Landmark embeddings on the FLAME mesh and their file formats.

* DECA / EMOCA / NeuFace ``landmark_embedding.npy``: a pickled dict whose contour parts are torch
  tensors (read by the restricted unpickler, :mod:`flame.unpickle`);
* RingNet's ``flame_static_embedding.pkl`` + ``flame_dynamic_embedding.npy``.

Both give the 51 static points, the 79 x 17 yaw-dependent contour table and the fixed "full" 68.

* ``mediapipe_landmark_embedding.npz`` (the format FLAME-based trackers use for MediaPipe's face mesh):
  ``lmk_face_idx (K,)`` faces, ``lmk_b_coords (K, 3)`` barycentric coordinates and ``landmark_indices (K,)``
  the mesh points (of MediaPipe's 478) they stand for - :class:`MeshPointEmbedding`.
"""

from __future__ import annotations

import os
import pickle
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from flame.errors import ModelFileError
from flame.files import atomic_write_bytes
from flame.model import FLAME_DOWNLOAD_HINT, require_file
from flame.unpickle import load_npy, load_pickle_file

__all__ = ["LandmarkEmbedding", "load_landmark_embedding", "load_ringnet_embedding", "find_landmark_embedding",
           "write_deca_embedding", "write_ringnet_embedding", "MeshPointEmbedding", "MEDIAPIPE_EMBEDDING",
           "load_mesh_point_embedding", "write_mesh_point_embedding", "find_mesh_point_embedding"]

#: the file name of the MediaPipe-point embedding next to a model file
MEDIAPIPE_EMBEDDING = "mediapipe_landmark_embedding.npz"


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
    require_file(static_path, "RingNet's flame_static_embedding.pkl")
    st = load_pickle_file(static_path, "RingNet's flame_static_embedding.pkl")
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


@dataclass(frozen=True, eq=False)
class MeshPointEmbedding:
    """Barycentric embedding of a detector's dense points on the head model (MediaPipe's face mesh).

    Attributes:
        faces: ``(K,)`` face index of each embedded point.
        bary: ``(K, 3)`` barycentric coordinates (non-negative, summing to 1).
        point_ids: ``(K,)`` which detector point each one is (an index into the detector's ``P`` points),
            all different.
    """

    faces: np.ndarray
    bary: np.ndarray
    point_ids: np.ndarray

    def validate(self, n_faces: int, n_points: int, source: str = "mesh-point embedding") -> None:
        k = len(self.faces)
        for key, shape in (("faces", (k,)), ("bary", (k, 3)), ("point_ids", (k,))):
            if getattr(self, key).shape != shape:
                raise ModelFileError(f"{source}: '{key}' has shape {getattr(self, key).shape}, expected {shape}")
        if k == 0:
            raise ModelFileError(f"{source}: no points")
        if self.faces.min() < 0 or self.faces.max() >= n_faces:
            raise ModelFileError(f"{source}: faces up to {self.faces.max()}, but the model has {n_faces} faces; the "
                                 "embedding belongs to a different mesh")
        if self.point_ids.min() < 0 or self.point_ids.max() >= n_points or len(np.unique(self.point_ids)) != k:
            raise ModelFileError(f"{source}: point indices must be distinct and in [0, {n_points})")
        if not np.isfinite(self.bary).all() or (self.bary < -1e-6).any() or not np.allclose(self.bary.sum(1), 1, atol=1e-4):
            raise ModelFileError(f"{source}: barycentric coordinates must be non-negative and sum to 1")


def load_mesh_point_embedding(path: str | os.PathLike) -> MeshPointEmbedding:
    """``mediapipe_landmark_embedding.npz``: ``lmk_face_idx``, ``lmk_b_coords``, ``landmark_indices`` (no pickles)."""
    from flame.files import read_npz

    path = Path(path)
    d = read_npz(path, "MediaPipe landmark embedding", ModelFileError)
    keys = ("lmk_face_idx", "lmk_b_coords", "landmark_indices")
    if any(k not in d for k in keys):
        raise ModelFileError(f"{path}: not a MediaPipe landmark embedding; expected arrays {list(keys)}, found "
                             f"{sorted(d)}")
    try:
        return MeshPointEmbedding(np.asarray(d["lmk_face_idx"], np.int64).reshape(-1),
                                  np.asarray(d["lmk_b_coords"], np.float64).reshape(-1, 3),
                                  np.asarray(d["landmark_indices"], np.int64).reshape(-1))
    except (TypeError, ValueError) as e:
        raise ModelFileError(f"{path}: malformed MediaPipe landmark embedding ({e})") from None


def write_mesh_point_embedding(emb: MeshPointEmbedding, path: str | os.PathLike, model_sha256: str | None = None) -> None:
    """Write ``emb`` in the trackers' ``mediapipe_landmark_embedding.npz`` layout (plus, when given, the hash
    of the model file it belongs to as ``model_sha256``; readers of the layout ignore it)."""
    extra = {"model_sha256": np.array(model_sha256)} if model_sha256 else {}
    atomic_write_bytes(path, lambda f: np.savez(f, lmk_face_idx=emb.faces.astype(np.uint32),
                                                lmk_b_coords=emb.bary.astype(np.float64),
                                                landmark_indices=emb.point_ids.astype(np.int64), **extra))


def find_mesh_point_embedding(model_path: str | os.PathLike) -> Path | None:
    """``mediapipe_landmark_embedding.npz`` next to a model file, or None."""
    path = Path(model_path).parent / MEDIAPIPE_EMBEDDING
    return path if path.is_file() else None
