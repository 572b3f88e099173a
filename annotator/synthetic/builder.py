"""The synthetic capture corpus: ground truth + simulated captures, split by identity.

The folder layout (``corpus.json``, ``manifest.jsonl``, per sequence ``gt.npz``, ``capture.npz``,
``cameras.npz``, ``frames/<view>.mp4``) is defined in :mod:`flame.layout`. ``cameras.npz`` holds the
pinhole K, R, t per view and frame, the head's world pose and per view the ``aligned_translation`` tau:
camera coordinates of a model point are ``diag(1, -1, -1) (FLAME(pose_v) + tau)``. ``gt.npz`` has the
true parameters per view (global rotation relative to each camera), true weak-perspective cameras and
true 2D landmarks.

Every sequence is a pure function of ``(seed, domain, identity, sequence index)``; existing complete
sequences are kept (resume), and every file is written atomically.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np
import torch
from tqdm import tqdm

from annotator.capture import Capture
from annotator.mediapipe_mesh import MESH_POINTS
from annotator.synthetic.expressions import ExpressionDirections, solve_directions
from annotator.synthetic.motion import STYLES, Motion, generate_motion, sample_shape
from annotator.synthetic.noise import NOISE, DetectorNoise, detect, detect_dense
from annotator.synthetic.occlusion import Occlusion, draw_events, occlude
from annotator.synthetic.rigs import DOMAIN_FPS, CameraTrack, make_rig
from flame.camera import (
    CROP_SIZE,
    PinholeCamera,
    crop_transform_from_landmarks,
    fit_weak_perspective,
    pixels_to_ndc,
    transform_points,
)
from flame.draw import to_uint8
from flame.embedding import MeshPointEmbedding
from flame.errors import InputError
from flame.files import atomic_write_bytes
from flame.head import DEFAULT_ASSETS, head_layer, load_head, resolve_model_file
from flame.layer import FlameLayer
from flame.layout import CorpusSequence, is_corpus, read_corpus, write_corpus_info, write_corpus_manifest
from flame.lbs import barycentric_interpolate, contour_yaw_degrees
from flame.media import write_video
from flame.normals import vertex_normals
from flame.render import render_mesh
from flame.rotations import axis_angle_to_matrix, matrix_to_axis_angle
from flame.sequence import FlameSequence
from flame.types import N_EXP, N_SHAPE, FlameParams

__all__ = ["SynthConfig", "CorpusSize", "SyntheticSequence", "synthesize_sequence", "build_corpus"]

log = logging.getLogger(__name__)
_DOMAIN_INDEX = {"lab": 0, "wild": 1, "mocap": 2}
_FLIP = np.diag([1.0, -1.0, -1.0])  # OpenCV camera axes <-> camera-aligned FLAME axes (y up, z toward camera)


@dataclass
class SynthConfig:
    """Settings of a synthetic corpus (``python -m annotator synth``).

    Attributes:
        domain: ``lab`` (7 views, 30 fps), ``wild`` (1 moving view, 25 fps) or ``mocap`` (1 view, 60 fps).
        identities: number of identities (split train/val/test by identity).
        sequences: sequences per identity.
        frames: frames per sequence (at the domain's frame rate).
        out: corpus folder.
        seed: master seed.
        model: FLAME model file (its landmark embedding next to it); default the stand-in.
        assets: where the stand-in is built / cached when ``model`` is not given.
        n_shape: identity components sampled from the prior.
        n_exp: expression components used.
        image_size: square image side in pixels.
        render: also write rendered frames (``frames/<view>.mp4``); slow for ``lab``.
        split_fractions: train / val / test fractions of identities.
        noise: detector model; default per domain.
        occlusion: occluders on top of the detector model (hands over the mouth, turns beyond profile,
            blur bursts; :mod:`annotator.synthetic.occlusion`); none by default.
        dense: also simulate a dense detector's points (MediaPipe's mesh, ``Capture.dense``) at the points the
            model's ``mediapipe_landmark_embedding.npz`` embeds, with the same noise model; occluders move
            each with the nearest of the 68 points.
    """

    domain: Literal["lab", "wild", "mocap"] = "lab"
    identities: int = 4
    sequences: int = 2
    frames: int = 90
    out: str = "runs/synth/lab"
    seed: int = 0
    model: str | None = None
    assets: str = DEFAULT_ASSETS
    n_shape: int = N_SHAPE
    n_exp: int = N_EXP
    image_size: int = 512
    render: bool = False
    split_fractions: tuple[float, float, float] = (0.6, 0.2, 0.2)
    noise: DetectorNoise | None = None
    occlusion: Occlusion = field(default_factory=Occlusion)
    dense: bool = False


@dataclass(frozen=True)
class CorpusSize:
    """Size of a corpus: identities, sequences per identity, frames per sequence (domain frame rate)."""

    identities: int
    sequences: int
    frames: int


@dataclass(frozen=True)
class SyntheticSequence:
    """Everything generated for one sequence."""

    gt: FlameSequence
    capture: Capture
    cameras: dict[str, np.ndarray]
    frames: dict[str, np.ndarray] = field(default_factory=dict)


def _forward_views(layer: FlameLayer, motion: Motion, rig: list[CameraTrack]):
    """Per view: FLAME in the camera-aligned frame. Yields (view, pose_v, out, cam_points, normals_cam)."""
    dt = layer.v_template.dtype
    r_head = axis_angle_to_matrix(torch.as_tensor(motion.pose[:, :3], dtype=torch.float64)).numpy()
    shape = torch.as_tensor(motion.shape, dtype=dt)
    expr = torch.as_tensor(motion.expression, dtype=dt)
    for cam in rig:
        g = np.einsum("ij,tjk,tkl->til", _FLIP, cam.R, r_head)  # head rotation in the aligned frame
        pose = motion.pose.copy()
        pose[:, :3] = matrix_to_axis_angle(torch.as_tensor(g)).numpy()
        with torch.no_grad():
            out = layer(FlameParams(shape, expr, torch.as_tensor(pose, dtype=dt)))
            normals = vertex_normals(out.vertices, layer.faces)
        root = out.joints[:, 0].double().numpy()
        # aligned = FLAME(pose_v) + tau, tau = D (R (J0 + T_head) + t) - J0; camera coords = D aligned
        tau = np.einsum("ij,tj->ti", _FLIP, np.einsum("tij,tj->ti", cam.R, root + motion.translation) + cam.t) - root
        yield cam, pose, out, tau, normals


def synthesize_sequence(layer: FlameLayer, directions: ExpressionDirections, domain: str, shape: np.ndarray,
                        rng: np.random.Generator, n_frames: int, noise: DetectorNoise, image_size: int = 512,
                        render: bool = False, meta: dict | None = None,
                        occlusion: Occlusion = Occlusion(), dense: MeshPointEmbedding | None = None,
                        dense_rng: np.random.Generator | None = None, dense_points: int = 0) -> SyntheticSequence:
    """Generate the motion, the cameras, the ground truth and the detector output of one sequence
    (occluders hide landmarks only; rendered frames show the unoccluded face). With ``dense``, also the
    dense detector's ``dense_points`` points (those of the embedding simulated, drawn from ``dense_rng``)."""
    fps = DOMAIN_FPS[domain]
    motion = generate_motion(rng, n_frames, fps, STYLES[domain], shape, directions)
    rig = make_rig(domain, n_frames, rng, image_size)
    v = len(rig)
    poses, cams, tforms, gt_lm, det_lm, det_valid, taus, frames, det_dense = [], [], [], [], [], [], [], {}, []
    for cam, pose, out, tau, normals in _forward_views(layer, motion, rig):
        lm3 = out.landmarks2d_3d.double().numpy()  # (T, 68, 3) model frame of this view
        pts_cam = np.einsum("ij,tnj->tni", _FLIP, lm3 + tau[:, None])
        uv = np.einsum("tij,tnj->tni", cam.K, pts_cam / pts_cam[..., 2:3])[..., :2]
        tform = crop_transform_from_landmarks(torch.as_tensor(uv)).numpy()
        ndc = pixels_to_ndc(transform_points(torch.as_tensor(tform), torch.as_tensor(uv)), CROP_SIZE)
        cams.append(fit_weak_perspective(torch.as_tensor(lm3), ndc).numpy())
        # self-occlusion of the static points: the surface normal faces away from the camera
        faces, bary = layer.landmark_embedding(torch.as_tensor(pose, dtype=layer.v_template.dtype))
        nrm = (normals[torch.arange(n_frames)[:, None, None], layer.faces[faces]] * bary[..., None]).sum(-2).double().numpy()
        facing = np.einsum("tni,tni->tn", np.einsum("ij,tnj->tni", _FLIP, nrm), -pts_cam) > 0
        occluded = ~facing
        occluded[:, :17] = False  # contour points sit on the silhouette by construction
        rot = axis_angle_to_matrix(torch.as_tensor(pose[:, :3]))
        yaw = np.deg2rad(contour_yaw_degrees(rot).numpy())
        lm, valid = detect(uv, occluded, yaw, cam.image_size, rng, noise)
        if dense is not None:
            det_dense.append(_dense_view(layer, dense, out, normals, tau, cam, valid, dense_rng, noise))
        poses.append(pose)
        taus.append(tau)
        tforms.append(tform)
        gt_lm.append(np.concatenate([uv, np.ones((n_frames, 68, 1))], -1))
        det_lm.append(lm)
        det_valid.append(valid)
        if render:
            verts_cam = np.einsum("ij,tnj->tni", _FLIP, out.vertices.double().numpy() + tau[:, None])
            frames[cam.name] = _render_view(layer, verts_cam, cam, domain, rng)
    events = []
    if occlusion.rate > 0:  # drawn after the detections, so corpora without occluders are unchanged
        events = draw_events(rng, n_frames, fps, v, occlusion)
        anchor = _anchors(layer, dense) if dense is not None else None
        for k in range(v):
            before = det_lm[k]
            det_lm[k], det_valid[k] = occlude(det_lm[k], det_valid[k], k, events, rng, occlusion)
            if dense is not None:
                det_dense[k] = _occlude_dense(det_dense[k], before, det_lm[k], det_valid[k], anchor)
    names = np.array([c.name for c in rig])
    size = np.tile(np.array(rig[0].image_size)[None], (v, 1))
    info = dict(meta or {}, domain=domain, **motion.metadata)
    gt = FlameSequence(
        model=layer.model_label, model_sha256=layer.model_sha256, fps=fps, view_names=names,
        frame_ids=np.arange(n_frames), shape=np.pad(motion.shape, (0, 0)).astype(np.float32),
        expression=np.repeat(motion.expression[None], v, 0), pose=np.stack(poses), cam=np.stack(cams),
        crop_tform=np.stack(tforms), landmarks2d=np.stack(gt_lm), valid=np.ones((v, n_frames), bool),
        image_size=size, fitted_landmarks2d=np.stack(gt_lm)[..., :2],
        metadata=dict(info, kind="ground truth", landmarks2d="true perspective projections (confidence 1)"),
    )
    calibrated = domain != "wild"
    capture = Capture(
        source=f"synthetic:{info.get('sequence', '')}", fps=fps, view_names=names, frame_ids=np.arange(n_frames),
        landmarks=np.stack(det_lm), valid=np.stack(det_valid), image_size=size,
        intrinsics=np.stack([c.K for c in rig]) if calibrated else None,
        extrinsics=np.stack([np.concatenate([c.R, c.t[..., None]], -1) for c in rig]) if calibrated else None,
        videos=np.array([f"frames/{n}.mp4" for n in names]) if render else None,
        dense=_dense_array(np.stack(det_dense), dense.point_ids, dense_points) if dense is not None else None,
        metadata={"domain": domain, "synthetic": True, "noise": asdict(noise),
                  "occlusion": [e.as_dict() for e in events]},
    )
    cameras = {"view_names": names, "K": np.stack([c.K for c in rig]), "R": np.stack([c.R for c in rig]),
               "t": np.stack([c.t for c in rig]), "head_pose": motion.pose[:, :3], "head_translation": motion.translation,
               "aligned_translation": np.stack(taus)}
    return SyntheticSequence(gt=gt, capture=capture, cameras=cameras, frames=frames)


