"""Annotation of a capture: NeuFace (neural re-parameterized optimization) and its two baselines.

All three methods share one loop; they differ in where the per-frame parameters come from:

* ``neuface``: the output of an encoder f_w applied to each frame; the *weights* w are optimized
  (the paper's re-parameterization). The identity is the mean of the predicted shapes.
* ``fit``: the parameters themselves (one identity, per-frame expression / pose / camera),
  initialized from the encoder, optimized with the same losses plus L2 priors, coarse to fine
  (head pose and camera first, then everything) - the paper's Eq. 5 baseline.
* ``regress``: the encoder's per-frame output, no optimization (the DECA-dataset analogue). Our file
  format keeps one identity per sequence, so the per-frame shapes are averaged.

Objective (``docs/annotator.md``): ``lambda_lmk * L_lmk + lambda_temp * L_temp + lambda_mv * L_mv`` - NeuFace's
landmark, head-rotation temporal and multi-view terms (the last only with ``share_views`` off) - and the terms that
make the fit right in 3D, not only in 2D
(measured in ``docs/experiments/2026-12-07-annotation-fidelity.md``):

* a perspective camera (:mod:`annotator.observations`): the capture's calibration, or a focal length assumed
  from the image size. Under DECA's weak perspective a near face's foreshortening is fitted with expressions
  and a face off the image centre reads as turned;
* anchors: expression and jaw held near the pretrained encoder's per-frame prediction
  (``lambda_anchor_expression`` / ``lambda_anchor_jaw``) - the prior that DECA's pretrained image encoder and its
  tiny learning rate give the official method, which a landmark encoder optimized freely loses: the landmarks
  alone cannot tell an identity, a camera or detector noise from an expression;
* smoothness: the second differences of expression and jaw over the whole sequence (``lambda_smooth_*``;
  EM targets like the temporal term's), which damp detector jitter far more than 3-6 Hz syllables;
* an anatomical jaw (``prior_jaw_offaxis``): little rotation about y and z, no opening below closed;
* views that share one expression and jaw per frame on a multi-view capture (``share_views``): the cameras film
  one face, so nothing needs pulling together, and the multi-view term's consensus no longer shrinks the motion.
  On a calibrated rig they share the head pose in the world as well, so the views triangulate the head; the
  temporal and smoothness terms on what the views share are weighed against all of them
  (:meth:`AnnotateConfig.temporal_weights`).

``fit`` has the same objective plus the L2 priors of the paper's Eq. 5 on identity, expression and jaw.

Plus ``lambda_prior * L_prior`` when a trained motion generator is given (:mod:`annotator.motion_term`; from
``prior_from`` of the epochs on, once the landmarks are fit), and ``lambda_dense * L_dense`` when the capture
has a detector's dense points (MediaPipe's mesh) and the head model an embedding of them: the same
confidence-weighted L1 as the 68 landmarks, on the embedded points, in the same crop. :data:`OFFICIAL_OBJECTIVE`
switches the additions off. With ``targets="em"`` (default, as the paper describes) the targets of the
temporal, smoothness and multi-view terms - a centred quaternion moving average over the whole sequence
(of the one world rotation of a calibrated rig's views), the mean of each frame's neighbours, and the
visibility-weighted mean of the canonical meshes of all views - are recomputed from a full no-grad pass at
the start of every epoch (E-step) and held fixed during the gradient epoch (M-step). ``targets="official"``
reproduces the official code for the head: targets built inside each 20-frame batch from the same forward
pass, not detached, with the off-centre window t-2..t+1.
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
from annotator.crop import CROP_SIZE
from annotator.encoders import DecaEncoder, EncoderOutput
from annotator.losses import (
    anchor_loss,
    jaw_anatomy_loss,
    landmark_loss,
    merge_views,
    moving_average,
    multiview_loss,
    neighbour_mean,
    rotation_quaternions,
    temporal_loss,
    visibility_weights,
)
from annotator.motion_term import MotionPriorTerm
from annotator.observations import Observations, rig_consensus, rig_share
from flame.camera import invert_transform, ndc_to_pixels, transform_points
from flame.embedding import MeshPointEmbedding
from flame.layer import EmbeddedPoints, FlameLayer, VertexSubset
from flame.normals import vertex_normals
from flame.rotations import axis_angle_to_matrix
from flame.sequence import FlameSequence, resample_pose
from flame.types import FlameParams

__all__ = ["AnnotateConfig", "annotate", "AnnotationResult", "fill_faceless", "OFFICIAL_OBJECTIVE"]

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
        projection: ``perspective`` (a pinhole camera: the capture's calibrated intrinsics, else ``focal``; on a
            calibrated multi-view rig the views also share one head rotation in the world) or ``weak`` (DECA's
            orthographic camera, as the official NeuFace). See :mod:`annotator.observations`.
        focal: the focal length assumed for a capture without intrinsics, in units of the image's larger side
            (1.5: a 37 degree field of view across it). Off-centre faces and near faces are where it matters.
        lambda_anchor_expression, lambda_anchor_jaw: weights of the squared distance of the expression and jaw
            rotation to the pretrained encoder's prediction for the same frame.
        lambda_anchor_expression_multiview, lambda_anchor_jaw_multiview: the anchors' weights on a capture of
            several views (they replace the single-view weights there; :meth:`anchor_weights`). Seven views'
            landmarks say more about an expression than one view's, so its anchor can hold less; the jaw anchor's
            target there is the mean of the views' encoder predictions (with ``share_views``), steadier than one
            view's, so it can hold harder, while on single-view clips a weight this strong would tie the jaw to
            the encoder's per-frame jitter (``docs/experiments/2026-12-07-annotation-fidelity.md``).
        share_views: on a capture of several views, one expression and jaw per frame for all views: the mean of the
            views' predictions (the cameras film one face at one instant); on a calibrated rig (extrinsics, perspective
            projection) also one head rotation and root position in the world
            (:func:`annotator.observations.rig_share`). The multi-view term is then zero and is skipped. ``False``:
            each view has its own, pulled together by the multi-view term (the official NeuFace), whose consensus,
            reaching the views through the encoder's shared weights, shrinks the jaw's motion
            (``docs/annotator.md``).
        lambda_smooth_expression, lambda_smooth_jaw: weights of the squared distance of each frame's expression
            and jaw rotation to the mean of its two neighbours (half the second difference). These and
            ``lambda_temp`` are per view of what they act on (:meth:`temporal_weights`).
        prior_jaw_offaxis: weight of the jaw's rotation about y and z and of an opening below closed (rad^2).
        prior_shape, prior_expression, prior_jaw: L2 priors of ``fit`` (squared coefficients / radians; the paper's
            Eq. 5). On NeuFace they made expressions and jaw worse (the identity pulled to the mean face is
            explained by expressions), so NeuFace has none.
        coarse_fraction: share of ``fit``'s epochs spent on head pose and camera only (``fit`` only).
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
    projection: Literal["perspective", "weak"] = "perspective"
    focal: float = 1.5
    lambda_anchor_expression: float = 1e-3
    lambda_anchor_jaw: float = 1.0
    lambda_anchor_expression_multiview: float = 8e-4
    lambda_anchor_jaw_multiview: float = 5.0
    share_views: bool = True
    lambda_smooth_expression: float = 0.2
    lambda_smooth_jaw: float = 2.0
    prior_jaw_offaxis: float = 1.0
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

    def check_applicable(self) -> None:
        """Raise ``ValueError`` for a setting the chosen method would not read: never silently ignored."""
        default = AnnotateConfig()
        changed = [k for k in asdict(self) if getattr(self, k) != getattr(default, k)]
        if self.method == "regress":
            ignored = [k for k in changed if k not in _REGRESS_READS]
            why = "regress does not optimize; use method neuface or fit"
        else:
            ignored = [k for k in changed if k in _FIT_ONLY] if self.method == "neuface" else []
            why = "they belong to fit (NeuFace has no L2 priors: they made its expressions worse); use method fit"
            if not ignored and self.share_views:
                ignored = [k for k in changed if k in _MULTIVIEW_TERM]
                why = ("with share_views the views have one expression and jaw, so the multi-view term is zero; "
                       "set share_views false")
        if ignored:
            raise ValueError(f"method {self.method!r} would ignore {', '.join(ignored)}: {why}, or remove them")

    def anchor_weights(self, n_views: int) -> dict[str, float]:
        """The expression and jaw anchors' weights for a capture of ``n_views`` views."""
        if n_views > 1:
            return {"expression": self.lambda_anchor_expression_multiview, "jaw": self.lambda_anchor_jaw_multiview}
        return {"expression": self.lambda_anchor_expression, "jaw": self.lambda_anchor_jaw}

    def temporal_weights(self, n_views: int, rig: bool) -> dict[str, float]:
        """Weights of the head temporal term (``temp``) and the smoothness terms for a capture of ``n_views`` views.

        The landmark term is a mean over views, while a quantity every view shares is seen by all of them: a
        term on it is weighed against ``n_views`` views' evidence, so it is divided by ``n_views`` - the shared
        expression and jaw with ``share_views``, and the head pose too on a calibrated ``rig``
        (:func:`annotator.observations.rig_share`)."""
        shared = n_views if self.share_views and n_views > 1 else 1
        return {"temp": self.lambda_temp / (shared if rig else 1),
                "smooth_expression": self.lambda_smooth_expression / shared,
                "smooth_jaw": self.lambda_smooth_jaw / shared}


