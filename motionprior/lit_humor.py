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

import torch
from torch import Tensor

from flame.layer import FlameLayer, VertexSubset
from motionprior.lit_base import GeneratorTraining
from motionprior.losses import HumorLosses, flame_terms, kl_term, kl_weight_at, reconstruction_terms, weighted_total
from motionprior.model import Gaussian, HumorFace, HumorNetwork
from motionprior.rollout import HumorGenerator, make_feedback
from motionprior.settings import HeadModel, Optimizer, as_block
from motionprior.state import StateSpec
from motionprior.steering import DriftControl, steered_target, teacher_probability

log = logging.getLogger(__name__)

__all__ = ["LitHumorFace", "WindowPass"]


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


class LitHumorFace(GeneratorTraining):
    """HuMoR-Face training (the module docstring says what a training step does).

    Args:
        state: the state layout (:class:`motionprior.state.StateSpec`; ``n_exp: 0`` is the paper-literal
            state, which has no FLAME losses).
        head: the head model the sequences were annotated with (:class:`motionprior.settings.HeadModel`).
        network: the CVAE's sizes (:class:`motionprior.model.HumorNetwork`).
        losses: loss weights (:class:`motionprior.losses.HumorLosses`).
        drift: scheduled sampling, feedback and steered targets (:class:`motionprior.steering.DriftControl`).
        optim: optimizer and step decay (:class:`motionprior.settings.Optimizer`; HuMoR: Adamax 1e-4).
        plot_every_n_epochs: rollout plots to TensorBoard every n validation epochs (0: never).
    """

    family = HumorGenerator.family

    def __init__(self, state: StateSpec = StateSpec(), head: HeadModel = HeadModel(),
                 network: HumorNetwork = HumorNetwork(), losses: HumorLosses = HumorLosses(),
                 drift: DriftControl = DriftControl(), optim: Optimizer = Optimizer(),
                 plot_every_n_epochs: int = 10) -> None:
        super().__init__(state, head, optim)
        self.network, self.loss_settings = as_block(HumorNetwork, network), as_block(HumorLosses, losses)
        self.drift = as_block(DriftControl, drift)
        self.save_settings(network=self.network, losses=self.loss_settings, drift=self.drift,
                           plot_every_n_epochs=plot_every_n_epochs)
        self.model = HumorFace(self.spec, self.network)
        self.part_weights = self.loss_settings.part_weights(self.spec)
        self.flame_weights = self.loss_settings.flame_weights(self.spec)
        self.drift.check(self.spec)
        layer = self.head.layer(self.spec)
        stride = self.loss_settings.vertex_stride
        # not submodules: the head model stays out of the checkpoint (it is the user's licensed file)
        self._flame = {"layer": layer, "subset": VertexSubset(layer, torch.arange(0, layer.n_vertices, stride))}
        self._val: dict[str, list[Tensor]] = {}

    # ------------------------------------------------------------------ set-up
    def setup(self, stage: str) -> None:
        dm = getattr(self.trainer, "datamodule", None)
        if stage == "fit" and dm is not None:
            self.check_data(dm)
            self.model.set_statistics(*dm.state_statistics())

    def flame(self, like: Tensor) -> tuple[FlameLayer, VertexSubset]:
        """The head model on ``like``'s device."""
        if self._flame["layer"].v_template.device != like.device:
            self._flame = {k: m.to(like.device) for k, m in self._flame.items()}
        return self._flame["layer"], self._flame["subset"]

    # ------------------------------------------------------------------ the window pass
    def run_window(self, states: Tensor, p_teacher: float, use_mean: bool = False, shape: Tensor | None = None
                   ) -> WindowPass:
        """One window ``states (B, T + 1, dim)`` under scheduled sampling (see :class:`WindowPass`). A
        fed-back prediction goes through the ``feedback`` correction first, as in sampling (FLAME modes
        need ``shape (B, n_shape)``); with ``return_time`` set, the target of a step from a fed-back
        input is :func:`motionprior.steering.steered_target`, else the ground truth."""
        m = self.model
        return_time = self.drift.return_time
        feedback = self.rollout_feedback(shape) if p_teacher < 1.0 else None
        sample = (lambda g: g.mean) if use_mean else (lambda g: g.rsample())
        if p_teacher >= 1.0:  # every input is ground truth: all steps in one batch
            prev = states[:, :-1]
            post = m.encode(prev, states[:, 1:])
            return WindowPass(m.decode(sample(post), prev), post, m.prior(prev), prev, states[:, 1:])
        from_prior = self.drift.prior_feedback
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
            if not teacher and return_time is not None:
                target = steered_target(self.spec, prev, states[:, t], target, return_time)
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
        mode = self.drift.feedback
        return make_feedback(mode, self.model, self.flame(shape)[0] if "flame" in mode else None, shape)

    def losses(self, pred: Tensor, target: Tensor, shape: Tensor, post: Gaussian, prior: Gaussian) -> dict[str, Tensor]:
        """Unweighted loss terms of predictions and targets ``(B, T, dim)``, identities ``shape (B, n_shape)``
        (:mod:`motionprior.losses`)."""
        scale = self.model.delta_scale
        out = reconstruction_terms(pred, target, self.spec, scale) | {"kl": kl_term(post, prior)}
        if any(self.flame_weights.values()):
            layer, subset = self.flame(pred)
            out |= flame_terms(pred, target, shape, self.spec, layer, subset if self.flame_weights["flame_vertices"]
                               else None, scale)
        return out

    def total(self, terms: dict[str, Tensor], kl_weight: float) -> Tensor:
        return weighted_total(terms, self.part_weights, self.flame_weights, kl_weight)

    # ------------------------------------------------------------------ steps
    def training_step(self, batch: dict[str, Tensor], batch_idx: int) -> Tensor:
        epoch = self.current_epoch
        p_teacher = teacher_probability(epoch, *self.drift.sched_sampling)
        kl_w = kl_weight_at(epoch, self.loss_settings.kl_weight, self.loss_settings.kl_warmup_epochs)
        states = batch["states"]
        w = self.run_window(states, p_teacher, shape=batch["shape"])
        terms = self.losses(w.pred, w.targets, batch["shape"], w.post, w.prior)
        loss = self.total(terms, kl_w)
        bs = states.shape[0]
        self.log_dict({f"train/{k}": v.detach() for k, v in terms.items()}, batch_size=bs)
        self.log_dict({"train/loss": loss.detach(), "train/kl_weight": kl_w, "train/p_teacher": p_teacher},
                      prog_bar=False, batch_size=bs)
        return loss

    def validation_step(self, batch: dict[str, Tensor], batch_idx: int) -> None:
        states = batch["states"]
        p_teacher = teacher_probability(self.current_epoch, *self.drift.sched_sampling)
        w = self.run_window(states, p_teacher, use_mean=True, shape=batch["shape"])
        terms = self.losses(w.pred, w.targets, batch["shape"], w.post, w.prior)
        loss = self.total(terms, self.loss_settings.kl_weight)
        bs = states.shape[0]
        self.log_dict({f"val/{k}": v for k, v in terms.items()}, batch_size=bs, sync_dist=True)
        self.log("val/loss", loss, prog_bar=True, batch_size=bs, sync_dist=True)
        # checkpoint selection (as HuMoR, which resets its best loss when training turns autoregressive):
        # only the fully autoregressive epochs compete; earlier losses are not comparable
        selecting = self.current_epoch >= self.drift.sched_sampling[1]
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
        from flame.sequence import MOTION_FPS
        from motionprior.figures import pose_curves_figure
        from motionprior.state import states_to_params

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
        pose = lambda x: states_to_params(x.cpu().double(), self.spec, shape[:1].cpu(), self.spec.n_exp).pose  # noqa: E731
        fig = pose_curves_figure(pose(samples), MOTION_FPS, pose(torch.as_tensor(clip.states)), MOTION_FPS, clip.name)
        experiment.add_figure("val/rollout", fig, self.current_epoch)
