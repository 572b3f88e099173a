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
(:mod:`eval.motion`) at every horizon (the first seconds of the same samples) against the
test ground truth, with a reference row of real ``wild`` train clips and, per training set, a row of its
own training motion (what a generator that reproduced its data exactly would score). A row aggregates its
seeds (mean ± sample std).

The goals (:data:`GOALS`, one home) are checked per family and training seed on the :data:`GOAL_ROWS`
against two yardsticks: the data the generator was trained on (``own data``: its source's held-out test
split - for NeuFace rows the NeuFace annotations of the test identities - and its data row, the train split
scored against that test split) and the ``synthetic truth`` (the ground truth of the test identities and of
the train identities). A generator trained on annotations is charged with the annotator's errors only by
the second.
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

from annotator.neuface import AnnotateConfig
from annotator.pretrain import DEFAULT_ENCODER_CACHE, PretrainConfig
from annotator.synthetic.builder import CorpusSize
from eval.metrics.motion import STEP_PARTS
from eval.motion import APD_IDENTITY_REMOVED, LEGEND, REAL_ROW, MotionScorer, combine_scores, write_motion_report
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
METRICS = ["fd_expression", "fd_pose", "fd_landmarks", "fd_combined", "apd_mean_head_canonical",
           f"apd_mean_{APD_IDENTITY_REMOVED}", "out_of_range",
           "freeze_rate", "acceleration_ratio", "jaw_speed_deg_s", "jaw_3-6Hz"]
COLUMNS = ["training set", "generator", "seeds", "train_clips", "train_minutes", "annotation_mpve_mm", *METRICS,
           "train_seconds"]