#: settings that only ``fit`` reads, and the settings ``regress`` reads (it optimizes nothing)
_FIT_ONLY = ("prior_shape", "prior_expression", "prior_jaw", "coarse_fraction")
_REGRESS_READS = ("method", "seed", "tensorboard")
#: settings of the multi-view term, which ``share_views`` makes zero
_MULTIVIEW_TERM = ("lambda_mv", "mv_frames")
#: NeuFace's own objective (landmarks, head-rotation temporal term, multi-view), without the suite's
#: additions: DECA's weak perspective, no anchors, smoothness, jaw anatomy or priors.
OFFICIAL_OBJECTIVE = AnnotateConfig(projection="weak", lambda_anchor_expression=0.0, lambda_anchor_jaw=0.0,
                                    lambda_anchor_expression_multiview=0.0,
                                    lambda_anchor_jaw_multiview=0.0, share_views=False, lambda_smooth_expression=0.0,
                                    lambda_smooth_jaw=0.0, prior_jaw_offaxis=0.0)

@dataclass
class AnnotationResult:
    """The annotated sequence and what the run measured."""

    sequence: FlameSequence
    history: list[dict] = field(default_factory=list)
    seconds: float = 0.0


class _EncoderSource(nn.Module):
    """NeuFace: parameters = f_w(inputs) - landmarks for the LandmarkEncoder, 224 x 224 crops
    ``(V, T, 3, 224, 224)`` for DECA's image encoder."""

    def __init__(self, encoder: nn.Module, inputs: Observations, crops: Tensor | None = None,
                 share: "_ViewsShare | None" = None) -> None:
        super().__init__()
        self.encoder, self.inputs, self.crops, self.share = encoder, inputs, crops, share

    def forward(self, t_idx: Tensor) -> EncoderOutput:
        v, b = self.inputs.ndc.shape[0], len(t_idx)
        if self.crops is not None:
            out = self.encoder(self.crops[:, t_idx].flatten(0, 1).to(self.inputs.ndc.dtype))
        else:
            out = self.encoder(self.inputs.ndc[:, t_idx].flatten(0, 1), self.inputs.conf_in[:, t_idx].flatten(0, 1))
        view = lambda x: x.view(v, b, -1)  # noqa: E731
        pose6 = view(out.pose6)  # the encoder sees the face along the crop's ray
        pose6 = torch.cat([self.inputs.to_camera_axes(pose6[..., :3], t_idx), pose6[..., 3:]], -1)
        out = EncoderOutput(view(out.shape).mean((0, 1)), view(out.expression), pose6, view(out.cam))
        return self.share(out, t_idx) if self.share is not None else out


