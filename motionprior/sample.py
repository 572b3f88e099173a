"""``python -m motionprior sample``: long rollouts from start frames of a data split.

For each of ``starts`` clips of the split (evenly spread over the clips, first ``start_frame``), roll out
``samples`` motions of ``seconds`` at 30 Hz and write, into ``out``:

* ``<start>.npz``: a FlameSequence with one view per sample (identity from the start frame);
* ``<start>.mp4``: a video grid of the first ``render`` samples (0: no video), ``<start>_pose.png``;
* ``samples.json``: the settings, the start clips and the timings.

The metrics of the samples (FD, APD, health) are computed by ``python -m eval sample``, which runs
this and scores the result (:mod:`eval.experiments.sampling`).
"""

from __future__ import annotations

import logging
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from flame.sequence import MOTION_FPS

log = logging.getLogger(__name__)

__all__ = ["SampleConfig", "SampleRun", "sample_prior"]


@dataclass
class SampleConfig:
    """Settings of a sampling run.

    Attributes:
        checkpoint: ``prior.pt`` or a Lightning ``.ckpt`` of ``python -m motionprior fit``.
        data: the data the start frames come from (annotation output, corpus, split manifest...).
        out: output folder.
        split: which split of ``data``.
        starts: number of start clips; start_frame: frame of each clip to start from.
        samples: K rollouts per start; seconds: horizon (30 Hz steps).
        seed: seed of the latent samples.
        use_mean: take the prior's mean z (deterministic) instead of sampling.
        feedback: correction of each generated state before it is fed back (``none``, ``flame``,
            ``velocities``, ``flame+velocities``; see :func:`motionprior.rollout.make_feedback`); default:
            the mode the prior was trained with.
        render: samples per video grid (0: no videos); size: tile size in pixels.
        flame_model / assets: override the head model recorded in the checkpoint.
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
    feedback: str | None = None
    render: int = 9
    size: int = 160
    flame_model: str | None = None
    assets: str | None = None


@dataclass(frozen=True)
class SampleRun:
    """What :func:`sample_prior` generated.

    Attributes:
        states: ``(K, B, H + 1, dim)`` generated states at 30 Hz (start state first), the prior's units.
        starts: the B start clips; clips: every clip of the split (the real motion to compare with).
        spec: the state layout; layer: the head model; info: settings and timings (``samples.json``).
    """

    states: Tensor
    starts: list
    clips: list
    spec: object
    layer: object
    info: dict


def sample_prior(cfg: SampleConfig, progress: bool = True) -> SampleRun:
    """Sample and write the files (see the module docstring)."""
    from flame.files import atomic_write_json
    from flame.layout import find_sequences
    from motionprior.clips import load_clips
    from motionprior.prior_file import load_prior
    from motionprior.rollout import plot_rollout, render_samples, sample_states, states_to_sequence
    from motionprior.state import prior_layer

    if cfg.samples < 1 or cfg.seconds <= 0 or cfg.starts < 1:
        raise ValueError(f"need samples >= 1, seconds > 0 and starts >= 1 (got {cfg.samples}, {cfg.seconds}, {cfg.starts})")
    model, config = load_prior(cfg.checkpoint)
    spec = model.spec
    layer = prior_layer(spec, cfg.flame_model or config.get("flame_model"), cfg.assets or config.get("assets"))
    clips = load_clips(find_sequences(cfg.data, cfg.split), layer, spec, min_seconds=0.0, progress=progress)
    clips = [c for c in clips if len(c.states) > cfg.start_frame]
    if not clips:
        raise ValueError(f"{cfg.data}: no {cfg.split} clip has more than {cfg.start_frame} frames")
    picks = np.unique(np.linspace(0, len(clips) - 1, min(cfg.starts, len(clips))).round().astype(int))
    chosen = [clips[i] for i in picks]
    x0 = torch.as_tensor(np.stack([c.states[cfg.start_frame] for c in chosen]))
    shapes = torch.as_tensor(np.stack([c.shape for c in chosen]))
    horizon = int(round(cfg.seconds * MOTION_FPS))
    feedback = cfg.feedback or config.get("feedback", "none")
    t0 = time.perf_counter()
    states = sample_states(model, x0, horizon, cfg.samples, use_mean=cfg.use_mean, seed=cfg.seed, feedback=feedback,
                           layer=layer, shape=shapes)
    rollout_s = time.perf_counter() - t0
    out_dir = Path(cfg.out)
    out_dir.mkdir(parents=True, exist_ok=True)
    info = asdict(cfg) | {"model": layer.model_label, "feedback": feedback, "horizon_frames": horizon,
                          "starts": [c.name for c in chosen], "rollout_seconds": round(rollout_s, 3),
                          "rollout_frames_per_second": round(cfg.samples * len(chosen) * horizon / rollout_s, 1)}
    for b, clip in enumerate(chosen):
        name = clip.name.replace("/", "_")
        seq = states_to_sequence(states[:, b], spec, clip.shape, layer,
                                 metadata={"start": clip.name, "start_frame": cfg.start_frame,
                                           "checkpoint": str(cfg.checkpoint), "use_mean": cfg.use_mean,
                                           "feedback": feedback, "seed": cfg.seed})
        seq.save(out_dir / f"{name}.npz")
        fig = plot_rollout(states[:min(cfg.samples, 8), b], spec, real=torch.as_tensor(clip.states[cfg.start_frame:]),
                           title=f"{clip.name} ({layer.model_label})")
        fig.savefig(out_dir / f"{name}_pose.png", dpi=90)
        if cfg.render:
            render_samples(layer, seq, out_dir / f"{name}.mp4", size=cfg.size, max_samples=cfg.render, progress=progress)
    atomic_write_json(out_dir / "samples.json", info)
    log.info("wrote %d x %d samples of %d frames to %s", len(chosen), cfg.samples, horizon + 1, out_dir)
    return SampleRun(states=states, starts=chosen, clips=clips, spec=spec, layer=layer, info=info)
