"""The dense landmark term against ground truth: NeuFace with and without MediaPipe's points.

Synthetic corpora with simulated dense points (``SynthConfig.dense``: the points the head model's
``mediapipe_landmark_embedding.npz`` embeds, with the detector model of the 68) are annotated with
NeuFace at every weight of ``weights`` (0: the 68 points only) and scored against the ground truth:
MPVE, the vertex error of the lip and eye regions (vertices within ``LIP_RADIUS`` / ``EYE_RADIUS`` of
the template's iBUG lip / eye points) as fitted and after aligning the whole mesh to the truth (similarity,
per frame: the regions' shape without the depth and scale a single view leaves open), NME of the 68 and
jitter. Annotations are kept in ``out`` (a rerun rescores them).

``python -m eval dense-term --out runs/dense_term``
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import torch

from annotator.neuface import AnnotateConfig
from annotator.pretrain import DEFAULT_ENCODER_CACHE, PretrainConfig
from eval.report import markdown_table, write_csv
from flame.files import atomic_write_text
from flame.head import DEFAULT_ASSETS

__all__ = ["run_dense_term", "region_vertices", "LIP_RADIUS", "EYE_RADIUS"]

log = logging.getLogger(__name__)
#: metres around the template's iBUG lip (48-67) and eye (36-47) points that make the lip and eye regions
LIP_RADIUS, EYE_RADIUS = 0.012, 0.008
COLUMNS = ["domain", "lambda_dense", "sequences", "mpve_mm", "pa_mpve_mm", "lips_mm", "eyes_mm", "lips_pa_mm", "eyes_pa_mm",
           "nme68", "jitter_mm_s3", "seconds"]


def region_vertices(layer, ibug: slice, radius: float) -> torch.Tensor:
    """Vertex ids within ``radius`` of the template positions of the iBUG points ``ibug``."""
    from flame.lbs import barycentric_interpolate

    tmpl = layer.v_template[None].double()
    pts = barycentric_interpolate(tmpl, layer.faces, layer.full_faces[ibug], layer.full_bary[ibug].double())[0]
    return torch.nonzero(torch.cdist(tmpl[0], pts).amin(1) <= radius, as_tuple=True)[0]


def run_dense_term(out: str = "runs/dense_term", domains: tuple[str, ...] = ("wild", "lab"), identities: int = 6,
                   frames: int = 120, seed: int = 500, weights: tuple[float, ...] = (0.0, 10.0),
                   split: str = "test", model: str | None = None, assets: str = DEFAULT_ASSETS,
                   encoder_cache: str = DEFAULT_ENCODER_CACHE, pretrain: PretrainConfig | None = None) -> list[dict]:
    """Run the comparison (see the module docstring); returns one row per domain and weight.

    Args:
        out: output folder (corpora, ``dense_term.md`` / ``.csv``).
        domains: corpus domains; identities / frames / seed: their size and seed (choose weights on another seed).
        weights: values of ``lambda_dense`` compared (0 is the annotation without the term).
        split: the split of the corpora annotated (``test``, or ``val`` to choose a weight).
        model / assets / encoder_cache / pretrain: head model (default: the stand-in) and landmark encoder.
    """
    from annotator.capture import Capture
    from annotator.synthetic.builder import SynthConfig, build_corpus
    from eval.annotation import score_sequence
    from eval.experiments.setup import annotate_cached, annotation_setup
    from eval.metrics import mpve
    from eval.metrics.mpve import similarity_align
    from flame.embedding import find_mesh_point_embedding, load_mesh_point_embedding
    from flame.layout import read_corpus
    from flame.sequence import FlameSequence, sequence_to_params

    out_dir = Path(out)
    model_path, layer, layer64, encoder = annotation_setup(model, assets, encoder_cache, pretrain)
    found = find_mesh_point_embedding(model_path)
    if found is None:
        from flame.errors import InputError

        raise InputError(f"no mediapipe_landmark_embedding.npz next to {model_path}")
    emb = load_mesh_point_embedding(found)
    lips, eyes = region_vertices(layer64, slice(48, 68), LIP_RADIUS), region_vertices(layer64, slice(36, 48), EYE_RADIUS)
    rows = []
    for domain in domains:
        fractions = (0.0, 1.0, 0.0) if split == "val" else (0.0, 0.0, 1.0)
        corpus = build_corpus(SynthConfig(domain=domain, identities=identities, sequences=1, frames=frames, seed=seed,
                                          out=str(out_dir / "corpus" / domain), model=str(model_path), dense=True,
                                          split_fractions=fractions), progress=False)
        for w in weights:
            scores = []
            for e in read_corpus(corpus).sequences:
                cap, gt = Capture.load(e.capture), FlameSequence.load(e.gt)
                seq = annotate_cached(out_dir / "annotations" / domain / f"{e.id}_dense{w:g}.npz", cap, layer, encoder,
                                      AnnotateConfig(lambda_dense=w), dense=emb if w > 0 else None)
                s = score_sequence(layer64, gt, seq)
                with torch.no_grad():
                    v_gt = layer64(sequence_to_params(gt, layer64)).vertices
                    v_fit = layer64(sequence_to_params(seq, layer64)).vertices
                v_pa = similarity_align(v_fit, v_gt)
                for name, ids in (("lips", lips), ("eyes", eyes)):
                    s[f"{name}_mm"] = float(mpve(v_fit[..., ids, :], v_gt[..., ids, :]))
                    s[f"{name}_pa_mm"] = float(mpve(v_pa[..., ids, :], v_gt[..., ids, :]))
                s["seconds"] = seq.metadata["seconds"]
                scores.append(s)
                log.info("%s %s lambda_dense %g: %s", domain, e.id, w, {k: round(s[k], 3) for k in COLUMNS[3:]})
            rows.append({"domain": domain, "lambda_dense": w, "sequences": len(scores)}
                        | {k: float(np.mean([s[k] for s in scores])) for k in COLUMNS[3:]})
    write_csv(out_dir / "dense_term.csv", rows, COLUMNS)
    atomic_write_text(out_dir / "dense_term.md", (
        f"# The dense landmark term on synthetic corpora\n\nModel: {layer.model_label}; {len(emb.point_ids)} embedded "
        f"MediaPipe points. Corpora: {', '.join(domains)}, {identities} identities x {frames} frames, seed {seed}, split "
        f"{split}; NeuFace with default settings and `lambda_dense` as shown.\n\n" + markdown_table(rows, COLUMNS) +
        f"\n\nMPVE and region errors in mm, as fitted and after a per-frame similarity alignment of the whole mesh (pa) "
        f"(lips: vertices within {LIP_RADIUS * 100:g} cm of the template's iBUG lip "
        f"points, {len(lips)} vertices; eyes: within {EYE_RADIUS * 100:g} cm of the eye points, {len(eyes)} vertices); "
        "NME of the 68 in % against the true landmarks; jitter of the fitted 3D landmarks in mm/s^3; seconds of "
        "annotation per sequence.\n"))
    return rows
