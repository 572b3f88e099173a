"""The official NeuFace dataset's file, ``params.npz``: its layouts, import and export.

``cam [S,3]``, ``pose [S,6]`` (global | jaw axis-angle), ``expr [S,50]``, ``shapes [S,100]``, ``landmarks2d
[S,68,2]`` in crop NDC; multi-view rows interleaved frame-major, ``row = t * V + v``. The file records
neither its frame rate nor its views: a :class:`NeufaceLayout` (or a data set preset of
:data:`NEUFACE_PRESETS`) says them.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np

from flame.camera import CROP_SIZE
from flame.errors import InputError
from flame.files import atomic_write_bytes, read_npz
from flame.sequence import UNRECORDED_MODEL, FlameSequence, SequenceFormatError, resize_coefficients
from flame.types import N_EXP, N_SHAPE

__all__ = ["NeufaceLayout", "NEUFACE_PRESETS", "MEAD_VIEWS", "PresetName", "from_neuface_params", "to_neuface_params",
           "is_neuface_params", "read_sequence", "neuface_layout"]

log = logging.getLogger(__name__)

#: The official MEAD export's view order: the 7 camera folders sorted alphabetically (frame-major rows).
MEAD_VIEWS = ("down", "front", "left_30", "left_60", "right_30", "right_60", "top")


@dataclass(frozen=True)
class NeufaceLayout:
    """How the rows of an official ``params.npz`` are laid out, which the file itself does not say:
    ``fps`` (frames per second of the source video) and ``views`` (view names in row order; rows are
    interleaved frame-major, ``row = t * V + v``)."""

    fps: float
    views: tuple[str, ...] = ("front",)

    def __post_init__(self) -> None:
        object.__setattr__(self, "views", tuple(self.views))
        if not (np.isfinite(self.fps) and self.fps > 0):
            raise InputError(f"params.npz layout: fps must be positive, got {self.fps}")
        if not self.views or len(set(self.views)) != len(self.views):
            raise InputError(f"params.npz layout: views must be distinct names, got {list(self.views)}")


#: The official NeuFace dataset's exports. MEAD: 7 views at the capture's 30 fps. VoxCeleb2: one view at
#: 25 fps. CelebV-HQ: one view; the export extracts every frame of the clip at its source rate without
#: recording it, and CelebV-HQ's processing keeps the YouTube rate (mostly 25 fps; 30 occurs) - the
#: preset says 25, and a split manifest's per-entry ``fps`` overrides it where ffprobe says otherwise.
NEUFACE_PRESETS: dict[str, NeufaceLayout] = {
    "mead": NeufaceLayout(30.0, MEAD_VIEWS),
    "voxceleb2": NeufaceLayout(25.0),
    "celebv_hq": NeufaceLayout(25.0),
}
#: a preset's name, as a type for typed settings (command lines check it)
PresetName = Literal[tuple(NEUFACE_PRESETS)]


def from_neuface_params(
    path: str | os.PathLike, layout: NeufaceLayout | str | None = None, *,
    model: str = "FLAME (official NeuFace export)", model_sha256: str = UNRECORDED_MODEL, crop_size: int = CROP_SIZE,
) -> FlameSequence:
    """Import an official NeuFace ``params.npz``.

    The file says neither its frame rate nor its views, so ``layout`` must: a :class:`NeufaceLayout`
    or a preset name of :data:`NEUFACE_PRESETS` (``mead``, ``voxceleb2``, ``celebv_hq``). Rows are
    ``S = T * V`` interleaved frame-major (``row = t * V + v``); a row count that is not a multiple of
    the views is an error. The file has no crop transforms and no image-space landmarks, so the
    imported landmarks are the stored detections in *crop pixels* with an identity ``crop_tform`` and
    confidence 1 (recorded in ``metadata``).
    """
    layout = neuface_layout(layout, path)
    path = Path(path)
    data = read_npz(path, "NeuFace params.npz", SequenceFormatError)
    expr_key = "expr" if "expr" in data else "exp" if "exp" in data else None
    shape_key = "shapes" if "shapes" in data else "shape" if "shape" in data else None
    missing = [k for k, ok in (("cam", "cam" in data), ("pose", "pose" in data), ("expr", expr_key),
                               ("shapes", shape_key)) if not ok]
    if missing:
        raise SequenceFormatError(f"{path}: not a NeuFace params.npz, missing {missing} (found {sorted(data)})")
    views = list(layout.views)
    v = len(views)
    s = data["pose"].shape[0]
    if s % v:
        raise SequenceFormatError(f"{path}: {s} rows are not a multiple of the {v} views {views}; check the data set "
                                  f"preset / views stated for this file")
    t = s // v

    def grid(a: np.ndarray) -> np.ndarray:  # (S, ...) -> (V, T, ...)
        return np.asarray(a, dtype=np.float32).reshape(t, v, *a.shape[1:]).swapaxes(0, 1)

    pose6 = grid(data["pose"])
    if pose6.shape[-1] != 6:
        raise SequenceFormatError(f"{path}: 'pose' must be (S, 6) [global | jaw], got {data['pose'].shape}")
    pose = np.zeros((v, t, 15), dtype=np.float32)
    pose[..., 0:3], pose[..., 6:9] = pose6[..., :3], pose6[..., 3:]
    shapes = np.asarray(data[shape_key], dtype=np.float32)
    spread = float(np.abs(shapes - shapes[:1]).max())
    if spread > 1e-6:
        log.warning("%s: shape rows differ (max %.3g); using their mean", path, spread)
    shape = shapes.mean(0) if spread > 1e-6 else shapes[0]
    lm = np.zeros((v, t, 68, 3), dtype=np.float32)
    if "landmarks2d" in data:
        lm[..., :2] = (grid(data["landmarks2d"])[..., :2] + 1.0) * (crop_size / 2)
        lm[..., 2] = 1.0
    else:
        lm[..., :2] = np.nan
    return FlameSequence(
        model=model, model_sha256=model_sha256, fps=layout.fps, view_names=np.array(views), frame_ids=np.arange(t),
        shape=shape, expression=grid(data[expr_key]), pose=pose, cam=grid(data["cam"]),
        crop_tform=np.broadcast_to(np.eye(3, dtype=np.float32), (v, t, 3, 3)).copy(), landmarks2d=lm,
        valid=np.ones((v, t), dtype=bool), image_size=np.full((v, 2), crop_size, dtype=np.int64), crop_size=crop_size,
        metadata={"imported_from": str(path), "landmark_space": "crop pixels (params.npz has no crop transform)"},
    )


def is_neuface_params(path: str | os.PathLike) -> bool:
    """Whether ``path`` is an official NeuFace ``params.npz`` (by its arrays, not its name)."""
    import zipfile

    try:
        with zipfile.ZipFile(path) as z:
            names = {Path(n).stem for n in z.namelist()}
    except (OSError, zipfile.BadZipFile):
        return False
    return "format" not in names and "pose" in names and ("expr" in names or "exp" in names)


def read_sequence(path: str | os.PathLike, layout: "NeufaceLayout | str | None" = None) -> FlameSequence:
    """A FlameSequence file, or an official NeuFace ``params.npz`` read with ``layout`` (required for
    those: :func:`from_neuface_params`)."""
    if is_neuface_params(path):
        return from_neuface_params(path, layout)
    return FlameSequence.load(path)


def neuface_layout(layout: NeufaceLayout | str | None, path: str | os.PathLike = "params.npz") -> NeufaceLayout:
    """``layout`` as a :class:`NeufaceLayout` (a preset name is looked up); ``None`` is refused with a
    message that says how to state it."""
    if isinstance(layout, NeufaceLayout):
        return layout
    if layout is None:
        raise SequenceFormatError(
            f"{path}: an official NeuFace params.npz does not record its frame rate or views; state them with a data "
            f"set preset ({', '.join(NEUFACE_PRESETS)}: --preset, or 'preset:' in the split manifest) or per entry of "
            f"the split manifest ({{path: ..., fps: 25, views: [front]}})")
    if layout not in NEUFACE_PRESETS:
        raise InputError(f"{path}: unknown data set preset {layout!r}; choose from {list(NEUFACE_PRESETS)}")
    return NEUFACE_PRESETS[layout]


def to_neuface_params(seq: FlameSequence, path: str | os.PathLike, n_shape: int = N_SHAPE, n_exp: int = N_EXP,
                      layout: NeufaceLayout | str | None = None) -> Path:
    """Export in the official NeuFace ``params.npz`` layout (rows interleaved frame-major in the
    sequence's view order, or in the order of ``layout`` - a preset name or :class:`NeufaceLayout` - so
    that the layout reads the file back: the official MEAD export is in alphabetical view order, and the
    file records neither views nor frame rate). Neck and eye rotations, which the format cannot hold, must
    be zero."""
    path = Path(path)
    if layout is not None:
        layout = neuface_layout(layout, path)
        names = [str(n) for n in seq.view_names]
        if sorted(names) != sorted(layout.views) or abs(layout.fps - seq.fps) > 1e-6:
            raise InputError(f"{path}: the sequence has views {names} at {seq.fps:g} fps; the layout reads "
                             f"{list(layout.views)} at {layout.fps:g} fps")
        seq = seq.pick_views([names.index(v) for v in layout.views])
    if np.abs(seq.pose[..., 3:6]).max(initial=0) > 1e-6 or np.abs(seq.pose[..., 9:]).max(initial=0) > 1e-6:
        raise InputError(f"{path}: NeuFace params.npz stores only global + jaw pose; this sequence has non-zero "
                         f"neck or eye rotations")
    if seq.n_exp < n_exp or seq.n_shape < n_shape:
        raise InputError(f"{path}: the sequence has {seq.n_shape} shape / {seq.n_exp} expression components; "
                         f"params.npz needs {n_shape} / {n_exp}")
    expression = resize_coefficients(seq.expression, n_exp, f"{path}: expression (params.npz holds {n_exp})")
    shape = resize_coefficients(seq.shape, n_shape, f"{path}: shape (params.npz holds {n_shape})")
    v, t = seq.n_views, seq.n_frames

    def rows(a: np.ndarray) -> np.ndarray:  # (V, T, ...) -> (T * V, ...)
        return np.asarray(a, dtype=np.float32).swapaxes(0, 1).reshape(t * v, *a.shape[2:])

    pose6 = np.concatenate([seq.pose[..., 0:3], seq.pose[..., 6:9]], axis=-1)
    pix = seq.landmarks2d[..., :2]
    crop_px = np.einsum("vtij,vtkj->vtki", seq.crop_tform[..., :2, :2], pix) + seq.crop_tform[:, :, None, :2, 2]
    lm_ndc = crop_px * (2.0 / seq.crop_size) - 1.0
    out = {
        "cam": rows(seq.cam), "pose": rows(pose6), "expr": rows(expression),
        "shapes": np.tile(np.asarray(shape, np.float32), (t * v, 1)), "landmarks2d": rows(lm_ndc),
    }
    atomic_write_bytes(path, lambda f: np.savez_compressed(f, **out))
    return path
