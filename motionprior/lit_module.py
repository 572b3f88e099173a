"""Training logic of HuMoR-Face (the math is :class:`motionprior.model.HumorFace`).

Per window of ``T`` transitions:

* **scheduled sampling** (HuMoR): the probability of feeding the ground truth is 1 up to epoch
  ``sched_sampling[0]``, falls linearly to 0 at epoch ``sched_sampling[1]``, and stays 0 (fully
  autoregressive). The first step always starts from the ground truth; for every later step one coin
  flip for the whole batch picks the ground truth or the model's own (detached) previous output,
  corrected by the configured ``feedback`` exactly as in sampling (so training sees the states that
  rollouts produce). HuMoR's fed-back output is the posterior's, which knows the ground truth, so
  training inputs never drift the way sampled rollouts do; ``prior_feedback`` makes that fraction of
  the fed-back outputs with a prior sample instead, so the model also learns to step back from where
  its own samples go. The posterior sees the step's target: the ground-truth ``x_t`` (HuMoR), or with
  ``return_time``, for a fed-back input, the ground truth's step applied to it plus a damped pull back
  to the data (:mod:`motionprior.steering`).
* **losses**: per-part reconstruction MSE in units of the training split's per-step change (rotation
  matrices entry-wise), ``KL(q || p)`` summed over latent dimensions with a linear
  warm-up ``kl_weight * min(epoch / kl_warmup_epochs, 1)``, and FLAME consistency: landmarks of
  FLAME(shape, predicted pose, predicted expression) against the predicted landmarks (consistency) and
  the target landmarks, plus the vertices of the predicted against the target parameters
  (squared cm over the squared per-step landmark motion; ``vertex_stride`` subsamples the mesh).
* **optimizer**: Adamax with ``MultiStepLR`` (HuMoR: lr 1e-4, milestones 50/80/140, gamma 0.5).

Validation runs the windows with the epoch's teacher-forcing probability and posterior means;
``val/selection_loss`` (the best checkpoint's monitor) is that loss from the first fully
autoregressive epoch on, and infinite before.

Logged (TensorBoard): every loss term, the KL weight and teacher-forcing probability, per-dimension KL,
active latent units (posterior-mean variance > 0.01 over the validation set), a short prior-mean
rollout error, and rollout plots.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import lightning as L
import numpy as np
import torch
from torch import Tensor

from flame.layer import FlameLayer, VertexSubset
from flame.sequence import MOTION_FPS
from flame.types import N_EXP
from motionprior.model import Gaussian, HumorFace
from motionprior.prior_file import PRIOR_FORMAT
from motionprior.rollout import FEEDBACK_MODES, make_feedback
from motionprior.state import ROTATIONS, StateSpec, prior_layer, states_to_params
from motionprior.steering import check_return_times, steered_target

log = logging.getLogger(__name__)

__all__ = ["LitHumorFace", "WindowPass", "teacher_probability", "kl_weight_at"]


def teacher_probability(epoch: int, start: int, end: int) -> float:
    """Probability of feeding the ground truth at ``epoch`` (1 until ``start``, linear to 0 at ``end``)."""
    if end <= start:
        return 1.0 if epoch < start else 0.0
    return float(np.clip(1.0 - (epoch - start) / (end - start), 0.0, 1.0))


def kl_weight_at(epoch: int, weight: float, warmup_epochs: int) -> float:
    """KL weight with HuMoR's linear warm-up ``weight * min(epoch / warmup_epochs, 1)``."""
    return weight * (min(epoch / warmup_epochs, 1.0) if warmup_epochs > 0 else 1.0)


@dataclass(frozen=True)
class WindowPass:
    """One window of ``T`` transitions through the model.

    Attributes:
        pred: ``(B, T, dim)`` predictions (decoded posterior samples, or means).
        post / prior: posterior and conditional prior, ``(B, T, latent)``.
        inputs: ``(B, T, dim)`` the state each prediction was made from (ground truth or fed back).
        targets: ``(B, T, dim)`` what each prediction is scored against.
    """

    pred: Tensor
    post: Gaussian
    prior: Gaussian
    inputs: Tensor
    targets: Tensor


