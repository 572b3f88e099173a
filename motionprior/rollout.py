"""Sampling HuMoR-Face: autoregressive rollouts of the CVAE behind the generator interface.

``HumorGenerator`` (family ``humor-face``) starts from the state of the start frame (HuMoR conditions
each step on one previous frame), rolls out ``K`` samples per start for ``H`` steps at 30 Hz with z from
the learned prior (or its mean), re-orthonormalizes rotations every step and, as configured in training
(:class:`motionprior.steering.DriftControl`), corrects each state before it is fed back
(:func:`make_feedback`).
"""

from __future__ import annotations

from typing import Callable

import numpy as np
import torch
from torch import Tensor

from flame.layer import FlameLayer
from motionprior.generator import Generator, MotionStart
from motionprior.losses import HumorLosses, transition_nll
from motionprior.model import HumorFace, HumorNetwork
from motionprior.settings import as_block
from motionprior.state import StateSpec, states_to_params
from motionprior.steering import FEEDBACK_MODES, DriftControl

__all__ = ["HumorGenerator", "make_feedback"]


def make_feedback(mode: str, model: HumorFace, layer: FlameLayer | None = None, shape: Tensor | None = None
                  ) -> Callable[[Tensor, Tensor], Tensor] | None:
    """What is done to every generated state before it is fed back, ``f(x_prev (N, dim), x (N, dim))``:

    * ``none``: nothing (HuMoR);
    * ``flame``: the predicted landmarks are replaced by FLAME(shape, predicted pose / expression)'s,
      cm (HuMoR-Qual); needs ``layer`` and ``shape (N, n_shape)``, the identity of each row;
    * ``velocities``: the velocity channels are recomputed from the step
      (:meth:`HumorFace.project_velocities`);
    * ``flame+velocities``: both, landmarks first (the velocities then follow the FLAME landmarks).
    """
    if mode not in FEEDBACK_MODES:
        raise ValueError(f"feedback {mode!r}: choose one of {FEEDBACK_MODES}")
    if mode == "none":
        return None
    flame = "flame" in mode
    if flame and (layer is None or shape is None):
        raise ValueError(f"feedback {mode!r} needs the head model and the identity shape of every row")
    spec = model.spec

    def feedback(x_prev: Tensor, x: Tensor) -> Tensor:
        if flame:
            params = states_to_params(x, spec, shape.to(x), layer.n_exp)
            x = x.clone()
            x[..., spec.slices["landmarks"]] = (layer.landmarks(params).landmarks3d * 100.0).to(x.dtype).flatten(-2)
        if "velocities" in mode:
            x = model.project_velocities(x_prev, x)
        return x

    return feedback


class HumorGenerator(Generator):
    """A trained HuMoR-Face behind :class:`motionprior.generator.Generator` (see the module docstring)."""

    family = "humor-face"
    can_score = True

    @classmethod
    def build_network(cls, config: dict) -> HumorFace:
        return HumorFace(as_block(StateSpec, config["state"]), as_block(HumorNetwork, config["network"]))

    @property
    def feedback(self) -> str:
        """The feedback the prior was trained with (and samples with)."""
        return as_block(DriftControl, self.config.get("drift", {})).feedback

    def generate(self, starts: list[MotionStart], horizon: int, n_samples: int, generator: torch.Generator,
                 mean: bool) -> tuple[Tensor, Tensor]:
        model, device = self.network, self.device
        x0 = torch.as_tensor(np.stack([self.past_states(s)[-1] for s in starts]), dtype=torch.float32, device=device)
        if not torch.isfinite(x0).all():
            raise ValueError("start states contain NaN / inf")
        shape = torch.as_tensor(np.stack([self.identity(s) for s in starts]), device=device)
        layer = self.layer.to(device)
        fb = make_feedback(self.feedback, model, layer, shape.repeat(n_samples, 1))
        states = model.rollout(x0, horizon, n_samples=n_samples, use_mean=mean, generator=generator, feedback=fb)
        params = states_to_params(states, self.spec, states.new_zeros(1), layer.n_exp)
        return params.pose, params.expression

    def transition_nll(self, states: Tensor) -> Tensor:
        """Each step's negative ELBO under the CVAE (:func:`motionprior.losses.transition_nll`), weighted as in
        training (the reconstruction weights and the KL weight after warm-up)."""
        losses = as_block(HumorLosses, self.config.get("losses", {}))
        return transition_nll(self.network, states[..., :-1, :], states[..., 1:, :], losses.part_weights(self.spec),
                              losses.kl_weight)
