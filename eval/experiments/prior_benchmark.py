"""The generator benchmark (the paper's Table S3 on our synthetic data, for both generator families):
what the training data does to a generator, and how the families compare.

Training sets, built to differ the way the paper's do, each annotated with NeuFace:

* ``mocap`` - a small lab set (few identities, short clips, small motion; VOCASET-like);
* ``lab`` - a large lab set (7 views, each view a clip; MEAD-like);
* ``wild`` - a large in-the-wild set (1 moving view, large head motion; VoxCeleb2-like);

and, on the ``wild`` set, the ground truth and the per-frame ``regress`` annotations, to measure what
annotation quality does to the learned generator (the paper's central claim). Every generator family
(``generators``: label -> training config) is trained on every set with each training seed (``seeds``;
``--seed_everything``), the same config and number of optimizer steps per family, and evaluated on the
held-out ``wild`` test identities: ``samples`` motions from each of ``starts`` test start frames over the
longest horizon, written as FlameSequence files and scored by the motion evaluator
(:mod:`eval.experiments.motion`) at every horizon (the first seconds of the same samples) against the
test ground truth, with a reference row of real ``wild`` train clips and, per training set, a row of its
own training motion (what a generator that reproduced its data exactly would score). A row aggregates its
seeds (mean ± sample std). The goals of the generator issue are checked per seed on the ``wild / NeuFace`` rows.
Every stage resumes (corpora, annotations, generators, samples).
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
from eval.experiments.motion import LEGEND, REAL_ROW, combine_scores, real_side, score_set, write_motion_report
from eval.metrics.motion import STEP_PARTS
from eval.motion_features import load_motion_set
from eval.report import markdown_table, write_csv
from flame.errors import InputError
from flame.files import atomic_write_text
from flame.head import DEFAULT_ASSETS
from flame.sequence import MOTION_FPS

log = logging.getLogger(__name__)

__all__ = ["TRAINING_SETS", "PriorBenchmarkConfig", "run_prior_benchmark", "reading"]

#: training set -> (corpus domain, annotation: neuface / regress / gt)
TRAINING_SETS: dict[str, tuple[str, str]] = {
    "mocap / NeuFace": ("mocap", "neuface"),
    "lab / NeuFace": ("lab", "neuface"),
    "wild / NeuFace": ("wild", "neuface"),
    "wild / ground truth": ("wild", "gt"),
    "wild / regress": ("wild", "regress"),
}
GENERATORS = {"HuMoR-Face": "configs/motionprior/quick.yaml",
              "long-context diffusion": "configs/motionprior/diffusion.yaml"}
METRICS = ["fd_expression", "fd_pose", "fd_landmarks", "fd_combined", "apd_mean_head_canonical", "out_of_range",
           "freeze_rate", "acceleration_ratio", "jaw_speed_deg_s", "jaw_3-6Hz"]
COLUMNS = ["training set", "generator", "seeds", "train_clips", "train_minutes", "annotation_mpve_mm", *METRICS,
           "train_seconds"]
REFERENCE = "real wild train clips (reference)"
DATA = "training data"  # the generator column of a training set's own motion, scored like a generator
GOAL_ROW = "wild / NeuFace"


@dataclass
class PriorBenchmarkConfig:
    """Settings of ``python -m eval prior-benchmark``.

    Attributes:
        out: output folder (corpora, annotations, generators, samples, evaluations, report).
        model: FLAME model file (default: the stand-in built in ``assets``).
        assets / encoder_cache: stand-in and landmark-encoder caches.
        mocap / lab / wild: corpus sizes (identities split 60/20/20 into train / val / test).
        seed: seed of the corpora (each domain offset) and of the samples.
        generators: label -> training config of each family; overrides: label -> extra ``fit`` arguments.
        seeds: training seeds of every (training set, generator).
        starts / samples: wild test start frames and motions per start.
        horizons: seconds scored (the first seconds of samples of the longest horizon).
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
    generators: dict[str, str] = field(default_factory=lambda: dict(GENERATORS))
    overrides: dict[str, list[str]] = field(default_factory=dict)
    seeds: list[int] = field(default_factory=lambda: [0, 1, 2])
    starts: int = 8
    samples: int = 50
    horizons: list[float] = field(default_factory=lambda: [10.0, 30.0])
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
                                           frames=sizes[d].frames, out=str(out / "corpus" / d),
                                           seed=cfg.seed + list(sizes).index(d), model=str(model_path)))
               for d in domains}  # a domain's seed does not depend on which rows run

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

    unknown = set(cfg.overrides) - set(cfg.generators)
    if unknown:
        raise InputError(f"overrides: unknown generators {sorted(unknown)}; the generators are {list(cfg.generators)}")
    # every set is scored as soon as it is loaded, at every horizon, and dropped: one run's per-frame
    # features are in memory at a time (a run of 400 samples x 30 s is about 1.3 GB)
    real = load_motion_set(f"{corpora['wild']}@test", layer64, progress=False)
    side = real_side(real)
    fixed = {REFERENCE: ("reference", score_set(load_motion_set(f"{corpora['wild']}@train", layer64, progress=False),
                                                real, MOTION_FPS, side))}
    reference_clips = fixed[REFERENCE][1]["clips"]
    longest = max(cfg.horizons)
    scored: dict[float, dict[str, list[dict]]] = {h: {} for h in cfg.horizons}
    rows, train_seconds, train_stats = [], {}, {}
    for name in names:
        train = load_motion_set(f"{data[name]}@train", layer64, progress=False)
        train_stats[name] = {"train_clips": len(train), "train_minutes": sum(len(c) for c in train) / MOTION_FPS / 60}
        fixed[_label(name, DATA)] = ("reference", score_set(train, real, MOTION_FPS, side))
        del train
        for gen, config in cfg.generators.items():
            rows.append((name, gen))
            times = []
            for seed in cfg.seeds:
                folder = out / "generators" / _slug(name) / _slug(gen) / f"seed{seed}"
                t0 = time.perf_counter()
                done = folder / "train_seconds.txt"  # the training's wall time, kept for reruns that resume
                prior = fit_or_resume(config, folder, ["--data.data", str(data[name]), "--model.head.flame_model",
                                                       str(model_path), "--seed_everything", str(seed),
                                                       *cfg.overrides.get(gen, [])])
                if not done.is_file():
                    atomic_write_text(done, f"{time.perf_counter() - t0:.1f}\n")
                times.append(float(done.read_text()))
                files = _sample_row(cfg, prior, corpora["wild"], model_path, longest,
                                    out / "samples" / _slug(name) / _slug(gen) / f"seed{seed}")
                run = load_motion_set(files, layer64, progress=False)
                for h in cfg.horizons:
                    n = int(round(h * MOTION_FPS)) + 1
                    scored[h].setdefault(_label(name, gen), []).append(
                        score_set([c.frames(0, n) for c in run], real, MOTION_FPS, side))
                del run
            train_seconds[(name, gen)] = float(np.mean(times))
    fixed[REAL_ROW] = ("real", score_set(real, real, MOTION_FPS, side))
    tables, results = {}, {}
    for h in cfg.horizons:
        results[h] = combine_scores(scored[h], fixed)
        write_motion_report(results[h], out / f"eval_{h:g}s", title=f"Generator benchmark at {h:g} s",
                            note=f"Samples from {cfg.starts} held-out wild test starts; real: the wild test ground "
                                 f"truth; rows: mean ± std over training seeds {cfg.seeds}.")
        by = {r["set"]: r for r in results[h]["rows"]}
        tables[h] = [{"training set": name, "generator": gen, "seeds": len(cfg.seeds), **train_stats[name],
                      "annotation_mpve_mm": annotation_mpve[name], "train_seconds": train_seconds[(name, gen)]}
                     | {k: by[_label(name, gen)].get(k, float("nan")) for k in METRICS}
                     | {f"{k}_std": by[_label(name, gen)].get(f"{k}_std", float("nan")) for k in METRICS}
                     for name, gen in rows]
        tables[h] += [{"training set": name, "generator": DATA, **train_stats[name],
                       "annotation_mpve_mm": annotation_mpve[name]}
                      | {k: by[_label(name, DATA)].get(k, float("nan")) for k in METRICS} for name in names]
        tables[h].append({"training set": REFERENCE, "generator": "-", "train_clips": reference_clips}
                         | {k: by[REFERENCE].get(k, float("nan")) for k in METRICS})
    goals = goal_check(scored, fixed, cfg) if GOAL_ROW in names else []
    _write(out, cfg, tables, results, goals)
    return tables[cfg.horizons[0]]


