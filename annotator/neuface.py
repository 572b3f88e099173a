"""Annotation of a capture: NeuFace (neural re-parameterized optimization) and its two baselines.

All three methods share one loop; they differ in where the per-frame parameters come from:

* ``neuface``: the output of an encoder f_w applied to each frame; the *weights* w are optimized
  (the paper's re-parameterization). The identity is the mean of the predicted shapes.
* ``fit``: the parameters themselves (one identity, per-frame expression / pose / camera),
  initialized from the encoder, optimized with the same losses plus L2 priors, coarse to fine
  (head pose and camera first, then everything) - the paper's Eq. 5 baseline.
* ``regress``: the encoder's per-frame output, no optimization (the DECA-dataset analogue). Our file
  format keeps one identity per sequence, so the per-frame shapes are averaged.

Losses (DESIGN §6): ``lambda_lmk * L_lmk + lambda_temp * L_temp + lambda_mv * L_mv``, plus
``lambda_prior * L_prior`` when a trained motion generator is given (:mod:`annotator.motion_term`; from
``prior_from`` of the epochs on, once the landmarks are fit), plus ``lambda_dense * L_dense`` when the
capture has a detector's dense points (MediaPipe's mesh) and the head model an embedding of them: the
same confidence-weighted L1 as the 68 landmarks, on the embedded points, in the same crop. With
``targets="em"`` (default, as the paper describes) the targets of the temporal and multi-view terms -
a centred quaternion moving average over the whole sequence, and the visibility-weighted mean of the
canonical meshes of all views - are recomputed from a full no-grad pass at the start of every epoch
(E-step) and held fixed during the gradient epoch (M-step). ``targets="official"`` reproduces the
official code: targets built inside each 20-frame batch from the same forward pass, not detached,
with the off-centre window t-2..t+1.
"""

from __future__ import annotations

import copy
import logging
import time
from dataclasses import asdict, dataclass, field
from typing import Literal

import numpy as np
import torch
from torch import Tensor, nn

from annotator.capture import Capture
from annotator.crop import CROP_SIZE, interpolate_invalid, normalize_landmarks
from annotator.encoders import DecaEncoder, EncoderOutput
from annotator.losses import (
    landmark_loss,
    merge_views,
    moving_average,
    multiview_loss,
    rotation_quaternions,
    temporal_loss,
    visibility_weights,
)
from annotator.motion_term import MotionPriorTerm
from flame.camera import invert_transform, ndc_to_pixels, pixels_to_ndc, transform_points, weak_perspective_project
from flame.embedding import MeshPointEmbedding
from flame.layer import EmbeddedPoints, FlameLayer, VertexSubset
from flame.normals import vertex_normals
from flame.rotations import axis_angle_to_matrix
from flame.sequence import FlameSequence
from flame.types import FlameParams

__all__ = ["AnnotateConfig", "annotate", "AnnotationResult"]

log = logging.getLogger(__name__)