class _ParamSource(nn.Module):
    """``fit``: the parameters themselves, initialized from an encoder pass. Pose and camera are
    stored in the encoder's output units (pose / 0.5, log scale / 8, translation / 0.05 m) so one
    learning rate suits every parameter. ``share``: see :class:`_ViewsShare`."""

    def __init__(self, init: EncoderOutput, cam_scale: float = 8.0, share: "_ViewsShare | None" = None) -> None:
        super().__init__()
        self.cam_scale, self.share = cam_scale, share
        self.shape = nn.Parameter(init.shape.detach().clone())
        self.expression = nn.Parameter(init.expression.detach().clone())
        self.pose6 = nn.Parameter(init.pose6.detach().clone() / 0.5)
        cam = init.cam.detach()
        self.cam = nn.Parameter(torch.cat([torch.log(cam[..., :1] / cam_scale), cam[..., 1:] / 0.05], -1))

    def forward(self, t_idx: Tensor) -> EncoderOutput:
        cam = self.cam[:, t_idx]
        cam = torch.cat([self.cam_scale * torch.exp(cam[..., :1]), 0.05 * cam[..., 1:]], -1)
        out = EncoderOutput(self.shape, self.expression[:, t_idx], 0.5 * self.pose6[:, t_idx], cam)
        return self.share(out, t_idx) if self.share is not None else out