def _label(name: str, gen: str) -> str:
    return f"{name} · {gen}"


def goal_check(scored: dict[float, dict[str, list[dict]]], fixed: dict[str, tuple[str, dict]],
               cfg: PriorBenchmarkConfig) -> list[dict]:
    """Per generator and training seed on the ``wild / NeuFace`` rows: the issue's goals against the wild
    test ground truth (10 s, or the shortest horizon, for the 10 s goals; every second of the longest for
    out-of-range). ``scored``: horizon -> row label -> the score of each seed's run (:func:`score_set`);
    ``fixed``: the real and reference rows' scores. Returns one row per (generator, seed) with the measured
    values and pass / fail."""
    short, longest = min(cfg.horizons), max(cfg.horizons)
    truth, ref = fixed[REAL_ROW][1], fixed[REFERENCE][1]
    rows = []
    for gen in cfg.generators:
        label = _label(GOAL_ROW, gen)
        for seed, g, whole in zip(cfg.seeds, scored[short][label], scored[longest][label]):
            rows.append({
                "generator": gen, "seed": seed,
                "jaw_3-6Hz": g["jaw_3-6Hz"], "jaw_3-6Hz_truth": truth["jaw_3-6Hz"],
                "jaw_speed_ratio": g["jaw_speed_deg_s"] / truth["jaw_speed_deg_s"],
                "acceleration_ratio": g["acceleration_ratio"], "freeze_rate": g["freeze_rate"],
                "freeze_limit": truth["freeze_rate"] + 0.05,
                "max_out_of_range_per_s": max(r["out_of_range"] for r in whole["horizon"][:int(longest)]),
                "out_of_range_limit": truth["out_of_range"] + 0.05,
                "fd_expression_vs_ref": g["fd_expression"] / ref["fd_expression"],
                "fd_pose_vs_ref": g["fd_pose"] / ref["fd_pose"],
                "apd_vs_real": g["apd_mean_head_canonical"] / truth["apd_mean_head_canonical"],
                "start_head_deg": g["head_jump"], "head_step_p95": g["head_step_p95"],
                "start_over_p95": max(g[f"{p}_jump_over_p95"] for p in STEP_PARTS),
                "start_within_p95": all(g[f"{p}_jump"] <= g[f"{p}_step_p95"] for p in STEP_PARTS)})
    for r in rows:
        r["pass"] = {"rhythm": abs(r["jaw_3-6Hz"] / r["jaw_3-6Hz_truth"] - 1) <= 0.25
                     and 0.8 <= r["jaw_speed_ratio"] <= 1.25,
                     "liveliness": 0.8 <= r["acceleration_ratio"] <= 1.25 and r["freeze_rate"] <= r["freeze_limit"],
                     "range": r["max_out_of_range_per_s"] <= r["out_of_range_limit"]
                     and r["fd_expression_vs_ref"] <= 1.5 and r["fd_pose_vs_ref"] <= 1.5,
                     "diversity": r["apd_vs_real"] >= 0.5,
                     "continuity": r.pop("start_within_p95")}
    return rows