@dataclass
class AnnotateConfig:
    """Settings of the annotation (all methods).

    Attributes:
        method: ``neuface``, ``fit`` or ``regress``.
        lambda_lmk, lambda_temp, lambda_mv: loss weights (``lambda_mv`` is ignored for a single view).
            The official values are 10 / 100 / 200 for DECA's image encoder; with the landmark encoder
            the temporal term at 100 leaves sub-degree head-rotation jitter (the landmark term's L1
            gradient dominates it), so our default is 300 - chosen on a validation corpus and the real
            clips, never on the benchmark's test corpora (see the annotation benchmark notes).
        epochs: passes over the frames (official: 100 with DECA at lr 2e-5; ours: 60 at 1e-4).
        lr: Adam learning rate (encoder weights for ``neuface``, parameters for ``fit``).
        batch_frames: frames per step (all views of each frame are in the same batch).
        window: frames of the centred moving average of the temporal target.
        targets: ``em`` (detached targets from a full pass each epoch) or ``official``.
        mv_frames: frames of a batch used by the multi-view loss (None: all; the official code samples 5).
        prior_shape, prior_expression, prior_jaw: L2 priors of ``fit``.
        coarse_fraction: share of ``fit``'s epochs spent on head pose and camera only.
        prior: a trained motion generator file (HuMoR-Face) whose per-step negative log-likelihood of the
            fitted motion joins the objective (loaded with :func:`annotator.motion_term.load_motion_prior`
            and passed to :func:`annotate`); ``None``: no motion prior.
        lambda_prior: its weight, divided by the number of views: the prior scores one motion that every
            camera sees, while the landmark evidence grows with the cameras (at the undivided weight, NeuFace
            on 7-view captures lost 6-11 % NME on visible frames; ``docs/experiments/2026-11-30-prior-guided-annotation.md``).
        prior_from: share of the epochs fitted without the prior before it joins (HuMoR's staged test-time
            optimization: fit the observations first). From the first epoch, the prior's pull on the
            encoder's first, jittery guess dominates the landmarks and drags the fit away from them
            (``docs/experiments/2026-11-30-prior-guided-annotation.md``).
        seed: seed of the batch order.
        tensorboard: folder for TensorBoard logs (None: no TensorBoard).
        lambda_dense: weight of the dense landmark term (0: off). Needs a capture with dense points
            (``--detector mediapipe``, or a synthetic corpus built with them) and the head model's
            embedding of them (``mediapipe_landmark_embedding.npz``, passed to :func:`annotate` as ``dense``).
    """

    method: Literal["neuface", "fit", "regress"] = "neuface"
    lambda_lmk: float = 10.0
    lambda_temp: float = 300.0
    lambda_mv: float = 200.0
    epochs: int = 60
    lr: float = 1e-4
    batch_frames: int = 16
    window: int = 5
    targets: Literal["em", "official"] = "em"
    mv_frames: int | None = None
    prior_shape: float = 1e-3
    prior_expression: float = 1e-3
    prior_jaw: float = 1e-2
    coarse_fraction: float = 0.3
    prior: str | None = None
    lambda_prior: float = 0.01
    prior_from: float = 0.5
    seed: int = 0
    tensorboard: str | None = None
    lambda_dense: float = 0.0


@dataclass
class AnnotationResult:
    """The annotated sequence and what the run measured."""

    sequence: FlameSequence
    history: list[dict] = field(default_factory=list)
    seconds: float = 0.0


class _Inputs:
    """Per view and frame: normalized detections, crop transforms, loss weights."""

    def __init__(self, capture: Capture, dtype: torch.dtype, dense_ids: np.ndarray | None = None) -> None:
        lm = interpolate_invalid(capture.landmarks, capture.valid)
        valid = torch.as_tensor(capture.valid)
        lm_t = torch.as_tensor(lm, dtype=dtype)
        self.tform, self.ndc = normalize_landmarks(lm_t)  # (V, T, 3, 3), (V, T, 68, 2)
        conf = lm_t[..., 2].clamp(0, 1)
        self.weight = conf * valid[..., None]  # no landmark loss on frames without a detection
        self.conf_in = torch.where(valid[..., None], conf, torch.full_like(conf, 0.5))
        self.valid = valid
        if dense_ids is not None:  # the embedded dense points, in the crop of the 68: (V, T, K, 2) and weights
            pts = torch.as_tensor(np.asarray(capture.dense[:, :, dense_ids], np.float64), dtype=dtype)
            seen = torch.isfinite(pts[..., :2]).all(-1) & valid[..., None]
            xy = torch.where(seen[..., None], pts[..., :2], torch.zeros_like(pts[..., :2]))
            self.dense_ndc = pixels_to_ndc(transform_points(self.tform, xy), CROP_SIZE)
            self.dense_weight = torch.where(seen, pts[..., 2].nan_to_num(0.0).clamp(0, 1), torch.zeros_like(pts[..., 2]))


class _EncoderSource(nn.Module):
    """NeuFace: parameters = f_w(inputs) - landmarks for the LandmarkEncoder, 224 x 224 crops
    ``(V, T, 3, 224, 224)`` for DECA's image encoder."""

    def __init__(self, encoder: nn.Module, inputs: _Inputs, crops: Tensor | None = None) -> None:
        super().__init__()
        self.encoder, self.inputs, self.crops = encoder, inputs, crops

    def forward(self, t_idx: Tensor) -> EncoderOutput:
        v, b = self.inputs.ndc.shape[0], len(t_idx)
        if self.crops is not None:
            out = self.encoder(self.crops[:, t_idx].flatten(0, 1).to(self.inputs.ndc.dtype))
        else:
            out = self.encoder(self.inputs.ndc[:, t_idx].flatten(0, 1), self.inputs.conf_in[:, t_idx].flatten(0, 1))
        view = lambda x: x.view(v, b, -1)  # noqa: E731
        return EncoderOutput(view(out.shape).mean((0, 1)), view(out.expression), view(out.pose6), view(out.cam))


