"""The corpus runner: annotate many inputs, one manifest line each, resumable and shardable.

``python -m annotator run --method neuface --input IN --output OUT`` where IN is a synthetic corpus
(its ``manifest.jsonl``), a video, a folder of videos, a folder of multi-view capture folders (MEAD
layout), a multi-view capture folder, or a capture / landmark file.

* Each input becomes ``OUT/[split/]<id>.npz`` (a FlameSequence), written atomically; optional overlay
  videos and meshes go to ``OUT/overlays`` and ``OUT/meshes``.
* ``OUT/manifest[.shard-i-of-n].jsonl`` gets one JSON line per input: status (``done``, ``rejected``,
  ``failed``), timings, final losses, quality flags, error (the layout and the merge rule of shards
  and reruns: :mod:`flame.layout`). A rerun skips inputs already ``done`` whose output exists
  (resume); nothing finished is rewritten.
* ``--shard i/n`` processes every n-th input starting at i (for cluster array jobs).
* Quality gate: inputs with too many frames without a face are rejected before fitting; sequences
  whose identity is far outside the model's prior are flagged (and dropped with ``drop_flagged``).
* Isolation: any error in one input (corrupt video, no face...) is recorded and the run goes on.
"""

from __future__ import annotations

import logging
import os
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from tqdm import tqdm

from annotator.capture import Capture
from annotator.neuface import AnnotateConfig, annotate
from annotator.pretrain import DEFAULT_ENCODER_CACHE, PretrainConfig
from annotator.sources import VIDEO_EXTENSIONS, load_capture, view_layout
from flame.errors import InputError
from flame.head import DEFAULT_ASSETS
from flame.layout import (
    CAPTURE_FILE,
    annotation_manifest,
    append_record,
    is_corpus,
    parse_shard,
    read_annotations,
    read_corpus,
)

__all__ = ["RunConfig", "Job", "discover_jobs", "run", "quality_flags"]

log = logging.getLogger(__name__)


@dataclass
class RunConfig:
    """Settings of ``python -m annotator run``.

    Attributes:
        input: what to annotate (see the module docstring).
        output: output folder.
        method: ``neuface``, ``fit`` or ``regress`` (overrides ``annotate.method``).
        model: FLAME model file (landmark embedding next to it, and ``mediapipe_landmark_embedding.npz`` for the
            dense term); default: the stand-in in ``assets``.
        assets: folder of the cached stand-in.
        encoder_cache: folder of pretrained landmark encoders (cached by model hash).
        shard: ``i/n`` to process every n-th input from the i-th (0-based).
        detector: ``dlib``, ``mediapipe`` or ``fan`` (real videos only; :mod:`annotator.detect`).
        predictor: path of dlib's 68-point predictor (default: found automatically).
        truncate: cut the views of a multi-view capture to the shortest instead of failing.
        max_frames: annotate at most this many frames per input.
        max_failed_fraction: reject inputs with a larger fraction of frames without a face.
        max_shape_rms: flag identities whose shape coefficients' RMS exceeds this (prior std = 1).
        drop_flagged: do not write flagged sequences (status ``rejected``).
        overlay: write overlay videos (detected vs fitted landmarks, shaded mesh over the frames).
        mesh_frames: frame indices to export as OBJ meshes (first view).
        encoder: ``landmark`` (default, pretrained by the project) or ``deca`` (DECA's image encoder,
            needs ``deca_model`` and video frames; use ``--annotate.lr 2e-5`` as in the official code).
        deca_model: path of DECA's ``deca_model.tar``.
        annotate: optimization settings.
        pretrain: settings of the landmark encoder (part of its cache key).
    """

    input: str
    output: str
    method: str = "neuface"
    model: str | None = None
    assets: str = DEFAULT_ASSETS
    encoder_cache: str = DEFAULT_ENCODER_CACHE
    shard: str = "0/1"
    detector: str = "dlib"
    predictor: str | None = None
    truncate: bool = False
    max_frames: int | None = None
    max_failed_fraction: float = 0.5
    max_shape_rms: float = 2.0
    drop_flagged: bool = False
    overlay: bool = False
    mesh_frames: list[int] = field(default_factory=list)
    encoder: str = "landmark"
    deca_model: str | None = None
    annotate: AnnotateConfig = field(default_factory=AnnotateConfig)
    pretrain: PretrainConfig = field(default_factory=PretrainConfig)


