"""What the demo does, without the web layer: sample long motion from a start frame, annotate a clip.

:class:`DemoBackend` holds a trained prior, the head model and the clips of a test split. Every
request validates its inputs against :class:`Limits` (a :class:`DemoError` says what is wrong and how
to fix it), works in its own folder under ``workdir/requests`` and returns file paths and numbers.
"""

from __future__ import annotations

import logging
import shutil
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from annotator.pretrain import DEFAULT_ENCODER_CACHE
from eval.motion import REFERENCE_ROW
from flame.errors import InputError
from flame.sequence import MOTION_FPS

log = logging.getLogger(__name__)

__all__ = ["DemoError", "Limits", "SampleResult", "InpaintResult", "AnnotateResult", "DemoBackend"]


def _short(path: Path) -> str:
    """A generator file named by its training run (``runs/prior/quick`` for ``.../lightning_logs/...``)."""
    parts = path.parts
    if "lightning_logs" in parts:
        return str(Path(*parts[:parts.index("lightning_logs")]))
    return str(path)


SAMPLES_ROW = "these samples"


class DemoError(InputError):
    """A request the demo refuses; the message is shown to the user."""


@dataclass(frozen=True)
class Limits:
    """Per-request work limits (one user must not exhaust the machine).

    Attributes:
        max_samples: samples per request; max_seconds: horizon in seconds.
        max_video_seconds / max_video_frames: length of an uploaded clip; max_upload_mb: its size.
        keep_requests: request folders kept on disk (the oldest are deleted).
    """

    max_samples: int = 16
    max_seconds: float = 20.0
    max_video_seconds: float = 20.0
    max_video_frames: int = 600
    max_upload_mb: float = 50.0
    keep_requests: int = 50


@dataclass(frozen=True)
class SampleResult:
    """Files and numbers of one sample request (paths inside the request folder); ``metrics``: the motion
    evaluator's rows by set - :data:`SAMPLES_ROW`, :data:`REFERENCE_ROW` and the real clips themselves."""

    video: Path
    plot: Path
    sequence: Path
    obj: Path
    glb: Path
    metrics: dict
    samples: int
    horizon_frames: int
    seconds: float


@dataclass(frozen=True)
class InpaintResult:
    """Files and numbers of one inpainting request: the video grid (real, linear interpolation, the
    completions), the curves, and ``table`` rows of errors over the removed frames per method."""

    video: Path
    plot: Path
    sequence: Path
    table: list[dict]
    gap_frames: tuple[int, int]
    seconds: float


@dataclass(frozen=True)
class AnnotateResult:
    """Files and numbers of one annotation request; ``table`` rows: NeuFace and ``regress``."""

    overlay: Path
    sequence: Path
    table: list[dict]
    frames: int
    valid_fraction: float
    seconds: float