class _ParamSource(nn.Module):
    """``fit``: the parameters themselves, initialized from an encoder pass. Pose and camera are
    stored in the encoder's output units (pose / 0.5, log scale / 8, translation / 0.05 m) so one
    learning rate suits every parameter."""

    def __init__(self, init: EncoderOutput, cam_scale: float = 8.0) -> None:
        super().__init__()
        self.cam_scale = cam_scale
        self.shape = nn.Parameter(init.shape.detach().clone())
        self.expression = nn.Parameter(init.expression.detach().clone())
        self.pose6 = nn.Parameter(init.pose6.detach().clone() / 0.5)
        cam = init.cam.detach()
        self.cam = nn.Parameter(torch.cat([torch.log(cam[..., :1] / cam_scale), cam[..., 1:] / 0.05], -1))

    def forward(self, t_idx: Tensor) -> EncoderOutput:
        cam = self.cam[:, t_idx]
        cam = torch.cat([self.cam_scale * torch.exp(cam[..., :1]), 0.05 * cam[..., 1:]], -1)
        return EncoderOutput(self.shape, self.expression[:, t_idx], 0.5 * self.pose6[:, t_idx], cam)


def _np(t: Tensor) -> np.ndarray:
    return t.detach().float().numpy()


def _pose15(pose6: Tensor) -> Tensor:
    z = pose6.new_zeros(*pose6.shape[:-1], 3)
    return torch.cat([pose6[..., :3], z, pose6[..., 3:], z, z], dim=-1)


def _params(out: EncoderOutput, canonical: bool = False) -> FlameParams:
    """FlameParams ``(V, B, ...)`` of encoder outputs (one identity); ``canonical`` zeroes the head rotation."""
    pose = _pose15(out.pose6)
    if canonical:
        pose = torch.cat([torch.zeros_like(pose[..., :3]), pose[..., 3:]], -1)
    return FlameParams(out.shape[None, None].expand(*out.expression.shape[:2], -1), out.expression, pose)


def _full_pass(source: nn.Module, n_frames: int, chunk: int = 64) -> EncoderOutput:
    outs = [source(torch.arange(s, min(n_frames, s + chunk))) for s in range(0, n_frames, chunk)]
    shape = torch.stack([o.shape for o in outs]).mean(0) if isinstance(source, _EncoderSource) else outs[0].shape
    return EncoderOutput(shape, torch.cat([o.expression for o in outs], 1), torch.cat([o.pose6 for o in outs], 1),
                         torch.cat([o.cam for o in outs], 1))


def face_vertex_ids(layer: FlameLayer, threshold: float = 2e-4) -> Tensor:
    """Vertices whose canonical position depends on expression or jaw (> ``threshold`` metres per
    unit coefficient, or any jaw skinning weight / corrective). Canonical meshes of different views
    share the identity, so the multi-view loss is zero elsewhere and is evaluated on these only."""
    n_v, a = layer.n_vertices, layer.n_shape
    expr = layer.blend_dirs[a:a + layer.n_exp].view(layer.n_exp, 3, n_v).norm(dim=1).amax(0)
    jaw_rows = layer.blend_dirs[a + layer.n_exp + 9:a + layer.n_exp + 18].view(9, 3, n_v).norm(dim=1).amax(0)
    keep = (expr > threshold) | (jaw_rows > threshold) | (layer.lbs_weights[:, 2] > 1e-3)
    return torch.nonzero(keep, as_tuple=True)[0]


