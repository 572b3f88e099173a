"""Where MediaPipe's mesh points sit on a head model: build the embedding from renders, and check it.

The stand-in has no published MediaPipe embedding (real FLAME has the trackers'
``mediapipe_landmark_embedding.npz``), so one is built from the model itself: the neutral head is
rendered under a grid of small head rotations, with the mouth closed and slightly open; MediaPipe runs
on every render; each mesh point's pixel is looked up in the rasterizer's buffers (face and barycentric
coordinates under that pixel) and carried to the template mesh. A point's embedding is the closest
surface point to the median of its template positions. Kept: the points of the lips, eyelids, brows and
nose (MediaPipe's own region lists) that every render saw and whose positions agree within
``max_spread`` - the contour, cheeks and irises are left out, as in the trackers' 105-point file.

:func:`check_embedding` is the independent test: renders of other identities, expressions and head
poses; MediaPipe's points against the embedded points projected with the same camera, per region, in %
of the inter-ocular distance.

``python -m annotator mediapipe-embedding --out FILE`` (needs mediapipe; the stand-in's file ships with
the suite and is copied next to the stand-in model).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
import torch

from flame.camera import OrthoCamera, ndc_to_pixels, to_screen, weak_perspective_project
from flame.embedding import MeshPointEmbedding
from flame.layer import EmbeddedPoints, FlameLayer
from flame.showcase import HEAD_HEIGHT_M
from flame.types import FlameParams

__all__ = ["build_mesh_point_embedding", "check_embedding", "mesh_regions", "EmbeddingCheck"]

log = logging.getLogger(__name__)
RENDER_SIZE = 512
_SCALE = 2.0 / HEAD_HEIGHT_M  # the head fills the frame


def mesh_regions() -> dict[str, np.ndarray]:
    """MediaPipe mesh points per face region (from MediaPipe's connection lists): lips, eyelids (both
    eyes), brows (both), nose."""
    from mediapipe.python.solutions import face_mesh_connections as c

    def pts(*edge_sets) -> np.ndarray:
        return np.array(sorted({i for s in edge_sets for e in s for i in e}))

    return {"lips": pts(c.FACEMESH_LIPS), "eyelids": pts(c.FACEMESH_LEFT_EYE, c.FACEMESH_RIGHT_EYE),
            "brows": pts(c.FACEMESH_LEFT_EYEBROW, c.FACEMESH_RIGHT_EYEBROW), "nose": pts(c.FACEMESH_NOSE)}


def _render(layer: FlameLayer, params: FlameParams):
    """Renders ``(B, S, S, 3)`` uint8 of ``params`` (B,) with a frontal orthographic camera, and the
    rasterizer's fragments."""
    from flame.draw import to_uint8
    from flame.raster import rasterize
    from flame.shading import shade

    with torch.no_grad():
        out = layer(params)
        cam = OrthoCamera(out.vertices.new_tensor([[_SCALE, 0.0, 0.02]]).expand(len(out.vertices), 3), RENDER_SIZE)
        screen, persp = to_screen(out.vertices, cam)
        frags = rasterize(screen, layer.faces, (RENDER_SIZE, RENDER_SIZE), perspective=persp)
        rgba = shade(frags, out.vertices, layer.faces, cam, colors=layer.vertex_colors, background=(0.55, 0.58, 0.62))
    return [to_uint8(x) for x in rgba], frags, cam


def _params(layer: FlameLayer, yaw: np.ndarray, pitch: np.ndarray, jaw: np.ndarray,
            shape: torch.Tensor | None = None, expression: torch.Tensor | None = None) -> FlameParams:
    n = len(yaw)
    dt = layer.v_template.dtype
    pose = torch.zeros(n, 15, dtype=dt)
    pose[:, 0], pose[:, 1], pose[:, 6] = torch.as_tensor(pitch, dtype=dt), torch.as_tensor(yaw, dtype=dt), \
        torch.as_tensor(jaw, dtype=dt)
    return FlameParams(shape if shape is not None else torch.zeros(n, layer.n_shape, dtype=dt),
                       expression if expression is not None else torch.zeros(n, layer.n_exp, dtype=dt), pose)


def _detect(images: list[np.ndarray]) -> list[np.ndarray | None]:
    from annotator.detect import FaceTracker
    from annotator.mediapipe_mesh import MediaPipeDetector

    det = MediaPipeDetector(video=False)
    out = []
    for img in images:
        box = FaceTracker().choose(det.detect(img))
        out.append(None if box is None else det.dense(img, box)[:, :2])
    det.close()
    return out


