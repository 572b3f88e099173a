"""Training data at scale: packing and training throughput and peak memory on about 1 h and 10 h of
motion, against the in-memory loader on the 1 h set (the reference, measured in the same run).

The motion is the synthetic corpus's ``wild`` motion model (:func:`annotator.synthetic.motion.generate_motion`;
ground-truth FLAME parameters, no rendering): sequences of 60 s at 30 fps as FlameSequence files in
``train/`` and ``val/`` folders. Every measurement runs in a process of its own; peak RSS is its
``ru_maxrss``. Training: HuMoR-Face with the quick config's network (hidden 512, 4 layers), batch 64,
``steps`` optimizer steps after 10 warm-up steps; windows/s counts training windows through the model.
Data only: windows/s of the training DataLoader alone (no model).
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

from eval.bench.memory import peak_rss
from eval.report import markdown_table

__all__ = ["make_motion_set", "bench_data"]

SECONDS_PER_SEQUENCE = 60


def make_motion_set(out: Path, hours: float, model_file: Path, seed: int = 0, val_fraction: float = 0.05) -> Path:
    """``out/{train,val}/*.npz``: ``hours`` of synthetic wild motion (written once; reused)."""
    import numpy as np
    from tqdm.auto import tqdm

    from annotator.synthetic.expressions import solve_directions
    from annotator.synthetic.motion import STYLES, generate_motion, sample_shape
    from flame.head import head_layer, load_head
    from flame.sequence import MOTION_FPS, FlameSequence

    n = int(round(hours * 3600 / SECONDS_PER_SEQUENCE))
    done = out / "done.json"
    if done.is_file() and json.loads(done.read_text())["sequences"] == n:
        return out
    layer = head_layer(model_file)
    directions = solve_directions(*load_head(model_file), layer.n_exp)
    rng = np.random.default_rng(seed)
    n_val = max(1, int(round(n * val_fraction)))
    for i in tqdm(range(n), desc=f"{hours:g} h of motion", unit="seq"):
        m = generate_motion(rng, int(SECONDS_PER_SEQUENCE * MOTION_FPS), MOTION_FPS, STYLES["wild"],
                            sample_shape(rng, layer.n_shape), directions)
        seq = FlameSequence.from_params(shape=m.shape, expression=m.expression, pose=m.pose, fps=MOTION_FPS,
                                        model=layer.model_label, model_sha256=layer.model_sha256)
        seq.save(out / ("val" if i < n_val else "train") / f"seq{i:05d}.npz")
    done.write_text(json.dumps({"sequences": n, "hours": hours}))
    return out


def _child(mode: str, data: str, model_file: str, steps: int, batch: int) -> None:
    """Run in a subprocess: one measurement, printed as a JSON line."""
    import lightning as L
    import torch

    from motionprior.data import MotionDataModule

    out: dict = {}
    if mode == "pack":
        from motionprior.pack import PackConfig, pack

        t0 = time.perf_counter()
        info = pack(PackConfig(data=data, out=str(Path(data).parent / (Path(data).name + ".pack")), splits=["train", "val"],
                               flame_model=model_file), progress=False)
        out = {"seconds": time.perf_counter() - t0, "shards": info["splits"]["train"]}
        print(json.dumps(out))
        return
    torch.manual_seed(0)
    dm = MotionDataModule(data, batch_size=batch, epoch_windows=batch * (steps + 10), head={"flame_model": model_file})
    t0 = time.perf_counter()
    dm.setup("fit")
    out["setup_seconds"] = time.perf_counter() - t0
    if mode == "loader":
        loader = dm.train_dataloader()
        it = iter(loader)
        for _ in range(10):
            next(it)
        t0 = time.perf_counter()
        n = 0
        for b in it:
            n += len(b["states"])
        out["windows_per_s"] = n / (time.perf_counter() - t0)
    else:
        from motionprior.lit_humor import LitHumorFace
        from motionprior.model import HumorNetwork
        from motionprior.settings import HeadModel
        from motionprior.steering import DriftControl

        class Clock(L.Callback):
            def on_train_batch_start(self, trainer, module, batch, i):
                if i == 10:
                    self.t0 = time.perf_counter()

            def on_train_end(self, trainer, module):
                self.seconds = time.perf_counter() - self.t0

        clock = Clock()
        model = LitHumorFace(head=HeadModel(model_file), network=HumorNetwork(hidden=512), losses={"vertex_stride": 8},
                             drift=DriftControl(feedback="flame+velocities"), plot_every_n_epochs=0)
        trainer = L.Trainer(max_steps=steps + 10, logger=False, enable_checkpointing=False, limit_val_batches=0,
                            enable_progress_bar=False, enable_model_summary=False, callbacks=[clock], accelerator="cpu")
        trainer.fit(model, datamodule=dm)
        out["windows_per_s"] = steps * batch / clock.seconds
    print(json.dumps(out))


def _run(mode: str, data: Path, model_file: Path, work: Path, steps: int, batch: int) -> dict:
    code = (f"from eval.bench.data_scale import _child; _child({mode!r}, {str(data)!r}, {str(model_file)!r}, "
            f"{steps}, {batch})")
    log = work / f"{mode}_{data.name}.log"
    peak, wall, status = peak_rss([sys.executable, "-c", code], log)
    if status != 0:
        raise RuntimeError(f"data bench {mode} on {data} failed (exit {status}); see {log}")
    result = json.loads(log.read_text().strip().splitlines()[-1])
    return result | {"peak_mb": peak, "wall_s": wall}


def bench_data(out_dir: Path, asset_dir: Path, hours: tuple[float, ...] = (1.0, 10.0), steps: int = 60,
               batch: int = 64) -> tuple[str, list[dict]]:
    """Pack, stream and train on each size; the in-memory loader on the smallest. Returns the table and records."""
    from flame.head import resolve_model_file

    model_file = resolve_model_file(None, asset_dir)
    work = out_dir / "data"
    work.mkdir(parents=True, exist_ok=True)
    records = []
    for h in hours:
        data = make_motion_set(work / f"motion_{h:g}h", h, model_file)
        packed = data.parent / (data.name + ".pack")
        p = _run("pack", data, model_file, work, steps, batch)
        records.append({"data": f"{h:g} h", "loader": "pack (one-off)", "seconds": p["seconds"], "peak_mb": p["peak_mb"],
                        "windows_per_s": float("nan")})
        for mode in ("loader", "train"):
            r = _run(mode, packed, model_file, work, steps, batch)
            records.append({"data": f"{h:g} h", "loader": f"streamed from the pack: {mode}", "seconds": r["setup_seconds"],
                            "peak_mb": r["peak_mb"], "windows_per_s": r["windows_per_s"]})
        if h == hours[0]:
            for mode in ("loader", "train"):
                r = _run(mode, data, model_file, work, steps, batch)
                records.append({"data": f"{h:g} h", "loader": f"in memory (reference): {mode}", "seconds": r["setup_seconds"],
                                "peak_mb": r["peak_mb"], "windows_per_s": r["windows_per_s"]})
    ref = {r["loader"].split(": ")[1]: r for r in records if r["loader"].startswith("in memory")}
    rows = []
    for r in records:
        mode = r["loader"].split(": ")[-1]
        vs = ref.get(mode)
        ratio = f"{r['peak_mb'] / vs['peak_mb']:.2f}x RSS, {r['windows_per_s'] / vs['windows_per_s']:.2f}x speed" \
            if vs is not None and r["windows_per_s"] == r["windows_per_s"] else "-"
        rows.append([r["data"], r["loader"], f"{r['seconds']:.1f}", f"{r['peak_mb']:.0f}",
                     "-" if r["windows_per_s"] != r["windows_per_s"] else f"{r['windows_per_s']:,.0f}", ratio])
    table = markdown_table(rows, ["motion", "loader", "pack / setup s", "peak RSS (MB)", "windows/s",
                                  "vs in-memory 1 h (same mode)"])
    return table + (f"\n\nBatch {batch}, windows of 10 transitions, {steps} timed steps; 'loader' is the DataLoader "
                    "alone, 'train' HuMoR-Face (hidden 512) training through it. Each row in its own process."), records

