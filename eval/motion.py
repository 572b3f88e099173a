"""The motion evaluator (``python -m eval motion``, the prior benchmark, the quickstart and the demo): motion files -
any generator's samples, annotations, ground truth - scored against real motion.

Sets (each a path or a list of paths; :mod:`eval.motion_features`): ``generated`` - one or several
*runs* (e.g. training seeds; runs with the same label aggregate as mean and spread, different labels
are different rows), ``real`` - the motion they are judged against, and the reference rows scored the
same way: ``reference`` (real clips of other identities - what real motion scores) and ``truth`` (the
ground truth, where the data is synthetic). The ``real`` set judged against itself is a row too (FD
0 by construction; its spectra and speeds are the data's).

Per set (metrics in :mod:`eval.metrics.motion`): FD (expression, pose, landmarks, combined), APD
(world and head-canonical; for sets of real clips, one clip per start, the mean pairwise distance
between clips over their common length - the yardstick for samples' APD), the long-horizon health set,
per-second horizon curves and the spectra of jaw opening and head rotation (band shares, dominant jaw
frequency). Writes ``motion.md``, ``motion.csv`` (one row per set and run), ``motion.json``,
``horizon.csv``, ``horizon.png`` and ``spectra.png`` into ``out``.
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from eval.metrics.motion import (
    BANDS,
    FD_VARIANTS,
    STEP_PARTS,
    MotionFeatures,
    RealMotion,
    apd,
    band_shares,
    continuity,
    dominant_frequency,
    fd_features,
    frame_steps,
    frechet_distance,
    motion_health,
    real_motion,
    remove_mean_face,
    spectrum,
)
from flame.errors import InputError
from flame.head import DEFAULT_ASSETS
from flame.layout import SplitName
from flame.official import PresetName
from flame.sequence import MOTION_FPS

log = logging.getLogger(__name__)

__all__ = ["MotionEvalConfig", "MotionScorer", "real_side", "score_set", "score_motion", "combine_scores", "evaluate_motion",
           "write_motion_report", "motion_tables", "TABLES", "METRIC_MEANINGS", "HORIZON_METRICS", "APD_MAX_CLIPS", "REAL_ROW",
           "REFERENCE_ROW", "TRUTH_ROW", "APD_IDENTITY_REMOVED"]

#: the labels of the rows beside the generated ones
REAL_ROW, REFERENCE_ROW, TRUTH_ROW = ("real (the set judged against)", "real clips of other identities (reference)",
                                      "ground truth (reference)")
HORIZON_METRICS = ("fd_expression", "fd_pose", "fd_landmarks", "out_of_range", "variance_ratio", "jaw_speed_deg_s")
#: real sets: at most this many clips (evenly spread) enter the pairwise distance between clips
APD_MAX_CLIPS = 50
#: the APD columns of head-canonical landmarks with each clip's mean face removed (motion, not identity)
APD_IDENTITY_REMOVED = "identity_removed"
_BANDS = [f"{a:g}-{b:g}Hz" for a, b in BANDS]
#: the report's tables: title -> columns
TABLES = {
    "Fréchet distance (lower is closer to the real set)": [f"fd_{v}" for v in FD_VARIANTS],
    "Diversity: APD (cm)": ["apd_mean_world", "apd_mean_head_canonical", "apd_flat_world", "apd_flat_head_canonical",
                            f"apd_mean_{APD_IDENTITY_REMOVED}"],
    "Long-horizon health": ["out_of_range", "drift_z", "freeze_rate", "variance_ratio", "speed_ratio",
                            "acceleration_ratio", "nonfinite_fraction", "rotation_invalid"],
    "Continuity: the step from the start frame to the first generated one": [
        *[f"{p}_jump" for p in STEP_PARTS], *[f"{p}_jump_over_p95" for p in STEP_PARTS]],
    "Rhythm: angular speeds and spectra": ["jaw_speed_deg_s", "head_speed_deg_s", *[f"jaw_{b}" for b in _BANDS],
                                           "jaw_peak_hz", *[f"head_{b}" for b in _BANDS]],
}


@dataclass
class MotionEvalConfig:
    """Settings of ``python -m eval motion``.

    Attributes:
        generated: runs, each a path or a list of paths (``PATH@split`` picks a split of a corpus /
            annotation output / split manifest).
        real: the real set the others are judged against.
        reference: real clips of other identities, scored like the runs (optional).
        truth: the ground truth (e.g. a synthetic corpus), scored like the runs (optional).
        labels: a label per run (default: all ``generated``); runs with the same label aggregate.
        split: the split of sources given without ``@split``.
        preset: layout of official ``params.npz`` files: ``mead``, ``voxceleb2`` or ``celebv_hq``.
        seconds: score only the first ``seconds`` of every clip (default: all of it).
        model / assets: the head model the files were made with (default: the stand-in in ``assets``).
        out: output folder.
    """

    generated: list[str | list[str]]
    real: str | list[str]
    reference: str | list[str] | None = None
    truth: str | list[str] | None = None
    labels: list[str] | None = None
    split: SplitName = "test"
    preset: PresetName | None = None
    seconds: float | None = None
    model: str | None = None
    assets: str = DEFAULT_ASSETS
    out: str = "runs/motion_eval"


def _start_frame_shared(clips: list[MotionFeatures]) -> bool:
    first = clips[0].landmarks[0]
    return len(clips) > 1 and all(np.allclose(c.landmarks[0], first, atol=1e-6) for c in clips[1:])


def _apd_groups(clips: list[MotionFeatures]) -> dict[str, float]:
    groups: dict[str, list[MotionFeatures]] = {}
    for c in clips:
        groups.setdefault(c.group, []).append(c)
    if all(len(g) == 1 for g in groups.values()):  # real clips: pairs of clips over their common length
        pick = np.unique(np.linspace(0, len(clips) - 1, min(APD_MAX_CLIPS, len(clips))).round().astype(int))
        groups = {"clips": [clips[i] for i in pick]}
    rows = []
    for g in groups.values():
        if len(g) < 2:
            continue
        start = 1 if _start_frame_shared(g) else 0
        n = min(len(c) for c in g)
        if n - start < 1:
            continue
        row = {}
        for frame, attr in (("world", "landmarks"), ("head_canonical", "canonical")):
            a = apd(np.stack([getattr(c, attr)[start:n] for c in g]))
            row |= {f"{k}_{frame}": v for k, v in a.items()}
        a = apd(remove_mean_face(np.stack([c.canonical[start:n] for c in g])))
        row |= {f"{k}_{APD_IDENTITY_REMOVED}": v for k, v in a.items()}
        rows.append(row)
    keys = [f"apd_{k}_{f}" for k in ("mean", "flat") for f in ("world", "head_canonical", APD_IDENTITY_REMOVED)]
    return {k: float(np.mean([r[k] for r in rows])) if rows else float("nan") for k in keys}


def _spectra(clips: list[MotionFeatures], fps: float) -> tuple[dict, dict]:
    out, curves = {}, {}
    for part, signal in (("jaw", lambda c: c.jaw[:, :1]), ("head", lambda c: c.head)):
        freqs, power = spectrum([signal(c) for c in clips], fps)
        curves[part] = {"freqs": freqs.tolist(), "power": power.tolist()}
        out |= {f"{part}_{k}": v for k, v in band_shares(freqs, power).items()}
        if part == "jaw":
            out["jaw_peak_hz"] = dominant_frequency(freqs, power)
    return out, curves


def _fd(clips: list[MotionFeatures], real_features: dict[str, np.ndarray]) -> dict[str, float]:
    out = {}
    for v in FD_VARIANTS:
        gen = fd_features(clips, v)
        out[f"fd_{v}"] = frechet_distance(real_features[v], gen) if len(gen) >= 2 else float("nan")
    return out


def real_side(real: list[MotionFeatures], fps: float = MOTION_FPS) -> tuple[dict[str, np.ndarray], RealMotion]:
    """What every set is judged against, computed once per real set: its FD features and health side."""
    return {v: fd_features(real, v) for v in FD_VARIANTS}, real_motion(real, fps)


def score_set(clips: list[MotionFeatures], real: list[MotionFeatures], fps: float = MOTION_FPS,
              side: tuple[dict[str, np.ndarray], RealMotion] | None = None, horizon: bool = True) -> dict:
    """Every metric of one set of clips against ``real`` (see the module docstring): a flat dict, plus
    ``"horizon"`` (one dict of :data:`HORIZON_METRICS` per second) and ``"spectra"`` (jaw / head
    ``{freqs, power}``) entries. ``side``: :func:`real_side` of ``real``, when precomputed."""
    if not clips or not real:
        raise InputError("a motion set is empty: nothing to score")
    finite = [c for c in clips if c.finite]
    real_features, reference = side or real_side(real, fps)
    row: dict = {"clips": len(clips), "seconds": float(sum(len(c) for c in clips) / fps)}
    row |= _fd(finite, real_features) if finite else {f"fd_{v}": float("nan") for v in FD_VARIANTS}
    row |= _apd_groups(finite) if finite else {}
    row |= motion_health(clips, reference, fps)
    row |= continuity(np.array([frame_steps(c.frames(0, 2))[0] for c in finite if len(c) >= 2]), reference)
    shares, curves = _spectra(finite, fps)
    row |= shares
    row["spectra"] = curves
    if horizon:
        second, longest = int(round(fps)), max(len(c) for c in finite) if finite else 0
        row["horizon"] = []
        for s in range(0, longest - 1, second):
            part = [c.frames(s, s + second) for c in finite if len(c) > s + 1]
            m = _fd(part, real_features) | motion_health(part, reference, fps)
            row["horizon"].append({"second": s // second + 1} | {k: m[k] for k in HORIZON_METRICS})
    return row


def _aggregate(label: str, kind: str, runs: list[dict]) -> dict:
    """Mean and spread (sample std, ``<key>_std``) over runs of every number."""
    keys = [k for k, v in runs[0].items() if isinstance(v, (int, float))]
    out = {"set": label, "kind": kind, "runs": len(runs)}
    for k in keys:
        vals = np.array([r.get(k, np.nan) for r in runs], np.float64)
        out[k] = float(np.nanmean(vals)) if np.isfinite(vals).any() else float("nan")
        out[f"{k}_std"] = float(np.nanstd(vals, ddof=1)) if np.isfinite(vals).sum() > 1 else float("nan")
    return out


def _numbers(row: dict) -> dict:
    return {k: v for k, v in row.items() if k not in ("horizon", "spectra")}


class MotionScorer:
    """Sets of clips scored one at a time against one ``real`` set (its FD features and health side computed once;
    memory: one set's features at a time) and combined into the evaluator's result - the path that ``python -m eval
    motion``, the prior benchmark, the quickstart and the demo share.

    :meth:`add_run` adds a run of a generated set (runs with the same label aggregate as mean and spread),
    :meth:`add_reference` a reference row, :meth:`add_real_row` the real set judged against itself; :meth:`result`
    is :func:`combine_scores` of them. :meth:`score` scores a set without keeping it (callers that combine their
    own, e.g. per horizon)."""

    def __init__(self, real: list[MotionFeatures], fps: float = MOTION_FPS) -> None:
        self.real, self.fps, self.side = real, fps, real_side(real, fps)
        self.runs: dict[str, list[dict]] = {}
        self.references: dict[str, tuple[str, dict]] = {}

    def score(self, clips: list[MotionFeatures]) -> dict:
        return score_set(clips, self.real, self.fps, self.side)

    def add_run(self, label: str, clips: list[MotionFeatures]) -> dict:
        scored = self.score(clips)
        self.runs.setdefault(label, []).append(scored)
        return scored

    def add_reference(self, label: str, clips: list[MotionFeatures]) -> dict:
        self.references[label] = ("reference", self.score(clips))
        return self.references[label][1]

    def real_row(self) -> tuple[str, dict]:
        """``("real", score)`` of the real set against itself (FD 0 by construction; its spectra and speeds are the
        data's)."""
        return "real", self.score(self.real)

    def add_real_row(self) -> dict:
        self.references[REAL_ROW] = self.real_row()
        return self.references[REAL_ROW][1]

    def result(self) -> dict:
        return combine_scores(self.runs, self.references)


def score_motion(generated: dict[str, list[list[MotionFeatures]]], real: list[MotionFeatures],
                 references: dict[str, list[MotionFeatures]] | None = None, fps: float = MOTION_FPS,
                 real_row: bool = True) -> dict:
    """Score runs (``{label: [run clips]}``) and reference sets (``{label: clips}``) against ``real``.

    Returns ``{"rows": [aggregated row per label, reference rows, the real set itself (``real_row``)],
    "runs": [one row per run], "horizon": {label: [per-second means]}, "spectra": {label: curves (the
    runs' mean)}}``. Callers with many or long runs add each run to a :class:`MotionScorer` as it is loaded, so
    that one run's features are in memory at a time.
    """
    scorer = MotionScorer(real, fps)
    for label, runs in generated.items():
        for clips in runs:
            scorer.add_run(label, clips)
    for label, clips in (references or {}).items():
        scorer.add_reference(label, clips)
    if real_row:
        scorer.add_real_row()
    return scorer.result()


def combine_scores(generated: dict[str, list[dict]], references: dict[str, tuple[str, dict]] | None = None) -> dict:
    """The result of :func:`score_motion` from scores already made by :func:`score_set`: ``generated``
    ``{label: [score of each run]}``, ``references`` ``{label: (kind, score)}`` with kind ``"real"`` or
    ``"reference"``."""
    result: dict = {"rows": [], "runs": [], "horizon": {}, "spectra": {}}
    for label, scored in generated.items():
        for i, s in enumerate(scored):
            result["runs"].append({"set": label, "run": i} | _numbers(s))
        result["rows"].append(_aggregate(label, "generated", scored))
        n = min(len(s["horizon"]) for s in scored)
        result["horizon"][label] = [_aggregate(label, "generated", [s["horizon"][i] for s in scored]) for i in range(n)]
        result["spectra"][label] = {part: {"freqs": scored[0]["spectra"][part]["freqs"],  # the runs' mean spectrum
                                           "power": np.mean([x["spectra"][part]["power"] for x in scored], 0).tolist()}
                                    for part in scored[0]["spectra"]}
    for label, (kind, s) in (references or {}).items():
        result["rows"].append(_aggregate(label, kind, [s]))
        result["runs"].append({"set": label, "run": 0} | _numbers(s))
        result["horizon"][label] = s["horizon"]
        result["spectra"][label] = s["spectra"]
    return result


def _cell(row: dict, key: str) -> str:
    v = row.get(key, float("nan"))
    if not isinstance(v, (int, float)) or not np.isfinite(v):
        return "-"
    if abs(v) < 1e-9:  # round-off of an exact 0 (e.g. FD of a set against itself)
        v = 0.0
    fmt = lambda x: f"{x:.3g}" if abs(x) < 1000 else f"{x:.0f}"  # noqa: E731
    sd = row.get(f"{key}_std", float("nan"))
    return f"{fmt(v)} ± {fmt(sd)}" if row.get("runs", 1) > 1 and np.isfinite(sd) else fmt(v)


def motion_tables(result: dict, tables: dict[str, list[str]] | None = None) -> str:
    """The Markdown tables of a :func:`score_motion` result: every set's row next to the reference rows."""
    parts = []
    for title, cols in (tables or TABLES).items():
        head = "| set | runs | " + " | ".join(cols) + " |\n|---|---|" + "---|" * len(cols) + "\n"
        body = "".join(f"| {r['set']} | {r['runs']} | " + " | ".join(_cell(r, c) for c in cols) + " |\n"
                       for r in result["rows"])
        parts.append(f"### {title}\n\n{head}{body}")
    return "\n".join(parts)


#: the evaluator's headline scores -> what each says, in a few words (the demo's table; ``LEGEND`` has the detail)
METRIC_MEANINGS = {
    "apd_mean_world": "diversity: mean distance between samples, cm",
    "apd_mean_head_canonical": "diversity of the face alone (head rotation removed), cm",
    "fd_expression": "Fréchet distance of expressions to the real clips (lower: closer)",
    "fd_pose": "Fréchet distance of head + jaw rotation",
    "fd_combined": "Fréchet distance of all features at fixed scales",
    "out_of_range": "frames with a landmark outside the real range",
    "freeze_rate": "1 s windows that barely move",
    "variance_ratio": "variance of the face / real (1 = real)",
    "acceleration_ratio": "acceleration / real (1 = real)",
    "jaw_speed_deg_s": "jaw angular speed, deg/s",
    "jaw_3-6Hz": "share of jaw motion at speech rate (3-6 Hz)",
    "jaw_peak_hz": "dominant jaw frequency above 1 Hz",
    "nonfinite_fraction": "samples with NaN / inf",
}


LEGEND = (
    "FD on pooled per-frame features at 30 Hz: expression (50 coefficients), pose (head + jaw axis-angle, rad), "
    "landmarks (68 head-canonical, cm), combined (the four blocks at fixed scales 0.1 rad / 0.05 rad / 1 / 0.1 cm, "
    "each over the square root of its width). APD: mean pairwise distance between the samples of a start (cm), "
    "start frame excluded; for real sets, between clips; identity_removed: head-canonical, each clip's mean face "
    "removed (the distance of motion, not of faces). out_of_range: frames with a world landmark outside the "
    "real range; drift_z: last-second mean offset of the face in real std; freeze_rate: 1 s windows moving slower "
    "than 95 % of real windows; variance / speed / acceleration ratios: generated over real (1 = real); "
    "rotation_invalid: head beyond 90° or jaw beyond 45°. Continuity: the step from a clip's first frame (a sample's "
    "start) to its second: head and jaw rotation (deg) and expression L2 distance, mean over clips, and the share of "
    "clips whose step is above the real 95th percentile of frame-to-frame steps (real clips: 0.05). Spectra: share "
    "of jaw-opening and head-rotation power per band of 0-15 Hz; jaw_peak_hz: dominant jaw frequency above 1 Hz "
    "(speech syllables: 3-6 Hz). "
    "Generated rows: mean ± sample std over runs.")


def write_motion_report(result: dict, out: str | Path, title: str = "Motion evaluation", note: str = "") -> Path:
    """``motion.md`` / ``.csv`` / ``.json``, ``horizon.csv`` and the plots of a result into ``out``."""
    from eval.report import write_csv
    from flame.files import atomic_write_json, atomic_write_text

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    cols = ["set", "run", "clips", "seconds"] + [c for cols in TABLES.values() for c in cols]
    write_csv(out / "motion.csv", result["runs"], cols)
    curves = [{"set": label, **{k: v for k, v in r.items() if k in ("second", *HORIZON_METRICS)}}
              for label, rs in result["horizon"].items() for r in rs]
    write_csv(out / "horizon.csv", curves, ["set", "second", *HORIZON_METRICS])
    atomic_write_json(out / "motion.json", result)
    _plot_horizon(out / "horizon.png", result)
    _plot_spectra(out / "spectra.png", result)
    text = (f"# {title}\n\n{note}\n\n" + motion_tables(result) + f"\n{LEGEND}\n\n"
            "![metrics over the horizon](horizon.png)\n\n![spectra](spectra.png)\n")
    path = out / "motion.md"
    atomic_write_text(path, text)
    return path


def _plot_horizon(path: Path, result: dict) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    keys = ["fd_expression", "fd_pose", "out_of_range", "variance_ratio", "jaw_speed_deg_s"]
    fig, axes = plt.subplots(1, len(keys), figsize=(3.4 * len(keys), 3), constrained_layout=True)
    kinds = {r["set"]: r["kind"] for r in result["rows"]}
    for ax, key in zip(axes, keys):
        for label, rows in result["horizon"].items():
            x = [r["second"] for r in rows]
            y = np.array([r.get(key, np.nan) for r in rows], float)
            style = {"ls": "-", "marker": "o", "ms": 3} if kinds.get(label) == "generated" else {"ls": "--", "lw": 1}
            ax.plot(x, y, label=label, **style)
            sd = np.array([r.get(f"{key}_std", np.nan) for r in rows], float)
            if np.isfinite(sd).any():
                ax.fill_between(x, y - sd, y + sd, alpha=0.2)
        ax.set_title(key, fontsize=9)
        ax.set_xlabel("second of the horizon", fontsize=8)
    axes[0].legend(fontsize=6)
    fig.savefig(path, dpi=90)
    plt.close(fig)


def _plot_spectra(path: Path, result: dict) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(10, 3.2), constrained_layout=True)
    for ax, part in zip(axes, ("jaw", "head")):
        for label, curves in result["spectra"].items():
            f, p = np.array(curves[part]["freqs"]), np.array(curves[part]["power"])
            keep = (f > 0) & (f <= BANDS[-1][1])
            total = p[keep].sum()
            if total > 0:
                ax.semilogy(f[keep], p[keep] / total, label=label)
        for _, b in BANDS[:-1]:
            ax.axvline(b, color="k", lw=0.5, ls=":")
        ax.set_title(f"{'jaw opening' if part == 'jaw' else 'head rotation'}: power share per frequency", fontsize=9)
        ax.set_xlabel("Hz", fontsize=8)
    axes[0].legend(fontsize=6)
    fig.savefig(path, dpi=90)
    plt.close(fig)


def evaluate_motion(cfg: MotionEvalConfig, layer=None, progress: bool = True) -> dict:
    """Load the sets of ``cfg``, score them (:func:`score_motion`'s result; each run is scored as it is loaded)
    and write the report; returns the result.
    ``layer``: the head model, when the caller has it (default: ``cfg.model`` / the stand-in)."""
    from eval.motion_features import load_motion_set
    from flame.head import head_layer

    if not cfg.generated:
        raise InputError("generated: give at least one run (a path or a list of paths)")
    labels = cfg.labels or ["generated"] * len(cfg.generated)
    if len(labels) != len(cfg.generated):
        raise InputError(f"labels: {len(labels)} labels for {len(cfg.generated)} generated runs")
    if cfg.seconds is not None and not cfg.seconds > 0:
        raise InputError(f"seconds must be positive, got {cfg.seconds}")
    import torch

    layer = layer or head_layer(cfg.model, assets=cfg.assets, dtype=torch.float64)

    def load(source) -> list[MotionFeatures]:
        clips = load_motion_set(source, layer, cfg.split, cfg.preset, progress=progress)
        if cfg.seconds is not None:
            clips = [c.frames(0, int(round(cfg.seconds * MOTION_FPS)) + 1) for c in clips]
        return clips

    scorer = MotionScorer(load(cfg.real))
    for label, run in zip(labels, cfg.generated):  # each run is scored as it is loaded: one run's features in memory
        scorer.add_run(label, load(run))
    if cfg.reference:
        scorer.add_reference(REFERENCE_ROW, load(cfg.reference))
    if cfg.truth:
        scorer.add_reference(TRUTH_ROW, load(cfg.truth))
    scorer.add_real_row()
    result = scorer.result()
    result["settings"] = asdict(cfg) | {"model_label": layer.model_label}
    runs = ", ".join(f"{k} ({len(v)} runs)" for k, v in scorer.runs.items())
    note = (f"Head model: {layer.model_label}. Generated: {runs}; real: `{cfg.real}`"
            + (f"; reference: `{cfg.reference}`" if cfg.reference else "")
            + (f"; truth: `{cfg.truth}`" if cfg.truth else "") + ".")
    write_motion_report(result, cfg.out, note=note)
    return result