def _dense_view(layer: FlameLayer, emb: MeshPointEmbedding, out, normals: torch.Tensor, tau: np.ndarray,
                cam: CameraTrack, valid: np.ndarray, rng: np.random.Generator, noise: DetectorNoise) -> np.ndarray:
    """``(T, K, 3)`` simulated detections of the embedded points in one view (projected like the 68)."""
    faces = torch.as_tensor(emb.faces, dtype=torch.long)
    bary = torch.as_tensor(emb.bary, dtype=out.vertices.dtype)
    pts = barycentric_interpolate(out.vertices, layer.faces, faces, bary).double().numpy()
    nrm = barycentric_interpolate(normals, layer.faces, faces, bary).double().numpy()
    pts_cam = np.einsum("ij,tnj->tni", _FLIP, pts + tau[:, None])
    uv = np.einsum("tij,tnj->tni", cam.K, pts_cam / pts_cam[..., 2:3])[..., :2]
    occluded = np.einsum("tni,tni->tn", np.einsum("ij,tnj->tni", _FLIP, nrm), -pts_cam) <= 0
    return detect_dense(uv, occluded, valid, rng, noise)


def _anchors(layer: FlameLayer, emb: MeshPointEmbedding) -> np.ndarray:
    """``(K,)``: the nearest of the 68 points (on the template) to each embedded point."""
    tmpl = layer.v_template[None]
    pts = barycentric_interpolate(tmpl, layer.faces, torch.as_tensor(emb.faces), torch.as_tensor(emb.bary, dtype=tmpl.dtype))
    lm = barycentric_interpolate(tmpl, layer.faces, layer.full_faces, layer.full_bary)
    return torch.cdist(pts[0].double(), lm[0].double()).argmin(1).numpy()