class _MultiView:
    """The multi-view term's geometry: canonical face vertices and their visibility per view."""

    def __init__(self, layer: FlameLayer) -> None:
        self.layer = layer
        self.subset = VertexSubset(layer, face_vertex_ids(layer))
        self.rest_normals = vertex_normals(layer.v_template[None], layer.faces)[0, self.subset.ids]

    def canonical(self, out: EncoderOutput) -> Tensor:
        """``(V, B, N, 3)`` face vertices without the head rotation."""
        return self.subset(_params(out, canonical=True))

    def merged(self, out: EncoderOutput, canon: Tensor) -> Tensor:
        """EM target: visibility-weighted mean over views ``(B, N, 3)``. Visibility comes from the rest
        normals turned by each view's head rotation (what expression and jaw do to the normals is
        ignored: the weights are soft, and this is ~50x cheaper than posing every mesh)."""
        rot = axis_angle_to_matrix(out.pose6[..., :3])  # (V, B, 3, 3)
        root = self.layer.j_template[0]
        normals = torch.einsum("vtij,nj->vtni", rot, self.rest_normals)
        depth = torch.einsum("vtij,vtnj->vtni", rot, canon - root)[..., 2:] + root[2]
        return merge_views(canon, visibility_weights(normals, torch.cat([torch.zeros_like(depth)] * 2 + [depth], -1)))

    def merged_official(self, out: EncoderOutput, canon: Tensor) -> Tensor:
        """Official variant: visibility from the posed meshes' normals, with gradients."""
        posed = self.layer(_params(out)).vertices
        normals = vertex_normals(posed.flatten(0, 1), self.layer.faces).view_as(posed)
        ids = self.subset.ids
        return merge_views(canon, visibility_weights(normals[..., ids, :], posed[..., ids, :]))


def _targets(full: EncoderOutput, cfg: AnnotateConfig, mv: _MultiView | None) -> tuple[Tensor, Tensor | None]:
    """E-step: the temporal and multi-view targets from a full pass (no gradient)."""
    q_target = moving_average(rotation_quaternions(full.pose6[..., :3]), cfg.window)
    merged = mv.merged(full, mv.canonical(full)) if mv is not None else None
    return q_target, merged


def _batch_loss(layer: FlameLayer, inputs: _Inputs, out: EncoderOutput, t_idx: Tensor, cfg: AnnotateConfig,
                q_target: Tensor | None, merged: Tensor | None, mv: _MultiView | None, gen: torch.Generator,
                priors: bool, motion: MotionPriorTerm | None, dense: EmbeddedPoints | None = None
                ) -> tuple[Tensor, dict[str, float]]:
    lm = layer.landmarks(_params(out)).landmarks2d_3d
    pred = weak_perspective_project(lm, out.cam)[..., :2]
    parts = {"lmk": landmark_loss(pred, inputs.ndc[:, t_idx], inputs.weight[:, t_idx])}
    if dense is not None:
        pred_dense = weak_perspective_project(dense(_params(out)), out.cam)[..., :2]
        parts["dense"] = landmark_loss(pred_dense, inputs.dense_ndc[:, t_idx], inputs.dense_weight[:, t_idx])
    q = rotation_quaternions(out.pose6[..., :3])
    if cfg.targets == "em":
        parts["temp"] = temporal_loss(q, q_target[:, t_idx])
    else:  # official: off-centre window inside the batch, target not detached
        parts["temp"] = temporal_loss(q, moving_average(q, 4, centred=False))
    total = cfg.lambda_lmk * parts["lmk"] + cfg.lambda_temp * parts["temp"]
    if dense is not None:
        total = total + cfg.lambda_dense * parts["dense"]
    if mv is not None:
        sel = torch.arange(len(t_idx))
        if cfg.mv_frames is not None and cfg.mv_frames < len(t_idx):
            sel = torch.randperm(len(t_idx), generator=gen)[: cfg.mv_frames]
        sub = EncoderOutput(out.shape, out.expression[:, sel], out.pose6[:, sel], out.cam[:, sel])
        canon = mv.canonical(sub)
        target = merged[t_idx[sel]] if cfg.targets == "em" else mv.merged_official(sub, canon)
        parts["mv"] = multiview_loss(canon, target)
        total = total + cfg.lambda_mv * parts["mv"]
    if priors:
        parts["prior"] = (cfg.prior_shape * out.shape.square().sum() + cfg.prior_expression * out.expression.square().mean(
            (0, 1)).sum() + cfg.prior_jaw * out.pose6[..., 3:].square().mean((0, 1)).sum())
        total = total + parts["prior"]
    if motion is not None:  # linearized at the E-step: its value is in the history as motion_nll
        weight = cfg.lambda_prior / out.expression.shape[0]  # per view (see AnnotateConfig.lambda_prior)
        total = total + weight * motion.loss(out.expression, _pose15(out.pose6), t_idx)
    return total, {k: float(v.detach()) for k, v in parts.items()}


