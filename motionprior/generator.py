"""One interface for every trained facial motion generator (no Lightning on this path).

>>> gen = load_generator("runs/prior/.../prior.pt")            # any family; settings travel with the weights
>>> seqs = gen.sample([MotionStart(seq, frame=0)], n_samples=50, seconds=10, seed=0)

A start is a :class:`MotionStart` (one view of a FlameSequence and the frame to start from; the frames
before it are the given past) or a bare FlameSequence (view 0, starting at its last frame). ``sample``
returns one FlameSequence per start, with one view per sample (``sample_000`` ...), at 30 Hz, the start
frame first, the identity (shape) of the start, and ``metadata["start"]`` naming the start (the motion
evaluator groups samples by it). A family sees as much of the past as its context holds (HuMoR-Face:
the start frame; the long-context family: its context window).

The generator file (``prior.pt``, exported by ``fit`` next to the checkpoints) is ``{"format":
GENERATOR_FORMAT, "version", "family", "config": the training settings as nested dicts, "model_sha256":
the hash of the head model it was trained with, "state_dict": the network}``; a Lightning ``.ckpt`` of
either family loads too. Both are read with ``torch.load(weights_only=True)`` and loaded strictly. A head
model given at loading time must be the file the generator was trained with (same hash; files written
before the hash was recorded are not checked).
"""

from __future__ import annotations

import os
from abc import ABC, abstractmethod
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import ClassVar, Sequence

import numpy as np
import torch
from torch import Tensor, nn

from flame.errors import InputError
from flame.head import check_head_model
from flame.layer import FlameLayer
from flame.sequence import MOTION_FPS, FlameSequence, resample_positions, resize_coefficients
from flame.types import N_POSE
from motionprior.settings import HeadModel, as_block
from motionprior.state import StateSpec, sequence_to_states

__all__ = ["GENERATOR_FORMAT", "MotionStart", "Generator", "GeneratorFile", "load_generator", "read_generator_file",
           "export_generator", "checkpoint_tag", "params_to_sequence", "FAMILIES", "FAMILY_MODULES", "family_class",
           "is_current_revision"]

GENERATOR_FORMAT = "neuface-motion-generator"
GENERATOR_VERSION = 1
#: the modules that define the generator families, imported when a family is first looked up (not before: the
#: sampling path imports only what it loads); each family's :class:`Generator` subclass registers itself
FAMILY_MODULES = ("motionprior.rollout", "motionprior.diffusion")
#: family name -> its :class:`Generator` class, filled by the classes themselves (:meth:`Generator.__init_subclass__`)
FAMILIES: dict[str, type["Generator"]] = {}


@dataclass(frozen=True)
class MotionStart:
    """Where samples begin: view ``view`` of ``sequence`` at frame ``frame`` (its own frame index; -1:
    the last); the frames before it are the given past. ``name`` labels the samples (default: the
    sequence's ``metadata["name"]`` or ``"start"``, with the view and frame)."""

    sequence: FlameSequence
    frame: int = -1
    view: int = 0
    name: str | None = None

    def __post_init__(self) -> None:
        t = self.sequence.n_frames
        if not -t <= self.frame < t:
            raise InputError(f"start frame {self.frame} is outside the sequence's {t} frames")
        if not 0 <= self.view < self.sequence.n_views:
            raise InputError(f"start view {self.view} is outside the sequence's {self.sequence.n_views} views")

    @property
    def index(self) -> int:
        """The start frame as a non-negative index."""
        return self.frame % self.sequence.n_frames

    @property
    def label(self) -> str:
        if self.name:
            return self.name
        base = str(self.sequence.metadata.get("name", "start"))
        return f"{base}/{self.sequence.view_names[self.view]}@{self.index}"


def _as_start(start: MotionStart | FlameSequence) -> MotionStart:
    if isinstance(start, MotionStart):
        return start
    if isinstance(start, FlameSequence):
        return MotionStart(start)
    raise TypeError(f"a start is a MotionStart or a FlameSequence, got {type(start).__name__}")


