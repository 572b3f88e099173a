"""The prior benchmark (the paper's Table S3 on our synthetic data): what the training data does to
HuMoR-Face.

Training sets, built to differ the way the paper's do, each annotated with NeuFace:

* ``mocap`` - a small lab set (few identities, short clips, small motion; VOCASET-like);
* ``lab`` - a large lab set (7 views, each view a clip; MEAD-like);
* ``wild`` - a large in-the-wild set (1 moving view, large head motion; VoxCeleb2-like);

and, on the ``wild`` set, the ground truth and the per-frame ``regress`` annotations, to measure what
annotation quality does to the learned prior (the paper's central claim). Every prior is trained with
the same config and the same number of optimizer steps (epochs of a fixed number of windows), and is
evaluated on the held-out ``wild`` test identities: ``samples`` rollouts of ``seconds`` from each of
``starts`` test start frames, written as FlameSequence files and scored by the motion evaluator
(:mod:`eval.experiments.motion`: FD, APD, health, horizon curves, spectra) against the test ground
truth, with a reference row of real ``wild`` train clips scored the same way (``eval/motion.md``).
Every stage resumes (corpora, annotations, priors, samples).
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from annotator.pretrain import DEFAULT_ENCODER_CACHE, PretrainConfig
from annotator.synthetic.builder import CorpusSize
from eval.experiments.motion import LEGEND, score_motion, write_motion_report
from eval.motion_features import load_motion_set
from eval.report import markdown_table, write_csv
from flame.errors import InputError
from flame.files import atomic_write_text
from flame.head import DEFAULT_ASSETS
from flame.sequence import MOTION_FPS

log = logging.getLogger(__name__)

__all__ = ["TRAINING_SETS", "PriorBenchmarkConfig", "run_prior_benchmark", "reading"]

#: row name -> (corpus domain, annotation: neuface / regress / gt)
TRAINING_SETS: dict[str, tuple[str, str]] = {
    "mocap / NeuFace": ("mocap", "neuface"),
    "lab / NeuFace": ("lab", "neuface"),
    "wild / NeuFace": ("wild", "neuface"),
    "wild / ground truth": ("wild", "gt"),
    "wild / regress": ("wild", "regress"),
}
COLUMNS = ["training set", "train_clips", "train_minutes", "annotation_mpve_mm", "fd_expression", "fd_pose",
           "fd_landmarks", "fd_combined", "apd_mean_world", "apd_mean_head_canonical", "variance_ratio", "out_of_range",
           "drift_z", "freeze_rate", "acceleration_ratio", "jaw_speed_deg_s", "jaw_3-6Hz", "nonfinite_fraction",
           "train_seconds"]
REFERENCE = "real wild train clips (reference)"


@dataclass
class PriorBenchmarkConfig:
    """Settings of ``python -m eval prior-benchmark``.

    Attributes:
        out: output folder (corpora, annotations, priors, evaluations, report).
        model: FLAME model file (default: the stand-in built in ``assets``).
        assets / encoder_cache: stand-in and landmark-encoder caches.
        mocap / lab / wild: corpus sizes (identities split 60/20/20 into train / val / test).
        seed: seed of the corpora (each domain offset) and of the samples.
        prior_config / prior_overrides: HuMoR-Face training config and extra ``fit`` arguments.
        starts / samples / seconds: wild test start frames, rollouts per start, horizon (30 Hz).
        rows: training sets to run (default all of :data:`TRAINING_SETS`).
        pretrain: landmark-encoder pretraining settings (default: the annotator's).
    """

    out: str = "runs/prior_benchmark"
    model: str | None = None
    assets: str = DEFAULT_ASSETS
    encoder_cache: str = DEFAULT_ENCODER_CACHE
    mocap: CorpusSize = CorpusSize(4, 6, 180)
    lab: CorpusSize = CorpusSize(10, 2, 120)
    wild: CorpusSize = CorpusSize(40, 2, 150)
    seed: int = 200
    prior_config: str = "configs/motionprior/quick.yaml"
    prior_overrides: list[str] = field(default_factory=list)
    starts: int = 8
    samples: int = 50
    seconds: float = 10.0
    rows: list[str] | None = None
    pretrain: PretrainConfig | None = None


def _slug(name: str) -> str:
    return name.lower().replace(" / ", "_").replace(" ", "_")


def run_prior_benchmark(cfg: PriorBenchmarkConfig) -> list[dict]:
    """Run the benchmark (see the module docstring); returns the table rows (the reference last)."""
    from annotator.synthetic.builder import SynthConfig, build_corpus
    from eval.experiments.score import annotate_and_score
    from flame.head import head_layer, resolve_model_file
    from motionprior.train import fit_or_resume

    names = cfg.rows or list(TRAINING_SETS)
    unknown = set(names) - set(TRAINING_SETS)
    if unknown:
        raise InputError(f"rows: unknown training sets {sorted(unknown)}; choose from {list(TRAINING_SETS)}")
    out = Path(cfg.out)
    model_path = resolve_model_file(cfg.model, cfg.assets)
    layer64 = head_layer(model_path, dtype=torch.float64)
    sizes = {"mocap": cfg.mocap, "lab": cfg.lab, "wild": cfg.wild}
    domains = sorted({TRAINING_SETS[n][0] for n in names} | {"wild"}, key=list(sizes).index)
    corpora = {d: build_corpus(SynthConfig(domain=d, identities=sizes[d].identities, sequences=sizes[d].sequences,
                                           frames=sizes[d].frames, out=str(out / "corpus" / d), seed=cfg.seed + i,
                                           model=str(model_path)))
               for i, d in enumerate(domains)}

    # annotate the training data, and score the annotations of the train split against the ground truth
    data, annotation_mpve = {}, {}
    for name in names:
        domain, method = TRAINING_SETS[name]
        if method == "gt":
            data[name], annotation_mpve[name] = corpora[domain], 0.0
            continue
        target, mean = annotate_and_score(corpora[domain], out, method, model_path, cfg.encoder_cache,
                                          cfg.pretrain or PretrainConfig(), layer64, split="train")
        data[name], annotation_mpve[name] = target, mean["mpve_mm"]

    priors, train_seconds = {}, {}
    for name in names:
        t0 = time.perf_counter()
        priors[name] = fit_or_resume(cfg.prior_config, out / "priors" / _slug(name),
                                     ["--data.data", str(data[name]), "--model.flame_model", str(model_path),
                                      *cfg.prior_overrides])
        train_seconds[name] = time.perf_counter() - t0
    # samples from held-out wild test starts, scored with the motion evaluator against the test ground truth
    generated, train_stats = {}, {}
    for name in names:
        files = _sample_row(cfg, priors[name], corpora["wild"], model_path, out / "samples" / _slug(name))
        generated[name] = [load_motion_set(files, layer64, progress=False)]
        train = load_motion_set(f"{data[name]}@train", layer64, progress=False)
        train_stats[name] = {"train_clips": len(train), "train_minutes": sum(len(c) for c in train) / MOTION_FPS / 60}
    real = load_motion_set(f"{corpora['wild']}@test", layer64, progress=False)
    reference = load_motion_set(f"{corpora['wild']}@train", layer64, progress=False)
    result = score_motion(generated, real, {REFERENCE: reference})
    write_motion_report(result, out / "eval", title="Prior benchmark: the motion evaluator's report",
                        note=f"Samples from {cfg.starts} held-out wild test starts; real: the wild test ground truth.")
    by = {r["set"]: r for r in result["rows"]}
    table = [{"training set": name, **train_stats[name], "annotation_mpve_mm": annotation_mpve[name],
              "train_seconds": train_seconds[name]} | {k: by[name].get(k, float("nan")) for k in COLUMNS[4:-1]}
             for name in names]
    table.append({"training set": REFERENCE, "train_clips": len(reference)}
                 | {k: by[REFERENCE].get(k, float("nan")) for k in COLUMNS[4:-1]})
    _write(out, cfg, table, result)
    return table


def _sample_row(cfg: PriorBenchmarkConfig, prior: Path, wild: Path, model_path: Path, folder: Path) -> list[Path]:
    """The sample files of one prior (rolled out unless ``samples.json`` says they were)."""
    from motionprior.sample import SampleConfig, sample_prior

    if not (folder / "samples.json").is_file():
        sample_prior(SampleConfig(checkpoint=str(prior), data=str(wild), out=str(folder), split="test", starts=cfg.starts,
                                  samples=cfg.samples, seconds=cfg.seconds, seed=cfg.seed, render=0,
                                  flame_model=str(model_path)), progress=False)
    starts = json.loads((folder / "samples.json").read_text())["starts"]
    return [folder / f"{s.replace('/', '_')}.npz" for s in starts]


def _write(out: Path, cfg: PriorBenchmarkConfig, table: list[dict], result: dict) -> None:
    write_csv(out / "prior_benchmark.csv", table, COLUMNS)
    sizes = ", ".join(f"{d} {s.identities} identities x {s.sequences} x {s.frames} frames"
                      for d, s in (("mocap", cfg.mocap), ("lab", cfg.lab), ("wild", cfg.wild)))
    text = (f"# Prior benchmark (Table S3 on synthetic data)\n\nCorpora ({sizes}; identities split 60/20/20, seed "
            f"{cfg.seed}). Each prior: `{cfg.prior_config}` {' '.join(cfg.prior_overrides)}, the same optimizer steps. "
            f"Evaluation (`python -m eval motion`'s metrics): {cfg.samples} samples x {cfg.seconds:g} s from "
            f"{cfg.starts} start frames of the held-out wild test identities, against the wild test ground truth; "
            f"the reference row is real motion of the train identities scored the same way.\n\n"
            + markdown_table(table, COLUMNS) + "\n\n"
            "train_minutes: training motion at 30 Hz (each view of a lab capture is a clip); annotation_mpve_mm: MPVE "
            "of the training annotations against the ground truth (train split). " + LEGEND + "\n\n"
            "Every metric, the horizon curves and the spectra: [eval/motion.md](eval/motion.md).\n\n"
            "![metrics over the horizon](eval/horizon.png)\n\n![spectra](eval/spectra.png)\n\n## Reading\n\n"
            + reading(table, result["horizon"]) + "\n")
    atomic_write_text(out / "prior_benchmark.md", text)


def reading(table: list[dict], horizon: dict[str, list[dict]] | None = None) -> str:
    """Which of the paper's orderings reproduce, stated from the numbers: over the whole horizon and,
    with the evaluator's ``horizon`` curves, over the first second (before long-horizon drift dominates FD)."""
    by = {r["training set"]: r for r in table}
    first = {name: rows[0] for name, rows in (horizon or {}).items() if rows}
    lines = []

    def cmp(a: str, b: str, key: str) -> str | None:
        if a not in by or b not in by or not (np.isfinite(by[a][key]) and np.isfinite(by[b][key])):
            return None
        x, y = by[a][key], by[b][key]
        return f"{key} {x:.3g} vs {y:.3g} ({'yes' if x < y else 'no'})"

    for a, b, claim in (("wild / NeuFace", "lab / NeuFace", "large wild data beats large lab data on wild motion"),
                        ("wild / NeuFace", "mocap / NeuFace", "large wild data beats small lab data"),
                        ("wild / NeuFace", "wild / regress", "NeuFace annotations beat per-frame regression"),
                        ("wild / ground truth", "wild / NeuFace", "ground truth is an upper bound for NeuFace")):
        parts = [c for c in (cmp(a, b, k) for k in ("fd_expression", "fd_pose", "fd_landmarks", "fd_combined")) if c]
        if parts:
            lines.append(f"- {claim} - {a} < {b}? " + "; ".join(parts) + ".")
        if a in first and b in first:
            early = [f"{k} {first[a][k]:.3g} vs {first[b][k]:.3g} ({'yes' if first[a][k] < first[b][k] else 'no'})"
                     for k in ("fd_expression", "fd_pose") if k in first[a] and k in first[b]]
            lines.append("  first second only: " + "; ".join(early) + ".")
    ref = next((r for r in table if "reference" in r["training set"]), None)
    if ref:
        limit = 1.5 * ref["out_of_range"] + 0.05
        healthy = [r["training set"] for r in table if r is not ref and np.isfinite(r["out_of_range"])
                   and r["out_of_range"] <= limit]
        lines.append(f"- long-horizon health: out-of-range at most 1.5x the real reference ({ref['out_of_range']:.2f}) "
                     f"+ 0.05 = {limit:.2f} for {', '.join(healthy) or 'no prior'}.")
    return "\n".join(lines)
