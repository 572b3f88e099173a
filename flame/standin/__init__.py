"""The procedural stand-in head: a deterministic FLAME-format model that is *not* FLAME.

FLAME is licensed and cannot be downloaded on our machines, so the suite ships this stand-in: a
stylised head (~5k vertices / ~10k faces) in the exact FLAME file layout - 300 identity + 100
expression basis columns (leading ones semantic), 5 joints, 36 pose-corrective features, a sparse
joint regressor, LBS weights, separate eyeballs driven by the eye joints, and landmark embeddings in
DECA and RingNet formats (with a 79 x 17 contour table), and an embedding of MediaPipe's face-mesh points
(built from renders of the stand-in, :mod:`annotator.mediapipe_embedding`; shipped with the suite as
``mediapipe_landmark_embedding.npz`` and copied next to the model). It is written as a FLAME-layout pickle and
as a dense npz and read back through :func:`flame.model.load_model`, the same code path as real FLAME.
Everything built on it is labelled "stand-in".

Typical use::

    paths = flame.standin.ensure_standin("runs/assets/standin")
    layer = FlameLayer.from_files(paths.pkl)
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from flame.embedding import MEDIAPIPE_EMBEDDING, LandmarkEmbedding, write_deca_embedding, write_ringnet_embedding
from flame.files import atomic_write_bytes
from flame.model import FlameModelData, write_model_npz, write_model_pkl

__all__ = ["StandinPaths", "build_standin", "write_standin", "ensure_standin", "STANDIN_VERSION",
           "SHAPE_NAMES", "EXPRESSION_NAMES", "FULL_EXPRESSION"]

log = logging.getLogger(__name__)
STANDIN_VERSION = 1
#: the MediaPipe-point embedding of the seed-0 stand-in (its file records the model hash it belongs to)
SHIPPED_MEDIAPIPE_EMBEDDING = Path(__file__).with_name(MEDIAPIPE_EMBEDDING)
from flame.standin.bases import EXPRESSION_NAMES, FULL_EXPRESSION, SHAPE_NAMES  # noqa: E402


@dataclass(frozen=True)
class StandinPaths:
    """Files of a written stand-in (the names the FLAME ecosystem uses for each format)."""

    folder: Path

    @property
    def pkl(self) -> Path:
        return self.folder / "standin_head.pkl"

    @property
    def npz(self) -> Path:
        return self.folder / "standin_head.npz"

    @property
    def deca_embedding(self) -> Path:
        return self.folder / "landmark_embedding.npy"

    @property
    def ringnet_static(self) -> Path:
        return self.folder / "flame_static_embedding.pkl"

    @property
    def ringnet_dynamic(self) -> Path:
        return self.folder / "flame_dynamic_embedding.npy"

    @property
    def info(self) -> Path:
        return self.folder / "standin_info.json"

    @property
    def mediapipe_embedding(self) -> Path:
        """Present when the shipped embedding belongs to this stand-in (seed 0)."""
        return self.folder / MEDIAPIPE_EMBEDDING

    def all(self) -> list[Path]:
        return [self.pkl, self.npz, self.deca_embedding, self.ringnet_static, self.ringnet_dynamic, self.info]


def _vertex_colors(mesh) -> np.ndarray:
    """Skin, darker brows, redder lips; white eyeballs with iris and pupil around the +z pole."""
    from flame.standin.rig import gauss, mirror_abs

    p = mesh.vertices
    m = mirror_abs(p)
    skin = np.array([0.80, 0.64, 0.55])
    col = np.tile(skin, (len(p), 1))
    lips = np.maximum(gauss(p, (0, -0.034, 0.085), (0.021, 0.0055, 0.02)),
                      gauss(p, (0, -0.0475, 0.083), (0.018, 0.006, 0.02)))
    col = col * (1 - 0.8 * lips[:, None]) + 0.8 * lips[:, None] * np.array([0.70, 0.36, 0.36])
    brows = gauss(m, (0.031, 0.0525, 0.07), (0.015, 0.0035, 0.03)) * (m[:, 2] > 0.03) * np.clip((m[:, 0] - 0.008) / 0.008, 0, 1)
    col = col * (1 - 0.85 * brows[:, None]) + 0.85 * brows[:, None] * np.array([0.30, 0.22, 0.18])
    for sl in mesh.eye_slices:
        e = p[sl]
        c = 0.5 * (e[0] + e[-1])
        ang = np.degrees(np.arccos(np.clip((e - c)[:, 2] / np.linalg.norm(e - c, axis=1), -1, 1)))
        eye = np.tile([0.95, 0.94, 0.92], (len(e), 1))
        eye[ang < 34] = [0.33, 0.45, 0.58]
        eye[ang < 14] = [0.05, 0.05, 0.06]
        col[sl] = eye
    return col


def build_standin(seed: int = 0) -> tuple[FlameModelData, LandmarkEmbedding]:
    """Build the stand-in model and its landmark embedding in memory (deterministic, a few seconds)."""
    from flame.standin import bases, landmarks, mesh, rig

    rng = np.random.default_rng(seed)
    m = mesh.build_mesh(seed)
    w_jaw = rig.jaw_weight(m)
    weights = rig.skinning_weights(m, w_jaw)
    jreg = rig.joint_regressor(m)
    posedirs = rig.pose_correctives(m, w_jaw, rng)
    shapedirs = bases.shape_basis(m, rng)
    exprdirs = bases.expression_basis(m, w_jaw, rng)
    emb = landmarks.build_embedding(m, w_jaw)
    raw = {
        "v_template": m.vertices,
        "f": m.faces,
        "shapedirs": np.concatenate([shapedirs, exprdirs], axis=2),
        "posedirs": posedirs,
        "J_regressor": jreg,
        "weights": weights,
        "kintree_table": np.array([[-1, 0, 1, 1, 1], [0, 1, 2, 3, 4]]),
        "neuface_standin": "NeuFace Motion Suite procedural stand-in head; not FLAME",
        "vertex_colors": _vertex_colors(m),
    }
    model = FlameModelData.from_arrays(raw, name="standin", source="flame.standin")
    return model, emb


def write_standin(folder: str | os.PathLike, seed: int = 0) -> StandinPaths:
    """Build and write the stand-in in every supported layout into ``folder``."""
    paths = StandinPaths(Path(folder))
    model, emb = build_standin(seed)
    write_model_pkl(model, paths.pkl)
    write_model_npz(model, paths.npz)
    write_deca_embedding(emb, paths.deca_embedding)
    write_ringnet_embedding(emb, paths.ringnet_static, paths.ringnet_dynamic)
    info = {
        "label": model.label, "version": STANDIN_VERSION, "seed": seed, "sha256": model.sha256,
        "n_vertices": model.n_vertices, "n_faces": int(len(model.faces)),
        "shape_components": {str(i): n for i, n in enumerate(SHAPE_NAMES)},
        "expression_components": {str(i): n for i, n in enumerate(EXPRESSION_NAMES)},
        "full_expression_coefficient": FULL_EXPRESSION,
        "note": "Procedural stand-in in the FLAME file layout. It is NOT the FLAME model; results on it "
                "say nothing about FLAME itself.",
    }
    atomic_write_bytes(paths.info, lambda f: f.write(json.dumps(info, indent=2).encode()))
    _copy_mediapipe_embedding(paths, model.sha256)
    log.info("wrote the stand-in head (%d vertices, %d faces) to %s", model.n_vertices, len(model.faces), folder)
    return paths


def ensure_standin(folder: str | os.PathLike, seed: int = 0) -> StandinPaths:
    """Return the stand-in in ``folder``, building it only if a file is missing or outdated."""
    paths = StandinPaths(Path(folder))
    if all(p.is_file() for p in paths.all()):
        try:
            info = json.loads(paths.info.read_text())
            if info.get("version") == STANDIN_VERSION and info.get("seed") == seed:
                if not paths.mediapipe_embedding.is_file():
                    _copy_mediapipe_embedding(paths, info.get("sha256", ""))
                return paths
        except (OSError, ValueError):
            pass
    return write_standin(folder, seed)


def _copy_mediapipe_embedding(paths: StandinPaths, model_sha256: str) -> None:
    """Put the shipped MediaPipe embedding next to the stand-in when it was built for this model."""
    if not SHIPPED_MEDIAPIPE_EMBEDDING.is_file():  # a checkout without it (e.g. while rebuilding it)
        return
    with np.load(SHIPPED_MEDIAPIPE_EMBEDDING, allow_pickle=False) as z:
        built_for = str(z["model_sha256"]) if "model_sha256" in z.files else ""
    if built_for != model_sha256:
        log.info("the shipped MediaPipe embedding belongs to stand-in %s, not %s; not copied", built_for[:8],
                 model_sha256[:8])
        return
    atomic_write_bytes(paths.mediapipe_embedding, lambda f: f.write(SHIPPED_MEDIAPIPE_EMBEDDING.read_bytes()))