class Generator(ABC):
    """A trained generator: its network, settings (``config``, nested dicts) and head model.

    Subclasses set ``family`` (which registers them in :data:`FAMILIES`), build their network from a config
    (:meth:`build_network`) and generate pose and expression from the starts' pasts (:meth:`generate`); they
    declare what else they can do: ``can_inpaint`` (:meth:`inpaint`: complete given clips) and ``can_score``
    (:meth:`transition_nll`: a per-step likelihood, for prior-guided annotation). ``revision`` counts changes of
    what a family's weights mean (files of another revision load without error but would generate garbage, so
    they are refused); files written before revisions were recorded are revision 1."""

    family: ClassVar[str]
    revision: ClassVar[int] = 1
    can_inpaint: ClassVar[bool] = False
    can_score: ClassVar[bool] = False

    def __init_subclass__(cls, **kwargs) -> None:
        super().__init_subclass__(**kwargs)
        if "family" in cls.__dict__:
            if FAMILIES.get(cls.family, cls) is not cls:
                raise TypeError(f"generator family {cls.family!r} is defined twice ({FAMILIES[cls.family].__name__}, "
                                f"{cls.__name__})")
            FAMILIES[cls.family] = cls

    def __init__(self, network: nn.Module, config: dict, layer: FlameLayer, path: str | os.PathLike | None = None
                 ) -> None:
        self.network, self.config, self.layer = network.eval(), config, layer
        self.path = str(path) if path is not None else None

    @classmethod
    @abstractmethod
    def build_network(cls, config: dict) -> nn.Module:
        """The (untrained) network of ``config``."""

    @cached_property
    def spec(self) -> StateSpec:
        """The state layout the generator's data was featurized with."""
        return as_block(StateSpec, self.config["state"])

    @property
    def device(self) -> torch.device:
        return next(self.network.parameters()).device

    def to(self, device: str | torch.device) -> "Generator":
        self.network.to(device)
        return self

    def past_states(self, start: MotionStart) -> np.ndarray:
        """States ``(P, dim)`` of the start's view at 30 Hz up to and including the start frame."""
        seq = start.sequence
        states = sequence_to_states(seq, self.layer, self.spec, view=start.view)
        times = resample_positions(seq.n_frames, seq.fps)  # source-frame position of every 30 Hz state
        last = int(np.searchsorted(times, start.index + 1e-6, side="right")) - 1
        return states[:max(last, 0) + 1]

    def identity(self, start: MotionStart) -> np.ndarray:
        """The start's FLAME shape ``(n_shape,)`` resized to the head model's components."""
        return np.asarray(resize_coefficients(start.sequence.shape, self.layer.n_shape, f"start {start.label}: shape"),
                          np.float32)

    @abstractmethod
    def generate(self, starts: list[MotionStart], horizon: int, n_samples: int, generator: torch.Generator,
                 mean: bool) -> tuple[Tensor, Tensor]:
        """Pose ``(K, B, horizon + 1, 15)`` and expression ``(K, B, horizon + 1, n_exp)`` (axis-angle,
        FLAME coefficients) of ``n_samples`` samples from each start, the start frame first."""

    def check_request(self, n_sequences: int, n_samples: int, frames: int) -> None:
        """Refuse (one ``InputError`` with the size) a request whose samples - ``n_sequences`` x ``n_samples``
        motions of ``frames`` frames - would not fit in half the memory available now."""
        # per sample frame: the float32 arrays of params_to_sequence - pose and expression twice (the torch
        # result, then the sequence's copy), camera, crop transform, (empty) landmarks - and validity
        one = params_to_sequence(torch.zeros(1, 1, N_POSE), torch.zeros(1, 1, self.layer.n_exp),
                                 np.zeros(self.layer.n_shape), self.layer)
        per_frame = sum(a.nbytes for a in (one.pose, one.expression, one.cam, one.crop_tform, one.landmarks2d,
                                           one.valid)) + 4 * (N_POSE + self.layer.n_exp)
        need = float(n_sequences) * n_samples * frames * per_frame
        free = available_memory()
        if free is not None and need > free / 2:
            raise InputError(f"{n_sequences} start(s) x {n_samples} samples x {frames / MOTION_FPS:g} s need about "
                             f"{_gigabytes(need)} of memory, {_gigabytes(free)} is available; ask for fewer samples "
                             f"or seconds (or sample in several runs)")

    def transition_nll(self, states: Tensor) -> Tensor:
        """How unlikely each step of motion ``states (..., J, dim)`` (30 Hz, :mod:`motionprior.state`) is,
        ``(..., J - 1)``, differentiable (the motion term of prior-guided annotation). Families that cannot
        (``can_score`` false) refuse."""
        raise InputError(f"a {self.family} generator has no per-step likelihood to score motion with; use a "
                         f"{' or '.join(sorted(f for f, c in _families().items() if c.can_score))} generator")

    def inpaint(self, sequence: FlameSequence, known_frames: np.ndarray, given: tuple[str, ...] = (), view: int = 0,
                n_samples: int = 1, seed: int = 0, mean: bool = False) -> FlameSequence:
        """Complete one view of ``sequence`` where ``known_frames`` is false (families with ``can_inpaint``; the
        others refuse)."""
        raise InputError(f"a {self.family} generator cannot inpaint; use a "
                         f"{' or '.join(sorted(f for f, c in _families().items() if c.can_inpaint))} generator")

    @torch.no_grad()
    def sample(self, starts: Sequence[MotionStart | FlameSequence], n_samples: int = 1, seconds: float = 10.0,
               seed: int = 0, mean: bool = False) -> list[FlameSequence]:
        """``n_samples`` motions of ``seconds`` from each start (see the module docstring).

        ``seed`` fixes every random draw (the same call gives the same samples); ``mean`` takes each
        family's deterministic mode (HuMoR-Face: the prior's mean latent; diffusion: noise-free sampling
        from zero noise) instead of sampling."""
        starts = [_as_start(s) for s in starts]
        if not starts:
            raise InputError("no start to sample from")
        if n_samples < 1 or not seconds > 0:
            raise InputError(f"need n_samples >= 1 and seconds > 0 (got {n_samples}, {seconds})")
        for s in starts:
            check_head_model(s.sequence, self.layer, f"start {s.label}")
        horizon = int(round(seconds * MOTION_FPS))
        self.check_request(len(starts), n_samples, horizon + 1)
        gen = torch.Generator(device=self.device).manual_seed(int(seed))
        pose, expression = self.generate(starts, horizon, n_samples, gen, mean)
        meta = {"generator": self.family, "generator_file": self.path, "seed": int(seed), "mean": bool(mean)}
        return [params_to_sequence(pose[:, b], expression[:, b], self.identity(s), self.layer,
                                   metadata=meta | {"start": s.label, "start_frame": s.index})
                for b, s in enumerate(starts)]


