"""Generator speed on CPU, both families through the generator interface.

Sampling: 50 samples x 10 s (300 frames at 30 Hz) from one start (goal: under 10 s per family), with
the sizes of ``configs/motionprior/quick.yaml`` (HuMoR-Face, also at HuMoR's published width) and
``configs/motionprior/diffusion.yaml`` (the long-context family); the in-process reference is
HuMoR-Face sampling one sample at a time. Inpainting (the long-context family): 50 completions of a 4 s
gap in the middle of a 10 s clip (frames/s counts the generated frames). Training: one optimizer step on a batch of 64 windows of
each family's length. Timings do not depend on the weights, so untrained networks are used.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import torch

from eval.bench.common import neutral_start, training_module, untrained_generator
from eval.report import markdown_table
from flame.head import resolve_model_file
from flame.sequence import MOTION_FPS

GOAL_SAMPLE_S = 10.0
INPAINT_GAP_S, INPAINT_CLIP_S = 4.0, 10.0  # the inpainting case: the evaluation's longest gap, in a 10 s clip


def bench_prior(asset_dir: Path, samples: int = 50, seconds: float = 10.0) -> tuple[str, list[dict]]:
    pkl = resolve_model_file(assets=asset_dir)
    cases = {"HuMoR-Face, quick (hidden 512)": training_module("quick.yaml", pkl),
             "HuMoR-Face, hidden 1024 (HuMoR)": training_module("quick.yaml", pkl, hidden=1024),
             "long-context diffusion": training_module("diffusion.yaml", pkl)}
    frames = int(round(seconds * 30))
    rows, records, ref_s = [], [], None
    for name, lit in cases.items():
        gen = untrained_generator(lit)
        start = neutral_start(gen.layer)
        gen.sample([start], samples, 0.5)  # warm-up
        if ref_s is None:  # the reference: one sample at a time (5, extrapolated)
            t = time.perf_counter()
            for k in range(5):
                gen.sample([start], 1, seconds, seed=k)
            ref_s = (time.perf_counter() - t) / 5 * samples
            rows.append([f"{name}: one sample at a time (reference)", f"{ref_s:.2f} (extrapolated from 5)",
                         f"{samples * frames / ref_s:,.0f}", "1.00x", ""])
            records.append({"what": "reference", "generator": name, "seconds": ref_s})
        t = time.perf_counter()
        gen.sample([start], samples, seconds, seed=0)
        s = time.perf_counter() - t
        rows.append([f"{name}: {samples} x {seconds:g} s", f"{s:.2f}", f"{samples * frames / s:,.0f}",
                     f"{ref_s / s:.2f}x", "yes" if s < GOAL_SAMPLE_S else "no"])
        records.append({"what": "sample", "generator": name, "seconds": s, "frames_per_s": samples * frames / s})
        if gen.can_inpaint:  # completing a gap
            n, gap = int(round(INPAINT_CLIP_S * MOTION_FPS)), int(round(INPAINT_GAP_S * MOTION_FPS))
            clip = neutral_start(gen.layer, n).sequence
            known = np.ones(n, bool)
            known[(n - gap) // 2:(n + gap) // 2] = False
            gen.inpaint(clip, known, n_samples=2)  # warm-up
            t = time.perf_counter()
            gen.inpaint(clip, known, n_samples=samples)
            s = time.perf_counter() - t
            rows.append([f"{name}: inpaint {samples} x a {INPAINT_GAP_S:g} s gap of {INPAINT_CLIP_S:g} s", f"{s:.2f}",
                         f"{samples * gap / s:,.0f}", f"{ref_s / s:.2f}x", ""])
            records.append({"what": "inpaint", "generator": name, "seconds": s, "frames_per_s": samples * gap / s})
        s_train = _train_step_seconds(lit)
        rows.append([f"{name}: training step, 64 windows", f"{s_train:.3f}", "", "", ""])
        records.append({"what": "train step", "generator": name, "seconds": s_train})
    table = markdown_table(rows, ["case", "seconds", "frames/s", "vs reference", f"< {GOAL_SAMPLE_S:.0f} s"])
    return table, records


def _train_step_seconds(lit, batch: int = 64) -> float:
    """Seconds of one optimizer step on ``batch`` windows (HuMoR-Face: autoregressive, 10 transitions)."""
    spec, layer = lit.spec, lit.head.layer(lit.spec)
    from motionprior.state import sequence_to_states

    window = lit.network.window if lit.family == "motion-diffusion" else 11
    seq = neutral_start(layer, window).sequence
    x = torch.as_tensor(sequence_to_states(seq, layer, spec), dtype=torch.float32)[None].repeat(batch, 1, 1)
    x = x + 0.01 * torch.randn_like(x) * spec.euclidean_mask()
    data = {"states": x, "shape": torch.zeros(batch, layer.n_shape)}
    opt = torch.optim.Adam(lit.model.parameters(), 1e-4)
    lit.train()

    def step():
        if lit.family == "motion-diffusion":
            loss = lit._loss(data)
        else:
            w = lit.run_window(x, 0.0, shape=data["shape"])
            loss = lit.total(lit.losses(w.pred, w.targets, data["shape"], w.post, w.prior), 4e-4)
        opt.zero_grad()
        loss.backward()
        opt.step()

    step()
    t = time.perf_counter()
    for _ in range(3):
        step()
    return (time.perf_counter() - t) / 3