REFERENCE = "real wild train clips (reference)"
DATA = "training data"  # the generator column of a training set's own motion, scored like a generator
#: training sets whose generators are checked against the goals
GOAL_ROWS = ("wild / NeuFace", "wild / ground truth")
#: the yardsticks of the goals: the generator's own data, and the synthetic truth
YARDSTICKS = ("own data", "synthetic truth")
#: the goals, per family and training seed (one home for every threshold; the report states them from here)
GOALS = {
    "fd_vs_data": 1.5,  # FD_expression and FD_pose at most this times the data row's
    "out_of_range_margin": 0.05,  # out of range in every second of the longest horizon: the test split's + this
    "jaw_speed": (0.8, 1.25),  # jaw speed over the test split's
    "jaw_band_tolerance": 0.25,  # 3-6 Hz jaw share within this fraction of the test split's
    "acceleration": (0.8, 1.25),  # acceleration ratio (world landmarks)
    "freeze_margin": 0.05,  # freeze rate at most the test split's + this
    "apd_identity_removed": 0.5,  # identity-removed APD at least this times the test clips' mutual distance
}


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
        annotate: the optimization settings of the ``neuface`` and ``fit`` training sets (default: the annotator's).
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
    annotate: AnnotateConfig | None = None


def _slug(name: str) -> str:
    return name.lower().replace(" / ", "_").replace(" ", "_")


def run_prior_benchmark(cfg: PriorBenchmarkConfig) -> list[dict]:
    """Run the benchmark (see the module docstring); returns the table rows (the reference last)."""
    from flame.head import head_layer, resolve_model_file

    names = cfg.rows or list(TRAINING_SETS)
    unknown = set(names) - set(TRAINING_SETS)
    if unknown:
        raise InputError(f"rows: unknown training sets {sorted(unknown)}; choose from {list(TRAINING_SETS)}")
    unknown = set(cfg.overrides) - set(cfg.generators)
    if unknown:
        raise InputError(f"overrides: unknown generators {sorted(unknown)}; the generators are {list(cfg.generators)}")
    out = Path(cfg.out)
    model_path = resolve_model_file(cfg.model, cfg.assets)
    layer64 = head_layer(model_path, dtype=torch.float64)
    corpora, data, annotation_mpve = _training_sets(cfg, names, model_path, layer64)

    # every set is scored as soon as it is loaded, at every horizon, and dropped: one run's per-frame
    # features are in memory at a time (a run of 400 samples x 30 s is about 1.3 GB)
    judge = MotionScorer(load_motion_set(f"{corpora['wild']}@test", layer64, progress=False))
    fixed = {REFERENCE: ("reference", judge.score(load_motion_set(f"{corpora['wild']}@train", layer64, progress=False))),
             REAL_ROW: judge.real_row()}
    reference_clips = fixed[REFERENCE][1]["clips"]
    truth = {"test": fixed[REAL_ROW][1], "data": fixed[REFERENCE][1]}
    longest = max(cfg.horizons)
    scored: dict[float, dict[str, list[dict]]] = {h: {} for h in cfg.horizons}
    # goal row -> yardstick -> ({"test": score, "data": score}, the runs scored against that test split)
    yardsticks: dict[str, dict[str, tuple[dict, dict]]] = {}
    own: dict[float, dict[str, list[dict]]] = {h: {} for h in cfg.horizons}  # runs against their own test split
    rows, train_seconds, train_stats = [], {}, {}
    for name in names:
        train = load_motion_set(f"{data[name]}@train", layer64, progress=False)
        train_stats[name] = {"train_clips": len(train), "train_minutes": sum(len(c) for c in train) / MOTION_FPS / 60}
        fixed[_label(name, DATA)] = ("reference", judge.score(train))
        own_judge = None
        if name in GOAL_ROWS:
            yardsticks[name] = {"synthetic truth": (truth, scored), "own data": (truth, scored)}
            if data[name] != corpora["wild"]:  # annotations: their own test split (else its own data is the truth)
                own_judge = MotionScorer(load_motion_set(f"{data[name]}@test", layer64, progress=False))
                yardsticks[name]["own data"] = ({"test": own_judge.real_row()[1], "data": own_judge.score(train)}, own)
        del train
        for gen, config in cfg.generators.items():
            rows.append((name, gen))
            times = []
            for seed in cfg.seeds:
                folder = out / "generators" / _slug(name) / _slug(gen) / f"seed{seed}"
                prior, seconds = _train(config, folder, ["--data.data", str(data[name]), "--model.head.flame_model",
                                                         str(model_path), "--seed_everything", str(seed),
                                                         *cfg.overrides.get(gen, [])])
                times.append(seconds)
                files = _sample_row(cfg, prior, corpora["wild"], model_path, longest,
                                    out / "samples" / _slug(name) / _slug(gen) / f"seed{seed}")
                run = load_motion_set(files, layer64, progress=False)
                for h in cfg.horizons:
                    n = int(round(h * MOTION_FPS)) + 1
                    part = [c.frames(0, n) for c in run]
                    scored[h].setdefault(_label(name, gen), []).append(judge.score(part))
                    if own_judge is not None:
                        own[h].setdefault(_label(name, gen), []).append(own_judge.score(part))
                del run
            train_seconds[(name, gen)] = float(np.mean(times))
    tables, results = {}, {}
    for h in cfg.horizons:
        results[h] = combine_scores(scored[h], fixed)
        write_motion_report(results[h], out / f"eval_{h:g}s", title=f"Generator benchmark at {h:g} s",
                            note=f"Samples from {cfg.starts} held-out wild test starts; real: the wild test ground "
                                 f"truth; rows: mean ± std over training seeds {cfg.seeds}.")
        by = {r["set"]: r for r in results[h]["rows"]}
        common = {name: {**train_stats[name], "annotation_mpve_mm": annotation_mpve[name]} for name in names}
        tables[h] = [{"training set": name, "generator": gen, "seeds": len(cfg.seeds), **common[name],
                      "train_seconds": train_seconds[(name, gen)]} | _metrics(by[_label(name, gen)], spread=True)
                     for name, gen in rows]
        tables[h] += [{"training set": name, "generator": DATA, **common[name]} | _metrics(by[_label(name, DATA)])
                      for name in names]
        tables[h].append({"training set": REFERENCE, "generator": "-", "train_clips": reference_clips}
                         | _metrics(by[REFERENCE]))
    goals = [row for name, sticks in yardsticks.items() for stick in YARDSTICKS
             for row in goal_check(name, stick, sticks[stick][1], sticks[stick][0], cfg)]
    _write(out, cfg, tables, results, goals)
    return tables[cfg.horizons[0]]


def _training_sets(cfg: PriorBenchmarkConfig, names: list[str], model_path: Path, layer64):
    """The corpora of the rows' domains (and wild, the evaluation set), and each row's training data - the corpus
    itself or its annotations - with the annotations' train-split MPVE; returns ``(corpora, data, annotation_mpve)``."""
    from annotator.synthetic.builder import SynthConfig, build_corpus
    from eval.annotation import annotate_and_score

    out = Path(cfg.out)
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
                                          cfg.pretrain or PretrainConfig(), layer64, split="train", settings=cfg.annotate)
        data[name], annotation_mpve[name] = target, mean["mpve_mm"]
    return corpora, data, annotation_mpve


