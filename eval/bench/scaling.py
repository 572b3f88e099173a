"""How cost grows: NeuFace annotation with sequence length and with the number of views, rollouts with
the number of samples, and the motion metrics against naive in-process references.

Each case is measured at three sizes; the table gives seconds and the growth relative to the smallest
size (``x1.00`` for the first), next to the growth of the work itself, so "linear" reads directly.
Metric references: FD's trace of the matrix square root via ``scipy.linalg.sqrtm`` (complex Schur) vs
ours (symmetric eigendecompositions); APD as a Python loop over sample pairs vs our vectorized form.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from eval.bench.common import interleaved_median
from eval.report import markdown_table

__all__ = ["bench_scaling", "bench_metrics"]


def _timed(fn) -> float:
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


def _growth_rows(case: str, sizes: list, seconds: list[float], unit: str) -> list[list]:
    return [[case, f"{s} {unit}", f"{sec:.2f}", f"x{sec / seconds[0]:.2f}", f"x{s / sizes[0]:.2f}"]
            for s, sec in zip(sizes, seconds)]


def bench_scaling(out_dir: Path, asset_dir: Path, encoder_cache: Path) -> tuple[str, list[dict]]:
    from annotator.capture import Capture
    from annotator.neuface import AnnotateConfig, annotate
    from annotator.pretrain import load_or_pretrain
    from annotator.synthetic.builder import SynthConfig, build_corpus
    from eval.bench.common import neutral_start, training_module, untrained_generator
    from flame.head import head_layer, resolve_model_file
    from flame.layout import read_corpus

    model = resolve_model_file(assets=asset_dir)
    layer = head_layer(model)
    encoder = load_or_pretrain(layer, encoder_cache, progress=False)

    def capture(domain: str, frames: int) -> Capture:
        corpus = build_corpus(SynthConfig(domain=domain, identities=1, sequences=1, frames=frames, seed=11, model=str(model),
                                          out=str(out_dir / "scaling_corpus" / f"{domain}_{frames}"),
                                          split_fractions=(0, 0, 1)), progress=False)
        return Capture.load(read_corpus(corpus).sequence().capture)

    rows, records = [], []
    cfg = AnnotateConfig()
    lengths = [100, 200, 400]
    secs = [_timed(lambda n=n: annotate(capture("wild", n), layer, encoder, cfg)) for n in lengths]
    rows += _growth_rows("NeuFace, 1 view, frames", lengths, secs, "frames")
    records += [{"case": "annotation vs length", "size": n, "seconds": s} for n, s in zip(lengths, secs)]

    lab = capture("lab", 100)
    views = [1, 3, 7]
    secs = []
    for v in views:
        sub = lab.replace(view_names=lab.view_names[:v], landmarks=lab.landmarks[:v], valid=lab.valid[:v],
                          image_size=lab.image_size[:v],
                          intrinsics=None if lab.intrinsics is None else lab.intrinsics[:v],
                          extrinsics=None if lab.extrinsics is None else lab.extrinsics[:v],
                          videos=None if lab.videos is None else lab.videos[:v])
        secs.append(_timed(lambda s=sub: annotate(s, layer, encoder, cfg)))
    rows += _growth_rows("NeuFace, 100 frames, views", views, secs, "views")
    records += [{"case": "annotation vs views", "size": v, "seconds": s} for v, s in zip(views, secs)]

    gen = untrained_generator(training_module("quick.yaml", model, hidden=1024))
    start = neutral_start(gen.layer)
    counts = [10, 50, 200]
    gen.sample([start], 10, 5 / 30)  # warm-up
    secs = [_timed(lambda k=k: gen.sample([start], k, 10.0)) for k in counts]
    rows += _growth_rows("rollout, 300 steps, hidden 1024, samples", counts, secs, "samples")
    records += [{"case": "rollout vs samples", "size": k, "seconds": s} for k, s in zip(counts, secs)]
    table = markdown_table(rows, ["case", "size", "seconds", "cost growth", "work growth"])
    return table, records


def _apd_loop(x: np.ndarray) -> float:
    k = len(x)
    d = [np.linalg.norm(x[i] - x[j], axis=-1).mean() for i in range(k) for j in range(i + 1, k)]
    return float(np.mean(d))


def _fd_scipy(a: np.ndarray, b: np.ndarray) -> float:
    from scipy.linalg import sqrtm

    s_a, s_b = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    cross = sqrtm(s_a @ s_b)
    return float(((a.mean(0) - b.mean(0)) ** 2).sum() + np.trace(s_a + s_b - 2 * cross.real))


def bench_metrics(repeats: int = 5) -> tuple[str, list[dict]]:
    from eval.metrics.motion import apd, frechet_distance

    rng = np.random.default_rng(0)
    rows, records = [], []
    for dim in (50, 200, 467):  # expression, part of the state, the whole normalized state
        a, b = rng.normal(size=(9000, dim)), rng.normal(size=(15000, dim)) * 1.1 + 0.1
        t = interleaved_median({"ours": lambda: frechet_distance(a, b), "scipy": lambda: _fd_scipy(a, b)},
                               repeats)
        err = abs(frechet_distance(a, b) - _fd_scipy(a, b)) / _fd_scipy(a, b)
        rows.append([f"FD, {dim}-D features, 9k vs 15k frames", f"{1e3 * t['ours']:.1f}", f"{1e3 * t['scipy']:.1f}",
                     f"{t['scipy'] / t['ours']:.1f}x", f"{err:.1e}"])
        records.append({"case": f"fd {dim}", "ours_s": t["ours"], "reference_s": t["scipy"], "relative_difference": err})
    for k in (10, 50, 100):
        x = rng.normal(size=(k, 300, 68, 3))
        t = interleaved_median({"ours": lambda: apd(x), "loop": lambda: _apd_loop(x)}, max(1, repeats // 2))
        err = abs(apd(x)["apd_mean"] - _apd_loop(x)) / _apd_loop(x)
        rows.append([f"APD, {k} samples x 300 frames x 68", f"{1e3 * t['ours']:.1f}", f"{1e3 * t['loop']:.1f}",
                     f"{t['loop'] / t['ours']:.1f}x", f"{err:.1e}"])
        records.append({"case": f"apd {k}", "ours_s": t["ours"], "reference_s": t["loop"], "relative_difference": err})
    table = markdown_table(rows, ["metric", "ours ms", "reference ms", "speed-up", "relative difference"])
    return table, records

