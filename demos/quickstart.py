"""The quickstart: the suite's main job on the embedded default, end to end.

Stages (each resumes: finished outputs are reused):

1. the head model: the procedural stand-in (FLAME file layout, not FLAME) unless ``--model`` is given;
2. its range-of-motion renders (PNG grid + mp4 with the 68 landmarks);
3. the synthetic capture corpus: a ``lab`` (7 views) and a ``wild`` (1 moving view) corpus with
   ground truth and detector-like landmark tracks;
4. a rendered check of one sequence of each and the ground-truth sanity scores (the detector's NME);
5. NeuFace annotation of both corpora (and the per-frame ``regress`` baseline), scored against the
   ground truth (MPVE, CVD, NME, MSI, jitter);
6. HuMoR-Face trained (``prior_config``, the quick config) on the annotated ``wild`` train split;
7. long rollouts from start frames of the annotated ``wild`` test split: FlameSequence files, video
   grids, pose plots, FD / APD / health against the real test clips and the real-vs-real reference;
8. ``REPORT.md``: tables, plots and links to the videos.

Run ``neuface-quickstart --help``; a YAML config is given with ``--config`` (unknown keys are errors).
"""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path

from annotator.neuface import AnnotateConfig
from annotator.pretrain import DEFAULT_ENCODER_CACHE, PretrainConfig
from annotator.synthetic.builder import CorpusSize
from flame.files import atomic_write_json, atomic_write_text
from flame.sequence import MOTION_FPS

log = logging.getLogger(__name__)


def training_data(out: str | Path) -> Path:
    """The annotations the quickstart in ``out`` trains its prior on and starts its samples from: NeuFace's, of the
    ``wild`` corpus."""
    from eval.annotation import annotation_dir

    return annotation_dir(out, "neuface", "wild")