def _batches(n_frames: int, cfg: AnnotateConfig, gen: torch.Generator) -> list[Tensor]:
    if cfg.targets == "official":  # contiguous 20-frame-like chunks in order (drop_last=False here)
        return [torch.arange(s, min(n_frames, s + cfg.batch_frames)) for s in range(0, n_frames, cfg.batch_frames)]
    order = torch.randperm(n_frames, generator=gen)
    return [order[s:s + cfg.batch_frames] for s in range(0, n_frames, cfg.batch_frames)]


def crops_for(capture: Capture, frames_per_view: list) -> Tensor:
    """DECA-style 224 x 224 crops ``(V, T, 3, 224, 224)`` float32 of every frame (``frames_per_view[v]``
    iterates the RGB frames of view ``v``), with the same crop transforms as the landmark path. They live
    in a memory-mapped temporary file (600 kB a frame), read batch by batch, so a long video does not
    have to fit in memory."""
    import tempfile

    from annotator.crop import warp_to_crop

    tform = _Inputs(capture, torch.float64).tform.numpy()
    shape = (capture.n_views, capture.n_frames, 3, CROP_SIZE, CROP_SIZE)
    out = torch.from_numpy(np.memmap(tempfile.TemporaryFile(), dtype=np.float32, mode="w+", shape=shape))
    for v, frames in enumerate(frames_per_view):
        for t, frame in zip(range(capture.n_frames), frames):
            out[v, t] = warp_to_crop(frame, tform[v, t])
    return out