def _train(config: str, folder: Path, args: list[str]) -> tuple[Path, float]:
    """A generator trained (or resumed, or found finished) in ``folder``, and the training's wall time in seconds,
    kept in the folder for reruns that resume."""
    from motionprior.train import fit_or_resume

    t0 = time.perf_counter()
    done = folder / "train_seconds.txt"
    prior = fit_or_resume(config, folder, args)
    if not done.is_file():
        atomic_write_text(done, f"{time.perf_counter() - t0:.1f}\n")
    return prior, float(done.read_text())


def _metrics(row: dict, spread: bool = False) -> dict:
    """The table's :data:`METRICS` of an evaluator row (and their ``_std`` across seeds with ``spread``)."""
    out = {k: row.get(k, float("nan")) for k in METRICS}
    return out | ({f"{k}_std": row.get(f"{k}_std", float("nan")) for k in METRICS} if spread else {})


def _label(name: str, gen: str) -> str:
    return f"{name} · {gen}"


def goal_check(name: str, yardstick: str, scored: dict[float, dict[str, list[dict]]], reference: dict[str, dict],
               cfg: PriorBenchmarkConfig) -> list[dict]:
    """The :data:`GOALS` per generator and training seed of training set ``name`` against one yardstick:
    ``reference`` holds its test split scored against itself (``"test"``) and its data row (``"data"``);
    ``scored``: horizon -> row label -> each seed's run scored against that test split (:func:`score_set`).
    The short goals at the shortest horizon, out-of-range in every second of the longest. Returns one row
    per (generator, seed) with the measured values and pass / fail."""
    short, longest = min(cfg.horizons), max(cfg.horizons)
    test, data = reference["test"], reference["data"]
    apd = f"apd_mean_{APD_IDENTITY_REMOVED}"
    rows = []
    for gen in cfg.generators:
        label = _label(name, gen)
        for seed, g, whole in zip(cfg.seeds, scored[short][label], scored[longest][label]):
            r = {"training set": name, "yardstick": yardstick, "generator": gen, "seed": seed,
                 "fd_expression_vs_data": g["fd_expression"] / data["fd_expression"],
                 "fd_pose_vs_data": g["fd_pose"] / data["fd_pose"],
                 "max_out_of_range_per_s": max(s["out_of_range"] for s in whole["horizon"][:int(longest)]),
                 "out_of_range_limit": test["out_of_range"] + GOALS["out_of_range_margin"],
                 "jaw_speed_ratio": g["jaw_speed_deg_s"] / test["jaw_speed_deg_s"],
                 "jaw_3-6Hz_ratio": g["jaw_3-6Hz"] / test["jaw_3-6Hz"],
                 "acceleration_ratio": g["acceleration_ratio"], "freeze_rate": g["freeze_rate"],
                 "freeze_limit": test["freeze_rate"] + GOALS["freeze_margin"],
                 "apd_identity_removed_vs_test": g[apd] / test[apd],
                 "apd_head_canonical_vs_test": g["apd_mean_head_canonical"] / test["apd_mean_head_canonical"],
                 "start_head_deg": g["head_jump"], "head_step_p95": g["head_step_p95"],
                 "start_over_p95": max(g[f"{p}_jump_over_p95"] for p in STEP_PARTS)}
            within = all(g[f"{p}_jump"] <= g[f"{p}_step_p95"] for p in STEP_PARTS)
            r["pass"] = {"range": r["fd_expression_vs_data"] <= GOALS["fd_vs_data"] and r["fd_pose_vs_data"] <= GOALS[
                             "fd_vs_data"] and r["max_out_of_range_per_s"] <= r["out_of_range_limit"],
                         "rhythm": _within(r["jaw_speed_ratio"], GOALS["jaw_speed"])
                         and abs(r["jaw_3-6Hz_ratio"] - 1) <= GOALS["jaw_band_tolerance"],
                         "liveliness": _within(r["acceleration_ratio"], GOALS["acceleration"])
                         and r["freeze_rate"] <= r["freeze_limit"],
                         "diversity": r["apd_identity_removed_vs_test"] >= GOALS["apd_identity_removed"],
                         "continuity": within}
            rows.append(r)
    return rows


