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
from eval.experiments.motion import REFERENCE_ROW
from flame.errors import InputError
from flame.sequence import MOTION_FPS

log = logging.getLogger(__name__)

__all__ = ["DemoError", "Limits", "SampleResult", "AnnotateResult", "DemoBackend"]


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
        prior: ``prior.pt`` / ``.ckpt`` of a trained HuMoR-Face prior.
        data: where the start frames come from (annotation output, corpus, split manifest).
        workdir: request folders go to ``workdir/requests``.
        flame_model / assets: head model (default: the one recorded with the prior).
        encoder_cache: cached landmark encoders (for the annotate tab).
        split: the split offering start frames and the real motion to compare with.
        limits: per-request limits.
        encoder: a landmark encoder already loaded for this head model (default: from ``encoder_cache``,
            pretrained there on first use).
    """

    def __init__(self, prior: str | Path, data: str | Path, workdir: str | Path = "runs/demo",
                 flame_model: str | None = None, assets: str | None = None,
                 encoder_cache: str = DEFAULT_ENCODER_CACHE, split: str = "test", limits: Limits = Limits(),
                 encoder=None) -> None:
        from flame.layout import find_sequences
        from motionprior.clips import load_clips
        from motionprior.prior_file import load_prior
        from motionprior.state import prior_layer

        self.model, config = load_prior(prior)
        self.prior_path = Path(prior)
        self.layer = prior_layer(self.model.spec, flame_model or config.get("flame_model"),
                                 assets or config.get("assets"))
        self.feedback = config.get("feedback", "none")
        self.clips = load_clips(find_sequences(data, split), self.layer, self.model.spec, min_seconds=0.0, progress=False)
        if not self.clips:
            raise DemoError(f"{data}: no {split} sequences to start from; point --data to an annotation output or corpus")
        self.by_name = {c.name: c for c in self.clips}
        self.data, self.split = data, split
        self._real = None
        self.workdir, self.limits, self.encoder_cache = Path(workdir), limits, encoder_cache
        self._encoder = encoder

    @property
    def real(self) -> dict:
        """The motion the samples are scored against (``"real"``: the ``split``'s clips as evaluator
        features) and the rows every request shows beside the samples (``"rows"``: real clips of the
        other splits' identities and the real clips themselves, scored by the evaluator). Computed on
        first use, then kept: they do not depend on the request."""
        if self._real is None:
            from eval.experiments.motion import score_motion
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
        return list(self.by_name)

    def clip(self, name: str):
        if name not in self.by_name:
            raise DemoError(f"unknown sequence {name!r}; pick one of the list ({len(self.by_name)} test sequences)")
        return self.by_name[name]

    def n_frames(self, name: str) -> int:
        return len(self.clip(name).states)

    def _frame(self, name: str, frame) -> int:
        n = self.n_frames(name)
        if frame is None or not np.isfinite(float(frame)) or not 0 <= int(frame) < n:
            raise DemoError(f"start frame {frame} is outside sequence {name!r} (frames 0..{n - 1} at "
                            f"{MOTION_FPS:g} Hz)")
        return int(frame)

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
        """``(size, size, 3)`` uint8 render of a start frame (front camera, labelled)."""
        from flame.camera import OrthoCamera
        from flame.draw import put_text, to_uint8
        from flame.render import render_mesh
        from motionprior.rollout import FRONT_CAMERA
        from motionprior.state import states_to_params

        clip = self.clip(name)
        t = self._frame(name, frame)
        params = states_to_params(torch.as_tensor(clip.states[t:t + 1]), self.model.spec,
                                  torch.as_tensor(clip.shape)[None], self.layer.n_exp)
        with torch.no_grad():
            verts = self.layer(params).vertices
        cam = OrthoCamera(torch.tensor([FRONT_CAMERA]), size)
        img = to_uint8(render_mesh(verts, self.layer.faces, cam, (size, size), colors=self.layer.vertex_colors)[0])
        img = put_text(img, f"{name} frame {t}", (4, 4), scale=max(1, size // 256))
        if self.layer.is_standin:
            img = put_text(img, "STAND-IN, NOT FLAME", (4, size - 12), color=(150, 0, 0), scale=max(1, size // 256))
        return img

    def sample(self, name: str, frame: int, samples: int, seconds: float, seed: int, use_mean: bool = False,
               mesh_second: float = 0.0, size: int = 128) -> SampleResult:
        """Roll out ``samples`` motions of ``seconds`` from a start frame; renders, plot, files, metrics."""
        import matplotlib.pyplot as plt

        from eval.experiments.motion import score_motion
        from eval.motion_features import sequence_features
        from flame.mesh_io import write_glb, write_obj
        from motionprior.rollout import plot_rollout, render_samples, sample_states, states_to_sequence
        from motionprior.state import states_to_params

        lim = self.limits
        clip = self.clip(name)
        t0 = self._frame(name, frame)
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
        horizon = max(1, int(round(seconds * MOTION_FPS)))
        x0 = torch.as_tensor(clip.states[t0:t0 + 1])
        shape = torch.as_tensor(clip.shape)[None]
        states = sample_states(self.model, x0, horizon, samples, use_mean=use_mean, seed=seed, feedback=self.feedback,
                               layer=self.layer, shape=shape)
        seq = states_to_sequence(states[:, 0], self.model.spec, clip.shape, self.layer,
                                 metadata={"start": name, "start_frame": t0, "seed": seed, "use_mean": use_mean,
                                           "checkpoint": str(self.prior_path), "feedback": self.feedback})
        seq_path = seq.save(out / "samples.npz")
        video = render_samples(self.layer, seq, out / "samples.mp4", size=size, max_samples=min(samples, 9),
                               progress=False)
        fig = plot_rollout(states[:min(samples, 8), 0], self.model.spec, real=torch.as_tensor(clip.states[t0:]),
                           title=f"{name} from frame {t0} ({'prior mean' if use_mean else 'sampled'}; {self.model_label})")
        fig.savefig(out / "curves.png", dpi=80)
        plt.close(fig)
        real = self.real
        samples_row = score_motion({SAMPLES_ROW: [sequence_features(seq, self.layer, name)]}, real["real"],
                                   real_row=False)["rows"]
        k = min(horizon, int(round(mesh_second * MOTION_FPS)))
        params = states_to_params(states[0, 0, k:k + 1], self.model.spec, shape, self.layer.n_exp)
        with torch.no_grad():
            verts = self.layer(params).vertices[0].numpy()
        faces = self.layer.faces.numpy()
        colors = self.layer.vertex_colors.numpy() if self.layer.vertex_colors is not None else None
        comment = f"{self.model_label}; sample 0 of {name} at {k / MOTION_FPS:.2f} s"
        obj = write_obj(out / f"sample0_{k:04d}.obj", verts, faces, colors, comment=comment)
        glb = write_glb(out / f"sample0_{k:04d}.glb", verts, faces, colors)
        return SampleResult(video=video, plot=out / "curves.png", sequence=seq_path, obj=obj, glb=glb,
                            metrics={r["set"]: r for r in samples_row + real["rows"]}, samples=samples, horizon_frames=horizon,
                            seconds=time.perf_counter() - start)

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
        from eval.experiments.score import stability_scores

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
