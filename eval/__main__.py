"""``python -m eval``: benchmarks, scoring of annotations against synthetic ground truth, scoring of
prior samples, and the paper-replication experiments."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Literal

from flame.cli import Command, new_parser, parse_settings
from flame.cli import main as cli_main

PROG = "python -m eval"


def _bench(argv: list[str]) -> None:
    from annotator.pretrain import DEFAULT_ENCODER_CACHE
    from eval.bench.suite import WHICH, run
    from flame.head import DEFAULT_ASSETS

    parser = new_parser(f"{PROG} bench", "Speed and memory benchmarks, each against a reference measured in the same "
                                         "run; writes OUT/<which>.md.")
    parser.add_argument("which", type=Literal[WHICH],
                        help="flame: FLAME layer vs smplx and renderer timings; annotation: seconds per clip / capture; "
                             "prior: HuMoR-Face training transitions/s and rollout frames/s; scaling: cost vs sequence "
                             "length, views and samples; metrics: FD / APD vs naive references; memory: peak memory of "
                             "annotating short vs long HD video with overlays; data: packing and streaming 1 h / 10 h of "
                             "motion vs the in-memory loader; all: everything but memory and data + summary")
    parser.add_argument("--out", type=str, default="runs/bench", help="folder for the Markdown report")
    parser.add_argument("--assets", type=str, default=DEFAULT_ASSETS, help="where the stand-in model is built / cached")
    parser.add_argument("--encoder_cache", type=str, default=DEFAULT_ENCODER_CACHE, help="cached landmark encoders")
    args = parser.parse_args(argv)
    print(run(args.out, args.assets, args.which, args.encoder_cache))


def _score(argv: list[str]) -> None:
    from eval.annotation import score_corpus

    parser = new_parser(f"{PROG} score", "Score annotated sequences against a synthetic corpus's ground truth (MPVE, "
                                         "CVD, NME, MSI, jitter); writes scores.md and scores.csv.")
    parser.add_argument("--corpus", type=str, required=True, help="synthetic corpus folder (python -m annotator synth)")
    parser.add_argument("--pred", type=str, required=True,
                        help="annotation output folder, folder of predicted FlameSequence files named <sequence>.npz, "
                             "'gt' (ground truth against itself) or 'detections' (the simulated detector, 2D only)")
    parser.add_argument("--split", type=Literal["train", "val", "test"] | None, default=None, help="only this split")
    parser.add_argument("--out", type=str, required=True, help="output folder")
    args = parser.parse_args(argv)
    rows = score_corpus(args.corpus, args.pred, args.out, split=args.split)
    print((Path(args.out) / "scores.md").read_text())
    print(f"{len(rows) - 1} sequences scored; wrote {args.out}/scores.md and scores.csv")


def _annotation_benchmark(argv: list[str]) -> None:
    from eval.experiments.annotation_benchmark import run_benchmark

    kwargs = parse_settings(run_benchmark, argv, f"{PROG} annotation-benchmark",
                            "The paper's Table 2 on synthetic data: regress / fit / NeuFace and loss ablations on lab "
                            "(7 views) and wild test corpora.")
    run_benchmark(**kwargs)
    print((Path(kwargs["out"]) / "annotation_benchmark.md").read_text())


def _sample(argv: list[str]) -> None:
    from eval.experiments.sampling import __doc__ as doc
    from eval.experiments.sampling import sample_and_score
    from motionprior.sample import SampleConfig

    parser = new_parser(f"{PROG} sample", doc)
    parser.add_class_arguments(SampleConfig, None)
    parser.add_argument("--reference_split", type=str | None, default="train",
                        help="real clips scored like the samples, for comparison (null: none)")
    parser.add_argument("--truth", type=str | None, default=None,
                        help="synthetic corpus folder: also score its ground truth of the split (null: none)")
    ns = vars(parser.parse_args(argv))
    ref, truth = ns.pop("reference_split"), ns.pop("truth")
    cfg = SampleConfig(**{k: v for k, v in ns.items() if k not in ("config", "__path__")})
    sample_and_score(cfg, ref, truth=truth)
    print((Path(cfg.out) / "motion.md").read_text())


def _motion(argv: list[str]) -> None:
    from eval import motion

    cfg = parse_settings(motion.MotionEvalConfig, argv, f"{PROG} motion", motion.__doc__)
    motion.evaluate_motion(cfg)
    print((Path(cfg.out) / "motion.md").read_text())


def _prior_benchmark(argv: list[str]) -> None:
    from eval.experiments import prior_benchmark

    cfg = parse_settings(prior_benchmark.PriorBenchmarkConfig, argv, f"{PROG} prior-benchmark", prior_benchmark.__doc__)
    prior_benchmark.run_prior_benchmark(cfg)
    print((Path(cfg.out) / "prior_benchmark.md").read_text())


def _inpainting(argv: list[str]) -> None:
    from eval.experiments import inpainting

    cfg = parse_settings(inpainting.InpaintingConfig, argv, f"{PROG} inpainting", inpainting.__doc__)
    inpainting.run_inpainting(cfg)
    print((Path(cfg.out) / "inpainting.md").read_text())


def _real_gaps(argv: list[str]) -> None:
    from eval.experiments import real_gaps

    kwargs = parse_settings(real_gaps.run_real_gaps, argv, f"{PROG} real-gaps", real_gaps.__doc__)
    real_gaps.run_real_gaps(**kwargs)
    print((Path(kwargs["out"]) / "real_gaps.md").read_text())


def _real_fidelity(argv: list[str]) -> None:
    from eval.experiments import real_fidelity

    kwargs = parse_settings(real_fidelity.run_real_fidelity, argv, f"{PROG} real-fidelity", real_fidelity.__doc__)
    real_fidelity.run_real_fidelity(**kwargs)
    print((Path(kwargs["out"]) / "real_fidelity.md").read_text())


def _detectors(argv: list[str]) -> None:
    from eval.experiments import detectors

    kwargs = parse_settings(detectors.run_detectors, argv, f"{PROG} detectors", detectors.__doc__)
    detectors.run_detectors(**kwargs)
    print((Path(kwargs["out"]) / "detectors.md").read_text())


def _dense_term(argv: list[str]) -> None:
    from eval.experiments import dense

    kwargs = parse_settings(dense.run_dense_term, argv, f"{PROG} dense-term", dense.__doc__)
    dense.run_dense_term(**kwargs)
    print((Path(kwargs["out"]) / "dense_term.md").read_text())


COMMANDS = {
    "bench": Command("speed and memory benchmarks with in-process reference ratios", _bench),
    "score": Command("score annotations against a synthetic corpus's ground truth (MPVE, CVD, NME, MSI)", _score),
    "annotation-benchmark": Command("the paper's Table 2 on synthetic data (regress / fit / NeuFace, ablations)",
                                    _annotation_benchmark),
    "motion": Command("score motion files (any generator, annotations, ground truth) against real motion: FD, APD, "
                      "health, horizon curves, spectra", _motion),
    "sample": Command("sample a trained generator from test start frames and score the samples", _sample),
    "prior-benchmark": Command("the paper's Table S3 on synthetic data: both generator families trained on mocap / "
                               "lab / wild sets, three seeds, 10 s and 30 s", _prior_benchmark),
    "inpainting": Command("complete clips with a removed gap (long-context family) vs linear interpolation and "
                          "HuMoR-Face: --diffusion GEN --data DIR [--humor GEN]", _inpainting),
    "real-gaps": Command("real clips with detections hidden on purpose, annotated with and without the motion prior: "
                         "--clips DIR --prior GEN", _real_gaps),
    "real-fidelity": Command("real clips annotated by regress, NeuFace's official objective and the suite's NeuFace: "
                             "expression, jaw and identity statistics, 3D renders: --clips DIR", _real_fidelity),
    "detectors": Command("dlib and MediaPipe side by side on real clips: speed, steadiness, agreement, the NeuFace fit "
                         "from each: --clips DIR", _detectors),
    "dense-term": Command("NeuFace with and without MediaPipe's dense points on synthetic corpora with ground truth",
                          _dense_term),
}


def main(argv: list[str] | None = None) -> int:
    return cli_main(PROG, "Evaluation of the NeuFace Motion Suite: metrics, benchmarks and the paper's experiments.",
                    COMMANDS, argv)


if __name__ == "__main__":
    sys.exit(main())