def _sample_row(cfg: PriorBenchmarkConfig, prior: Path, wild: Path, model_path: Path, seconds: float,
                folder: Path) -> list[Path]:
    """The sample files of one generator (generated unless ``samples.json`` says they were)."""
    from motionprior.sample import SampleConfig, sample_prior

    if not (folder / "samples.json").is_file():
        sample_prior(SampleConfig(checkpoint=str(prior), data=str(wild), out=str(folder), split="test", starts=cfg.starts,
                                  samples=cfg.samples, seconds=seconds, seed=cfg.seed, render=0,
                                  flame_model=str(model_path)), progress=False)
    starts = json.loads((folder / "samples.json").read_text())["starts"]
    return [folder / f"{s.replace('/', '_')}.npz" for s in starts]


GOAL_COLUMNS = ["generator", "seed", "jaw_3-6Hz", "jaw_3-6Hz_truth", "jaw_speed_ratio", "acceleration_ratio",
                "freeze_rate", "freeze_limit", "max_out_of_range_per_s", "out_of_range_limit", "fd_expression_vs_ref",
                "fd_pose_vs_ref", "apd_vs_real", "start_head_deg", "head_step_p95", "start_over_p95", "passes"]


def _write(out: Path, cfg: PriorBenchmarkConfig, tables: dict, results: dict, goals: list[dict]) -> None:
    sizes = ", ".join(f"{d} {s.identities} identities x {s.sequences} x {s.frames} frames"
                      for d, s in (("mocap", cfg.mocap), ("lab", cfg.lab), ("wild", cfg.wild)))
    gens = "; ".join(f"{g}: `{c}` {' '.join(cfg.overrides.get(g, []))}" for g, c in cfg.generators.items())
    parts = [f"# Generator benchmark (Table S3 on synthetic data)\n\nCorpora ({sizes}; identities split 60/20/20, "
             f"seed {cfg.seed}). Generators: {gens}; training seeds {cfg.seeds}. Evaluation (`python -m eval motion`'s "
             f"metrics): {cfg.samples} samples from {cfg.starts} start frames of the held-out wild test identities, "
             f"against the wild test ground truth; rows: mean ± std over the seeds; the reference row is real motion "
             f"of the train identities scored the same way; a `{DATA}` row is a training set's own motion (train "
             f"split, as annotated) scored the same way.\n"]
    for h, table in tables.items():
        write_csv(out / f"prior_benchmark_{h:g}s.csv", table, COLUMNS + [f"{k}_std" for k in METRICS])
        shown = [{k: (f"{r[k]:.3g} ± {r[k + '_std']:.2g}" if isinstance(r.get(k), float) and np.isfinite(r.get(k))
                      and np.isfinite(r.get(k + "_std", np.nan)) else r.get(k, "")) for k in COLUMNS} for r in table]
        parts.append(f"## {h:g} s\n\n" + markdown_table(shown, COLUMNS) + f"\n\nEvery metric, the horizon curves and "
                     f"the spectra: [eval_{h:g}s/motion.md](eval_{h:g}s/motion.md).\n\n![horizon](eval_{h:g}s/horizon.png)"
                     f"\n\n![spectra](eval_{h:g}s/spectra.png)\n")
    parts.append("train_minutes: training motion at 30 Hz (each view of a lab capture is a clip); annotation_mpve_mm: "
                 "MPVE of the training annotations against the ground truth (train split); train_seconds: mean per "
                 "seed. " + LEGEND + "\n")
    if goals:
        for g in goals:
            g["passes"] = ", ".join(k for k, ok in g["pass"].items() if ok) or "none"
        write_csv(out / "goals.csv", goals, GOAL_COLUMNS)
        parts.append("## Goals (wild / NeuFace, per training seed)\n\n" + markdown_table(goals, GOAL_COLUMNS) +
                     "\n\nrhythm: jaw_3-6Hz within 25 % of the truth's and jaw speed 0.8-1.25x; liveliness: "
                     "acceleration 0.8-1.25x and freeze rate at most the truth's + 0.05; range: out-of-range in every "
                     "second of the longest horizon at most the truth's + 0.05, FD_expression and FD_pose at most 1.5x "
                     "the reference row's; diversity: head-canonical APD at least half the test clips' mutual "
                     "distance; continuity: the mean step from the start frame to the first generated one within "
                     "the test clips' 95th percentile of frame-to-frame steps for head, jaw and expression "
                     "(start_head_deg against head_step_p95; start_over_p95: the largest share of samples above it "
                     f"in a part). Short goals at {min(cfg.horizons):g} s.\n")
    first = min(tables)
    parts.append("## Reading\n\n" + reading(tables[first], results[first]["horizon"]) + "\n")
    atomic_write_text(out / "prior_benchmark.md", "\n".join(parts))