class _ViewsShare:
    """The views of a capture film one face at one instant (``share_views``): one expression and jaw rotation per
    frame for every view ``(V, B, ...)``, the views' mean; on a calibrated rig also one head pose in the world
    (:func:`annotator.observations.rig_share`). Otherwise head rotation (in each camera's axes) and camera stay
    per view."""

    def __init__(self, layer: FlameLayer, inputs: Observations) -> None:
        self.layer, self.inputs = layer, inputs
        self.rig = inputs.rig is not None and inputs.focal is not None  # a calibrated rig, seen in perspective

    def __call__(self, out: EncoderOutput, t_idx: Tensor) -> EncoderOutput:
        expression = out.expression.mean(0, keepdim=True).expand_as(out.expression)
        jaw = out.pose6[..., 3:].mean(0, keepdim=True).expand_as(out.pose6[..., 3:])
        rotation, cam = out.pose6[..., :3], out.cam
        if self.rig:
            root = self.layer.rest_joints(out.shape, expression)[..., 0, :]
            rotation, cam = rig_share(rotation, cam, root, self.inputs, t_idx)
        return EncoderOutput(out.shape, expression, torch.cat([rotation, jaw], -1), cam)


def fill_faceless(out: EncoderOutput, faceless: np.ndarray) -> EncoderOutput:
    """Frames where no view has a face (``faceless (T,)``): expression, jaw, head rotation and camera of ``out``
    ``(V, T, ...)`` interpolated in time between the nearest frames with one - slerp for rotations, linear otherwise,
    the nearest such frame at the ends. The fit's own values there (the encoder on interpolated landmarks under the
    temporal terms) were further from the truth than this interpolation of its edges
    (``docs/experiments/2026-12-07-faceless-frames.md``)."""
    if not faceless.any():
        return out
    seen = np.flatnonzero(~faceless)
    pos = np.interp(np.arange(len(faceless)), seen, np.arange(len(seen)))  # fractional index among the seen frames
    lo = np.floor(pos).astype(int)
    hi = np.minimum(lo + 1, len(seen) - 1)
    w = torch.as_tensor(pos - lo, dtype=out.cam.dtype, device=out.cam.device)[:, None]

    def linear(x: Tensor) -> Tensor:
        x = x[:, seen]
        return x[:, lo] * (1 - w) + x[:, hi] * w

    v, n = out.pose6.shape[:2]
    rot = out.pose6[:, seen].detach().transpose(0, 1).reshape(len(seen), v, 2, 3).double().cpu().numpy()
    pose6 = torch.as_tensor(resample_pose(rot, pos), dtype=out.pose6.dtype, device=out.pose6.device)
    pose6 = pose6.reshape(n, v, 6).transpose(0, 1)
    return EncoderOutput(out.shape, linear(out.expression), pose6, linear(out.cam))


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