def available_memory() -> float | None:
    """Bytes of memory available to new allocations now (Linux ``MemAvailable``, else the free physical
    pages), or None where neither is known."""
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return float(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        return float(os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE"))
    except (AttributeError, OSError, ValueError):
        return None


def _gigabytes(n: float) -> str:
    return f"{n / 1e9:.3g} GB"


def params_to_sequence(pose: Tensor, expression: Tensor, shape: np.ndarray, layer: FlameLayer,
                       metadata: dict | None = None) -> FlameSequence:
    """Samples of one start - ``pose (K, T, 15)``, ``expression (K, T, n)`` at 30 Hz - as a FlameSequence
    (:meth:`~flame.sequence.FlameSequence.from_params`) with K views ``sample_000`` ..., the identity ``shape
    (n_shape,)`` and the expression padded or cut to the layer's ``n_exp``."""
    k, t, _ = pose.shape
    expr = np.zeros((k, t, layer.n_exp), np.float32)
    n = min(layer.n_exp, expression.shape[-1])
    expr[..., :n] = expression[..., :n].float().cpu().numpy()
    return FlameSequence.from_params(shape=shape, expression=expr, pose=pose.float().cpu().numpy(), fps=MOTION_FPS,
                                     model=layer.model_label, model_sha256=layer.model_sha256,
                                     view_names=[f"sample_{i:03d}" for i in range(k)], metadata=dict(metadata or {}))


def _families() -> dict[str, type[Generator]]:
    """:data:`FAMILIES`, after importing :data:`FAMILY_MODULES` (their classes register themselves)."""
    import importlib

    for module in FAMILY_MODULES:
        importlib.import_module(module)
    return FAMILIES


def family_class(family: str) -> type[Generator]:
    """The :class:`Generator` class of the family named ``family``."""
    families = FAMILIES if family in FAMILIES else _families()
    if family not in families:
        raise InputError(f"unknown generator family {family!r}; known: {sorted(families)}")
    return families[family]


@dataclass(frozen=True)
class GeneratorFile:
    """What a generator file holds: its family, settings (nested dicts), network weights and the hash of
    the head model it was trained with (``None`` in files written before it was recorded)."""

    family: str
    config: dict
    state_dict: dict
    model_sha256: str | None = None
    revision: int = 1


def checkpoint_tag(family: str, model_sha256: str) -> dict:
    """What a LightningModule of a generator family adds to its checkpoints (``checkpoint["generator"]``)."""
    return {"format": GENERATOR_FORMAT, "family": family, "model_sha256": model_sha256,
            "revision": family_class(family).revision}


def read_generator_file(path: str | os.PathLike) -> GeneratorFile:
    """An exported generator file or a Lightning ``.ckpt`` of either family (``weights_only``); anything
    else is an error naming the file."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: no such generator file (train one with `python -m motionprior fit`)")
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # noqa: BLE001 - any unpickling failure means "not our file"
        raise InputError(f"{path}: not a generator file ({type(e).__name__}: {str(e).splitlines()[0][:200]})") from None
    if not isinstance(ckpt, dict):
        raise InputError(f"{path}: not a generator file")
    if ckpt.get("format") == GENERATOR_FORMAT:
        return GeneratorFile(ckpt["family"], dict(ckpt["config"]), ckpt["state_dict"], ckpt.get("model_sha256"),
                             ckpt.get("revision", 1))
    tag = ckpt.get("generator")
    if isinstance(tag, dict) and tag.get("format") == GENERATOR_FORMAT and "hyper_parameters" in ckpt:
        state = {k[len("model."):]: v for k, v in ckpt["state_dict"].items() if k.startswith("model.")}
        config = {k: v for k, v in ckpt["hyper_parameters"].items() if not k.startswith("_")}
        return GeneratorFile(tag["family"], config, state, tag.get("model_sha256"), tag.get("revision", 1))
    raise InputError(f"{path}: not a generator file of this version (no {GENERATOR_FORMAT!r} tag); train it again or "
                     f"export it from its Lightning checkpoint")


def is_current_revision(path: str | os.PathLike) -> bool:
    """Whether the generator file ``path`` is of its family's current revision (see :class:`Generator`)."""
    return _is_current(read_generator_file(path))


def _is_current(file: GeneratorFile) -> bool:
    return file.revision == family_class(file.family).revision


def load_generator(path: str | os.PathLike, flame_model: str | None = None, assets: str | None = None,
                   device: str | torch.device = "cpu") -> Generator:
    """The generator in ``path`` (any family), loaded strictly; ``flame_model`` / ``assets`` override
    the head model recorded in its settings (the same file in another place: a different file is an error)."""
    file = read_generator_file(path)
    cls = family_class(file.family)
    if not _is_current(file):
        raise InputError(f"{path}: a {file.family} generator of revision {file.revision}, but this version reads "
                         f"revision {cls.revision} (what its weights mean changed, docs/prior.md); train it again")
    network = cls.build_network(file.config)
    try:
        network.load_state_dict(file.state_dict, strict=True)
    except RuntimeError as e:
        raise InputError(f"{path}: the weights do not fit the {file.family} network its settings describe "
                         f"({str(e).splitlines()[0]})") from None
    head = as_block(HeadModel, file.config.get("head", {}))
    head = HeadModel(flame_model or head.flame_model, assets or head.assets)
    layer = head.layer(as_block(StateSpec, file.config["state"]))
    if file.model_sha256 and file.model_sha256 != layer.model_sha256:
        raise InputError(f"{path}: trained with head model {file.model_sha256[:12]}, but {layer.model_label} is "
                         f"{layer.model_sha256[:12]}; pass the model file it was trained with")
    return cls(network, file.config, layer, path).to(device)


def export_generator(checkpoint: str | os.PathLike, path: str | os.PathLike) -> Path:
    """Write the network and settings of a Lightning checkpoint as a small standalone generator file."""
    from flame.files import atomic_write_bytes

    file = read_generator_file(checkpoint)
    family_class(file.family).build_network(file.config).load_state_dict(file.state_dict, strict=True)  # refuse a broken export
    payload = {"format": GENERATOR_FORMAT, "version": GENERATOR_VERSION, "family": file.family, "config": file.config,
               "model_sha256": file.model_sha256, "revision": file.revision, "state_dict": file.state_dict}
    atomic_write_bytes(path, lambda f: torch.save(payload, f))
    return Path(path)
