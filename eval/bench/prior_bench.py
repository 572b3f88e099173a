"""HuMoR-Face speed on CPU: training transitions per second and rollout frames per second.

Rollout: K = 50 samples x 300 steps (10 s at 30 Hz) from one start state (goal: under 5 s), against the
same rollouts done one sample at a time (the in-process reference: what batching the K samples buys),
and with the FLAME-landmark feedback. Training: optimizer steps on batches of 64 windows of 10
transitions, teacher-forced (all steps batched) and autoregressive (steps in sequence), FLAME losses on.
Timings do not depend on the weights, so untrained models with the stand-in's statistics are used.
"""

from __future__ import annotations

import time
from pathlib import Path

import torch

from eval.report import markdown_table
from flame.head import resolve_model_file

GOAL_ROLLOUT_S = 5.0


def _model(hidden: int, pkl: Path):
    from motionprior.lit_module import LitHumorFace

    torch.manual_seed(0)
    return LitHumorFace(hidden=hidden, flame_model=str(pkl), vertex_stride=8)


def _start(lit) -> tuple[torch.Tensor, torch.Tensor]:
    from flame.types import FlameParams

    layer = lit.flame(torch.zeros(()))[0]
    spec = lit.spec
    with torch.no_grad():
        lm = layer.landmarks(FlameParams.zeros((1,), layer.n_shape, layer.n_exp, like=layer.v_template)).landmarks3d
    x = torch.zeros(1, spec.dim)
    for part in spec.rotations:
        x[:, spec.slices[part]] = torch.eye(3).repeat(1, spec.parts[part] // 9).flatten()[None]
    x[:, spec.slices["landmarks"]] = lm.flatten(1) * 100.0  # cm
    return x, torch.zeros(1, layer.n_shape)


def bench_prior(asset_dir: Path, samples: int = 50, steps: int = 300) -> tuple[str, list[dict]]:
    from motionprior.rollout import sample_states

    pkl = resolve_model_file(assets=asset_dir)
    rows, records = [], []
    for hidden in (1024, 512):
        lit = _model(hidden, pkl)
        model, layer = lit.model.eval(), lit.flame(torch.zeros(()))[0]
        x0, shape = _start(lit)
        timings = {}
        for name, fn in {
            f"rollout {samples} x {steps}": lambda: sample_states(model, x0, steps, samples),
            "  one sample at a time (reference)": lambda: [sample_states(model, x0, steps, 1, seed=k) for k in range(5)],
            "  with FLAME + velocity feedback": lambda: sample_states(model, x0, steps, samples, feedback="flame+velocities",
                                                                   layer=layer, shape=shape),
        }.items():
            sample_states(model, x0, 5, samples)  # warm-up
            t = time.perf_counter()
            fn()
            timings[name] = time.perf_counter() - t
        ref_s = timings["  one sample at a time (reference)"] / 5 * samples
        for name, s in timings.items():
            ref = name.endswith("(reference)")
            total = ref_s if ref else s
            rows.append([f"hidden {hidden}: {name}", f"{total:.2f}" + (" (extrapolated from 5)" if ref else ""),
                         f"{samples * steps / total:,.0f}", "1.00x" if ref else f"{ref_s / s:.1f}x",
                         ("yes" if s < GOAL_ROLLOUT_S else "no") if name.startswith("rollout") else ""])
            records.append({"what": name.strip(), "hidden": hidden, "seconds": total, "frames_per_s": samples * steps / total})
        batch = torch.zeros(64, 11, lit.spec.dim) + x0
        batch = batch + 0.01 * torch.randn_like(batch) * lit.spec.euclidean_mask()
        shapes = shape.expand(64, -1)
        opt = torch.optim.Adamax(lit.parameters(), 1e-4)
        lit.train()
        for mode, p in (("teacher-forced", 1.0), ("autoregressive", 0.0)):
            def step():
                w = lit.run_window(batch, p)
                loss = lit.total(lit.losses(w.pred, w.targets, shapes, w.post, w.prior), 4e-4)
                opt.zero_grad()
                loss.backward()
                opt.step()
            step()
            t = time.perf_counter()
            for _ in range(3):
                step()
            s = (time.perf_counter() - t) / 3
            rows.append([f"hidden {hidden}: training step, 64 x 10 transitions, {mode}", f"{s:.3f}",
                         f"{640 / s:,.0f} transitions/s", "", ""])
            records.append({"what": f"train {mode}", "hidden": hidden, "seconds": s, "transitions_per_s": 640 / s})
    table = markdown_table(rows, ["case", "seconds", "frames/s", "vs one at a time", f"< {GOAL_ROLLOUT_S:.0f} s"])
    return table, records