@dataclass(frozen=True)
class _Targets:
    """What the terms pull towards, held fixed during a gradient epoch (all ``(V, T, ...)``).

    Attributes:
        rotation: head-rotation quaternions (E-step; None with ``targets="official"``).
        merged: the multi-view mean of the canonical face vertices ``(T, N, 3)`` (E-step; None for one view).
        expression, jaw: the mean of each frame's two neighbours (E-step; None when their weights are 0).
        anchor_expression, anchor_jaw: the pretrained encoder's prediction (fixed; None when not anchored).
    """

    rotation: Tensor | None = None
    merged: Tensor | None = None
    expression: Tensor | None = None
    jaw: Tensor | None = None
    anchor_expression: Tensor | None = None
    anchor_jaw: Tensor | None = None


def _e_step(full: EncoderOutput, cfg: AnnotateConfig, mv: "_MultiView | None", inputs: Observations,
            anchors: _Targets) -> _Targets:
    """The targets of the temporal, smoothness and multi-view terms from a full pass (no gradient)."""
    rotation = full.pose6[..., :3]
    if inputs.rig is not None:  # a calibrated rig's views see one head rotation in the world
        rotation = rig_consensus(rotation, inputs.rig)
    smooth = cfg.lambda_smooth_expression > 0 or cfg.lambda_smooth_jaw > 0
    return _Targets(
        rotation=moving_average(rotation_quaternions(rotation), cfg.window) if cfg.targets == "em" else None,
        merged=mv.merged(full, mv.canonical(full)) if mv is not None and cfg.targets == "em" else None,
        expression=neighbour_mean(full.expression) if smooth else None,
        jaw=neighbour_mean(full.pose6[..., 3:]) if smooth else None,
        anchor_expression=anchors.anchor_expression, anchor_jaw=anchors.anchor_jaw)