def run_quickstart(out: str = "runs/quickstart", seed: int = 0, size: int = 256, fps: int = 25,
                   model: str | None = None, lab: CorpusSize = CorpusSize(3, 1, 60),
                   wild: CorpusSize = CorpusSize(12, 2, 100), encoder_cache: str = DEFAULT_ENCODER_CACHE,
                   pretrain: PretrainConfig | None = None, prior_config: str = "configs/motionprior/quick.yaml",
                   prior_overrides: tuple[str, ...] = ("--data.epoch_windows", "512"),
                   starts: int = 2, samples: int = 50, seconds: float = 10.0, render: int = 9,
                   annotate: AnnotateConfig | None = None) -> dict:
    """Run the quickstart.

    Args:
        out: output folder.
        seed: seed of the stand-in head and of the corpora.
        size: render size in pixels.
        fps: frame rate of the showcase video.
        model: a FLAME model file (.pkl / .npz, with its landmark embedding next to it) to use
            instead of the stand-in.
        lab: size of the 7-view lab corpus (identities, sequences per identity, frames at 30 fps).
        wild: size of the in-the-wild corpus (frames at 25 fps).
        encoder_cache: cached landmark encoders (pretrained on first use, a couple of minutes).
        pretrain: landmark-encoder pretraining settings (default: the annotator's).
        prior_config / prior_overrides: HuMoR-Face training config and extra ``fit`` arguments (default: half of the
            quick config's steps, for a 15-minute quickstart; e.g. ``["--trainer.max_epochs", "10"]``).
        starts / samples / seconds / render: rollouts: test start frames, samples per start, horizon,
            samples shown per video grid.
        annotate: the optimization settings of the NeuFace annotations (default: the annotator's).
    """
    import torch

    from flame.head import head_layer

    torch.manual_seed(seed)
    out_dir = Path(out)
    t0 = time.perf_counter()
    model_path, layer, png, mp4 = head_model_and_renders(out_dir, model, seed, size, fps)
    layer64 = head_layer(model_path, dtype=torch.float64)
    corpora, corpus_s, checks, detector_nme = build_corpora(out_dir, model_path, layer64, seed, lab, wild)
    times = {"setup_and_corpus": round(time.perf_counter() - t0, 1)}

    t1 = time.perf_counter()
    annotation = annotate_corpora(out_dir, corpora, model_path, encoder_cache, layer64, pretrain or PretrainConfig(),
                                  annotate)
    times["annotation"] = round(time.perf_counter() - t1, 1)
    print(f"[5/8] NeuFace annotation in {times['annotation']} s -> {out_dir / 'annotations'}; mean MPVE: "
          + ", ".join(f"{d} {r['neuface']['mpve_mm']:.2f} mm (regress {r['regress']['mpve_mm']:.2f})"
                      for d, r in annotation.items()))

    from motionprior.sample import SampleConfig
    from motionprior.train import fit_or_resume

    t1 = time.perf_counter()
    train_data = training_data(out_dir)
    prior = fit_or_resume(prior_config, out_dir / "prior", ["--data.data", str(train_data),
                                                             "--model.head.flame_model", str(model_path), *prior_overrides])
    times["prior"] = round(time.perf_counter() - t1, 1)
    print(f"[6/8] HuMoR-Face prior: {prior} ({times['prior']} s); TensorBoard: tensorboard --logdir {out_dir / 'prior'}")

    t1 = time.perf_counter()
    samples_dir = out_dir / "samples"
    sampled = sample_once(SampleConfig(str(prior), str(train_data), str(samples_dir), starts=starts, samples=samples,
                                       seconds=seconds, seed=seed, render=render, size=128, flame_model=str(model_path)),
                          truth=str(corpora["wild"]))
    times["samples"] = round(time.perf_counter() - t1, 1)
    a, ref = sampled["rows"][0], sampled["rows"][1]
    print(f"[7/8] {len(sampled['sampling']['starts'])} x {samples} rollouts of {seconds:g} s -> {samples_dir}; FD_exp "
          f"{a['fd_expression']:.2f} (real clips of other identities {ref['fd_expression']:.2f}), APD "
          f"{a['apd_mean_world']:.2f} cm, out of range {a['out_of_range']:.0%} ({ref['out_of_range']:.0%}), jaw power in "
          f"3-6 Hz {a['jaw_3-6Hz']:.0%} ({ref['jaw_3-6Hz']:.0%})")

    summary = {"model": layer.model_label, "model_file": str(model_path), "png": str(png), "mp4": str(mp4),
               "corpus": {k: str(v) for k, v in corpora.items()}, "corpus_seconds": round(corpus_s, 1),
               "corpus_checks": checks, "detector_nme_percent": detector_nme, "annotation": annotation,
               "prior": str(prior), "samples": str(samples_dir), "stage_seconds": times,
               "seconds": round(time.perf_counter() - t0, 1)}
    report = write_report(out_dir, summary, sampled, prior_config)
    atomic_write_json(out_dir / "summary.json", summary)
    print(f"[8/8] report: {report}")
    print(f"quickstart finished in {summary['seconds']} s; outputs in {out_dir}/")
    print("open the web demo on this prior: make demo   (or: neuface-demo; then http://127.0.0.1:7860)")
    return summary


def head_model_and_renders(out_dir: Path, model: str | None, seed: int, size: int, fps: int):
    """Steps 1-2: the head model (``model``, else the stand-in built in ``out_dir/model``) and its range-of-motion
    renders; returns ``(model_path, layer, png, mp4)``."""
    from flame.head import head_layer
    from flame.showcase import render_showcase
    from flame.standin import EXPRESSION_NAMES, FULL_EXPRESSION, ensure_standin

    if model is None:
        model_path, names, full = ensure_standin(out_dir / "model", seed=seed).pkl, EXPRESSION_NAMES, FULL_EXPRESSION
    else:
        model_path, names, full = Path(model), None, 2.0
    layer = head_layer(model_path)
    print(f"[1/8] head model: {layer.model_label} ({layer.n_vertices} vertices) from {model_path}")
    png, mp4 = render_showcase(layer, out_dir / "renders", size=size, fps=fps, expression_names=names,
                               full_expression=full)
    print(f"[2/8] model renders: {png} and {mp4}")
    return model_path, layer, png, mp4


