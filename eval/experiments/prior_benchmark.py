"""The prior benchmark (the paper's Table S3 on our synthetic data): what the training data does to
HuMoR-Face.

Training sets, built to differ the way the paper's do, each annotated with NeuFace:

* ``mocap`` - a small lab set (few identities, short clips, small motion; VOCASET-like);
* ``lab`` - a large lab set (7 views, each view a clip; MEAD-like);
* ``wild`` - a large in-the-wild set (1 moving view, large head motion; VoxCeleb2-like);

and, on the ``wild`` set, the ground truth and the per-frame ``regress`` annotations, to measure what
annotation quality does to the learned prior (the paper's central claim). Every prior is trained with
the same config and the same number of optimizer steps (epochs of a fixed number of windows), and is
evaluated on the held-out ``wild`` test identities (ground truth): ``samples`` rollouts of ``seconds``
from each of ``starts`` test start frames; FD (expression, pose, state) against the real test clips,
APD (both variants, world and head-canonical), long-horizon health; the same numbers per second of
horizon (``horizon.csv`` / ``horizon.png``); and a reference row of real ``wild`` train clips scored
the same way. Every stage resumes (corpora, annotations, priors, per-row evaluations).
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
from eval.experiments.sampling import evaluate_samples, reference_metrics, score_samples
from eval.report import markdown_table, write_csv
from flame.errors import InputError
from flame.files import atomic_write_json, atomic_write_text
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
COLUMNS = ["training set", "train_clips", "train_minutes", "annotation_mpve_mm", "fd_expression", "fd_pose", "fd_state",
           "apd_mean_world", "apd_mean_head_canonical", "apd_flat_world", "variance_ratio", "out_of_range", "drift_z",
           "freeze_rate", "acceleration_ratio", "nonfinite_fraction", "train_seconds"]
HORIZON_METRICS = ["fd_expression", "fd_pose", "variance_ratio", "out_of_range"]


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
    from flame.layout import find_sequences
    from motionprior.data import load_clips
    from motionprior.lit_module import load_prior
    from motionprior.rollout import sample_states
    from motionprior.state import prior_layer
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
    # the held-out evaluation set: wild test identities, ground truth
    spec = load_prior(priors[names[0]])[0].spec
    layer = prior_layer(spec, str(model_path))
    test = load_clips(find_sequences(corpora["wild"], "test"), layer, spec, min_seconds=0.0, progress=False)
    if not test:
        raise InputError(f"{corpora['wild']}: the wild corpus has no test identities; use more identities")
    real = [c.states for c in test]
    chosen = [test[i] for i in np.unique(np.linspace(0, len(test) - 1, min(cfg.starts, len(test))).round().astype(int))]
    x0 = torch.as_tensor(np.stack([c.states[0] for c in chosen]))
    shapes = torch.as_tensor(np.stack([c.shape for c in chosen]))
    horizon = int(round(cfg.seconds * MOTION_FPS))

    table, curves = [], []
    for name in names:
        cached = out / "eval" / f"{_slug(name)}.json"
        if cached.is_file():
            result = json.loads(cached.read_text())
        else:
            model, config = load_prior(priors[name])
            if model.spec != spec:
                raise InputError(f"{priors[name]}: state {model.spec} differs from {spec}; train every row alike")
            states = sample_states(model, x0, horizon, cfg.samples, seed=cfg.seed, feedback=config.get("feedback", "none"),
                                   layer=layer, shape=shapes).double().numpy()
            train = load_clips(find_sequences(data[name], "train"), layer, spec, min_seconds=0.0, progress=False)
            result = score_samples(states, real, spec, [c.name for c in chosen])["all"] | {
                "train_clips": len(train), "train_minutes": sum(len(c.states) for c in train) / MOTION_FPS / 60,
                "annotation_mpve_mm": annotation_mpve[name], "train_seconds": train_seconds[name],
                "feedback": config.get("feedback", "none"), "prior": str(priors[name]),
                "horizon": per_second(states, real, spec)}
            atomic_write_json(cached, result)
        table.append({"training set": name} | {k: result.get(k, float("nan")) for k in COLUMNS[1:]})
        curves += [{"training set": name, "second": s + 1, **m} for s, m in enumerate(result["horizon"])]
    ref_train = load_clips(find_sequences(corpora["wild"], "train"), layer, spec, min_seconds=0.0, progress=False)
    ref = reference_metrics([c.states for c in ref_train], real, spec)
    table.append({"training set": "real wild train clips (reference)", "train_clips": ref["clips"]}
                 | {k: ref.get(k, float("nan")) for k in COLUMNS[4:] if k in ref})
    _write(out, cfg, table, curves, ref, len(chosen))
    return table


def per_second(states: np.ndarray, real: list[np.ndarray], spec) -> list[dict]:
    """:data:`HORIZON_METRICS` of the generated frames of each second of horizon (``states (K, B, H + 1,
    dim)`` at the motion rate, start frames excluded)."""
    k, b, t1, d = states.shape
    gen = states[:, :, 1:].reshape(k * b, t1 - 1, d)
    second = int(round(MOTION_FPS))
    out = []
    for s in range(0, t1 - 1, second):
        m = evaluate_samples(gen[:, s:s + second], real, spec)
        out.append({key: m[key] for key in HORIZON_METRICS if key in m})
    return out


def _write(out: Path, cfg: PriorBenchmarkConfig, table: list[dict], curves: list[dict], ref: dict, n_starts: int) -> None:
    write_csv(out / "prior_benchmark.csv", table, COLUMNS)
    write_csv(out / "horizon.csv", curves, ["training set", "second", *HORIZON_METRICS])
    _plot(out / "horizon.png", curves, ref)
    sizes = ", ".join(f"{d} {s.identities} identities x {s.sequences} x {s.frames} frames"
                      for d, s in (("mocap", cfg.mocap), ("lab", cfg.lab), ("wild", cfg.wild)))
    text = (f"# Prior benchmark (Table S3 on synthetic data)\n\nCorpora ({sizes}; identities split 60/20/20, seed "
            f"{cfg.seed}). Each prior: `{cfg.prior_config}` {' '.join(cfg.prior_overrides)}, the same optimizer steps. "
            f"Evaluation: {cfg.samples} samples x {cfg.seconds:g} s from {n_starts} start frames of the held-out wild test "
            f"identities (ground truth), against the real wild test clips.\n\n"
            + markdown_table(table, COLUMNS) + "\n\n"
            "train_minutes: training motion at 30 Hz (each view of a lab capture is a clip); annotation_mpve_mm: MPVE "
            "of the training annotations against the ground truth (train split). FD: lower is better; APD in cm "
            "(diversity; higher is more diverse, not better by itself); variance_ratio: generated / real variance of "
            "head-canonical landmarks (1 = real); out_of_range: fraction of frames with a world landmark outside the "
            "real test range; drift_z: last-second mean offset in real std; acceleration_ratio: generated / real mean "
            "landmark acceleration (1 = as smooth as real motion). The reference row is real motion of the "
            "train identities scored the same way.\n\n![metrics over the horizon](horizon.png)\n\n## Reading\n\n"
            + reading(table, curves) + "\n")
    atomic_write_text(out / "prior_benchmark.md", text)


def _plot(path: Path, curves: list[dict], ref: dict) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(HORIZON_METRICS), figsize=(4 * len(HORIZON_METRICS), 3), constrained_layout=True)
    for ax, key in zip(axes, HORIZON_METRICS):
        for name in dict.fromkeys(c["training set"] for c in curves):
            pts = [(c["second"], c.get(key, np.nan)) for c in curves if c["training set"] == name]
            ax.plot(*zip(*pts), marker="o", ms=3, label=name)
        if key in ref:
            ax.axhline(ref[key], color="k", ls="--", lw=1, label="real (reference)")
        ax.set_title(key, fontsize=9)
        ax.set_xlabel("horizon second", fontsize=8)
    axes[0].legend(fontsize=7)
    fig.savefig(path, dpi=90)
    plt.close(fig)


def reading(table: list[dict], curves: list[dict] | None = None) -> str:
    """Which of the paper's orderings reproduce, stated from the numbers: over the whole horizon and,
    with ``curves``, over the first second (before long-horizon drift dominates FD)."""
    by = {r["training set"]: r for r in table}
    first = {c["training set"]: c for c in curves or [] if c["second"] == 1}
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
        parts = [c for c in (cmp(a, b, k) for k in ("fd_expression", "fd_pose", "fd_state")) if c]
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
