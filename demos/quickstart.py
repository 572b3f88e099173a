"""The quickstart: the suite's main job on the embedded default, end to end.

Stages (each resumes: finished outputs are reused):

1. the head model: the procedural stand-in (FLAME file layout, not FLAME) unless ``--model`` is given;
2. its range-of-motion renders (PNG grid + mp4 with the 68 landmarks);
3. the synthetic capture corpus: a ``lab`` (7 views) and a ``wild`` (1 moving view) corpus with
   ground truth and detector-like landmark tracks;
4. a rendered check of one sequence of each and the ground-truth sanity scores (the detector's NME).

Later stages (NeuFace annotation, HuMoR-Face training, rollouts, evaluation) are added as they land.
Run ``neuface-quickstart --help``; a YAML config is given with ``--config`` (unknown keys are errors).
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger(__name__)


@dataclass
class CorpusSize:
    """Size of a quickstart corpus."""

    identities: int
    sequences: int
    frames: int


def run_quickstart(out: str = "runs/quickstart", seed: int = 0, size: int = 256, fps: int = 25,
                   model: str | None = None, lab: CorpusSize = CorpusSize(4, 2, 90),
                   wild: CorpusSize = CorpusSize(8, 2, 100)) -> dict:
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
    """
    import torch

    from annotator.synthetic.builder import SynthConfig, build_corpus
    from annotator.synthetic.preview import preview_sequence
    from eval.experiments.score import score_corpus
    from flame.layer import FlameLayer
    from flame.render import write_png
    from flame.showcase import render_showcase
    from flame.standin import EXPRESSION_NAMES, FULL_EXPRESSION, ensure_standin

    torch.manual_seed(seed)
    out_dir = Path(out)
    t0 = time.perf_counter()
    if model is None:
        paths = ensure_standin(out_dir / "model", seed=seed)
        model_path, names, full = paths.pkl, EXPRESSION_NAMES, FULL_EXPRESSION
    else:
        model_path, names, full = Path(model), None, 2.0
    layer = FlameLayer.from_files(model_path, n_shape=100, n_exp=50)
    print(f"[1/4] head model: {layer.model_label} ({layer.n_vertices} vertices) from {model_path}")
    png, mp4 = render_showcase(layer, out_dir / "renders", size=size, fps=fps, expression_names=names,
                               full_expression=full)
    print(f"[2/4] model renders: {png} and {mp4}")
    t1 = time.perf_counter()
    corpora = {}
    for domain, sz in (("lab", lab), ("wild", wild)):
        cfg = SynthConfig(domain=domain, identities=sz.identities, sequences=sz.sequences, frames=sz.frames,
                          out=str(out_dir / "corpus" / domain), seed=seed, model=str(model_path))
        corpora[domain] = build_corpus(cfg)
    n_seq = (lab.identities * lab.sequences, wild.identities * wild.sequences)
    corpus_s = time.perf_counter() - t1
    print(f"[3/4] synthetic corpus: lab {n_seq[0]} sequences x 7 views x {lab.frames} frames, wild {n_seq[1]} "
          f"sequences x {wild.frames} frames, in {corpus_s:.1f} s -> {out_dir / 'corpus'}")
    layer64 = FlameLayer.from_files(model_path, n_shape=100, n_exp=50, dtype=torch.float64)
    checks, detector_nme = {}, {}
    for domain, folder in corpora.items():
        first = json.loads((folder / "manifest.jsonl").read_text().splitlines()[0])
        img = out_dir / "renders" / f"corpus_{domain}.png"
        write_png(img, preview_sequence(layer64, folder / first["path"], n_times=4 if domain == "lab" else 8, size=192))
        checks[domain] = str(img)
        rows = score_corpus(folder, "detections", out_dir / "scores" / f"{domain}_detections", layer=layer64)
        detector_nme[domain] = round(rows[-1]["nme68"], 3)
    print(f"[4/4] rendered checks: {checks['lab']} (7 views) and {checks['wild']}; detector NME vs ground truth: "
          f"lab {detector_nme['lab']} %, wild {detector_nme['wild']} %")
    summary = {"model": layer.model_label, "model_file": str(model_path), "png": str(png), "mp4": str(mp4),
               "corpus": {k: str(v) for k, v in corpora.items()}, "corpus_seconds": round(corpus_s, 1),
               "corpus_checks": checks, "detector_nme_percent": detector_nme,
               "seconds": round(time.perf_counter() - t0, 1)}
    (out_dir / "summary.json").write_text(json.dumps(summary, indent=2))
    print(f"quickstart finished in {summary['seconds']} s; outputs in {out_dir}/")
    return summary


def main(argv: list[str] | None = None) -> None:
    from jsonargparse import CLI

    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    CLI(run_quickstart, args=argv, as_positional=False)


if __name__ == "__main__":
    main()