def build_corpora(out_dir: Path, model_path: Path, layer64, seed: int, lab: CorpusSize, wild: CorpusSize):
    """Steps 3-4: the lab and wild synthetic corpora, a rendered check of each and the simulated detector's NME
    against the ground truth; returns ``(corpora, seconds building them, checks, detector_nme)``."""
    from annotator.synthetic.builder import SynthConfig, build_corpus
    from annotator.synthetic.preview import preview_sequence
    from eval.annotation import score_corpus
    from flame.layout import read_corpus
    from flame.media import write_png

    t0 = time.perf_counter()
    corpora = {}
    for domain, sz in (("lab", lab), ("wild", wild)):
        cfg = SynthConfig(domain=domain, identities=sz.identities, sequences=sz.sequences, frames=sz.frames,
                          out=str(out_dir / "corpus" / domain), seed=seed, model=str(model_path))
        corpora[domain] = build_corpus(cfg)
    n_seq, seconds = (lab.identities * lab.sequences, wild.identities * wild.sequences), time.perf_counter() - t0
    print(f"[3/8] synthetic corpus: lab {n_seq[0]} sequences x 7 views x {lab.frames} frames, wild {n_seq[1]} "
          f"sequences x {wild.frames} frames, in {seconds:.1f} s -> {out_dir / 'corpus'}")
    checks, detector_nme = {}, {}
    for domain, folder in corpora.items():
        img = out_dir / "renders" / f"corpus_{domain}.png"
        write_png(img, preview_sequence(layer64, read_corpus(folder).sequence(), n_times=4 if domain == "lab" else 8,
                                        size=192))
        checks[domain] = str(img)
        rows = score_corpus(folder, "detections", out_dir / "scores" / f"{domain}_detections", layer=layer64)
        detector_nme[domain] = round(rows[-1]["nme68"], 3)
    print(f"[4/8] rendered checks: {checks['lab']} (7 views) and {checks['wild']}; detector NME vs ground truth: "
          f"lab {detector_nme['lab']} %, wild {detector_nme['wild']} %")
    return corpora, seconds, checks, detector_nme


def sample_once(cfg, truth: str) -> dict:
    """Step 7: samples of the prior scored by the motion evaluator (:func:`eval.experiments.sampling.sample_and_score`
    with ``cfg``, a :class:`motionprior.sample.SampleConfig`), or the scores already in its folder (resume)."""
    folder = Path(cfg.out)
    if (folder / "motion.json").is_file() and (folder / "samples.json").is_file():
        return json.loads((folder / "motion.json").read_text()) | {
            "sampling": json.loads((folder / "samples.json").read_text())}
    from eval.experiments.sampling import sample_and_score

    return sample_and_score(cfg, truth=truth)


ANNOTATION_COLUMNS = ["mpve_mm", "pa_mpve_mm", "cvd_mm", "nme68", "msi_l", "jitter_mm_s3", "head_err_deg", "jaw_err_deg",
                      "expr_rmse", "expr_ratio", "jaw_speed_ratio"]


def annotate_corpora(out_dir: Path, corpora: dict[str, Path], model_path: Path, encoder_cache: str, layer64,
                     pretrain: PretrainConfig, settings: AnnotateConfig | None = None) -> dict:
    """NeuFace and ``regress`` annotations of every corpus (resumable runner), scored against the ground
    truth; returns ``{domain: {method: mean scores}}``. ``settings``: NeuFace's (default: the annotator's)."""
    from eval.annotation import annotate_and_score

    result: dict[str, dict[str, dict]] = {}
    for domain, folder in corpora.items():
        result[domain] = {}
        for method in ("regress", "neuface"):
            _, mean = annotate_and_score(folder, out_dir, method, model_path, encoder_cache, pretrain, layer64,
                                         settings=settings)
            result[domain][method] = {k: mean.get(k, float("nan")) for k in ANNOTATION_COLUMNS}
    return result


