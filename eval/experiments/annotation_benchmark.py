"""The annotation benchmark (the paper's Table 2 / Fig. 4 on our synthetic data).

Builds (or reuses) a ``lab`` 7-view and a ``wild`` test corpus, annotates every sequence with
``regress``, ``fit`` and ``neuface`` and the NeuFace loss ablations (lmk / lmk+temp / lmk+mv / full),
scores them against the ground truth and writes ``annotation_benchmark.md`` / ``.csv``.

Every method gets the same detections, the same pretrained encoder and the same model; ``fit``
gets twice NeuFace's epochs (direct parameters move only when their frame is in a batch).
"""

from __future__ import annotations

import json
import logging
import os
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from annotator.capture import Capture
from annotator.neuface import AnnotateConfig, annotate
from annotator.pretrain import DEFAULT_ENCODER_CACHE, load_or_pretrain
from annotator.synthetic.builder import SynthConfig, build_corpus
from eval.experiments.score import score_sequence
from eval.report import markdown_table, write_csv
from flame.files import atomic_write_text
from flame.head import DEFAULT_ASSETS, head_layer, resolve_model_file
from flame.layout import read_corpus
from flame.sequence import FlameSequence

__all__ = ["METHODS", "run_benchmark", "reading"]

log = logging.getLogger(__name__)

BASE = AnnotateConfig()
#: name -> settings; the ablations switch NeuFace's loss terms off.
METHODS: dict[str, AnnotateConfig] = {
    "regress": replace(BASE, method="regress"),
    "fit": replace(BASE, method="fit", epochs=2 * BASE.epochs, lr=3e-3),
    "neuface (official weights)": replace(BASE, lambda_temp=100.0),
    "neuface lmk": replace(BASE, lambda_temp=0.0, lambda_mv=0.0),
    "neuface lmk+temp": replace(BASE, lambda_mv=0.0),
    "neuface lmk+mv": replace(BASE, lambda_temp=0.0),
    "neuface (full)": BASE,
}
COLUMNS = ["domain", "method", "mpve_mm", "pa_mpve_mm", "cvd_mm", "nme68", "nme51", "nme_det", "msi_l", "msi_v",
           "jitter_mm_s3", "s_per_frame"]


def _corpus(out: Path, domain: str, identities: int, frames: int, model: Path, seed: int) -> Path:
    cfg = SynthConfig(domain=domain, identities=identities, sequences=1, frames=frames, out=str(out / "corpus" / domain),
                      seed=seed, model=str(model), split_fractions=(0.0, 0.0, 1.0))
    return build_corpus(cfg, progress=False)