def annotate(capture: Capture, layer: FlameLayer, encoder: nn.Module, cfg: AnnotateConfig = AnnotateConfig(),
             progress=None, crops: Tensor | None = None, prior: MotionPriorTerm | None = None,
             dense: MeshPointEmbedding | None = None) -> AnnotationResult:
    """Annotate one capture (``V`` views x ``T`` frames of landmark tracks) with ``cfg.method``.

    Args:
        capture: detections (synthetic, or from :mod:`annotator.detect`).
        layer: the FLAME layer of the model in use (float32 recommended).
        encoder: the pretrained encoder (not modified; NeuFace optimizes a copy): a
            :class:`~annotator.encoders.LandmarkEncoder`, or a
            :class:`~annotator.encoders.DecaEncoder` together with ``crops`` (BatchNorm stays frozen).
        progress: optional callable ``progress(epoch, n_epochs)``.
        crops: ``(V, T, 3, 224, 224)`` RGB crops in [0, 1] (see :func:`crops_for`), for an image encoder.
        prior: the motion term of ``cfg.prior`` (:func:`annotator.motion_term.load_motion_prior`; loaded once
            for many captures).
        dense: the head model's embedding of the capture's dense points (used when ``cfg.lambda_dense > 0``).
    """
    if not 0.0 <= cfg.prior_from <= 1.0:
        raise ValueError(f"prior_from is a share of the epochs, in [0, 1]; got {cfg.prior_from}")
    if (cfg.prior is None) != (prior is None):
        raise ValueError("cfg.prior names the motion prior file and prior= is its loaded term "
                         "(annotator.motion_term.load_motion_prior): give both or neither")
    t0 = time.perf_counter()
    torch.manual_seed(cfg.seed)
    gen = torch.Generator().manual_seed(cfg.seed)
    dtype = layer.v_template.dtype
    dense_points = None
    if cfg.lambda_dense > 0:
        if dense is None:
            raise ValueError("lambda_dense > 0 needs the head model's embedding of the dense points (dense=; "
                             "flame.embedding.load_mesh_point_embedding)")
        if capture.dense is None:
            raise ValueError(f"{capture.source}: the capture has no dense points; detect with --detector mediapipe "
                             "or set lambda_dense to 0")
        dense.validate(len(layer.faces), capture.dense.shape[2], source="dense-point embedding")
        dense_points = EmbeddedPoints(layer, dense.faces, dense.bary)
    inputs = _Inputs(capture, dtype, dense.point_ids if dense_points is not None else None)
    v, t = capture.n_views, capture.n_frames
    mv = _MultiView(layer) if v > 1 and cfg.lambda_mv > 0 else None
    enc = copy.deepcopy(encoder).to(dtype)
    if isinstance(enc, DecaEncoder):
        if crops is None:
            raise ValueError("DECA's encoder needs the image crops of every frame (annotator.neuface.crops_for)")
        enc.freeze_batchnorm()
    source: nn.Module = _EncoderSource(enc, inputs, crops)
    history: list[dict] = []
    writer = None
    if cfg.tensorboard:
        from torch.utils.tensorboard import SummaryWriter

        writer = SummaryWriter(cfg.tensorboard)
    if cfg.method == "fit":
        with torch.no_grad():
            source = _ParamSource(_full_pass(source, t))
    if cfg.method != "regress":
        opt = torch.optim.Adam([p for p in source.parameters() if p.requires_grad], lr=cfg.lr)
        q_target = merged = None
        for epoch in range(cfg.epochs):
            if cfg.method == "fit":  # coarse to fine: head pose and camera first
                coarse = epoch < int(cfg.coarse_fraction * cfg.epochs)
                for name in ("shape", "expression"):
                    getattr(source, name).requires_grad_(not coarse)
            sums: dict[str, float] = {}
            motion = prior if prior is not None and epoch >= int(cfg.prior_from * cfg.epochs) else None
            if cfg.targets == "em" or motion is not None:
                with torch.no_grad():
                    full = _full_pass(source, t)
                    if cfg.targets == "em":
                        q_target, merged = _targets(full, cfg, mv)
                    if motion is not None:  # the mean step NLL of the fit at the start of the epoch
                        sums["motion_nll"] = motion.refresh(full.expression, _pose15(full.pose6), full.shape, capture.fps)
            for t_idx in _batches(t, cfg, gen):
                out = source(t_idx)
                loss, parts = _batch_loss(layer, inputs, out, t_idx, cfg, q_target, merged, mv, gen,
                                          priors=cfg.method == "fit", motion=motion, dense=dense_points)
                opt.zero_grad(set_to_none=True)
                loss.backward()
                if cfg.method == "fit" and epoch < int(cfg.coarse_fraction * cfg.epochs):
                    source.pose6.grad[..., 3:] = 0  # jaw waits for the fine stage too
                opt.step()
                for k, val in dict(parts, total=float(loss.detach())).items():
                    sums[k] = sums.get(k, 0.0) + val * len(t_idx) / t
            history.append(dict(epoch=epoch, **sums))
            if writer is not None:
                for k, val in sums.items():
                    writer.add_scalar(f"annotate/{k}", val, epoch)
            if progress is not None:
                progress(epoch + 1, cfg.epochs)
    if writer is not None:
        writer.close()
    with torch.no_grad():
        final = _full_pass(source, t)
        lm = layer.landmarks(_params(final)).landmarks2d_3d
        ndc = weak_perspective_project(lm, final.cam)[..., :2]
        per_frame = ((ndc - inputs.ndc).abs().sum(-1) * inputs.weight).sum(-1) / (2 * inputs.weight.sum(-1) + 1e-8)
        fitted = transform_points(invert_transform(inputs.tform), ndc_to_pixels(ndc, CROP_SIZE))
    seconds = time.perf_counter() - t0
    seq = FlameSequence(
        model=layer.model_label, model_sha256=layer.model_sha256, fps=capture.fps, view_names=capture.view_names,
        frame_ids=capture.frame_ids, shape=_np(final.shape), expression=_np(final.expression),
        pose=_np(_pose15(final.pose6)), cam=_np(final.cam), crop_tform=_np(inputs.tform),
        landmarks2d=capture.landmarks, valid=capture.valid, image_size=capture.image_size,
        fitted_landmarks2d=_np(fitted), losses={"lmk": _np(per_frame)},
        metadata={"method": cfg.method, "config": asdict(cfg), "source": capture.source, "seconds": round(seconds, 2),
                  **({"prior": {"file": prior.path, "family": prior.generator.family}} if prior is not None else {}),
                  "history": history[-1:] if history else [], "epochs_run": len(history)},
    )
    return AnnotationResult(sequence=seq, history=history, seconds=seconds)
