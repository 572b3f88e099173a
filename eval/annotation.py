"""The annotation evaluator: annotated sequences scored against the synthetic ground truth (``python -m eval
score``, the annotation benchmark, the quickstart).

For each sequence of a corpus with a prediction, per view: MPVE (raw / centroid / Procrustes, mm) of
the posed vertices in the camera-aligned FLAME frame, NME (%) of the fitted 2D landmarks against
the true ones (68 and 51 points) and against the detections, MSI_L / MSI_V and jitter of the 3D
landmarks / vertices in that frame; across views, CVD (mm) of the canonical vertices. On a corpus with
occluders (:mod:`annotator.synthetic.occlusion`) also MPVE inside the occluded frames (``mpve_gap_mm``)
and NME on the others (``nme68_visible``).

The fitted 2D landmarks are the prediction's ``fitted_landmarks2d`` when stored, otherwise the
projection of its ``landmarks2d_3d`` with its weak-perspective camera and crop transform.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch

from eval.metrics import cvd, jitter, mpve, msi3d, nme
from eval.metrics.fidelity import FIDELITY_COLUMNS, parameter_fidelity, pool_fidelity
from eval.report import markdown_table, mean_row, write_csv
from flame.camera import invert_transform, ndc_to_pixels, project_crop, transform_points
from flame.errors import InputError
from flame.files import atomic_write_text
from flame.head import head_layer
from flame.layer import FlameLayer
from flame.layout import is_annotation_output, read_annotations, read_corpus
from flame.sequence import FlameSequence, sequence_to_params

if TYPE_CHECKING:
    from annotator.neuface import AnnotateConfig

__all__ = ["fitted_landmarks_px", "score_sequence", "stability_scores", "score_corpus", "annotate_and_score", "occluded_of",
           "COLUMNS"]

log = logging.getLogger(__name__)
COLUMNS = ["sequence", "views", "frames", "mpve_mm", "mpve_centroid_mm", "pa_mpve_mm", "cvd_mm", "nme68",
           "nme51", "nme_det", "msi_l", "msi_v", "jitter_mm_s3", *FIDELITY_COLUMNS, "occluded_fraction", "mpve_gap_mm",
           "nme68_visible"]


def fitted_landmarks_px(layer: FlameLayer, seq: FlameSequence, out=None) -> np.ndarray:
    """``(V, T, 68, 2)`` image pixels of the sequence's fit (see the module docstring)."""
    if seq.fitted_landmarks2d is not None:
        return np.asarray(seq.fitted_landmarks2d, dtype=np.float64)
    if out is None:
        with torch.no_grad():
            out = layer(sequence_to_params(seq, layer))
    dt = out.landmarks2d_3d.dtype
    tform = torch.as_tensor(seq.crop_tform, dtype=dt)
    K = None if seq.intrinsics is None else torch.as_tensor(seq.intrinsics, dtype=dt)
    ndc = project_crop(out.landmarks2d_3d, torch.as_tensor(seq.cam, dtype=dt), tform, K, seq.crop_size)[..., :2]
    return transform_points(invert_transform(tform), ndc_to_pixels(ndc, seq.crop_size)).double().numpy()