class DemoBackend:
    """The demo's work (see the module docstring).

    Args:
        prior: generator files (``prior.pt`` / ``.ckpt`` of any family), one path or several (a list, or
            comma-separated); the user picks one per request. They must share the head model.
        data: where the start frames come from (annotation output, corpus, split manifest).
        workdir: request folders go to ``workdir/requests``.
        flame_model / assets: head model (default: the one recorded with the generators).
        encoder_cache: cached landmark encoders (for the annotate tab).
        split: the split offering start frames and the real motion to compare with.
        limits: per-request limits.
        encoder: a landmark encoder already loaded for this head model (default: from ``encoder_cache``,
            pretrained there on first use).
    """

    def __init__(self, prior: str | Path | list, data: str | Path, workdir: str | Path = "runs/demo",
                 flame_model: str | None = None, assets: str | None = None,
                 encoder_cache: str = DEFAULT_ENCODER_CACHE, split: str = "test", limits: Limits = Limits(),
                 encoder=None) -> None:
        from motionprior.generator import load_generator
        from motionprior.sample import all_starts

        paths = [Path(p) for p in (prior if isinstance(prior, (list, tuple)) else str(prior).split(",")) if str(p)]
        self.generators = {}
        for path in paths:
            gen = load_generator(path, flame_model, assets)
            self.generators[f"{gen.family}: {_short(path)}"] = gen
        self.prior_path = paths[0]
        self.layer = next(iter(self.generators.values())).layer
        for label, gen in self.generators.items():
            if gen.layer.model_sha256 != self.layer.model_sha256:
                raise DemoError(f"{label} uses head model {gen.layer.model_label}, the others {self.layer.model_label}; "
                                f"pass generators trained on the same head model")
        self.starts = {s.label: s for s in all_starts(data, split)}
        if not self.starts:
            raise DemoError(f"{data}: no {split} sequences to start from; point --data to an annotation output or corpus")
        self.data, self.split = data, split
        self._real = None
        self.workdir, self.limits, self.encoder_cache = Path(workdir), limits, encoder_cache
        self._encoder = encoder

    def generator_names(self) -> list[str]:
        return list(self.generators)

    def inpainting_names(self) -> list[str]:
        """The generators that can complete a clip with a gap (the diffusion family)."""
        return [k for k, g in self.generators.items() if g.can_inpaint]

    def generator(self, label: str | None):
        if label is None:
            return next(iter(self.generators.values()))
        if label not in self.generators:
            raise DemoError(f"unknown generator {label!r}; pick one of {list(self.generators)}")
        return self.generators[label]

    @property
    def real(self) -> dict:
        """The motion the samples are scored against (``"real"``: the ``split``'s clips as evaluator
        features) and the rows every request shows beside the samples (``"rows"``: real clips of the
        other splits' identities and the real clips themselves, scored by the evaluator). Computed on
        first use, then kept: they do not depend on the request."""
        if self._real is None:
            from eval.motion import score_motion
            from eval.motion_features import load_motion_set
            from flame.layout import SPLITS

            real = load_motion_set(f"{self.data}@{self.split}", self.layer, progress=False)
            others = [f"{self.data}@{s}" for s in SPLITS if s != self.split]
            reference = [c for src in others for c in self._try_load(src)]
            rows = score_motion({}, real, {REFERENCE_ROW: reference} if reference else {})["rows"]
            self._real = {"real": real, "rows": rows}
        return self._real

    def _try_load(self, source: str) -> list:
        from eval.motion_features import load_motion_set

        try:
            return load_motion_set(source, self.layer, progress=False)
        except (InputError, FileNotFoundError):  # a split without sequences
            return []

    # ------------------------------------------------------------------ labels and inputs
    @property
    def model_label(self) -> str:
        """What the head model is, for every output (the stand-in is never called FLAME)."""
        if self.layer.is_standin:
            return "procedural STAND-IN head (not FLAME) - FLAME is licensed and not shipped"
        return f"FLAME ({self.layer.model_name})"

    def sequence_names(self) -> list[str]:
        return list(self.starts)

    def start(self, name: str, frame: int = 0):
        """The start ``name`` at ``frame`` (its own frame index), validated."""
        from dataclasses import replace

        if name not in self.starts:
            raise DemoError(f"unknown sequence {name!r}; pick one of the list ({len(self.starts)} test sequences)")
        start = self.starts[name]
        n = start.sequence.n_frames
        if frame is None or not np.isfinite(float(frame)) or not 0 <= int(frame) < n:
            raise DemoError(f"start frame {frame} is outside sequence {name!r} (frames 0..{n - 1} at "
                            f"{start.sequence.fps:g} fps)")
        return replace(start, frame=int(frame))

    def n_frames(self, name: str) -> int:
        return self.start(name).sequence.n_frames

    def fps(self, name: str) -> float:
        return float(self.start(name).sequence.fps)

    def _request_dir(self) -> Path:
        root = self.workdir / "requests"
        root.mkdir(parents=True, exist_ok=True)
        old = sorted((p for p in root.iterdir() if p.is_dir()), key=lambda p: p.stat().st_mtime)
        for p in old[:max(0, len(old) - self.limits.keep_requests + 1)]:
            shutil.rmtree(p, ignore_errors=True)
        d = root / uuid.uuid4().hex[:12]
        d.mkdir()
        return d

    # ------------------------------------------------------------------ sample tab
    def preview(self, name: str, frame: int, size: int = 256) -> np.ndarray:
        """``(size, size, 3)`` uint8 render of a start frame (the whole head, labelled)."""
        from flame.camera import OrthoCamera
        from flame.draw import put_text, to_uint8
        from flame.render import render_mesh
        from flame.sequence import sequence_to_params
        from motionprior.figures import head_camera

        start = self.start(name, frame)
        params = sequence_to_params(start.sequence, self.layer, start.view, slice(start.index, start.index + 1))
        with torch.no_grad():
            verts = self.layer(params).vertices
        cam = OrthoCamera(head_camera(self.layer, start.sequence.shape), size)
        img = to_uint8(render_mesh(verts, self.layer.faces, cam, (size, size), colors=self.layer.vertex_colors)[0])
        img = put_text(img, f"{name} frame {start.index}", (4, 4), scale=max(1, size // 256))
        if self.layer.is_standin:
            img = put_text(img, "STAND-IN, NOT FLAME", (4, size - 12), color=(150, 0, 0), scale=max(1, size // 256))
        return img

    def sample(self, name: str, frame: int, samples: int, seconds: float, seed: int, use_mean: bool = False,
               mesh_second: float = 0.0, size: int = 160, generator: str | None = None) -> SampleResult:
        """``samples`` motions of ``seconds`` from a start frame with the chosen generator; renders, plot,
        files, metrics."""
        import matplotlib.pyplot as plt

        from eval.motion import score_motion
        from eval.motion_features import sequence_features
        from flame.mesh_io import export_meshes
        from motionprior.figures import plot_samples, render_samples

        lim = self.limits
        gen = self.generator(generator)
        start_clip = self.start(name, frame)
        try:
            samples, seconds, seed = int(samples), float(seconds), int(seed)
        except (TypeError, ValueError):
            raise DemoError("samples, seconds and seed must be numbers") from None
        if not 1 <= samples <= lim.max_samples:
            raise DemoError(f"samples must be between 1 and {lim.max_samples} (got {samples})")
        if not (np.isfinite(seconds) and 0 < seconds <= lim.max_seconds):
            raise DemoError(f"horizon must be between 0 and {lim.max_seconds:g} seconds (got {seconds})")
        if not 0 <= seed < 2**31:
            raise DemoError(f"seed must be between 0 and 2^31 - 1 (got {seed})")
        if not (np.isfinite(mesh_second) and 0 <= mesh_second <= seconds):
            raise DemoError(f"mesh time must be within the horizon 0..{seconds:g} s (got {mesh_second})")
        start = time.perf_counter()
        out = self._request_dir()
        seq = gen.sample([start_clip], samples, seconds, seed=seed, mean=use_mean)[0]
        horizon = seq.n_frames - 1
        seq_path = seq.save(out / "samples.npz")
        video = render_samples(self.layer, seq, out / "samples.mp4", size=size, max_samples=min(samples, 9),
                               progress=False)
        fig = plot_samples(seq, start_clip.sequence, start_clip.view, start_clip.index,
                           title=f"{name} from frame {start_clip.index} ({'deterministic' if use_mean else 'sampled'}; "
                                 f"{gen.family}; {self.model_label})")
        fig.savefig(out / "curves.png", dpi=80)
        plt.close(fig)
        real = self.real
        samples_row = score_motion({SAMPLES_ROW: [sequence_features(seq, self.layer, name)]}, real["real"],
                                   real_row=False)["rows"]
        k = min(horizon, int(round(mesh_second * MOTION_FPS)))
        obj, glb = (export_meshes(self.layer, seq, [k], out, view=0, fmt=fmt)[0] for fmt in ("obj", "glb"))
        return SampleResult(video=video, plot=out / "curves.png", sequence=seq_path, obj=obj, glb=glb,
                            metrics={r["set"]: r for r in samples_row + real["rows"]}, samples=samples, horizon_frames=horizon,
                            seconds=time.perf_counter() - start)

    # ------------------------------------------------------------------ inpaint tab
    def inpaint(self, name: str, gap_start: float, gap_seconds: float, samples: int, seed: int,
                generator: str | None = None, size: int = 160) -> InpaintResult:
        """Remove ``gap_seconds`` from view ``name`` (at 30 Hz) from ``gap_start`` on, complete them with a
        long-context generator, and compare with what was removed and with linear interpolation
        (:func:`eval.gaps.compare_completions`)."""
        from eval.gaps import clip_at_motion_rate, compare_completions, plot_gap_curves
        from flame.sequence import FlameSequence
        from motionprior.figures import render_samples

        names = self.inpainting_names()
        if not names:
            raise DemoError("no loaded generator can inpaint; start the demo with a long-context (motion-diffusion) "
                            "generator in --prior")
        label = generator if generator is not None else names[0]
        if label not in names:
            raise DemoError(f"{label!r} cannot inpaint; pick one of {names}")
        try:
            gap_start, gap_seconds, samples, seed = float(gap_start), float(gap_seconds), int(samples), int(seed)
        except (TypeError, ValueError):
            raise DemoError("gap start, gap length, samples and seed must be numbers") from None
        if not 1 <= samples <= self.limits.max_samples:
            raise DemoError(f"samples must be between 1 and {self.limits.max_samples} (got {samples})")
        if not 0 <= seed < 2**31:
            raise DemoError(f"seed must be between 0 and 2^31 - 1 (got {seed})")
        start = self.start(name)
        clip = clip_at_motion_rate(start.sequence, start.view, self.layer)
        t = clip.n_frames
        a, b = int(round(gap_start * MOTION_FPS)), int(round((gap_start + gap_seconds) * MOTION_FPS))
        if not (np.isfinite(gap_start) and np.isfinite(gap_seconds) and 1 <= a < b <= t - 1):
            raise DemoError(f"the gap must lie inside the clip with a frame on each side: 0 < start, start + length < "
                            f"{(t - 1) / MOTION_FPS:.2f} s (got {gap_start:g} + {gap_seconds:g} s)")
        began = time.perf_counter()
        out = self._request_dir()
        cmp = compare_completions(self.generators[label], clip, a, b, samples, seed, name)
        seq_path = cmp.completed.save(out / "completed.npz")
        shown = min(cmp.completed.n_views + 2, 9)
        grid = FlameSequence.stack_views([clip, cmp.linear, cmp.completed])
        video = render_samples(self.layer, grid, out / "inpainting.mp4", size=size, max_samples=shown, progress=False,
                               labels=["real", "linear"] + [f"#{i + 1}" for i in range(shown - 2)])
        plot = plot_gap_curves(out / "inpainting.png", [(name, cmp)], completions=samples)
        return InpaintResult(video=video, plot=plot, sequence=seq_path, table=cmp.table, gap_frames=(a, b),
                             seconds=time.perf_counter() - began)

    # ------------------------------------------------------------------ annotate tab
    def _check_video(self, path) -> dict:
        from annotator.sources import video_info

        if path is None or not str(path):
            raise DemoError("no video: upload a short face video (mp4 / webm / mov) or pick an example")
        path = Path(path)
        if not path.is_file():
            raise DemoError(f"{path.name}: the upload did not arrive; try again")
        mb = path.stat().st_size / 2**20
        if mb > self.limits.max_upload_mb:
            raise DemoError(f"{path.name}: {mb:.0f} MB is over the {self.limits.max_upload_mb:g} MB limit; "
                            f"cut or compress it (e.g. ffmpeg -i IN -t 10 -vf scale=640:-2 OUT.mp4)")
        try:
            info = video_info(path)
        except (ValueError, OSError) as e:
            raise DemoError(f"{path.name}: not a readable video ({e}); upload an mp4 / webm / mov") from None
        length = info["n_frames"] / info["fps"]
        if length > self.limits.max_video_seconds or info["n_frames"] > self.limits.max_video_frames:
            raise DemoError(f"{path.name}: {length:.1f} s / {info['n_frames']} frames is too long (limit "
                            f"{self.limits.max_video_seconds:g} s and {self.limits.max_video_frames} frames); "
                            f"cut it, e.g. ffmpeg -i IN -t {self.limits.max_video_seconds:g} OUT.mp4")
        return info

    def encoder(self):
        if self._encoder is None:
            from annotator.pretrain import load_or_pretrain

            self._encoder = load_or_pretrain(self.layer, self.encoder_cache)
        return self._encoder

    def annotate(self, video, progress=None) -> AnnotateResult:
        """Detect, annotate with NeuFace and ``regress``, write the overlay and the sequence file.
        ``progress(fraction, text)`` is called between stages."""
        from annotator.detect import make_detector
        from annotator.neuface import AnnotateConfig, annotate
        from annotator.overlay import write_overlay_video
        from annotator.sources import capture_from_video, iter_video
        from eval.annotation import stability_scores

        report = progress or (lambda f, text: None)
        self._check_video(video)
        start = time.perf_counter()
        out = self._request_dir()
        report(0.05, "detecting the face (dlib)")
        try:
            capture = capture_from_video(video, make_detector("dlib"), progress=False)
        except ValueError as e:  # e.g. no face in any frame; the upload's temporary path means nothing to the user
            raise DemoError(f"{str(e).replace(str(video), Path(video).name)}; upload a clip with one clearly visible "
                            f"face") from None
        valid = float(capture.valid.mean())
        if valid == 0.0:
            raise DemoError(f"{Path(video).name}: no face was detected in any frame; upload a clip with one clearly "
                            f"visible face")
        encoder = self.encoder()
        table, sequences = [], {}
        for i, method in enumerate(("regress", "neuface")):
            report(0.3 + 0.3 * i, f"annotating ({method})")
            res = annotate(capture, self.layer, encoder, AnnotateConfig(method=method))
            sequences[method] = res.sequence
            scores = stability_scores(self.layer, res.sequence, capture.landmarks, capture.valid)
            table.append({"method": "NeuFace" if method == "neuface" else "regress (per frame)",
                          "NME vs detections %": scores["nme_det"], "MSI landmarks (higher steadier)": scores["msi_l"],
                          "jitter mm/s^3": scores["jitter_mm_s3"], "seconds": res.seconds})
        report(0.9, "writing the overlay video")
        seq_path = sequences["neuface"].save(out / "neuface.npz")
        overlay = write_overlay_video(self.layer, sequences["neuface"], 0, out / "overlay.mp4", frames=iter_video(video))
        return AnnotateResult(overlay=overlay, sequence=seq_path, table=table, frames=capture.n_frames,
                              valid_fraction=valid, seconds=time.perf_counter() - start)
