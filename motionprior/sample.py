"""``python -m motionprior sample``: long motions from start frames of a data split, with any generator.

For each of ``starts`` clips of the split (evenly spread over the clips; each view of a sequence is a
clip), from frame ``start_frame`` of the clip (its own frame index; the frames before it are the given
past), generate ``samples`` motions of ``seconds`` at 30 Hz (:mod:`motionprior.generator`) and write,
into ``out``:

* ``<start>.npz``: a FlameSequence with one view per sample (identity from the start);
* ``<start>.mp4``: a video grid of the first ``render`` samples (0: no video); ``<start>_pose.png``: the
  samples' head angles and jaw opening against the start clip's, for the first ``plots`` starts;
* ``samples.json``: the settings, the start clips, their files and the timings.

Files are named by the start clips' names (:func:`flame.layout.sequence_name` and the view, ``/`` as
``_``), which are unique within a data set; two starts never write the same file.

``python -m eval sample`` runs this and scores the files with the motion evaluator.
"""

from __future__ import annotations

import logging
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

log = logging.getLogger(__name__)

__all__ = ["SampleConfig", "SampleRun", "sample_prior", "pick_starts", "sample_files", "SAMPLES_INFO"]

#: the run's record in the output folder
SAMPLES_INFO = "samples.json"


@dataclass
class SampleConfig:
    """Settings of a sampling run.

    Attributes:
        checkpoint: the generator: ``prior.pt`` or a Lightning ``.ckpt`` of ``python -m motionprior fit``.
        data: the data the start frames come from (annotation output, corpus, split manifest...).
        out: output folder.
        split: which split of ``data``.
        starts: number of start clips; start_frame: frame of each clip to start from.
        samples: motions per start; seconds: horizon (30 Hz).
        seed: seed of every random draw.
        use_mean: each family's deterministic mode instead of sampling.
        render: samples per video grid (0: no videos); size: tile size in pixels.
        plots: starts whose pose plot is drawn (the first ones; a plot takes about a second).
        flame_model / assets: override the head model recorded in the generator.
    """

    checkpoint: str
    data: str
    out: str = "runs/samples"
    split: str = "test"
    starts: int = 4
    start_frame: int = 0
    samples: int = 50
    seconds: float = 10.0
    seed: int = 0
    use_mean: bool = False
    render: int = 9
    size: int = 160
    plots: int = 8
    flame_model: str | None = None
    assets: str | None = None


@dataclass(frozen=True)
class SampleRun:
    """What :func:`sample_prior` generated: ``sequences`` (one FlameSequence per start), the start names,
    the generator, the files written and ``info`` (``samples.json``)."""

    sequences: list
    starts: list[str]
    generator: object
    files: list[Path]
    info: dict

    @property
    def layer(self):
        return self.generator.layer


def all_starts(data: str, split: str, frame: int = 0) -> list:
    """A start (:class:`motionprior.generator.MotionStart`) at ``frame`` of every clip (view of a sequence) of
    ``split`` in ``data`` longer than ``frame`` frames, named by its clip name (:func:`flame.layout.sequence_name`
    and the view); empty when there is none."""
    from flame.layout import find_sequences
    from motionprior.generator import MotionStart

    starts = []
    for entry in find_sequences(data, split):
        seq = entry.load()
        if seq.n_frames > frame:
            starts += [MotionStart(seq, frame, v, name=entry.clip_name(seq.view_names[v])) for v in range(seq.n_views)]
    return starts


def pick_starts(data: str, split: str, count: int, frame: int = 0) -> list:
    """``count`` of :func:`all_starts`, evenly spread over the clips."""
    from flame.errors import InputError

    starts = all_starts(data, split, frame)
    if not starts:
        raise InputError(f"{data}: no {split} clip has more than {frame} frames")
    picks = np.unique(np.linspace(0, len(starts) - 1, min(count, len(starts))).round().astype(int))
    return [starts[i] for i in picks]


def sample_prior(cfg: SampleConfig, progress: bool = True) -> SampleRun:
    """Sample and write the files (see the module docstring)."""
    import matplotlib.pyplot as plt

    from flame.files import atomic_write_json
    from motionprior.figures import plot_samples, render_samples
    from motionprior.generator import load_generator

    if cfg.samples < 1 or cfg.seconds <= 0 or cfg.starts < 1:
        raise ValueError(f"need samples >= 1, seconds > 0 and starts >= 1 (got {cfg.samples}, {cfg.seconds}, {cfg.starts})")
    gen = load_generator(cfg.checkpoint, cfg.flame_model, cfg.assets)
    starts = pick_starts(cfg.data, cfg.split, cfg.starts, cfg.start_frame)
    t0 = time.perf_counter()
    seqs = gen.sample(starts, cfg.samples, cfg.seconds, seed=cfg.seed, mean=cfg.use_mean)
    seconds = time.perf_counter() - t0
    out_dir = Path(cfg.out)
    out_dir.mkdir(parents=True, exist_ok=True)
    horizon = seqs[0].n_frames - 1
    info = asdict(cfg) | {"model": gen.layer.model_label, "generator": gen.family, "horizon_frames": horizon,
                          "starts": [s.label for s in starts], "rollout_seconds": round(seconds, 3),
                          "rollout_frames_per_second": round(cfg.samples * len(starts) * horizon / seconds, 1)}
    stems = _file_stems([s.label for s in starts])
    info["files"] = [f"{stem}.npz" for stem in stems]
    files = []
    for start, seq, name in zip(starts, seqs, stems):
        files.append(seq.save(out_dir / f"{name}.npz"))
        if len(files) <= cfg.plots:
            fig = plot_samples(seq, start.sequence, start.view, start.index, title=f"{start.label} ({gen.family}, "
                               f"{gen.layer.model_label})")
            fig.savefig(out_dir / f"{name}_pose.png", dpi=90)
            plt.close(fig)
        if cfg.render:
            render_samples(gen.layer, seq, out_dir / f"{name}.mp4", size=cfg.size, max_samples=cfg.render,
                           progress=progress)
    atomic_write_json(out_dir / SAMPLES_INFO, info)
    log.info("wrote %d x %d samples of %d frames to %s", len(starts), cfg.samples, horizon + 1, out_dir)
    return SampleRun(sequences=seqs, starts=info["starts"], generator=gen, files=files, info=info)


def sample_files(folder: str | Path) -> list[Path]:
    """The sample files a finished run wrote into ``folder``, in start order (from its ``samples.json``)."""
    import json

    info = json.loads((Path(folder) / SAMPLES_INFO).read_text())
    names = info.get("files") or [f"{stem}.npz" for stem in _file_stems(info["starts"])]  # runs before "files"
    return [Path(folder) / n for n in names]


def _file_stems(labels: list[str]) -> list[str]:
    """File names (without suffix) of start labels: ``/`` as ``_``, numbered if two would coincide."""
    stems, seen = [], {}
    for label in labels:
        stem = label.replace("/", "_")
        seen[stem] = seen.get(stem, 0) + 1
        stems.append(stem if seen[stem] == 1 else f"{stem}#{seen[stem]}")
    return stems