def _occlude_dense(pts: np.ndarray, before: np.ndarray, after: np.ndarray, valid: np.ndarray,
                   anchor: np.ndarray) -> np.ndarray:
    """The occluders' effect on dense points: each moves and loses confidence like its anchor among the 68
    (``before`` / ``after`` the occluders, ``(T, 68, 3)``)."""
    out = pts.copy()
    ok = np.isfinite(before[..., :2]).all(-1) & np.isfinite(after[..., :2]).all(-1)  # (T, 68)
    shift = np.where(ok[..., None], after[..., :2] - before[..., :2], 0.0)
    ratio = np.where(ok & (before[..., 2] > 0), after[..., 2] / np.maximum(before[..., 2], 1e-9), 1.0)
    out[..., :2] += shift[:, anchor]
    out[..., 2] *= np.clip(ratio[:, anchor], 0.0, 1.0)
    out[~valid, :, :2] = np.nan
    out[~valid, :, 2] = 0.0
    return out


def _dense_array(pts: np.ndarray, point_ids: np.ndarray, n_points: int) -> np.ndarray:
    """``(V, T, P, 3)`` with the simulated points at ``point_ids`` and the others missing (NaN, confidence 0)."""
    full = np.full((*pts.shape[:2], n_points, 3), np.nan, np.float32)
    full[..., 2] = 0.0
    full[:, :, point_ids] = pts
    return full