def score_sequence(layer: FlameLayer, gt: FlameSequence, pred: FlameSequence, detections: np.ndarray | None = None,
                   detection_valid: np.ndarray | None = None, occluded: np.ndarray | None = None) -> dict:
    """Metrics of one predicted sequence against its ground truth (same views and frames); with
    ``occluded (V, T)`` bool also the occluded fraction, MPVE inside the occluded frames (NaN if none) and
    NME on the others."""
    if list(gt.view_names) != list(pred.view_names) or not np.array_equal(gt.frame_ids, pred.frame_ids):
        raise InputError(f"prediction views/frames {list(pred.view_names)} x {pred.n_frames} do not match the ground "
                         f"truth {list(gt.view_names)} x {gt.n_frames}")
    with torch.no_grad():
        out_gt, out_pred = layer(sequence_to_params(gt, layer)), layer(sequence_to_params(pred, layer))
        canon = layer.canonical_vertices(sequence_to_params(pred, layer))
    row: dict = {"views": gt.n_views, "frames": gt.n_frames}
    row["mpve_mm"] = float(mpve(out_pred.vertices, out_gt.vertices))
    row["mpve_centroid_mm"] = float(mpve(out_pred.vertices, out_gt.vertices, align="centroid"))
    row["pa_mpve_mm"] = float(mpve(out_pred.vertices, out_gt.vertices, align="procrustes"))
    row["cvd_mm"] = float(cvd(canon)) if gt.n_views > 1 else float("nan")
    fitted = torch.as_tensor(fitted_landmarks_px(layer, pred, out_pred))
    true2d = torch.as_tensor(np.asarray(gt.landmarks2d[..., :2], dtype=np.float64))
    row["nme68"] = float(nme(fitted, true2d))
    row["nme51"] = float(nme(fitted, true2d, points="51"))
    if occluded is not None:
        gap = torch.as_tensor(occluded)
        row["occluded_fraction"] = float(gap.float().mean())
        row["mpve_gap_mm"] = float(mpve(out_pred.vertices, out_gt.vertices, mask=gap)) if gap.any() else float("nan")
        row["nme68_visible"] = float(nme(fitted, true2d, mask=~gap))
    row |= parameter_fidelity(pred.pose, gt.pose, pred.expression, gt.expression, gt.fps)
    return row | stability_scores(layer, pred, detections, detection_valid, out_pred, fitted)


def stability_scores(layer: FlameLayer, seq: FlameSequence, detections: np.ndarray | None = None,
                     detection_valid: np.ndarray | None = None, out=None, fitted: torch.Tensor | None = None) -> dict:
    """The scores that need no ground truth (e.g. for a real video): ``nme_det`` (fitted vs detected
    landmarks, %; NaN without detections), ``msi_l`` / ``msi_v`` (higher is steadier) and
    ``jitter_mm_s3``, averaged over views. ``out`` / ``fitted``: the layer output and fitted 2D landmarks
    of ``seq`` when the caller has them already."""
    if out is None:
        with torch.no_grad():
            out = layer(sequence_to_params(seq, layer))
    row = {"nme_det": float("nan")}
    if detections is not None:
        fitted = fitted if fitted is not None else torch.as_tensor(fitted_landmarks_px(layer, seq, out))
        det = torch.as_tensor(np.asarray(detections[..., :2], dtype=np.float64))
        mask = torch.as_tensor(detection_valid) if detection_valid is not None else None
        row["nme_det"] = float(nme(fitted, det, mask=mask))
    lm_mm = out.landmarks3d.double() * 1000
    v_mm = out.vertices.double() * 1000
    row["msi_l"] = float(np.mean([float(msi3d(lm_mm[v], seq.fps)) for v in range(seq.n_views)]))
    row["msi_v"] = float(np.mean([float(msi3d(v_mm[v], seq.fps)) for v in range(seq.n_views)]))
    row["jitter_mm_s3"] = float(np.mean([float(jitter(lm_mm[v], seq.fps)) for v in range(seq.n_views)]))
    return row


def occluded_of(capture) -> np.ndarray | None:
    """``(V, T)`` frames inside the occluders a synthetic capture records (None: it records none)."""
    from annotator.synthetic.occlusion import occluded_frames

    if "occlusion" not in capture.metadata:
        return None
    return occluded_frames(capture.metadata["occlusion"], capture.n_views, capture.n_frames)


def annotation_dir(out: str | os.PathLike, method: str, corpus_name: str) -> Path:
    """Where :func:`annotate_and_score` writes ``method``'s annotations of the corpus ``corpus_name``."""
    return Path(out) / "annotations" / method / corpus_name


def annotate_and_score(corpus: str | os.PathLike, out: str | os.PathLike, method: str, model: str | os.PathLike,
                       encoder_cache: str, pretrain, layer: FlameLayer, split: str | None = None,
                       settings: "AnnotateConfig | None" = None) -> tuple[Path, dict]:
    """Annotate a synthetic corpus with ``method`` into ``out/annotations/<method>/<corpus name>``
    (resumable runner) and score it against the ground truth into ``out/scores/<corpus name>_<method>``;
    returns the annotation folder and the mean scores (of ``split`` only, if given). ``settings``: the
    :class:`~annotator.neuface.AnnotateConfig` of ``neuface`` and ``fit`` (default: the annotator's; ``regress``
    optimizes nothing, so it has none)."""
    from dataclasses import replace

    from annotator.neuface import AnnotateConfig
    from annotator.runner import RunConfig, run

    corpus = Path(corpus)
    target = annotation_dir(out, method, corpus.name)
    annotate = replace(settings, method=method) if settings is not None and method != "regress" else AnnotateConfig()
    run(RunConfig(input=str(corpus), output=str(target), method=method, model=str(model), encoder_cache=encoder_cache,
                  pretrain=pretrain, annotate=annotate))
    label = f"{method} on {corpus.name}" + (f" ({split} split)" if split else "")
    rows = score_corpus(corpus, str(target), Path(out) / "scores" / f"{corpus.name}_{method}", layer=layer,
                        split=split, label=label)
    return target, rows[-1]