def _batch_loss(layer: FlameLayer, inputs: Observations, out: EncoderOutput, t_idx: Tensor, cfg: AnnotateConfig,
                targets: _Targets, mv: "_MultiView | None", gen: torch.Generator, motion: MotionPriorTerm | None,
                weighting: dict[str, float], dense: EmbeddedPoints | None = None) -> tuple[Tensor, dict[str, float]]:
    """The objective on frames ``t_idx``; ``weighting``: the capture's weights of the terms that depend on its views
    (:func:`_capture_weights`)."""
    lm = layer.landmarks(_params(out)).landmarks2d_3d
    pred = inputs.project(lm, out.cam, t_idx)
    parts = {"lmk": landmark_loss(pred, inputs.ndc[:, t_idx], inputs.weight[:, t_idx])}
    weights = {"lmk": cfg.lambda_lmk, "temp": weighting["temp"], "dense": cfg.lambda_dense, "mv": cfg.lambda_mv,
               "offaxis": cfg.prior_jaw_offaxis, "prior": 1.0}
    if dense is not None:
        pred_dense = inputs.project(dense(_params(out)), out.cam, t_idx)
        parts["dense"] = landmark_loss(pred_dense, inputs.dense_ndc[:, t_idx], inputs.dense_weight[:, t_idx])
    q = rotation_quaternions(out.pose6[..., :3])
    if cfg.targets == "em":
        parts["temp"] = temporal_loss(q, targets.rotation[:, t_idx])
    else:  # official: off-centre window inside the batch, target not detached
        parts["temp"] = temporal_loss(q, moving_average(q, 4, centred=False))
    if mv is not None:
        sel = torch.arange(len(t_idx))
        if cfg.mv_frames is not None and cfg.mv_frames < len(t_idx):
            sel = torch.randperm(len(t_idx), generator=gen)[: cfg.mv_frames]
        sub = EncoderOutput(out.shape, out.expression[:, sel], out.pose6[:, sel], out.cam[:, sel])
        canon = mv.canonical(sub)
        target = targets.merged[t_idx[sel]] if cfg.targets == "em" else mv.merged_official(sub, canon)
        parts["mv"] = multiview_loss(canon, target)
    jaw = out.pose6[..., 3:]
    for name, value, target in (("anchor_expression", out.expression, targets.anchor_expression),
                                ("anchor_jaw", jaw, targets.anchor_jaw),
                                ("smooth_expression", out.expression, targets.expression),
                                ("smooth_jaw", jaw, targets.jaw)):
        weight = weighting[name]
        if weight > 0:
            parts[name], weights[name] = anchor_loss(value, target[:, t_idx]), weight
    if cfg.prior_jaw_offaxis > 0:
        parts["offaxis"] = jaw_anatomy_loss(jaw)
    if cfg.method == "fit":
        parts["prior"] = (cfg.prior_shape * out.shape.square().sum() + cfg.prior_expression * out.expression.square().mean(
            (0, 1)).sum() + cfg.prior_jaw * jaw.square().mean((0, 1)).sum())
    total = sum(weights[k] * v for k, v in parts.items())
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

    tform = Observations(capture, torch.float64).tform.numpy()
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
    cfg.check_applicable()
    if not 0.0 <= cfg.prior_from <= 1.0:
        raise ValueError(f"prior_from is a share of the epochs, in [0, 1]; got {cfg.prior_from}")
    if (cfg.prior is None) != (prior is None):
        raise ValueError("cfg.prior names the motion prior file and prior= is its loaded term "
                         "(annotator.motion_term.load_motion_prior): give both or neither")
    t0 = time.perf_counter()
    torch.manual_seed(cfg.seed)
    gen = torch.Generator().manual_seed(cfg.seed)
    dtype = layer.v_template.dtype
    dense_points = _dense_points(layer, capture, cfg, dense)
    projection = "weak" if cfg.method == "regress" else cfg.projection  # regress: the encoder's own camera
    inputs = Observations(capture, dtype, projection, cfg.focal, dense.point_ids if dense_points is not None else None)
    v, t = capture.n_views, capture.n_frames
    share = _ViewsShare(layer, inputs) if cfg.share_views and v > 1 and cfg.method != "regress" else None
    mv = _MultiView(layer) if v > 1 and cfg.lambda_mv > 0 and share is None else None
    weighting = _capture_weights(cfg, v, share is not None and share.rig)
    enc = copy.deepcopy(encoder).to(dtype)
    if isinstance(enc, DecaEncoder):
        if crops is None:
            raise ValueError("DECA's encoder needs the image crops of every frame (annotator.neuface.crops_for)")
        enc.freeze_batchnorm()
    source: nn.Module = _EncoderSource(enc, inputs, crops, share)
    history: list[dict] = []
    writer = None
    if cfg.tensorboard:
        from torch.utils.tensorboard import SummaryWriter

        writer = SummaryWriter(cfg.tensorboard)
    if cfg.method == "fit":
        with torch.no_grad():
            source = _ParamSource(_full_pass(source, t), share=share)
    if cfg.method != "regress":
        history = _optimize(source, layer, capture, inputs, cfg, gen, mv, weighting, dense_points, prior, writer,
                            progress)
    if writer is not None:
        writer.close()
    with torch.no_grad():
        final = _full_pass(source, t)
        if cfg.method != "regress" and prior is None:  # a motion prior fills those frames itself
            final = fill_faceless(final, ~capture.valid.any(0))
    seconds = time.perf_counter() - t0
    seq = _result_sequence(layer, capture, inputs, final, cfg, prior, history, seconds)
    return AnnotationResult(sequence=seq, history=history, seconds=seconds)


def _capture_weights(cfg: AnnotateConfig, n_views: int, rig: bool) -> dict[str, float]:
    """The weights that depend on the capture's views, once per capture: the temporal and smoothness terms
    (:meth:`AnnotateConfig.temporal_weights`) and the anchors (:meth:`AnnotateConfig.anchor_weights`, as
    ``anchor_expression`` / ``anchor_jaw``)."""
    return cfg.temporal_weights(n_views, rig) | {f"anchor_{k}": w for k, w in cfg.anchor_weights(n_views).items()}


def _dense_points(layer: FlameLayer, capture: Capture, cfg: AnnotateConfig,
                  dense: MeshPointEmbedding | None) -> EmbeddedPoints | None:
    """The dense landmark term's points on the head model (None: the term is off), checked against the capture."""
    if cfg.lambda_dense <= 0:
        return None
    if dense is None:
        raise ValueError("lambda_dense > 0 needs the head model's embedding of the dense points (dense=; "
                         "flame.embedding.load_mesh_point_embedding)")
    if capture.dense is None:
        raise ValueError(f"{capture.source}: the capture has no dense points; detect with --detector mediapipe "
                         "or set lambda_dense to 0")
    dense.validate(len(layer.faces), capture.dense.shape[2], source="dense-point embedding")
    return EmbeddedPoints(layer, dense.faces, dense.bary)