class LitHumorFace(L.LightningModule):
    """HuMoR-Face training.

    Args:
        n_exp / neck / eyes / extra_velocities: the state (see :class:`motionprior.state.StateSpec`;
            ``n_exp: 0`` is the paper-literal state, which disables the FLAME losses).
        hidden / layers / latent / conditional_prior: the CVAE (HuMoR: 1024 / 4 / 48 / true).
        flame_model / assets: FLAME model file the sequences were annotated with, or (none) the stand-in
            built in ``assets`` (:func:`flame.head.resolve_model_file`).
        recon_weights: per-part reconstruction weights (default 1 each; unknown part names are errors).
        kl_weight / kl_warmup_epochs: KL weight and its linear warm-up (HuMoR: 4e-4 over 50 epochs).
        flame_landmark_weight: FLAME landmarks of the predicted parameters vs the ground-truth landmarks.
        flame_consistency_weight: ... vs the predicted landmarks.
        flame_vertex_weight / vertex_stride: predicted vs ground-truth vertices, every ``vertex_stride``-th.
        velocity_consistency_weight: predicted velocities vs the predicted step (0: HuMoR, off).
        sched_sampling: epochs (start, end) of the teacher-forcing -> autoregressive ramp (HuMoR: 10, 20).
        feedback: what is done to a prediction before it is fed back, in training and (by default) in
            sampling: ``none`` (HuMoR), ``flame``, ``velocities`` or ``flame+velocities``
            (:func:`motionprior.rollout.make_feedback`).
        prior_feedback: fraction of the fed-back predictions (per window row and step) made with a
            sample of the learned prior instead of the posterior. 0: HuMoR (the rollout tracks the
            ground truth, since the posterior sees it); 1: every fed-back state drifts as in sampling,
            and the model learns to step from there to the ground truth.
        return_time: seconds over which the target of a step from a fed-back (drifted) input steers
            back to the ground truth, with the ground truth's step applied to the drifted state
            (:mod:`motionprior.steering`); ``None``: the target is the ground truth (HuMoR: all drift
            undone in one step).
        part_return_times: per-part return times overriding ``return_time`` (e.g. ``{jaw: 0.05,
            expression: 0.05}``; a velocity follows its part).
        lr / milestones / gamma: Adamax learning rate and its step decay (per epoch).
        plot_every_n_epochs: rollout plots to TensorBoard every n validation epochs (0: never).
    """

    def __init__(self, n_exp: int = N_EXP, neck: bool = False, eyes: bool = False, extra_velocities: tuple[str, ...] = (),
                 hidden: int = 1024, layers: int = 4,
                 latent: int = 48, conditional_prior: bool = True, flame_model: str | None = None,
                 assets: str | None = None, recon_weights: dict[str, float] | None = None, kl_weight: float = 4e-4,
                 kl_warmup_epochs: int = 50, flame_landmark_weight: float = 1.0, flame_consistency_weight: float = 1.0,
                 flame_vertex_weight: float = 1.0, vertex_stride: int = 1, velocity_consistency_weight: float = 0.0,
                 sched_sampling: tuple[int, int] = (10, 20), feedback: str = "none", prior_feedback: float = 0.0,
                 return_time: float | None = None, part_return_times: dict[str, float] | None = None,
                 lr: float = 1e-4, milestones: list[int] | None = None, gamma: float = 0.5,
                 plot_every_n_epochs: int = 10) -> None:
        super().__init__()
        self.save_hyperparameters()
        self.spec = StateSpec(n_exp=n_exp, neck=neck, eyes=eyes, extra_velocities=tuple(extra_velocities))
        self.model = HumorFace(self.spec, hidden=hidden, layers=layers, latent=latent,
                               conditional_prior=conditional_prior)
        unknown = set(recon_weights or {}) - set(self.spec.parts)
        if unknown:
            raise ValueError(f"recon_weights: unknown state parts {sorted(unknown)}; the parts are {list(self.spec.parts)}")
        self.recon_weights = {k: 1.0 for k in self.spec.parts} | dict(recon_weights or {})
        self.flame_weights = (flame_landmark_weight, flame_consistency_weight, flame_vertex_weight)
        if n_exp == 0 and any(self.flame_weights):
            log.warning("n_exp=0 (paper-literal state): FLAME losses need the expression and are disabled")
            self.flame_weights = (0.0, 0.0, 0.0)
        if feedback not in FEEDBACK_MODES:
            raise ValueError(f"feedback {feedback!r}: choose one of {FEEDBACK_MODES}")
        if not 0.0 <= prior_feedback <= 1.0:
            raise ValueError(f"prior_feedback {prior_feedback}: a fraction in [0, 1]")
        if part_return_times and return_time is None:
            raise ValueError("part_return_times needs return_time (the time of the other parts)")
        if return_time is not None:  # times > 0 (null: HuMoR's targets); unknown parts fail here
            check_return_times(self.spec, return_time, part_return_times)
        if "flame" in feedback and n_exp == 0:
            raise ValueError("feedback 'flame' needs the expression in the state (n_exp > 0)")
        self.milestones = list(milestones) if milestones is not None else [50, 80, 140]
        layer = prior_layer(self.spec, flame_model, assets)
        # not submodules: the head model stays out of the checkpoint (it is the user's licensed file)
        self._flame = {"layer": layer, "subset": VertexSubset(layer, torch.arange(0, layer.n_vertices, vertex_stride))}
        self._val: dict[str, list[Tensor]] = {}

    # ------------------------------------------------------------------ set-up
    def setup(self, stage: str) -> None:
        dm = getattr(self.trainer, "datamodule", None)
        if stage == "fit" and dm is not None and dm.statistics is not None:
            if dm.spec != self.spec:
                raise ValueError(f"data state {dm.spec} differs from the model's {self.spec}")
            self.model.set_statistics(*dm.statistics)

    def flame(self, like: Tensor) -> tuple[FlameLayer, VertexSubset]:
        """The head model on ``like``'s device."""
        if self._flame["layer"].v_template.device != like.device:
            self._flame = {k: m.to(like.device) for k, m in self._flame.items()}
        return self._flame["layer"], self._flame["subset"]

    def configure_optimizers(self):
        opt = torch.optim.Adamax(self.model.parameters(), lr=self.hparams.lr)
        sched = torch.optim.lr_scheduler.MultiStepLR(opt, milestones=self.milestones, gamma=self.hparams.gamma)
        return {"optimizer": opt, "lr_scheduler": {"scheduler": sched, "interval": "epoch"}}

    # ------------------------------------------------------------------ the window pass
    def run_window(self, states: Tensor, p_teacher: float, use_mean: bool = False, shape: Tensor | None = None
                   ) -> WindowPass:
        """One window ``states (B, T + 1, dim)`` under scheduled sampling (see :class:`WindowPass`). A
        fed-back prediction goes through the ``feedback`` correction first, as in sampling (FLAME modes
        need ``shape (B, n_shape)``); with ``return_time`` set, the target of a step from a fed-back
        input is :func:`motionprior.steering.steered_target`, else the ground truth."""
        m = self.model
        return_time = self.hparams.return_time
        feedback = self.rollout_feedback(shape) if p_teacher < 1.0 else None
        sample = (lambda g: g.mean) if use_mean else (lambda g: g.rsample())
        if p_teacher >= 1.0:  # every input is ground truth: all steps in one batch
            prev = states[:, :-1]
            post = m.encode(prev, states[:, 1:])
            return WindowPass(m.decode(sample(post), prev), post, m.prior(prev), prev, states[:, 1:])
        from_prior = self.hparams.prior_feedback
        preds, posts, priors, prevs, targets = [], [], [], [], []
        fed = None
        for t in range(states.shape[1] - 1):
            teacher = t == 0 or bool(torch.rand(()) < p_teacher)  # one coin flip per step for the whole batch
            if teacher:
                prev = states[:, t]
            else:
                with torch.no_grad():
                    prev = m.orthonormalize_rotations(fed)
                    if feedback is not None:
                        prev = feedback(prevs[-1], prev)
            target = states[:, t + 1]
            if not teacher and return_time:
                target = steered_target(self.spec, prev, states[:, t], target, return_time,
                                        part_return_times=self.hparams.part_return_times)
            post, prior = m.encode(prev, target), m.prior(prev)
            preds.append(m.decode(sample(post), prev))
            fed = preds[-1].detach()
            if from_prior and t < states.shape[1] - 2:  # the last step's output is not fed back
                rows = torch.rand(len(prev), 1, device=prev.device) < from_prior
                with torch.no_grad():
                    fed = torch.where(rows, m.decode(sample(prior), prev), fed)
            posts.append(post)
            priors.append(prior)
            prevs.append(prev)
            targets.append(target)
        stack = lambda gs: Gaussian(torch.stack([g.mean for g in gs], 1), torch.stack([g.logvar for g in gs], 1))  # noqa: E731
        return WindowPass(torch.stack(preds, 1), stack(posts), stack(priors), torch.stack(prevs, 1),
                          torch.stack(targets, 1))

    def rollout_feedback(self, shape: Tensor):
        """The configured feedback for rows of identity ``shape (N, n_shape)`` (None for ``none``)."""
        mode = self.hparams.feedback
        return make_feedback(mode, self.model, self.flame(shape)[0] if "flame" in mode else None, shape)

    def velocity_consistency(self, pred: Tensor, prev: Tensor) -> Tensor:
        """Predicted velocities vs the step the prediction makes (angular velocities vs ``R_t R_{t-1}^T``,
        Euclidean ones vs the step, both times the 30 Hz rate), in per-step-change units, summed over the
        parts with a velocity. HuMoR has no such term. In long rollouts without it the predicted angular
        velocity drifts away from the rotation actually made (measured); weight 1 in the quick config
        did not, however, stop the head-pose drift."""
        spec, scale = self.spec, self.model.delta_scale
        step = self.model.step(prev, pred) * MOTION_FPS
        out = pred.new_zeros(())
        for part, vel in spec.velocity_of.items():
            s = scale[spec.out_slices[part]]
            s = s.mean() if part in ROTATIONS else s
            err = (pred[..., spec.slices[vel]] - step[..., spec.out_slices[part]]) / (s * MOTION_FPS)
            out = out + err.pow(2).mean()
        return out

    def losses(self, pred: Tensor, target: Tensor, shape: Tensor, post: Gaussian, prior: Gaussian,
               prev: Tensor | None = None) -> dict[str, Tensor]:
        """Unweighted loss terms of predictions and targets ``(B, T, dim)`` (``prev``: the inputs the
        predictions were made from, for the velocity consistency); ``shape (B, n_shape)``.

        Errors are measured in units of the typical per-step change of the training split (the
        decoder's output scale): holding the previous frame scores about 1 on every part, whatever
        its units, so no part is drowned by another and the KL term weighs against a meaningful
        reconstruction (in raw or state-std units the per-step errors are ~1e-3 and the parts with
        small motion were ignored). Rotation matrices are compared entry-wise, scaled by their
        per-step angle.
        """
        spec, scale = self.spec, self.model.delta_scale
        out = {}
        for part in spec.parts:
            err = pred[..., spec.slices[part]] - target[..., spec.slices[part]]
            s = scale[spec.out_slices[part]]
            out[f"recon_{part}"] = (err / (s.mean() if part in spec.rotations else s)).pow(2).mean()
        out["kl"] = post.kl(prior).sum(-1).mean()
        if self.hparams.velocity_consistency_weight and prev is not None:
            out["velocity_consistency"] = self.velocity_consistency(pred, prev)
        if any(self.flame_weights):
            layer, subset = self.flame(pred)
            n_exp = layer.n_exp
            unit = scale[spec.out_slices["landmarks"]].pow(2).mean() * 3  # squared per-step landmark motion, cm^2
            p_hat = states_to_params(pred, spec, shape[:, None], n_exp)
            lm_fk = layer.landmarks(p_hat).landmarks3d * 100.0
            out["flame_landmarks"] = (lm_fk - spec.get(target, "landmarks")).pow(2).sum(-1).mean() / unit
            out["flame_consistency"] = (lm_fk - spec.get(pred, "landmarks")).pow(2).sum(-1).mean() / unit
            if self.flame_weights[2]:
                with torch.no_grad():
                    v_gt = subset(states_to_params(target, spec, shape[:, None], n_exp)) * 100.0
                out["flame_vertices"] = (subset(p_hat) * 100.0 - v_gt).pow(2).sum(-1).mean() / unit
        return out

    def total(self, terms: dict[str, Tensor], kl_weight: float) -> Tensor:
        fw = dict(zip(("flame_landmarks", "flame_consistency", "flame_vertices"), self.flame_weights))
        fw["velocity_consistency"] = self.hparams.velocity_consistency_weight
        loss = sum(self.recon_weights[k[6:]] * v for k, v in terms.items() if k.startswith("recon_"))
        loss = loss + kl_weight * terms["kl"]
        return loss + sum(fw[k] * v for k, v in terms.items() if k in fw)

    # ------------------------------------------------------------------ steps
    def training_step(self, batch: dict[str, Tensor], batch_idx: int) -> Tensor:
        epoch = self.current_epoch
        p_teacher = teacher_probability(epoch, *self.hparams.sched_sampling)
        kl_w = kl_weight_at(epoch, self.hparams.kl_weight, self.hparams.kl_warmup_epochs)
        states = batch["states"]
        w = self.run_window(states, p_teacher, shape=batch["shape"])
        terms = self.losses(w.pred, w.targets, batch["shape"], w.post, w.prior, w.inputs)
        loss = self.total(terms, kl_w)
        bs = states.shape[0]
        self.log_dict({f"train/{k}": v.detach() for k, v in terms.items()}, batch_size=bs)
        self.log_dict({"train/loss": loss.detach(), "train/kl_weight": kl_w, "train/p_teacher": p_teacher},
                      prog_bar=False, batch_size=bs)
        return loss

    def validation_step(self, batch: dict[str, Tensor], batch_idx: int) -> None:
        states = batch["states"]
        p_teacher = teacher_probability(self.current_epoch, *self.hparams.sched_sampling)
        w = self.run_window(states, p_teacher, use_mean=True, shape=batch["shape"])
        terms = self.losses(w.pred, w.targets, batch["shape"], w.post, w.prior, w.inputs)
        loss = self.total(terms, self.hparams.kl_weight)
        bs = states.shape[0]
        self.log_dict({f"val/{k}": v for k, v in terms.items()}, batch_size=bs, sync_dist=True)
        self.log("val/loss", loss, prog_bar=True, batch_size=bs, sync_dist=True)
        # checkpoint selection (as HuMoR, which resets its best loss when training turns autoregressive):
        # only the fully autoregressive epochs compete; earlier losses are not comparable
        selecting = self.current_epoch >= self.hparams.sched_sampling[1]
        self.log("val/selection_loss", loss if selecting else torch.full_like(loss, float("inf")), batch_size=bs,
                 sync_dist=True)
        # prior-mean rollout over the window from its first frame
        roll = self.model.rollout(states[:, 0], states.shape[1] - 1, use_mean=True,
                                  feedback=self.rollout_feedback(batch["shape"]))[0]
        err = (self.spec.get(roll[:, 1:], "landmarks") - self.spec.get(states[:, 1:], "landmarks")).norm(dim=-1).mean()
        self.log("val/rollout_landmarks_cm", err, batch_size=bs, sync_dist=True)
        self._val.setdefault("kl", []).append(w.post.kl(w.prior).flatten(0, -2).detach())
        self._val.setdefault("mu", []).append(w.post.mean.flatten(0, -2).detach())

    def on_validation_epoch_end(self) -> None:
        if not self._val:
            return
        kl = torch.cat(self._val.pop("kl")).mean(0)
        mu = torch.cat(self._val.pop("mu"))
        self.log("val/active_units", (mu.var(0) > 0.01).sum().float(), sync_dist=True)
        logger = self.logger
        if logger is None or self.trainer.sanity_checking:
            return
        experiment = getattr(logger, "experiment", None)
        if hasattr(experiment, "add_histogram"):
            experiment.add_histogram("val/kl_per_dim", kl, self.current_epoch)
            for i, v in enumerate(kl.tolist()):
                experiment.add_scalar(f"kl_dims/{i:02d}", v, self.current_epoch)
        every = self.hparams.plot_every_n_epochs
        if every and self.current_epoch % every == 0 and hasattr(experiment, "add_figure"):
            self._plot_rollout(experiment)

    def _plot_rollout(self, experiment) -> None:
        from motionprior.rollout import plot_rollout

        dm = getattr(self.trainer, "datamodule", None)
        clips = dm.clips.get(dm.val_split) if dm is not None else None
        if not clips:
            return
        clip = max(clips, key=lambda c: len(c.states))
        x0 = torch.as_tensor(clip.states[:1], device=self.device)
        gen = torch.Generator(device=self.device).manual_seed(0)
        shape = torch.as_tensor(clip.shape, device=self.device)[None].expand(4, -1)
        samples = self.model.rollout(x0, min(300, len(clip.states) - 1), n_samples=4, generator=gen,
                                     feedback=self.rollout_feedback(shape))[:, 0]
        fig = plot_rollout(samples.cpu(), self.spec, real=torch.as_tensor(clip.states), title=clip.name)
        experiment.add_figure("val/rollout", fig, self.current_epoch)

    def on_save_checkpoint(self, checkpoint: dict) -> None:
        checkpoint["prior_format"] = PRIOR_FORMAT