def _render_view(layer: FlameLayer, verts_cam: np.ndarray, cam: CameraTrack, domain: str,
                 rng: np.random.Generator) -> np.ndarray:
    """Shaded frames ``(T, H, W, 3)`` uint8 of one view over a plain (lab) or textured (wild) background."""
    w, h = cam.image_size
    bg_color = (0.55, 0.58, 0.62) if domain != "wild" else tuple(rng.uniform(0.2, 0.8, 3))
    out = []
    eye = torch.eye(3, dtype=torch.float64)
    for s in range(0, len(verts_cam), 16):
        vc = torch.as_tensor(verts_cam[s:s + 16])
        pin = PinholeCamera(torch.as_tensor(cam.K[s:s + 16]), eye.expand(len(vc), 3, 3), torch.zeros(len(vc), 3,
                            dtype=torch.float64), cam.image_size)
        img = render_mesh(vc, layer.faces, pin, (h, w), colors=layer.vertex_colors.double(), background=bg_color)
        out.append(to_uint8(img))
    return np.concatenate(out)


def _splits(n_identities: int, fractions: tuple[float, float, float], rng: np.random.Generator) -> dict[str, list[int]]:
    order = list(rng.permutation(n_identities))
    n_test = max(1, int(round(fractions[2] * n_identities))) if n_identities >= 3 else 0
    n_val = max(1, int(round(fractions[1] * n_identities))) if n_identities >= 3 else 0
    return {"test": sorted(order[:n_test]), "val": sorted(order[n_test:n_test + n_val]),
            "train": sorted(order[n_test + n_val:])}