def _optimize(source: nn.Module, layer: FlameLayer, capture: Capture, inputs: Observations, cfg: AnnotateConfig,
              gen: torch.Generator, mv, weighting: dict[str, float], dense_points, prior, writer, progress) -> list[dict]:
    """NeuFace's EM (or ``fit``'s coarse-to-fine descent) on ``source``'s parameters, in place; returns the per-epoch
    loss history."""
    t = capture.n_frames
    history: list[dict] = []
    opt = torch.optim.Adam([p for p in source.parameters() if p.requires_grad], lr=cfg.lr)
    anchors, init = _Targets(), None
    if weighting["anchor_expression"] > 0 or weighting["anchor_jaw"] > 0:
        with torch.no_grad():  # the pretrained encoder's (or, for fit, the initial) prediction
            init = _full_pass(source, t)
        anchors = _Targets(anchor_expression=init.expression, anchor_jaw=init.pose6[..., 3:])
    targets = anchors
    for epoch in range(cfg.epochs):
        if cfg.method == "fit":  # coarse to fine: head pose and camera first
            coarse = epoch < int(cfg.coarse_fraction * cfg.epochs)
            for name in ("shape", "expression"):
                getattr(source, name).requires_grad_(not coarse)
        sums: dict[str, float] = {}
        motion = prior if prior is not None and epoch >= int(cfg.prior_from * cfg.epochs) else None
        smoothing = cfg.lambda_smooth_expression > 0 or cfg.lambda_smooth_jaw > 0
        if cfg.targets == "em" or motion is not None or smoothing:
            with torch.no_grad():  # before the first step the anchors' pass is this pass
                full = init if epoch == 0 and init is not None else _full_pass(source, t)
                targets = _e_step(full, cfg, mv, inputs, anchors)
                if motion is not None:  # the mean step NLL of the fit at the start of the epoch
                    sums["motion_nll"] = motion.refresh(full.expression, _pose15(full.pose6), full.shape, capture.fps)
        for t_idx in _batches(t, cfg, gen):
            out = source(t_idx)
            loss, parts = _batch_loss(layer, inputs, out, t_idx, cfg, targets, mv, gen, motion, weighting, dense_points)
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
    return history


def _result_sequence(layer: FlameLayer, capture: Capture, inputs: Observations, final: EncoderOutput,
                     cfg: AnnotateConfig, prior, history: list[dict], seconds: float) -> FlameSequence:
    """The annotation as a FlameSequence: the final parameters, the fitted landmarks in image pixels and the
    per-frame landmark loss, with the settings and the history's last epoch in its metadata."""
    with torch.no_grad():
        lm = layer.landmarks(_params(final)).landmarks2d_3d
        ndc = inputs.project(lm, final.cam)
        per_frame = ((ndc - inputs.ndc).abs().sum(-1) * inputs.weight).sum(-1) / (2 * inputs.weight.sum(-1) + 1e-8)
        fitted = transform_points(invert_transform(inputs.tform), ndc_to_pixels(ndc, CROP_SIZE))
    return FlameSequence(
        model=layer.model_label, model_sha256=layer.model_sha256, fps=capture.fps, view_names=capture.view_names,
        frame_ids=capture.frame_ids, shape=_np(final.shape), expression=_np(final.expression),
        pose=_np(_pose15(final.pose6)), cam=_np(final.cam), crop_tform=_np(inputs.tform),
        landmarks2d=capture.landmarks, valid=capture.valid, image_size=capture.image_size,
        fitted_landmarks2d=_np(fitted), intrinsics=None if inputs.intrinsics is None else _np(inputs.intrinsics),
        losses={"lmk": _np(per_frame)},
        metadata={"method": cfg.method, "config": asdict(cfg), "source": capture.source, "seconds": round(seconds, 2),
                  **({"prior": {"file": prior.path, "family": prior.generator.family}} if prior is not None else {}),
                  "history": history[-1:] if history else [], "epochs_run": len(history)},
    )