def _within(x: float, bounds: tuple[float, float]) -> bool:
    return bounds[0] <= x <= bounds[1]


def goals_text(short: float) -> str:
    """The goals in words, from :data:`GOALS`."""
    g = GOALS
    return (f"range: FD_expression and FD_pose at most {g['fd_vs_data']:g}x the yardstick's data row's, and out of "
            f"range in every second of the longest horizon at most the test split's + {g['out_of_range_margin']:g}; "
            f"rhythm: jaw speed {g['jaw_speed'][0]:g}-{g['jaw_speed'][1]:g}x the test split's and the 3-6 Hz jaw share "
            f"within {100 * g['jaw_band_tolerance']:g} % of it; liveliness: acceleration {g['acceleration'][0]:g}-"
            f"{g['acceleration'][1]:g}x and freeze rate at most the test split's + {g['freeze_margin']:g}; diversity: "
            f"identity-removed APD at least {g['apd_identity_removed']:g}x the test clips' mutual distance (the plain "
            f"head-canonical ratio beside it); continuity: the mean step from the start frame to the first generated "
            f"one within the test clips' 95th percentile of frame-to-frame steps for head, jaw and expression "
            f"(start_head_deg against head_step_p95; start_over_p95: the largest share of samples above it in a "
            f"part). Short goals at {short:g} s. Yardsticks: own data - the test split of the data the generator was "
            f"trained on and its train split as the data row; synthetic truth - the ground truth of the test and train "
            f"identities.")

def _sample_row(cfg: PriorBenchmarkConfig, prior: Path, wild: Path, model_path: Path, seconds: float,
                folder: Path) -> list[Path]:
    """The sample files of one generator: generated unless ``samples.json`` says they were, by this generator
    file (a generator trained again - e.g. over a file of an earlier revision - gets new samples)."""
    from motionprior.sample import SAMPLES_INFO, SampleConfig, sample_files, sample_prior

    info = folder / SAMPLES_INFO
    if not info.is_file() or json.loads(info.read_text()).get("checkpoint") != str(prior):
        sample_prior(SampleConfig(checkpoint=str(prior), data=str(wild), out=str(folder), split="test", starts=cfg.starts,
                                  samples=cfg.samples, seconds=seconds, seed=cfg.seed, render=0,
                                  flame_model=str(model_path)), progress=False)
    return sample_files(folder)


GOAL_COLUMNS = ["training set", "yardstick", "generator", "seed", "fd_expression_vs_data", "fd_pose_vs_data",
                "max_out_of_range_per_s", "out_of_range_limit", "jaw_speed_ratio", "jaw_3-6Hz_ratio", "acceleration_ratio",
                "freeze_rate", "freeze_limit", "apd_identity_removed_vs_test", "apd_head_canonical_vs_test",
                "start_head_deg", "head_step_p95", "start_over_p95", "passes"]


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
        parts.append("## Goals (per training seed, against each yardstick)\n\n" + markdown_table(goals, GOAL_COLUMNS)
                     + "\n\n" + goals_text(min(cfg.horizons)) + "\n")
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
    return "\n".join(lines)
