"""FlameSequence: per-frame FLAME parameters of one (multi-view) capture, and its file format.

On disk a sequence is one ``.npz`` holding only numeric and unicode arrays (never pickled
objects), written atomically. Axes: views ``V`` first, frames ``T`` second. Units: radians for
pose, DECA weak-perspective ``cam = (s, tx, ty)`` in crop NDC (with optional pinhole ``intrinsics``: see
:func:`flame.camera.project_crop`), image pixels for landmarks.

The official NeuFace output ``params.npz`` is read and written by :mod:`flame.official`.
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from flame.camera import CENTRED_CAM, CROP_SIZE
from flame.errors import InputError
from flame.files import atomic_write_bytes, read_npz
from flame.types import FlameParams

if TYPE_CHECKING:
    from flame.layer import FlameLayer

__all__ = ["FlameSequence", "SequenceFormatError", "FORMAT_TAG", "FORMAT_VERSION", "MOTION_FPS", "sequence_to_params",
           "resize_coefficients", "resample_positions", "resample_pose", "UNRECORDED_MODEL"]

log = logging.getLogger(__name__)
FORMAT_TAG = "neuface-motion-suite/flame-sequence"
FORMAT_VERSION = 1
#: ``model_sha256`` of a sequence that does not record its head model (official NeuFace exports)
UNRECORDED_MODEL = "unknown"
#: The rate (Hz) at which the suite generates and compares motion: the generators' step and the
#: motion metrics' frame rate. Sequences at other rates are resampled to it.
MOTION_FPS = 30.0


class SequenceFormatError(InputError):
    """A sequence file or array does not follow the format."""


@dataclass(frozen=True, eq=False)
class FlameSequence:
    """FLAME parameters of ``V`` synchronized views over ``T`` frames, one identity.

    Attributes:
        model: label of the head model (``FlameModelData.label``); says "stand-in" for the stand-in.
        model_sha256: content hash of the model file the parameters belong to.
        fps: frames per second.
        view_names: ``(V,)`` view names (``["front"]`` for a single video).
        frame_ids: ``(T,)`` source frame index of each row.
        shape: ``(n_shape,)`` identity, shared by every frame and view.
        expression: ``(V, T, n_exp)``.
        pose: ``(V, T, 15)`` axis-angle [global | neck | jaw | left eye | right eye], radians, with
            the global rotation relative to each view's camera.
        cam: ``(V, T, 3)`` weak perspective ``(s, tx, ty)`` in crop NDC.
        crop_tform: ``(V, T, 3, 3)`` image pixels -> crop pixels.
        landmarks2d: ``(V, T, 68, 3)`` detected landmarks ``(x, y, confidence)`` in image pixels.
        valid: ``(V, T)`` bool, a face was detected (invalid frames keep interpolated parameters).
        image_size: ``(V, 2)`` width, height in pixels.
        crop_size: side of the crop the camera refers to (DECA's 224).
        fitted_landmarks2d: optional ``(V, T, 68, 2)`` landmarks of the fit, image pixels.
        intrinsics: optional ``(V, T, 3, 3)`` pinhole K (image pixels) of the perspective projection the
            parameters were fitted with (:func:`flame.camera.project_crop`); ``None``: DECA's weak perspective.
            With intrinsics the head rotation is relative to the camera's axes; without, to the ray through
            the face.
        losses: optional per-frame losses ``{name: (V, T)}``.
        metadata: free-form JSON-serializable dict (method, source, config...).
    """

    model: str
    model_sha256: str
    fps: float
    view_names: np.ndarray
    frame_ids: np.ndarray
    shape: np.ndarray
    expression: np.ndarray
    pose: np.ndarray
    cam: np.ndarray
    crop_tform: np.ndarray
    landmarks2d: np.ndarray
    valid: np.ndarray
    image_size: np.ndarray
    crop_size: int = CROP_SIZE
    fitted_landmarks2d: np.ndarray | None = None
    intrinsics: np.ndarray | None = None
    losses: dict[str, np.ndarray] = field(default_factory=dict)
    metadata: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.validate()

    # ------------------------------------------------------------------ properties
    @property
    def n_views(self) -> int:
        return int(self.pose.shape[0])

    @property
    def n_frames(self) -> int:
        return int(self.pose.shape[1])

    @property
    def n_shape(self) -> int:
        return int(self.shape.shape[0])

    @property
    def n_exp(self) -> int:
        return int(self.expression.shape[2])

    @property
    def is_standin(self) -> bool:
        return "stand-in" in self.model

    def validate(self, source: str = "FlameSequence") -> None:
        """Check every array's shape, dtype and finiteness; raise :class:`SequenceFormatError`."""
        v = np.asarray(self.pose).shape[0] if np.asarray(self.pose).ndim == 3 else -1
        t = np.asarray(self.pose).shape[1] if np.asarray(self.pose).ndim == 3 else -1
        e = np.asarray(self.expression).shape[-1] if np.asarray(self.expression).ndim == 3 else -1
        want = {
            "view_names": (v,), "frame_ids": (t,), "expression": (v, t, e), "pose": (v, t, 15),
            "cam": (v, t, 3), "crop_tform": (v, t, 3, 3), "landmarks2d": (v, t, 68, 3), "valid": (v, t),
            "image_size": (v, 2),
        }
        if v < 1 or t < 1:
            raise SequenceFormatError(f"{source}: 'pose' must be (V, T, 15) with V, T >= 1, got {np.shape(self.pose)}")
        if np.asarray(self.shape).ndim != 1:
            raise SequenceFormatError(f"{source}: 'shape' must be (n_shape,), got {np.shape(self.shape)}")
        for key, shape in want.items():
            got = np.shape(getattr(self, key))
            if got != shape:
                raise SequenceFormatError(f"{source}: '{key}' has shape {got}, expected {shape}")
        if self.fitted_landmarks2d is not None and np.shape(self.fitted_landmarks2d) != (v, t, 68, 2):
            raise SequenceFormatError(f"{source}: 'fitted_landmarks2d' has shape {np.shape(self.fitted_landmarks2d)}, "
                                      f"expected {(v, t, 68, 2)}")
        if self.intrinsics is not None and np.shape(self.intrinsics) != (v, t, 3, 3):
            raise SequenceFormatError(f"{source}: 'intrinsics' has shape {np.shape(self.intrinsics)}, expected {(v, t, 3, 3)}")
        for name, arr in self.losses.items():
            if np.shape(arr) != (v, t):
                raise SequenceFormatError(f"{source}: loss '{name}' has shape {np.shape(arr)}, expected {(v, t)}")
        for key in ("shape", "expression", "pose", "cam", "crop_tform", "intrinsics"):
            if getattr(self, key) is not None and not np.isfinite(getattr(self, key)).all():
                raise SequenceFormatError(f"{source}: '{key}' contains NaN or Inf")
        if not (np.isfinite(self.fps) and self.fps > 0):
            raise SequenceFormatError(f"{source}: fps must be positive, got {self.fps}")

    def replace(self, **changes: Any) -> "FlameSequence":
        return replace(self, **changes)

    def view(self, index: int | str) -> "FlameSequence":
        """One view as a single-view sequence."""
        i = list(self.view_names).index(index) if isinstance(index, str) else int(index)
        sl = slice(i, i + 1)
        return self._select(sl, slice(None))

    def frames(self, start: int, stop: int | None = None) -> "FlameSequence":
        """Frames ``start:stop`` of every view."""
        return self._select(slice(None), slice(start, stop))

    def at(self, frames: np.ndarray | list[int]) -> "FlameSequence":
        """The frames at indices ``frames`` (any order, repeats allowed) of every view."""
        return self._select(slice(None), np.asarray(frames, dtype=int))

    def pick_views(self, views: np.ndarray | list[int]) -> "FlameSequence":
        """The views at indices ``views``, in that order, with all their frames."""
        return self._select(np.asarray(views, dtype=int), slice(None))

    @staticmethod
    def stack_views(sequences: list["FlameSequence"], view_names: list[str] | None = None) -> "FlameSequence":
        """The views of ``sequences`` side by side in one sequence (``view_names``: new names, default theirs). They
        must share the frames, the head model and the identity (compared with the shorter zero-padded);
        expressions are zero-padded to the most components; the first one's metadata is kept."""
        n_shape, n_exp = max(s.n_shape for s in sequences), max(s.n_exp for s in sequences)
        shapes = [resize_coefficients(s.shape, n_shape, "stack_views: shape") for s in sequences]
        for s, shape in zip(sequences[1:], shapes[1:]):
            if (s.n_frames, s.model_sha256) != (sequences[0].n_frames, sequences[0].model_sha256) or not \
                    np.allclose(shape, shapes[0], atol=1e-6):
                raise SequenceFormatError("stack_views: the sequences must share the identity, the frames and the head "
                                          "model")

        def cat(name: str):
            parts = [getattr(s, name) for s in sequences]
            return None if any(p is None for p in parts) else np.concatenate(parts)

        names = view_names if view_names is not None else [str(n) for s in sequences for n in s.view_names]
        expression = np.concatenate([resize_coefficients(s.expression, n_exp, "stack_views") for s in sequences])
        return replace(sequences[0], view_names=np.array(names), shape=shapes[0], expression=expression,
                       pose=cat("pose"), cam=cat("cam"), crop_tform=cat("crop_tform"), landmarks2d=cat("landmarks2d"),
                       valid=cat("valid"), image_size=cat("image_size"), fitted_landmarks2d=cat("fitted_landmarks2d"),
                       intrinsics=cat("intrinsics"), losses={})

    def _select(self, vs: slice, ts: slice) -> "FlameSequence":
        def s2(a):
            return None if a is None else a[vs, ts]
        return replace(
            self, view_names=self.view_names[vs], frame_ids=self.frame_ids[ts], expression=s2(self.expression),
            pose=s2(self.pose), cam=s2(self.cam), crop_tform=s2(self.crop_tform), landmarks2d=s2(self.landmarks2d),
            valid=s2(self.valid), image_size=self.image_size[vs], fitted_landmarks2d=s2(self.fitted_landmarks2d),
            intrinsics=s2(self.intrinsics),
            losses={k: s2(v) for k, v in self.losses.items()},
        )

    def to_params(self, like: Any = None, dtype: Any = None):
        """``FlameParams`` with shape ``(V, T, ...)`` as torch tensors (identity broadcast over frames)."""
        import torch

        from flame.types import FlameParams

        dtype = dtype or torch.float32
        device = like.device if like is not None else torch.device("cpu")
        t = lambda a: torch.as_tensor(np.asarray(a), dtype=dtype, device=device)  # noqa: E731
        return FlameParams(shape=t(self.shape)[None, None], expression=t(self.expression), pose=t(self.pose))

    # ------------------------------------------------------------------ constructors
    @staticmethod
    def from_params(
        *, shape: np.ndarray, expression: np.ndarray, pose: np.ndarray, cam: np.ndarray | None = None,
        fps: float, model: str, model_sha256: str, view_names: list[str] | None = None, **kwargs: Any,
    ) -> "FlameSequence":
        """Build a sequence from parameters ``expression (V, T, n_exp)`` / ``(T, n_exp)`` and ``pose (V, T, 15)`` /
        ``(T, 15)``; the rest gets neutral defaults: a head-framing camera (:data:`~flame.camera.CENTRED_CAM`), no
        detections (NaN landmarks with zero confidence), identity crop transforms, every frame valid."""
        expression = np.asarray(expression, dtype=np.float32)
        if expression.ndim == 2:
            expression = expression[None]
        pose = np.asarray(pose, dtype=np.float32)
        if pose.ndim == 2:
            pose = pose[None]
        v, t = pose.shape[:2]
        lm = np.zeros((v, t, 68, 3), dtype=np.float32)
        lm[..., :2] = np.nan
        defaults = dict(
            view_names=np.array(view_names or (["front"] if v == 1 else [f"view{i}" for i in range(v)])),
            frame_ids=np.arange(t),
            cam=np.broadcast_to(np.asarray(CENTRED_CAM if cam is None else cam, np.float32), (v, t, 3)).copy(),
            crop_tform=np.broadcast_to(np.eye(3, dtype=np.float32), (v, t, 3, 3)).copy(), landmarks2d=lm,
            valid=np.ones((v, t), dtype=bool), image_size=np.full((v, 2), CROP_SIZE, dtype=np.int64),
        )
        defaults.update(kwargs)
        return FlameSequence(model=model, model_sha256=model_sha256, fps=float(fps), shape=np.asarray(shape, np.float32),
                             expression=expression, pose=pose, **defaults)

    # ------------------------------------------------------------------ file format
    def save(self, path: str | os.PathLike) -> Path:
        """Write atomically to ``path`` (``.npz``); returns the path."""
        path = Path(path)
        if path.suffix != ".npz":
            raise InputError(f"{path}: a FlameSequence file must end in .npz")
        arrays: dict[str, np.ndarray] = {
            "format": np.array(FORMAT_TAG), "version": np.array(FORMAT_VERSION), "model": np.array(self.model),
            "model_sha256": np.array(self.model_sha256), "fps": np.array(float(self.fps)),
            "crop_size": np.array(int(self.crop_size)),
            "view_names": np.asarray(self.view_names).astype(str),
            "frame_ids": np.asarray(self.frame_ids, dtype=np.int64),
            "shape": np.asarray(self.shape, dtype=np.float32),
            "expression": np.asarray(self.expression, dtype=np.float32),
            "pose": np.asarray(self.pose, dtype=np.float32),
            "cam": np.asarray(self.cam, dtype=np.float32),
            "crop_tform": np.asarray(self.crop_tform, dtype=np.float32),
            "landmarks2d": np.asarray(self.landmarks2d, dtype=np.float32),
            "valid": np.asarray(self.valid, dtype=bool),
            "image_size": np.asarray(self.image_size, dtype=np.int64),
            "metadata": np.array(json.dumps(self.metadata, sort_keys=True)),
        }
        if self.fitted_landmarks2d is not None:
            arrays["fitted_landmarks2d"] = np.asarray(self.fitted_landmarks2d, dtype=np.float32)
        if self.intrinsics is not None:
            arrays["intrinsics"] = np.asarray(self.intrinsics, dtype=np.float32)
        for name, arr in self.losses.items():
            arrays[f"loss_{name}"] = np.asarray(arr, dtype=np.float32)
        atomic_write_bytes(path, lambda f: np.savez_compressed(f, **arrays))
        return path

    @staticmethod
    def load(path: str | os.PathLike) -> "FlameSequence":
        """Read a sequence file; errors name the file and what is wrong."""
        path = Path(path)
        data = read_npz(path, "FlameSequence file", SequenceFormatError)
        if "expr" in data and "shapes" in data and "format" not in data:  # decided by the arrays, never the name
            raise SequenceFormatError(f"{path}: this is an official NeuFace params.npz; import it with "
                                      f"flame.official.from_neuface_params(path, layout), the layout a data set "
                                      f"preset (mead, voxceleb2, celebv_hq) or NeufaceLayout(fps, views)")
        if str(data.get("format", "")) != FORMAT_TAG:
            raise SequenceFormatError(f"{path}: not a FlameSequence file (format tag {data.get('format')!r})")
        version = int(data["version"])
        if version > FORMAT_VERSION:
            raise SequenceFormatError(f"{path}: format version {version} is newer than this suite ({FORMAT_VERSION}); "
                                      f"upgrade the suite")
        required = ["model", "model_sha256", "fps", "view_names", "frame_ids", "shape", "expression", "pose", "cam",
                    "crop_tform", "landmarks2d", "valid", "image_size"]
        missing = [k for k in required if k not in data]
        if missing:
            raise SequenceFormatError(f"{path}: missing arrays {missing}")
        losses = {k[5:]: data[k] for k in data if k.startswith("loss_")}
        try:
            return FlameSequence(
                model=str(data["model"]), model_sha256=str(data["model_sha256"]), fps=float(data["fps"]),
                view_names=data["view_names"].astype(str), frame_ids=data["frame_ids"], shape=data["shape"],
                expression=data["expression"], pose=data["pose"], cam=data["cam"], crop_tform=data["crop_tform"],
                landmarks2d=data["landmarks2d"], valid=data["valid"].astype(bool), image_size=data["image_size"],
                crop_size=int(data.get("crop_size", CROP_SIZE)), fitted_landmarks2d=data.get("fitted_landmarks2d"),
                intrinsics=data.get("intrinsics"), losses=losses, metadata=json.loads(str(data.get("metadata", "{}"))),
            )
        except SequenceFormatError as e:
            raise SequenceFormatError(f"{path}: {e}") from None

    def equals(self, other: "FlameSequence", atol: float = 0.0) -> bool:
        """Field-wise comparison (NaN == NaN) for round-trip tests."""
        for f in fields(self):
            a, b = getattr(self, f.name), getattr(other, f.name)
            if f.name == "losses":
                if a.keys() != b.keys() or not all(_same(a[k], b[k], atol) for k in a):
                    return False
            elif f.name == "metadata":
                if a != b:
                    return False
            elif not _same(a, b, atol):
                return False
        return True


def _same(a: Any, b: Any, atol: float) -> bool:
    if a is None or b is None:
        return a is None and b is None
    if isinstance(a, (str, int, float)):
        return a == b
    a, b = np.asarray(a), np.asarray(b)
    if a.shape != b.shape:
        return False
    if a.dtype.kind in "US" or b.dtype.kind in "US":
        return bool(np.array_equal(a.astype(str), b.astype(str)))
    return bool(np.allclose(a, b, atol=atol, rtol=0, equal_nan=True))


def resample_positions(n_frames: int, fps: float, target_fps: float = MOTION_FPS) -> np.ndarray:
    """Source-frame positions (fractional) of the ``target_fps`` frames covering ``n_frames`` at ``fps``."""
    n_out = int(np.floor((n_frames - 1) * target_fps / fps + 1e-9)) + 1
    return np.minimum(np.arange(n_out) * (fps / target_fps), n_frames - 1)


def resample_pose(pose: np.ndarray, positions: np.ndarray) -> np.ndarray:
    """Axis-angle rotations ``(T, ..., 3)`` at fractional frame ``positions`` by slerp between the
    neighbouring frames: ``R_lo exp(w log(R_lo^T R_hi))`` (never nearest-frame)."""
    from flame.rotations import axis_angle_to_matrix, matrix_to_axis_angle

    lo = np.floor(positions).astype(int)
    hi = np.minimum(lo + 1, len(pose) - 1)
    r = axis_angle_to_matrix(torch.as_tensor(np.asarray(pose, np.float64)).reshape(len(pose), -1, 3))
    a, b = r[lo], r[hi]
    w = torch.as_tensor(positions - lo)[:, None, None]
    rel = matrix_to_axis_angle(a.transpose(-1, -2) @ b) * w
    return matrix_to_axis_angle(a @ axis_angle_to_matrix(rel)).reshape(len(lo), *np.shape(pose)[1:]).numpy()


def resize_coefficients(a: np.ndarray, n: int, what: str) -> np.ndarray:
    """``a`` with its last axis resized to ``n`` basis coefficients: zero-padded when shorter; cut when
    longer only if the cut coefficients are all zero. Cutting non-zero coefficients would silently
    change the face, so it raises an :class:`~flame.errors.InputError` naming both sizes (``what`` says
    whose coefficients they are, e.g. ``"sequence.npz: expression"``)."""
    a = np.asarray(a)
    have = a.shape[-1]
    if have < n:
        return np.concatenate([a, np.zeros((*a.shape[:-1], n - have), a.dtype)], -1)
    if have > n and np.any(a[..., n:] != 0):
        raise InputError(f"{what}: {have} components with non-zero values beyond the {n} used here; use a model, layer "
                         f"or prior with {have} components (e.g. n_exp / n_shape {have}), or refit with {n}")
    return a[..., :n]


def sequence_to_params(seq: FlameSequence, layer: "FlameLayer", view: int | None = None,
                       frames: np.ndarray | slice = slice(None)) -> FlameParams:
    """FLAME parameters of ``seq`` for ``layer``: shape and expression resized to the layer's
    ``n_shape`` / ``n_exp`` (:func:`resize_coefficients`), in its dtype and on its device. All views
    (``view=None``: pose ``(V, T', 15)``) or one view (``(T', 15)``) of the selected ``frames``; the
    identity broadcasts."""
    like = layer.v_template

    def fit(a: np.ndarray, n: int, what: str) -> torch.Tensor:
        a = resize_coefficients(np.asarray(a, np.float64), n, f"{seq.model} sequence: {what} (layer: {n})")
        return torch.as_tensor(a, dtype=like.dtype, device=like.device)

    views = slice(None) if view is None else view
    pose = torch.as_tensor(np.asarray(seq.pose[views][..., frames, :], np.float64), dtype=like.dtype, device=like.device)
    shape = fit(seq.shape, layer.n_shape, "shape").expand(*(1,) * (pose.ndim - 1), -1)
    return FlameParams(shape, fit(seq.expression[views][..., frames, :], layer.n_exp, "expression"), pose)