def reading(table: list[dict], horizon: dict[str, list[dict]] | None = None) -> str:
    """Which of the paper's orderings reproduce, per generator, stated from the numbers (seed means): over
    the whole horizon and, with the evaluator's ``horizon`` curves, over the first second (before
    long-horizon drift dominates FD)."""
    first = {name: rows[0] for name, rows in (horizon or {}).items() if rows}
    lines = []
    ref = next((r for r in table if r["training set"] == REFERENCE), None)
    data = {r["training set"]: r for r in table if r["generator"] == DATA}
    for gen in dict.fromkeys(r["generator"] for r in table if r is not ref and r["generator"] != DATA):
        by = {r["training set"]: r for r in table if r["generator"] == gen}
        lines.append(f"**{gen}**")

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
            la, lb = _label(a, gen), _label(b, gen)
            if la in first and lb in first:
                early = [f"{k} {first[la][k]:.3g} vs {first[lb][k]:.3g} ({'yes' if first[la][k] < first[lb][k] else 'no'})"
                         for k in ("fd_expression", "fd_pose") if k in first[la] and k in first[lb]]
                lines.append("  first second only: " + "; ".join(early) + ".")
        for name, r in by.items():
            if name in data:
                lines.append(f"- {name}: its own training data scores " + "; ".join(
                    f"{k} {data[name][k]:.3g} (generator {r[k]:.3g})" for k in ("fd_expression", "fd_pose",
                                                                                "jaw_speed_deg_s", "jaw_3-6Hz")) + ".")
        if ref:
            limit = 1.5 * ref["out_of_range"] + 0.05
            healthy = [n for n, r in by.items() if np.isfinite(r["out_of_range"]) and r["out_of_range"] <= limit]
            lines.append(f"- long-horizon health: out-of-range at most 1.5x the real reference "
                         f"({ref['out_of_range']:.2f}) + 0.05 = {limit:.2f} for {', '.join(healthy) or 'no training set'}.")
    return "\n".join(lines)