@dataclass(frozen=True)
class Job:
    """One input: its id, split (for corpora), path, and kind."""

    id: str
    path: Path
    kind: str  # "capture", "video", "folder", "landmarks"
    split: str = ""

    @property
    def output_name(self) -> str:
        return f"{self.split}/{self.id}.npz" if self.split else f"{self.id}.npz"


def discover_jobs(path: str | os.PathLike) -> list[Job]:
    """The inputs found at ``path``, in a stable order."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path}: no such input")
    if path.is_dir() and is_corpus(path):
        return [Job(s.id, s.capture, "capture", s.split) for s in read_corpus(path).sequences]
    if path.is_file():
        kind = "video" if path.suffix.lower() in VIDEO_EXTENSIONS else "capture" if path.suffix in (".npz", ".npy") else ""
        if not kind:
            raise InputError(f"{path}: not a video ({', '.join(VIDEO_EXTENSIONS)}), capture or landmark file")
        return [Job(path.stem, path, kind)]
    if (path / CAPTURE_FILE).is_file():
        return [Job(path.name, path, "capture")]
    views = view_layout(path)
    subdirs = [p for p in sorted(path.iterdir()) if p.is_dir()]
    if len(views) >= 2 and not any(view_layout(d) for d in subdirs if len(view_layout(d)) >= 2):
        return [Job(path.name, path, "folder")]
    jobs = [Job(p.stem, p, "video") for p in sorted(path.iterdir()) if p.is_file() and p.suffix.lower() in VIDEO_EXTENSIONS]
    for d in subdirs:
        if (d / CAPTURE_FILE).is_file():
            jobs.append(Job(d.name, d, "capture"))
        elif len(view_layout(d)) >= 1:
            jobs.append(Job(d.name, d, "folder"))
    if not jobs:
        raise InputError(f"{path}: no videos, capture folders or corpus found")
    return jobs


def quality_flags(capture: Capture, shape: np.ndarray | None, cfg: RunConfig) -> list[str]:
    flags = []
    failed = 1.0 - float(capture.valid.mean())
    if failed > cfg.max_failed_fraction:
        flags.append(f"too_many_failed_frames ({failed:.0%} without a face)")
    if shape is not None:
        rms = float(np.sqrt(np.mean(np.square(shape))))
        if rms > cfg.max_shape_rms:
            flags.append(f"shape_out_of_distribution (rms {rms:.2f} > {cfg.max_shape_rms})")
    return flags


def run(cfg: RunConfig, progress: bool = True) -> list[dict]:
    """Annotate every input of ``cfg.input`` (this shard); returns the manifest entries written now."""
    from annotator.pretrain import load_or_pretrain
    from flame.head import head_layer

    cfg.annotate.method = cfg.method
    try:
        cfg.annotate.check_applicable()
    except ValueError as e:
        raise InputError(f"--annotate: {e}") from None
    output = Path(cfg.output)
    output.mkdir(parents=True, exist_ok=True)
    i, n = parse_shard(cfg.shard)
    jobs = discover_jobs(cfg.input)[i::n]
    manifest = annotation_manifest(output, i, n)
    done = {k for k, r in read_annotations(output).items() if r["status"] == "done"}
    todo = [j for j in jobs if j.id not in done]
    log.info("%d inputs in this shard, %d already done", len(jobs), len(jobs) - len(todo))
    if not todo:
        return []
    layer = head_layer(cfg.model, assets=cfg.assets)
    prior = None
    if cfg.annotate.prior:
        from annotator.motion_term import load_motion_prior
        from flame.head import resolve_model_file

        prior = load_motion_prior(cfg.annotate.prior, layer, resolve_model_file(cfg.model, cfg.assets))
    dense = None
    if cfg.annotate.lambda_dense > 0:
        from flame.embedding import find_mesh_point_embedding, load_mesh_point_embedding
        from flame.head import resolve_model_file

        model_file = resolve_model_file(cfg.model, cfg.assets)
        found = find_mesh_point_embedding(model_file)
        if found is None:
            raise InputError(f"--annotate.lambda_dense: no mediapipe_landmark_embedding.npz next to {model_file}; put "
                             "the model's MediaPipe embedding there or set lambda_dense to 0")
        dense = load_mesh_point_embedding(found)
    encoder = None  # the landmark encoder is loaded (pretrained on first use) when an input gets that far
    if cfg.encoder == "deca":
        from annotator.encoders import load_deca_encoder

        if not cfg.deca_model:
            raise InputError("--encoder deca needs --deca_model PATH/deca_model.tar")
        encoder = load_deca_encoder(cfg.deca_model)
    elif cfg.encoder != "landmark":
        raise InputError(f"--encoder must be landmark or deca, got {cfg.encoder!r}")
    detector = None
    written = []
    for job in tqdm(todo, desc=f"annotate ({cfg.method})", unit="seq", disable=not progress):
        t0 = time.perf_counter()
        entry = {"id": job.id, "input": str(job.path), "output": job.output_name, "method": cfg.method,
                 "split": job.split}
        try:
            if job.kind in ("video", "folder") and detector is None:
                from annotator.detect import make_detector

                detector = make_detector(cfg.detector, cfg.predictor)
            capture = load_capture(job.path, detector=detector, truncate=cfg.truncate, max_frames=cfg.max_frames,
                                   progress=progress)
            if cfg.max_frames is not None and capture.n_frames > cfg.max_frames:
                capture = capture.frames(slice(0, cfg.max_frames))
            entry.update(views=capture.n_views, frames=capture.n_frames, detect_seconds=round(time.perf_counter() - t0, 2),
                         valid_fraction=round(float(capture.valid.mean()), 4))
            flags = quality_flags(capture, None, cfg)
            if flags:
                entry.update(status="rejected", flags=flags)
            else:
                crops = _crops(capture, job, cfg) if cfg.encoder == "deca" else None
                if encoder is None:
                    encoder = load_or_pretrain(layer, cfg.encoder_cache, cfg.pretrain, progress=progress)
                result = annotate(capture, layer, encoder, cfg.annotate, crops=crops, prior=prior, dense=dense)
                flags = quality_flags(capture, result.sequence.shape, cfg)
                entry.update(fit_seconds=round(result.seconds, 2), flags=flags,
                             losses=result.history[-1] if result.history else {})
                if flags and cfg.drop_flagged:
                    entry["status"] = "rejected"
                else:
                    seq = result.sequence.replace(metadata=dict(result.sequence.metadata, flags=flags))
                    seq.save(output / job.output_name)
                    _visuals(cfg, layer, seq, capture, job, output)
                    entry["status"] = "done"
        except Exception as e:  # isolation: record and go on
            entry.update(status="failed", error=f"{type(e).__name__}: {e}")
            log.debug("failed %s:\n%s", job.id, traceback.format_exc())
        entry["seconds"] = round(time.perf_counter() - t0, 2)
        append_record(manifest, entry)
        written.append(entry)
    return written


def _video_paths(capture: Capture, job: Job) -> list[Path | None]:
    """Per view, the video (or frame folder) the capture came from, if it can be found."""
    paths: list[Path | None] = []
    for v in range(capture.n_views):
        src = Path(str(capture.videos[v])) if capture.videos is not None and capture.videos[v] else None
        if src is not None and not src.is_absolute() and not src.exists():
            src = job.path.parent / src if job.path.is_file() else job.path / src
        paths.append(src if src is not None and src.exists() else None)
    return paths


def _crops(capture: Capture, job: Job, cfg: RunConfig):
    from annotator.neuface import crops_for
    from annotator.sources import iter_view

    paths = _video_paths(capture, job)
    if any(p is None for p in paths):
        raise InputError(f"{job.path}: DECA's encoder needs the video frames of every view, and some are missing")
    return crops_for(capture, [iter_view(p) for p in paths])


def _visuals(cfg: RunConfig, layer, seq, capture: Capture, job: Job, output: Path) -> None:
    from annotator.overlay import write_overlay_video
    from flame.mesh_io import export_meshes
    from annotator.sources import iter_view

    if cfg.overlay:
        for v, src in enumerate(_video_paths(capture, job)):
            frames = (f for i, f in enumerate(iter_view(src)) if i < seq.n_frames) if src is not None else None
            write_overlay_video(layer, seq, v, output / "overlays" / f"{job.id}_{seq.view_names[v]}.mp4", frames)
    if cfg.mesh_frames:
        export_meshes(layer, seq, cfg.mesh_frames, output / "meshes" / job.id)