def build_mesh_point_embedding(layer: FlameLayer, max_spread_mm: float = 3.0) -> tuple[MeshPointEmbedding, dict]:
    """The embedding of MediaPipe's region points on ``layer``'s mesh (see the module docstring) and a
    report (renders, faces found, points kept per region, their spread)."""
    from flame.standin.landmarks import closest_point

    yaw, pitch, jaw = (np.deg2rad(a).ravel() for a in np.meshgrid([-20, -10, 0, 10, 20], [-10, 0, 10], [0, 6]))
    images, frags, _ = _render(layer, _params(layer, yaw, pitch, jaw))
    found = _detect(images)
    template = layer.v_template.double().numpy()
    faces = layer.faces.numpy()
    hits = []  # per render: (478, 3) template positions (NaN where the pixel is off the mesh)
    for i, pts in enumerate(found):
        if pts is None:
            continue
        px = np.clip(np.round(pts - 0.5).astype(int), 0, RENDER_SIZE - 1)  # pixel centres at +0.5
        f = frags.face_idx[i, px[:, 1], px[:, 0]].numpy()
        b = frags.bary[i, px[:, 1], px[:, 0]].double().numpy()
        pos = (template[faces[np.maximum(f, 0)]] * b[..., None]).sum(1)
        pos[f < 0] = np.nan
        hits.append(pos)
    if len(hits) < len(images) // 2:
        raise RuntimeError(f"MediaPipe found the face in {len(hits)} of {len(images)} renders of {layer.model_label}")
    hits = np.stack(hits)  # (N, 478, 3)
    median = np.nanmedian(hits, 0)
    spread = 1e3 * np.nanmedian(np.linalg.norm(hits - median, axis=-1), 0)  # mm
    seen_all = np.isfinite(hits).all((0, 2))
    regions = mesh_regions()
    keep = np.array(sorted({int(i) for ids in regions.values() for i in ids
                            if seen_all[i] and spread[i] <= max_spread_mm}))
    face_idx, bary = closest_point(median[keep], template, faces)
    emb = MeshPointEmbedding(face_idx, np.clip(bary, 0, None) / np.clip(bary, 0, None).sum(1, keepdims=True), keep)
    report = {"renders": len(images), "found": len(hits),
              "kept": {r: int(np.isin(ids, keep).sum()) for r, ids in regions.items()},
              "of": {r: len(ids) for r, ids in regions.items()},
              "spread_mm_median": float(np.median(spread[keep]))}
    log.info("MediaPipe embedding of %s: %s", layer.model_label, report)
    return emb, report


@dataclass(frozen=True)
class EmbeddingCheck:
    """How well an embedding predicts MediaPipe's points on renders: per region, the median and 90th
    percentile distance, % of the inter-ocular distance; renders and faces found."""

    median: dict[str, float]
    p90: dict[str, float]
    renders: int
    found: int


def check_embedding(layer: FlameLayer, emb: MeshPointEmbedding, n: int = 24, seed: int = 1) -> EmbeddingCheck:
    """Render ``n`` heads (random identity, expression, jaw and head rotation within +-25 deg yaw, +-12 deg
    pitch), run MediaPipe and compare its points with ``emb`` projected by the same camera."""
    rng = np.random.default_rng(seed)
    dt = layer.v_template.dtype
    shape = torch.as_tensor(rng.normal(0, 1, (n, layer.n_shape)) * (np.arange(layer.n_shape) < 10), dtype=dt)
    expression = torch.as_tensor(rng.normal(0, 0.6, (n, layer.n_exp)) * (np.arange(layer.n_exp) < 10), dtype=dt)
    params = _params(layer, np.deg2rad(rng.uniform(-25, 25, n)), np.deg2rad(rng.uniform(-12, 12, n)),
                     np.deg2rad(rng.uniform(0, 12, n)), shape, expression)
    images, _, cam = _render(layer, params)
    found = _detect(images)
    with torch.no_grad():
        pts3 = EmbeddedPoints(layer, emb.faces, emb.bary)(params)
        lm3 = layer(params).landmarks2d_3d
        proj = ndc_to_pixels(weak_perspective_project(pts3, cam.cam)[..., :2], RENDER_SIZE).double().numpy()
        lm = ndc_to_pixels(weak_perspective_project(lm3, cam.cam)[..., :2], RENDER_SIZE).double().numpy()
    regions = mesh_regions()
    errs: dict[str, list[float]] = {r: [] for r in regions}
    for i, pts in enumerate(found):
        if pts is None:
            continue
        iod = np.linalg.norm(lm[i, 36] - lm[i, 45])
        d = 100.0 * np.linalg.norm(pts[emb.point_ids] - proj[i], axis=-1) / iod
        for r, ids in regions.items():
            errs[r] += d[np.isin(emb.point_ids, ids)].tolist()
    return EmbeddingCheck({r: float(np.median(e)) for r, e in errs.items() if e},
                          {r: float(np.percentile(e, 90)) for r, e in errs.items() if e},
                          n, sum(p is not None for p in found))
