"""``python -m motionprior sample``: long rollouts from start frames of a data split, with metrics.

For each of ``starts`` clips of the split (evenly spread over the clips, first ``start_frame``), roll out
``samples`` motions of ``seconds`` at 30 Hz and write, into ``out``:

* ``<start>.npz``: a FlameSequence with one view per sample (identity from the start frame);
* ``<start>.mp4``: a video grid of the first ``render`` samples (0: no video), ``<start>_pose.png``;
* ``metrics.json``: per start APD (world and head-canonical), and for all samples together FD
  (expression, pose, state) and health against the split's real clips, plus timings.
"""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path

import numpy as np
import torch

from eval.metrics.motion import FD_VARIANTS, apd, fd_features, frechet_distance, head_canonical_landmarks, motion_health

log = logging.getLogger(__name__)

__all__ = ["sample_prior", "evaluate_samples", "main"]


def evaluate_samples(generated: np.ndarray, real: list[np.ndarray], spec) -> dict:
    """FD (each variant) and health of generated states ``(N, T, dim)`` (start frames excluded) against real clips."""
    real_x = np.concatenate(real).astype(np.float64)
    mean, std = real_x.mean(0), real_x.std(0)
    out = {}
    for variant in FD_VARIANTS:
        if variant == "expression" and not spec.n_exp:
            continue
        out[f"fd_{variant}"] = frechet_distance(fd_features(real_x, spec, variant, mean, std),
                                                fd_features(generated, spec, variant, mean, std))
    return out | motion_health(generated, real, spec)


def sample_prior(checkpoint: str, data: str, out: str = "runs/samples", split: str = "test", starts: int = 4,
                 start_frame: int = 0, samples: int = 50, seconds: float = 10.0, seed: int = 0, use_mean: bool = False,
                 feedback: bool = False, render: int = 9, size: int = 160, flame_model: str | None = None,
                 assets: str | None = None) -> dict:
    """Sample and evaluate (see the module docstring); returns the metrics dict.

    Args:
        checkpoint: ``prior.pt`` or a Lightning ``.ckpt`` of ``python -m motionprior fit``.
        data: the data the start frames come from (annotation output, corpus, split manifest...).
        split: which split of ``data``.
        starts: number of start clips; start_frame: frame of each clip to start from.
        samples: K rollouts per start; seconds: horizon (30 Hz steps).
        use_mean: take the prior's mean z (deterministic) instead of sampling.
        feedback: replace predicted landmarks by FLAME landmarks every step (HuMoR-Qual).
        render: samples per video grid (0: no videos); size: tile size in pixels.
        flame_model / assets: override the head model recorded in the checkpoint.
    """
    from flame.io import atomic_write_bytes
    from motionprior.data import find_sequences, load_clips
    from motionprior.lit_module import load_flame, load_prior
    from motionprior.rollout import plot_rollout, render_samples, sample_states, states_to_sequence

    if samples < 1 or seconds <= 0 or starts < 1:
        raise ValueError(f"need samples >= 1, seconds > 0 and starts >= 1 (got {samples}, {seconds}, {starts})")
    model, config = load_prior(checkpoint)
    layer = load_flame(flame_model or config.get("flame_model"), assets or config.get("assets", "runs/assets"))
    spec = model.spec
    clips = load_clips(find_sequences(data, split), layer, spec, min_seconds=0.0)
    clips = [c for c in clips if len(c.states) > start_frame]
    if not clips:
        raise ValueError(f"{data}: no {split} clip has more than {start_frame} frames")
    chosen = [clips[i] for i in np.unique(np.linspace(0, len(clips) - 1, min(starts, len(clips))).round().astype(int))]
    x0 = torch.as_tensor(np.stack([c.states[start_frame] for c in chosen]))
    shapes = torch.as_tensor(np.stack([c.shape for c in chosen]))
    horizon = int(round(seconds * 30))
    t0 = time.perf_counter()
    states = sample_states(model, x0, horizon, samples, use_mean=use_mean, seed=seed,
                           layer=layer if feedback else None, shape=shapes if feedback else None)
    rollout_s = time.perf_counter() - t0
    out_dir = Path(out)
    out_dir.mkdir(parents=True, exist_ok=True)
    metrics = {"checkpoint": str(checkpoint), "model": layer.model_label, "split": split, "samples": samples,
               "horizon_frames": horizon, "use_mean": use_mean, "feedback": feedback, "seed": seed,
               "rollout_seconds": round(rollout_s, 3),
               "rollout_frames_per_second": round(samples * len(chosen) * horizon / rollout_s, 1), "starts": {}}
    for b, clip in enumerate(chosen):
        name = clip.name.replace("/", "_")
        seq = states_to_sequence(states[:, b], spec, clip.shape, layer,
                                 metadata={"start": clip.name, "start_frame": start_frame, "checkpoint": str(checkpoint),
                                           "use_mean": use_mean, "feedback": feedback, "seed": seed})
        seq.save(out_dir / f"{name}.npz")
        gen = states[:, b, 1:].double().numpy()
        metrics["starts"][clip.name] = {
            "world": apd(gen[..., spec.slices["landmarks"]].reshape(samples, horizon, -1, 3)),
            "head_canonical": apd(head_canonical_landmarks(gen, spec)),
        }
        fig = plot_rollout(states[:min(samples, 8), b], spec, real=torch.as_tensor(clip.states[start_frame:]),
                           title=f"{clip.name} ({layer.model_label})")
        fig.savefig(out_dir / f"{name}_pose.png", dpi=90)
        if render:
            render_samples(layer, seq, out_dir / f"{name}.mp4", size=size, max_samples=render)
    gen_all = states[:, :, 1:].flatten(0, 1).double().numpy()
    metrics["all"] = evaluate_samples(gen_all, [c.states for c in clips], spec)
    for key in ("apd_mean", "apd_flat"):
        for frame in ("world", "head_canonical"):
            metrics["all"][f"{key}_{frame}"] = float(np.mean([s[frame][key] for s in metrics["starts"].values()]))
    text = json.dumps(metrics, indent=2)
    atomic_write_bytes(out_dir / "metrics.json", lambda f: f.write(text.encode()))
    log.info("wrote %d x %d samples of %d frames to %s", len(chosen), samples, horizon + 1, out_dir)
    return metrics


def main(argv: list[str]) -> int:
    from jsonargparse import ArgumentParser

    parser = ArgumentParser(prog="python -m motionprior sample", description=__doc__)
    parser.add_function_arguments(sample_prior)
    parser.add_argument("--config", action="config")
    cfg = parser.parse_args(argv)
    kwargs = {k: v for k, v in vars(cfg).items() if k not in ("config", "__path__")}
    metrics = sample_prior(**kwargs)
    print(json.dumps(metrics["all"], indent=2))
    return 0