def _predictions(pred_dir: Path) -> dict[str, Path]:
    """Sequence id -> prediction file: the ``done`` outputs of an annotation output folder, else every
    ``<id>.npz`` below ``pred_dir``."""
    if is_annotation_output(pred_dir):
        return {k: pred_dir / r["output"] for k, r in read_annotations(pred_dir).items() if r["status"] == "done"}
    return {p.stem: p for p in sorted(pred_dir.rglob("*.npz"), reverse=True)}


def score_corpus(corpus: str | os.PathLike, pred: str, out_dir: str | os.PathLike, layer: FlameLayer | None = None,
                 split: str | None = None, label: str | None = None) -> list[dict]:
    """Score every sequence of ``corpus`` that has a prediction; write ``scores.md`` and ``scores.csv``.

    ``pred`` is an annotation output folder, a folder of predictions named ``<sequence>.npz`` anywhere
    below it, ``"gt"`` (the ground truth scored against itself - all errors zero) or ``"detections"``
    (the simulated detector output: 2D landmarks only).
    """
    from annotator.capture import Capture

    info = read_corpus(corpus)
    if layer is None:
        layer = head_layer(info.model_file, n_shape=info.n_shape, n_exp=info.n_exp, dtype=torch.float64)
    predictions = {} if pred in ("gt", "detections") else _predictions(Path(pred))
    rows = []
    for entry in info.split(split):
        gt = FlameSequence.load(entry.gt)
        cap = Capture.load(entry.capture)
        if pred == "gt":
            p = gt
        elif pred == "detections":
            lm = cap.landmarks[..., :2].astype(np.float64)
            true2d = torch.as_tensor(np.asarray(gt.landmarks2d[..., :2], np.float64))
            mask = torch.as_tensor(cap.valid)
            rows.append({"sequence": entry.id, "views": gt.n_views, "frames": gt.n_frames,
                         "nme68": float(nme(torch.as_tensor(lm), true2d, mask=mask)),
                         "nme51": float(nme(torch.as_tensor(lm), true2d, points="51", mask=mask)),
                         "valid_fraction": float(cap.valid.mean())})
            continue
        elif entry.id in predictions:
            p = FlameSequence.load(predictions[entry.id])
        else:
            log.warning("no prediction for %s under %s", entry.id, pred)
            continue
        rows.append(dict(sequence=entry.id, **score_sequence(layer, gt, p, cap.landmarks, cap.valid, occluded_of(cap))))
    if not rows:
        raise InputError(f"no predictions found for the sequences of {corpus} in {pred}")
    rows.append(mean_row(rows, "sequence", "mean") | (pool_fidelity(rows) if "expr_rmse" in rows[0] else {}))
    out_dir = Path(out_dir)
    columns = [c for c in (COLUMNS + ["valid_fraction"]) if c in rows[0]]
    write_csv(out_dir / "scores.csv", rows, columns)
    title = label or (f"{pred} vs ground truth" if pred in ("gt", "detections") else Path(pred).name)
    md = (f"# Annotation scores: {title}\n\ncorpus `{corpus}`, model {layer.model_label}\n\n"
          + markdown_table(rows, columns) + "\n\n"
          "MPVE / CVD in mm; NME in % of the outer inter-ocular distance (nme68 / nme51 against the true "
          "landmarks, nme_det against the detections); MSI_L / MSI_V: 1 / temporal variance of the 3D "
          "acceleration (mm per (1/30 s)^2), higher is steadier; jitter in mm/s^3; occluded_fraction, mpve_gap_mm, "
          "nme68_visible: the share of view-frames inside the corpus's occluders, MPVE there, NME elsewhere (NaN "
          "without occluders).\n")
    atomic_write_text(out_dir / "scores.md", md)
    return rows