def build_corpus(cfg: SynthConfig, progress: bool = True) -> Path:
    """Build (or complete) the corpus described by ``cfg``; returns the corpus folder."""
    t0 = time.perf_counter()
    out = Path(cfg.out)
    model_path = resolve_model_file(cfg.model, cfg.assets)
    layer = head_layer(model_path, n_shape=cfg.n_shape, n_exp=cfg.n_exp)
    noise = cfg.noise or NOISE[cfg.domain]
    fps = DOMAIN_FPS[cfg.domain]
    settings = {k: v for k, v in asdict(cfg).items() if k not in ("out", "assets", "model")}
    settings["noise"] = asdict(noise)
    if cfg.occlusion.rate == 0:  # a corpus without occluders keeps the settings it had before they existed
        del settings["occlusion"]
    if not cfg.dense:  # likewise without dense points
        del settings["dense"]
    dense = _dense_embedding(model_path, layer) if cfg.dense else None
    info = {"settings": settings, "fps": fps, "model": layer.model_label, "model_sha256": layer.model_sha256,
            "model_file": str(model_path)}
    if is_corpus(out):
        old = read_corpus(out).info
        if old.get("settings") != json.loads(json.dumps(settings)) or old.get("model_sha256") != layer.model_sha256:
            raise InputError(f"{out} holds a corpus built with other settings or another model; use a new --out "
                             f"(nothing was changed)")
    split_rng = np.random.default_rng([cfg.seed, _DOMAIN_INDEX[cfg.domain], 7])
    splits = _splits(cfg.identities, cfg.split_fractions, split_rng)
    split_of = {i: name for name, ids in splits.items() for i in ids}
    directions = solve_directions(*load_head(model_path), cfg.n_exp)
    info["expression_fit_error_mm"] = {k: round(v, 3) for k, v in directions.fit_error_mm.items()}
    write_corpus_info(out, dict(info, complete=False))
    manifest = []
    jobs = [(i, m) for i in range(cfg.identities) for m in range(cfg.sequences)]
    built = 0
    for i, m in tqdm(jobs, desc=f"synth {cfg.domain}", unit="seq", disable=not progress):
        identity = f"{cfg.domain}{i:03d}"
        seq_id = f"{identity}_{m:02d}"
        entry = {"id": seq_id, "identity": identity, "split": split_of[i], "path": f"{split_of[i]}/{seq_id}",
                 "frames": cfg.frames, "fps": fps}
        files = CorpusSequence(seq_id, split_of[i], out / entry["path"])
        if all(f.is_file() for f in (files.gt, files.capture, files.cameras)):
            gt = FlameSequence.load(files.gt)
            manifest.append(dict(entry, views=gt.n_views, **_summary(gt.metadata)))
            continue
        shape = sample_shape(np.random.default_rng([cfg.seed, _DOMAIN_INDEX[cfg.domain], i, 999]), cfg.n_shape)
        rng = np.random.default_rng([cfg.seed, _DOMAIN_INDEX[cfg.domain], i, m])
        seq = synthesize_sequence(layer, directions, cfg.domain, shape, rng, cfg.frames, noise, cfg.image_size,
                                  cfg.render, meta={"sequence": seq_id, "identity": identity, "split": split_of[i]},
                                  occlusion=cfg.occlusion, dense=dense, dense_points=MESH_POINTS,
                                  # its own stream (the last entry is only a salt), so the 68 points do not change
                                  dense_rng=np.random.default_rng([cfg.seed, _DOMAIN_INDEX[cfg.domain], i, m, 478]))
        for name, frames in seq.frames.items():
            write_video(files.folder / "frames" / f"{name}.mp4", frames, fps=fps)
        seq.capture.save(files.capture)
        atomic_write_bytes(files.cameras, lambda f, c=seq.cameras: np.savez_compressed(f, **c))
        seq.gt.save(files.gt)  # last: its presence marks the sequence complete
        manifest.append(dict(entry, views=seq.gt.n_views, **_summary(seq.gt.metadata)))
        built += 1
    write_corpus_manifest(out, manifest)
    info["splits"] = {k: [f"{cfg.domain}{i:03d}" for i in v] for k, v in splits.items()}
    info["sequences"] = len(manifest)
    write_corpus_info(out, dict(info, complete=True))
    log.info("corpus %s: %d sequences (%d new) in %.1f s", out, len(manifest), built, time.perf_counter() - t0)
    return out


def _dense_embedding(model_path: Path, layer: FlameLayer) -> MeshPointEmbedding:
    from flame.embedding import find_mesh_point_embedding, load_mesh_point_embedding

    found = find_mesh_point_embedding(model_path)
    if found is None:
        raise InputError(f"--dense: no mediapipe_landmark_embedding.npz next to {model_path}; the dense points cannot "
                         "be simulated without the model's embedding of them")
    emb = load_mesh_point_embedding(found)
    emb.validate(len(layer.faces), MESH_POINTS, source=str(found))
    return emb


def _summary(meta: dict) -> dict:
    return {k: meta[k] for k in ("emotion", "level", "speaking", "blinks") if k in meta}