def run_benchmark(out: str | os.PathLike = "runs/annotation_benchmark", model: str | None = None,
                  assets: str = DEFAULT_ASSETS, encoder_cache: str = DEFAULT_ENCODER_CACHE,
                  lab_identities: int = 4, lab_frames: int = 100, wild_identities: int = 8, wild_frames: int = 150,
                  methods: list[str] | None = None, seed: int = 100) -> list[dict]:
    """Run the benchmark; returns the rows (one per domain and method, averaged over sequences).

    Args:
        out: output folder (corpora, report).
        model / assets / encoder_cache: the head model (default: the stand-in built in ``assets``) and
            the landmark-encoder cache.
        lab_identities / lab_frames: the 7-view lab test corpus (one sequence per identity).
        wild_identities / wild_frames: the in-the-wild test corpus.
        methods: names of :data:`METHODS` to run (default: all).
        seed: seed of the corpora.
    """
    out = Path(out)
    model_path = resolve_model_file(model, assets)
    layer = head_layer(model_path)
    layer64 = head_layer(model_path, dtype=torch.float64)
    encoder = load_or_pretrain(layer, encoder_cache)
    names = methods or list(METHODS)
    corpora = {"lab": _corpus(out, "lab", lab_identities, lab_frames, model_path, seed),
               "wild": _corpus(out, "wild", wild_identities, wild_frames, model_path, seed)}
    rows, per_sequence = [], []
    for domain, folder in corpora.items():
        entries = read_corpus(folder).sequences
        for name in names:
            scores, seconds, n_frames = [], 0.0, 0
            for e in tqdm(entries, desc=f"{domain}: {name}", unit="seq"):
                cap = Capture.load(e.capture)
                gt = FlameSequence.load(e.gt)
                t0 = time.perf_counter()
                res = annotate(cap, layer, encoder, METHODS[name])
                seconds += time.perf_counter() - t0
                n_frames += cap.n_frames * cap.n_views
                s = score_sequence(layer64, gt, res.sequence, cap.landmarks, cap.valid)
                scores.append(s)
                per_sequence.append(dict(domain=domain, method=name, sequence=e.id, **s))
            row = {"domain": domain, "method": name, "s_per_frame": seconds / n_frames}
            for k in COLUMNS[2:-1]:
                row[k] = float(np.nanmean([s[k] for s in scores])) if not (domain == "wild" and k == "cvd_mm") else float("nan")
            rows.append(row)
    out.mkdir(parents=True, exist_ok=True)
    write_csv(out / "annotation_benchmark.csv", rows, COLUMNS)
    write_csv(out / "annotation_benchmark_sequences.csv", per_sequence)
    text = (f"# Annotation benchmark\n\nModel: {layer.model_label}. Test corpora: lab {lab_identities} x {lab_frames} "
            f"frames x 7 views, wild {wild_identities} x {wild_frames} frames (seed {seed}); landmark encoder "
            f"pretrained on random samples of the model. Settings: `{json.dumps({k: _short(v) for k, v in METHODS.items()})}`\n\n"
            + markdown_table(rows, COLUMNS) + "\n\n"
            "MPVE / PA-MPVE / CVD in mm (lower is better); NME in % of the outer inter-ocular distance against the true "
            "(nme68, nme51) and the detected (nme_det) landmarks; MSI_L / MSI_V: higher is steadier; jitter in mm/s^3; "
            "seconds per view-frame on this machine.\n\n## Reading\n\n" + reading(rows) + "\n")
    atomic_write_text(out / "annotation_benchmark.md", text)
    return rows


def _short(cfg: AnnotateConfig) -> dict:
    base = AnnotateConfig()
    return {k: v for k, v in cfg.__dict__.items() if getattr(base, k) != v}


def reading(rows: list[dict]) -> str:
    """A factual comparison: for each domain, who wins each metric, and NeuFace vs the baselines."""
    lines = []
    lower = {"mpve_mm", "pa_mpve_mm", "cvd_mm", "nme68", "nme51", "nme_det", "jitter_mm_s3"}
    for domain in sorted({r["domain"] for r in rows}):
        by = {r["method"]: r for r in rows if r["domain"] == domain}
        nf, rg, ft = by.get("neuface (full)"), by.get("regress"), by.get("fit")
        best = []
        for k in COLUMNS[2:-1]:
            vals = {m: r[k] for m, r in by.items() if np.isfinite(r[k])}
            if vals:
                m = (min if k in lower else max)(vals, key=vals.get)
                best.append(f"{k}: {m}")
        lines.append(f"- **{domain}** - best per metric: " + ", ".join(best) + ".")
        for other, label in ((rg, "regress"), (ft, "fit")):
            if nf and other:
                wins = [k for k in COLUMNS[2:-1] if np.isfinite(nf[k]) and np.isfinite(other[k])
                        and ((nf[k] < other[k]) if k in lower else (nf[k] > other[k]))]
                losses = [k for k in COLUMNS[2:-1] if np.isfinite(nf[k]) and np.isfinite(other[k]) and k not in wins]
                lines.append(f"  NeuFace vs {label}: better on {', '.join(wins) or 'nothing'}; "
                             f"not better on {', '.join(losses) or 'nothing'}.")
    return "\n".join(lines)