def write_report(out_dir: Path, summary: dict, sampled: dict, prior_config: str) -> Path:
    """``REPORT.md`` of a quickstart run (links relative to ``out_dir``)."""
    from eval.motion import LEGEND, motion_tables
    from eval.report import markdown_table
    from motionprior.sample import sample_files

    def rel(p) -> str:
        return str(Path(p).resolve().relative_to(out_dir.resolve()))

    ann_rows = [{"corpus": d, "method": m, **v} for d, ms in summary["annotation"].items() for m, v in ms.items()]
    info = sampled["sampling"]
    samples_dir = Path(summary["samples"])
    files = dict(zip(info["starts"], sample_files(samples_dir)))
    starts = "\n".join(
        f"| {name} | " + " ".join(f"[{kind}]({rel(p)})" for kind, p in (
            ("video", f.with_suffix(".mp4")), ("pose plot", f.with_name(f.stem + "_pose.png")),
            ("sequence", f)) if p.exists()) + " |"
        for name, f in files.items())
    plots = "\n".join(f"![{n}]({rel(f.with_name(f.stem + '_pose.png'))})" for n, f in files.items())
    t = summary["stage_seconds"]
    text = f"""# NeuFace Motion Suite - quickstart report

Head model: **{summary['model']}** (`{summary['model_file']}`). Every number below comes from this run
({summary['seconds']:.0f} s in all: set-up and corpus {t['setup_and_corpus']:.0f} s, annotation
{t['annotation']:.0f} s, prior training {t['prior']:.0f} s, sampling {t['samples']:.0f} s).

## 1. Head model and synthetic corpus

![range of motion]({rel(summary['png'])}) - video: [{Path(summary['mp4']).name}]({rel(summary['mp4'])})

Corpora (ground truth + simulated detections): {', '.join(f'`{rel(v)}`' for v in summary['corpus'].values())};
simulated detector NME vs ground truth: {', '.join(f'{k} {v} %' for k, v in summary['detector_nme_percent'].items())}.

![lab check]({rel(summary['corpus_checks']['lab'])})

## 2. Annotation (NeuFace vs the per-frame `regress` baseline), against ground truth

{markdown_table(ann_rows, ['corpus', 'method'] + ANNOTATION_COLUMNS)}

MPVE / PA-MPVE / CVD in mm (lower is better; CVD is the multi-view consistency, lab only, and 0 for NeuFace,
whose views share one expression and jaw); NME in % of
the outer inter-ocular distance; MSI_L higher is steadier; jitter in mm/s^3. In the parameters a motion model
learns: head rotation and jaw errors (deg), expression RMSE (coefficients), and the expression magnitude and jaw
speed over the truth's (1 is right; `docs/evaluation.md`). Per-sequence scores:
`scores/`. Sequence files: `annotations/<method>/<corpus>/<split>/<sequence>.npz`.

## 3. HuMoR-Face prior

Trained with `{prior_config}` on the NeuFace annotations of the `wild` train split:
`{rel(summary['prior'])}`. Curves, per-dimension KL and rollout plots:
`tensorboard --logdir {out_dir / 'prior'}`.

## 4. Long-horizon samples ({info['samples']} per start, {info['horizon_frames'] / MOTION_FPS:g} s at {MOTION_FPS:g} Hz, feedback `{info.get('feedback')}`)

| start | files |
|---|---|
{starts}

Scored by `python -m eval motion` against the real `{info['split']}` clips (their NeuFace annotations),
next to the reference rows: real clips of the train identities, the ground truth behind the test
annotations (annotation jitter makes annotations move faster than the faces did), and the real set
itself. Full report with horizon curves and spectra: [samples/motion.md]({rel(samples_dir / 'motion.md')}).

{motion_tables(sampled)}
{LEGEND} Rollout speed: {info['rollout_frames_per_second']:.0f} frames/s.

![horizon]({rel(samples_dir / 'horizon.png')})
![spectra]({rel(samples_dir / 'spectra.png')})

{plots}

## Next

- Sample and score more: `python -m eval sample --checkpoint {summary['prior']} --data {training_data(out_dir)} --out runs/samples`
- Annotate your own video: `python -m annotator run --input VIDEO.mp4 --output runs/annotations --overlay true`
- Explore it in the web demo: `make demo` (or `neuface-demo`), then http://127.0.0.1:7860
"""
    path = out_dir / "REPORT.md"
    atomic_write_text(path, text)
    return path


def main(argv: list[str] | None = None) -> int:
    """``neuface-quickstart`` / ``python -m demos quickstart``."""
    import sys

    from flame.cli import guarded, parse_settings

    argv = sys.argv[1:] if argv is None else argv

    def run() -> None:
        run_quickstart(**parse_settings(run_quickstart, argv, "neuface-quickstart", __doc__.split("\n\n")[0]))

    return guarded(run)


if __name__ == "__main__":
    raise SystemExit(main())
