"""HuMoR-Face losses: pure functions of predictions, targets and the network's scales.

Reconstruction errors are measured in units of the typical per-step change of the training split (the
decoder's output scale, ``delta_scale``): holding the previous frame scores about 1 on every part,
whatever its units, so no part is drowned by another and the KL term weighs against a meaningful
reconstruction (in raw or state-std units the per-step errors are ~1e-3 and the parts with small motion
were ignored). Rotation matrices are compared entry-wise, scaled by their mean per-step angle.

FLAME consistency (HuMoR's SMPL terms, for faces): landmarks of FLAME(shape, predicted pose, predicted
expression) against the target landmarks and against the predicted landmarks, and the vertices of the
predicted against the target parameters, all in squared cm over the squared per-step landmark motion.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from flame.layer import FlameLayer, VertexSubset
from motionprior.model import Gaussian, HumorFace
from motionprior.state import StateSpec, states_to_params

__all__ = ["HumorLosses", "kl_weight_at", "reconstruction_terms", "kl_term", "flame_terms", "weighted_total",
           "transition_nll"]

#: the FLAME terms (each weighted by the :class:`HumorLosses` field of its name)
FLAME_TERMS = ("flame_landmarks", "flame_consistency", "flame_vertices")


@dataclass(frozen=True)
class HumorLosses:
    """Weights of the HuMoR-Face loss terms.

    Attributes:
        recon_weights: per-part reconstruction weights (default 1 each; unknown part names are errors).
        kl_weight / kl_warmup_epochs: KL weight and its linear warm-up (HuMoR: 4e-4 over 50 epochs).
        flame_landmarks / flame_consistency / flame_vertices: weights of the FLAME terms (0 disables one;
            a state without expression - ``n_exp: 0`` - has none).
        vertex_stride: every ``vertex_stride``-th vertex enters the vertex term.
    """

    recon_weights: dict[str, float] | None = None
    kl_weight: float = 4e-4
    kl_warmup_epochs: int = 50
    flame_landmarks: float = 1.0
    flame_consistency: float = 1.0
    flame_vertices: float = 1.0
    vertex_stride: int = 1

    def part_weights(self, spec: StateSpec) -> dict[str, float]:
        """Reconstruction weight of every state part; unknown names are errors."""
        unknown = set(self.recon_weights or {}) - set(spec.parts)
        if unknown:
            raise ValueError(f"recon_weights: unknown state parts {sorted(unknown)}; the parts are {list(spec.parts)}")
        return {k: 1.0 for k in spec.parts} | dict(self.recon_weights or {})

    def flame_weights(self, spec: StateSpec) -> dict[str, float]:
        """Weights of the FLAME terms (all 0 for a state without expression)."""
        if spec.n_exp == 0:
            return dict.fromkeys(FLAME_TERMS, 0.0)
        return {k: float(getattr(self, k)) for k in FLAME_TERMS}


def kl_weight_at(epoch: int, weight: float, warmup_epochs: int) -> float:
    """KL weight with HuMoR's linear warm-up ``weight * min(epoch / warmup_epochs, 1)``."""
    return weight * (min(epoch / warmup_epochs, 1.0) if warmup_epochs > 0 else 1.0)


def reconstruction_terms(pred: Tensor, target: Tensor, spec: StateSpec, delta_scale: Tensor, reduce: bool = True
                         ) -> dict[str, Tensor]:
    """``recon_<part>``: mean squared error of ``pred`` vs ``target (..., dim)`` per state part, in units of
    the per-step change ``delta_scale (out_dim,)``; averaged over everything (``reduce``) or per state ``(...)``."""
    out = {}
    for part in spec.parts:
        err = pred[..., spec.slices[part]] - target[..., spec.slices[part]]
        s = delta_scale[spec.out_slices[part]]
        sq = (err / (s.mean() if part in spec.rotations else s)).pow(2).mean(-1)
        out[f"recon_{part}"] = sq.mean() if reduce else sq
    return out


def kl_term(post: Gaussian, prior: Gaussian) -> Tensor:
    """``KL(q || p)`` summed over latent dimensions, averaged over everything else."""
    return post.kl(prior).sum(-1).mean()


def flame_terms(pred: Tensor, target: Tensor, shape: Tensor, spec: StateSpec, layer: FlameLayer,
                subset: VertexSubset | None, delta_scale: Tensor) -> dict[str, Tensor]:
    """FLAME consistency terms of ``pred`` / ``target (B, T, dim)`` with identities ``shape (B, n_shape)``
    (see the module docstring); ``subset`` None leaves out the vertex term."""
    unit = delta_scale[spec.out_slices["landmarks"]].pow(2).mean() * 3  # squared per-step landmark motion, cm^2
    p_hat = states_to_params(pred, spec, shape[:, None], layer.n_exp)
    lm_fk = layer.landmarks(p_hat).landmarks3d * 100.0
    out = {"flame_landmarks": (lm_fk - spec.get(target, "landmarks")).pow(2).sum(-1).mean() / unit,
           "flame_consistency": (lm_fk - spec.get(pred, "landmarks")).pow(2).sum(-1).mean() / unit}
    if subset is not None:
        with torch.no_grad():
            v_gt = subset(states_to_params(target, spec, shape[:, None], layer.n_exp)) * 100.0
        out["flame_vertices"] = (subset(p_hat) * 100.0 - v_gt).pow(2).sum(-1).mean() / unit
    return out


def weighted_total(terms: dict[str, Tensor], part_weights: dict[str, float], flame_weights: dict[str, float],
                   kl_weight: float) -> Tensor:
    """The training loss: weighted reconstruction terms + ``kl_weight`` KL + weighted FLAME terms."""
    loss = sum(part_weights[k[len("recon_"):]] * v for k, v in terms.items() if k.startswith("recon_"))
    loss = loss + kl_weight * terms["kl"]
    return loss + sum(flame_weights[k] * v for k, v in terms.items() if k in flame_weights)


def transition_nll(model: HumorFace, x_prev: Tensor, x_t: Tensor, part_weights: dict[str, float],
                   kl_weight: float) -> Tensor:
    """How unlikely each transition ``x_prev -> x_t (..., dim)`` is under a trained HuMoR-Face, ``(...)``: the
    training objective (a negative ELBO) of that one step - the weighted reconstruction of ``x_t`` from the
    posterior's mean latent, plus ``kl_weight`` times ``KL(q(z | x_prev, x_t) || p(z | x_prev))``. Deterministic
    and differentiable in both states (HuMoR's test-time optimization scores a fitted motion by its
    transitions under the learned prior)."""
    post = model.encode(x_prev, x_t)
    terms = reconstruction_terms(model.decode(post.mean, x_prev), x_t, model.spec, model.delta_scale, reduce=False)
    return weighted_total(terms | {"kl": post.kl(model.prior(x_prev)).sum(-1)}, part_weights, {}, kl_weight)
