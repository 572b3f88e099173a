"""The annotation benchmark (the paper's Table 2 / Fig. 4 on our synthetic data).

Builds (or reuses) a ``lab`` 7-view and a ``wild`` test corpus, annotates every sequence with
``regress``, ``fit`` and ``neuface``, with NeuFace's official objective (and the paper's loss ablations
lmk / lmk+temp / lmk+mv of it) and with each of the suite's additions removed in turn, scores them against the
ground truth - MPVE, CVD, NME, MSI and the parameter-space fidelity of :mod:`eval.metrics.fidelity` - and
writes ``annotation_benchmark.md`` / ``.csv``.

Every method gets the same detections, the same pretrained encoder and the same model; ``fit``
gets twice NeuFace's epochs (direct parameters move only when their frame is in a batch). ``fit`` and
``neuface`` share one objective; the ``(official objective)`` rows are the paper's Eq. 5 baseline and
NeuFace as published (DECA's weak perspective, landmark + temporal + multi-view terms).

With ``occlusion`` (events per second) the test corpora get occluders (:mod:`annotator.synthetic.occlusion`)
and the table gains MPVE inside the occluded frames and NME on the others; with ``prior`` (a trained HuMoR-Face
file - trained on other identities than these test corpora) the rows ``neuface + prior`` and ``fit + prior``
add its motion term (:mod:`annotator.motion_term`) to the full NeuFace and the fit settings.
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
from annotator.neuface import OFFICIAL_OBJECTIVE, AnnotateConfig, annotate
from annotator.pretrain import DEFAULT_ENCODER_CACHE, load_or_pretrain
from annotator.synthetic.builder import SynthConfig, build_corpus
from annotator.synthetic.occlusion import Occlusion
from eval.annotation import occluded_of, score_sequence
from eval.metrics.fidelity import pool_fidelity
from eval.report import markdown_table, write_csv
from flame.errors import InputError
from flame.files import atomic_write_text
from flame.head import DEFAULT_ASSETS, head_layer, resolve_model_file
from flame.layout import read_corpus
from flame.sequence import FlameSequence

__all__ = ["METHODS", "WITH_PRIOR", "run_benchmark", "reading"]

log = logging.getLogger(__name__)

BASE = AnnotateConfig()
_FIT = {"method": "fit", "epochs": 2 * BASE.epochs, "lr": 3e-3}
OFFICIAL = OFFICIAL_OBJECTIVE
#: name -> settings: the baselines, the official objective and its loss ablations, the additions removed one by one
METHODS: dict[str, AnnotateConfig] = {
    "regress": AnnotateConfig(method="regress"),
    "fit": replace(BASE, **_FIT),
    "neuface": BASE,
    "fit (official objective)": replace(OFFICIAL, **_FIT),
    "neuface (official objective)": OFFICIAL,
    "neuface (official weights)": replace(OFFICIAL, lambda_temp=100.0),
    "neuface lmk": replace(OFFICIAL, lambda_temp=0.0, lambda_mv=0.0),
    "neuface lmk+temp": replace(OFFICIAL, lambda_mv=0.0),
    "neuface lmk+mv": replace(OFFICIAL, lambda_temp=0.0),
    "neuface - perspective": replace(BASE, projection="weak"),
    "neuface - anchors": replace(BASE, lambda_anchor_expression=0.0, lambda_anchor_jaw=0.0,
                                 lambda_anchor_expression_multiview=0.0, lambda_anchor_jaw_multiview=0.0),
    "neuface - smoothness": replace(BASE, lambda_smooth_expression=0.0, lambda_smooth_jaw=0.0),
    "neuface - jaw anatomy": replace(BASE, prior_jaw_offaxis=0.0),
}
#: rows that add the motion prior, and the row whose settings they extend
WITH_PRIOR = {"neuface + prior": "neuface", "fit + prior": "fit"}
#: parameter-space columns of the table (eval.metrics.fidelity), after the annotation metrics
FIDELITY = ["head_err_deg", "head_const_deg", "head_resid_deg", "jaw_err_deg", "expr_rmse", "expr_ratio", "jaw_speed_ratio",
            "jaw_band_ratio", "jaw_offaxis_deg", "jaw_offaxis_true_deg"]
COLUMNS = ["domain", "method", "mpve_mm", "pa_mpve_mm", "cvd_mm", "nme68", "nme51", "nme_det", "msi_l", "msi_v",
           "jitter_mm_s3", *FIDELITY, "mpve_gap_mm", "nme68_visible", "s_per_frame"]


def _corpus(out: Path, domain: str, identities: int, frames: int, model: Path, seed: int, occlusion: float) -> Path:
    name = f"{domain}_occluded{occlusion:g}" if occlusion else domain
    cfg = SynthConfig(domain=domain, identities=identities, sequences=1, frames=frames, out=str(out / "corpus" / name),
                      seed=seed, model=str(model), split_fractions=(0.0, 0.0, 1.0), occlusion=Occlusion(rate=occlusion))
    return build_corpus(cfg, progress=False)


def run_benchmark(out: str | os.PathLike = "runs/annotation_benchmark", model: str | None = None,
                  assets: str = DEFAULT_ASSETS, encoder_cache: str = DEFAULT_ENCODER_CACHE,
                  lab_identities: int = 4, lab_frames: int = 100, wild_identities: int = 8, wild_frames: int = 150,
                  methods: list[str] | None = None, seed: int = 100, occlusion: float = 0.0, prior: str | None = None,
                  lambda_prior: float = BASE.lambda_prior) -> list[dict]:
    """Run the benchmark; returns the rows (one per domain and method, averaged over sequences).

    Args:
        out: output folder (corpora, report).
        model / assets / encoder_cache: the head model (default: the stand-in built in ``assets``) and
            the landmark-encoder cache.
        lab_identities / lab_frames: the 7-view lab test corpus (one sequence per identity).
        wild_identities / wild_frames: the in-the-wild test corpus.
        methods: names of :data:`METHODS` (and :data:`WITH_PRIOR`) to run (default: all, and both prior rows
            when a prior is given).
        seed: seed of the corpora.
        occlusion: occluder events per second in the test corpora (0: none).
        prior: a trained HuMoR-Face file for the ``+ prior`` rows; lambda_prior: its weight.
    """
    out = Path(out)
    model_path = resolve_model_file(model, assets)
    layer = head_layer(model_path)
    layer64 = head_layer(model_path, dtype=torch.float64)
    encoder = load_or_pretrain(layer, encoder_cache)
    names = methods or list(METHODS) + (list(WITH_PRIOR) if prior else [])
    unknown = set(names) - set(METHODS) - set(WITH_PRIOR)
    if unknown:
        raise InputError(f"methods: unknown {sorted(unknown)}; choose from {list(METHODS) + list(WITH_PRIOR)}")
    settings, term = dict(METHODS), None
    if set(names) & set(WITH_PRIOR):
        if not prior:
            raise InputError(f"methods {sorted(set(names) & set(WITH_PRIOR))} need --prior GENERATOR_FILE")
        from annotator.motion_term import load_motion_prior

        term = load_motion_prior(prior, layer, model_path)
        settings |= {k: replace(METHODS[base], prior=str(prior), lambda_prior=lambda_prior) for k, base in WITH_PRIOR.items()}
    corpora = {"lab": _corpus(out, "lab", lab_identities, lab_frames, model_path, seed, occlusion),
               "wild": _corpus(out, "wild", wild_identities, wild_frames, model_path, seed, occlusion)}
    rows, per_sequence = [], []
    for domain, folder in corpora.items():
        entries = read_corpus(folder).sequences
        for name in names:
            scores, seconds, n_frames = [], 0.0, 0
            for e in tqdm(entries, desc=f"{domain}: {name}", unit="seq"):
                cap = Capture.load(e.capture)
                gt = FlameSequence.load(e.gt)
                t0 = time.perf_counter()
                res = annotate(cap, layer, encoder, settings[name], prior=term if settings[name].prior else None)
                seconds += time.perf_counter() - t0
                n_frames += cap.n_frames * cap.n_views
                s = score_sequence(layer64, gt, res.sequence, cap.landmarks, cap.valid, occluded_of(cap))
                scores.append(s)
                per_sequence.append(dict(domain=domain, method=name, sequence=e.id, **s))
            row = {"domain": domain, "method": name, "s_per_frame": seconds / n_frames}
            for k in COLUMNS[2:-1]:
                values = np.array([s.get(k, np.nan) for s in scores], float)
                finite = np.isfinite(values).any() and not (domain == "wild" and k == "cvd_mm")
                row[k] = float(np.nanmean(values)) if finite else float("nan")
            rows.append(row | pool_fidelity(scores))
    out.mkdir(parents=True, exist_ok=True)
    write_csv(out / "annotation_benchmark.csv", rows, COLUMNS)
    write_csv(out / "annotation_benchmark_sequences.csv", per_sequence)
    occluders = f", {occlusion:g} occluder events per second" if occlusion else ""
    text = (f"# Annotation benchmark\n\nModel: {layer.model_label}. Test corpora: lab {lab_identities} x {lab_frames} "
            f"frames x 7 views, wild {wild_identities} x {wild_frames} frames (seed {seed}{occluders}); landmark encoder "
            f"pretrained on random samples of the model. Settings: "
            f"`{json.dumps({k: _short(settings[k]) for k in names})}`\n\n"
            + markdown_table(rows, COLUMNS) + "\n\n"
            "MPVE / PA-MPVE / CVD in mm (lower is better); NME in % of the outer inter-ocular distance against the true "
            "(nme68, nme51) and the detected (nme_det) landmarks; MSI_L / MSI_V: higher is steadier; jitter in mm/s^3; "
            "head_err_deg / head_const_deg / head_resid_deg: head rotation error, its constant part per sequence and view "
            "and what is left (deg); jaw_err_deg (deg); expr_rmse (coefficients); expr_ratio, jaw_speed_ratio, "
            "jaw_band_ratio: expression magnitude, jaw angular speed and the jaw opening's 3-6 Hz power share over the "
            "truth's; jaw_offaxis_deg: the jaw's rotation about y and z (the truth's in jaw_offaxis_true_deg); "
            "mpve_gap_mm: MPVE inside the occluded frames, nme68_visible: NME on the others (NaN without occluders); "
            "seconds per view-frame on this machine.\n\n## Reading\n\n" + reading(rows) + "\n")
    atomic_write_text(out / "annotation_benchmark.md", text)
    return rows


def _short(cfg: AnnotateConfig) -> dict:
    base = AnnotateConfig()
    return {k: v for k, v in cfg.__dict__.items() if getattr(base, k) != v}


def reading(rows: list[dict]) -> str:
    """A factual comparison: for each domain, who wins each metric, and NeuFace vs the baselines."""
    lines = []
    lower = {"mpve_mm", "pa_mpve_mm", "cvd_mm", "nme68", "nme51", "nme_det", "jitter_mm_s3", "mpve_gap_mm",
             "nme68_visible", "head_err_deg", "head_const_deg", "head_resid_deg", "jaw_err_deg", "expr_rmse", "jaw_offaxis_deg"}
    near_one = {"expr_ratio", "jaw_speed_ratio", "jaw_band_ratio"}  # better is closer to the truth's
    for domain in sorted({r["domain"] for r in rows}):
        by = {r["method"]: r for r in rows if r["domain"] == domain}
        nf, rg, ft = by.get("neuface"), by.get("regress"), by.get("fit")
        best = []
        for k in COLUMNS[2:-1]:
            vals = {m: (abs(np.log(r[k])) if k in near_one else r[k]) for m, r in by.items() if np.isfinite(r[k]) and r[k] > 0}
            if vals and k != "jaw_offaxis_true_deg":
                m = (min if k in lower | near_one else max)(vals, key=vals.get)
                best.append(f"{k}: {m}")
        lines.append(f"- **{domain}** - best per metric: " + ", ".join(best) + ".")
        for other, label in ((rg, "regress"), (ft, "fit")):
            if nf and other:
                keys = [k for k in COLUMNS[2:-1] if k != "jaw_offaxis_true_deg" and np.isfinite(nf[k]) and np.isfinite(other[k])]
                closer = lambda a, b: abs(np.log(a)) < abs(np.log(b))  # noqa: E731
                wins = [k for k in keys if (closer(nf[k], other[k]) if k in near_one
                                            else (nf[k] < other[k]) if k in lower else (nf[k] > other[k]))]
                losses = [k for k in keys if k not in wins]
                lines.append(f"  NeuFace vs {label}: better on {', '.join(wins) or 'nothing'}; "
                             f"not better on {', '.join(losses) or 'nothing'}.")
        for with_prior, without in WITH_PRIOR.items():
            a, b = by.get(with_prior), by.get(without)
            if a and b:
                change = {k: 100.0 * (a[k] / b[k] - 1.0) for k in ("mpve_mm", "mpve_gap_mm", "nme68_visible", "jitter_mm_s3",
                                                                  "s_per_frame") if np.isfinite(a[k]) and np.isfinite(b[k])}
                lines.append(f"  {with_prior} vs {without}: " + ", ".join(f"{k} {v:+.1f} %" for k, v in change.items()) + ".")
    return "\n".join(lines)
