"""Annotation speed on 2 CPU cores: a 1-view 300-frame clip and a 7-view 100-frame capture with the
landmark encoder (goals: under 60 s and under 120 s), plus face detection on a real clip when the
shared clips are present. Seconds include everything after detection (crops, optimization, export).

The ``+ prior`` rows add the motion term (:mod:`annotator.motion_term`) of a HuMoR-Face network of the
quick config's size; its weights are untrained (the cost does not depend on them), and the ratio is
against the same method without the term, measured in the same run."""

from __future__ import annotations

import time
from dataclasses import replace
from pathlib import Path

from annotator.capture import Capture
from annotator.neuface import AnnotateConfig, annotate
from annotator.pretrain import load_or_pretrain
from annotator.synthetic.builder import SynthConfig, build_corpus
from eval.report import markdown_table
from flame.head import head_layer, resolve_model_file
from flame.layout import read_corpus

GOALS = {"1 view x 300 frames": 60.0, "7 views x 100 frames": 120.0}
CLIP = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "real_clips" / "d3.mp4"


def bench_annotation(out_dir: Path, asset_dir: Path, encoder_cache: Path) -> tuple[str, list[dict]]:
    model = resolve_model_file(assets=asset_dir)
    layer = head_layer(model)
    t0 = time.perf_counter()
    encoder = load_or_pretrain(layer, encoder_cache, progress=False)
    pretrain_s = time.perf_counter() - t0
    cases = {"1 view x 300 frames": ("wild", 300), "7 views x 100 frames": ("lab", 100)}
    rows, records = [], []
    for name, (domain, frames) in cases.items():
        corpus = build_corpus(SynthConfig(domain=domain, identities=1, sequences=1, frames=frames, seed=7, model=str(model),
                                          out=str(out_dir / "bench_corpus" / domain), split_fractions=(0, 0, 1)),
                              progress=False)
        cap = Capture.load(read_corpus(corpus).sequence().capture)
        seconds = {}
        for method in ("regress", "fit", "neuface", "fit + prior", "neuface + prior"):
            base = method.removesuffix(" + prior")
            cfg = AnnotateConfig(method=base) if base != "fit" else AnnotateConfig(method="fit", epochs=60, lr=3e-3)
            term = None
            if method.endswith("+ prior"):
                term = quick_size_prior(layer, model)
                cfg = replace(cfg, prior="untrained quick-size HuMoR-Face")
            t = time.perf_counter()
            annotate(cap, layer, encoder, cfg, prior=term)
            s = seconds[method] = time.perf_counter() - t
            rec = {"case": name, "method": method, "seconds": s, "s_per_view_frame": s / (cap.n_frames * cap.n_views)}
            records.append(rec)
            goal = f"{s / GOALS[name]:.2f} of the {GOALS[name]:.0f} s goal" if method == "neuface" else "-"
            if term is not None:
                goal = f"{s / seconds[base]:.2f}x {base}"
            rows.append([name, method, f"{s:.1f}", f"{1e3 * rec['s_per_view_frame']:.1f}", goal])
    if CLIP.is_file():
        from annotator.detect import DlibDetector
        from annotator.sources import capture_from_video

        t = time.perf_counter()
        cap = capture_from_video(CLIP, DlibDetector(), progress=False)
        s = time.perf_counter() - t
        records.append({"case": "dlib detection (d3.mp4, 512x512)", "method": "-", "seconds": s,
                        "s_per_view_frame": s / cap.n_frames})
        rows.append([f"detection {CLIP.name} ({cap.n_frames} frames)", "dlib HOG + 68 pts", f"{s:.1f}",
                     f"{1e3 * s / cap.n_frames:.1f}", "-"])
    table = markdown_table(rows, ["case", "method", "seconds", "ms per view-frame", "vs goal / reference"])
    return table + f"\n\nLandmark encoder: {'loaded from cache' if pretrain_s < 5 else 'pretrained'} in {pretrain_s:.1f} s.", records


def quick_size_prior(layer, model_file: Path):
    """The motion term of an untrained HuMoR-Face of ``configs/motionprior/quick.yaml``'s size for ``layer``
    (read from ``model_file``)."""
    from annotator.motion_term import MotionPriorTerm
    from eval.bench.common import training_module, untrained_generator

    return MotionPriorTerm(untrained_generator(training_module("quick.yaml", model_file)), layer)
