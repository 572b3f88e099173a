"""HuMoR-Face: HuMoR's conditional VAE over state transitions x_{t-1} -> x_t, for FLAME faces.

* posterior ``q(z | x_{t-1}, x_t)`` and learned conditional prior ``p(z | x_{t-1})``: MLPs giving the
  mean and log-variance of a ``latent``-dimensional Gaussian;
* decoder ``p(x_t | z, x_{t-1})``: an MLP with ``z`` concatenated to the input of every layer,
  predicting a *residual*: Euclidean parts are added to ``x_{t-1}``, rotations are axis-angle deltas
  that left-multiply the previous rotation matrix (so outputs are rotations by construction).

MLP layers are ``Linear -> GroupNorm(16) -> ReLU`` (HuMoR). Inputs are normalized with per-channel
statistics of the training split (rotation matrices are left as they are); the statistics are buffers,
so they are saved with the checkpoint. A plain ``nn.Module``: training logic lives in
:mod:`motionprior.lit_humor`.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn

from flame.rotations import axis_angle_to_matrix, matrix_to_axis_angle, orthonormalize
from flame.sequence import MOTION_FPS
from motionprior.state import ROTATIONS, StateSpec

__all__ = ["MLP", "HumorFace", "HumorNetwork", "Gaussian"]


@dataclass(frozen=True)
class HumorNetwork:
    """Size of the HuMoR-Face CVAE.

    Attributes:
        hidden: width of the hidden layers (HuMoR: 1024).
        layers: hidden layers per network (HuMoR: 4).
        latent: latent size (HuMoR: 48).
        conditional_prior: learned ``p(z | x_{t-1})``; otherwise ``N(0, I)``.
    """

    hidden: int = 1024
    layers: int = 4
    latent: int = 48
    conditional_prior: bool = True


@dataclass(frozen=True)
class Gaussian:
    """Diagonal Gaussian: ``mean``, ``logvar`` ``(..., latent)``."""

    mean: Tensor
    logvar: Tensor

    def sample(self, generator: torch.Generator | None = None) -> Tensor:
        eps = torch.randn(self.mean.shape, generator=generator, dtype=self.mean.dtype, device=self.mean.device)
        return self.mean + eps * torch.exp(0.5 * self.logvar)

    def rsample(self) -> Tensor:
        return self.mean + torch.randn_like(self.mean) * torch.exp(0.5 * self.logvar)

    def kl(self, other: "Gaussian") -> Tensor:
        """``KL(self || other)`` per dimension ``(..., latent)``."""
        return 0.5 * (other.logvar - self.logvar + (self.logvar.exp() + (self.mean - other.mean) ** 2)
                      / other.logvar.exp() - 1.0)


class MLP(nn.Module):
    """``Linear`` then ``(GroupNorm -> ReLU -> Linear)`` per further layer; with ``skip_dim`` the
    last ``skip_dim`` input features (the latent) are concatenated to every layer's input."""

    def __init__(self, sizes: list[int], skip_dim: int = 0, groups: int = 16) -> None:
        super().__init__()
        self.skip_dim = skip_dim
        self.linears = nn.ModuleList()
        self.norms = nn.ModuleList()
        for i in range(len(sizes) - 1):
            extra = skip_dim if i > 0 else 0
            self.linears.append(nn.Linear(sizes[i] + extra, sizes[i + 1]))
            if i < len(sizes) - 2:
                self.norms.append(nn.GroupNorm(groups, sizes[i + 1]))

    def forward(self, x: Tensor) -> Tensor:
        skip = x[..., -self.skip_dim:] if self.skip_dim else None
        shape = x.shape[:-1]
        h = self.linears[0](x.reshape(-1, x.shape[-1]))
        for norm, lin in zip(self.norms, self.linears[1:]):
            h = torch.relu(norm(h))
            if skip is not None:
                h = torch.cat([h, skip.reshape(-1, self.skip_dim)], dim=-1)
            h = lin(h)
        return h.view(*shape, -1)


class HumorFace(nn.Module):
    """The CVAE (see the module docstring).

    Args:
        spec: state layout.
        network: sizes (:class:`HumorNetwork`).
        logvar_range: clamp of the predicted log-variances (HuMoR leaves them free).
    """

    def __init__(self, spec: StateSpec = StateSpec(), network: HumorNetwork = HumorNetwork(),
                 logvar_range: tuple[float, float] = (-10.0, 10.0)) -> None:
        super().__init__()
        hidden, layers, latent = network.hidden, network.layers, network.latent
        conditional_prior = network.conditional_prior
        self.spec, self.network, self.latent, self.conditional_prior = spec, network, latent, conditional_prior
        self.logvar_range = logvar_range
        d, o = spec.dim, spec.out_dim
        self.encoder = MLP([d + o] + [hidden] * layers + [2 * latent])
        self.prior_net = MLP([d] + [hidden] * layers + [2 * latent]) if conditional_prior else None
        dec_hidden = [hidden] * max(1, layers - 2) + [hidden // 2] * min(2, layers - 1)
        self.decoder = MLP([d + latent] + dec_hidden + [o], skip_dim=latent)
        self.register_buffer("state_mean", torch.zeros(d))
        self.register_buffer("state_std", torch.ones(d))
        self.register_buffer("delta_scale", torch.ones(o))

    # ------------------------------------------------------------------ normalization
    def set_statistics(self, state_mean: Tensor, state_std: Tensor, delta_scale: Tensor) -> None:
        """Training-split statistics: state mean / std (rotation channels must be 0 / 1) and the scale
        of each output channel (std of the per-step change)."""
        self.state_mean.copy_(state_mean)
        self.state_std.copy_(state_std.clamp_min(1e-6))
        self.delta_scale.copy_(delta_scale.clamp_min(1e-6))

    def normalize(self, x: Tensor) -> Tensor:
        return (x - self.state_mean) / self.state_std

    # ------------------------------------------------------------------ the three networks
    def _gaussian(self, h: Tensor) -> Gaussian:
        mean, logvar = h.chunk(2, dim=-1)
        return Gaussian(mean, logvar.clamp(*self.logvar_range))

    def step(self, x_prev: Tensor, x_t: Tensor) -> Tensor:
        """The change ``x_{t-1} -> x_t`` in decoder-output layout, raw units: Euclidean differences and
        axis-angles of ``R_t R_{t-1}^T``."""
        out = []
        for part in self.spec.parts:
            sl = self.spec.slices[part]
            if part in ROTATIONS:
                a, b = self.spec.get(x_prev, part), self.spec.get(x_t, part)
                out.append(matrix_to_axis_angle(b @ a.transpose(-1, -2)).flatten(-2))
            else:
                out.append(x_t[..., sl] - x_prev[..., sl])
        return torch.cat(out, -1)

    def step_change(self, x_prev: Tensor, x_t: Tensor) -> Tensor:
        """:meth:`step` in the decoder's output units (divided by ``delta_scale``)."""
        return self.step(x_prev, x_t) / self.delta_scale

    def encode(self, x_prev: Tensor, x_t: Tensor) -> Gaussian:
        """Posterior ``q(z | x_{t-1}, x_t)``; states ``(..., dim)`` in raw units. The network sees the
        normalized ``x_{t-1}`` and the normalized step change (the same information as HuMoR's
        ``[x_{t-1}, x_t]``, but per-step face motion is ~1 % of the state's spread, so a difference of two
        nearly equal inputs would have to be learned)."""
        return self._gaussian(self.encoder(torch.cat([self.normalize(x_prev), self.step_change(x_prev, x_t)], -1)))

    def prior(self, x_prev: Tensor) -> Gaussian:
        """Conditional prior ``p(z | x_{t-1})``."""
        if self.prior_net is None:
            z = x_prev.new_zeros(*x_prev.shape[:-1], self.latent)
            return Gaussian(z, z)
        return self._gaussian(self.prior_net(self.normalize(x_prev)))

    def decode(self, z: Tensor, x_prev: Tensor) -> Tensor:
        """Next state ``(..., dim)`` from ``z`` and ``x_{t-1}``: residuals, rotations left-multiplied."""
        delta = self.decoder(torch.cat([self.normalize(x_prev), z], -1)) * self.delta_scale
        spec = self.spec
        out = []
        for part in spec.parts:
            prev = x_prev[..., spec.slices[part]]
            d = delta[..., spec.out_slices[part]]
            if part in ROTATIONS:
                r_prev = prev.reshape(*prev.shape[:-1], -1, 3, 3)
                r = axis_angle_to_matrix(d.reshape(*d.shape[:-1], -1, 3)) @ r_prev
                out.append(r.flatten(-3))
            else:
                out.append(prev + d)
        return torch.cat(out, -1)

    def forward(self, x_prev: Tensor, x_t: Tensor) -> tuple[Tensor, Gaussian, Gaussian]:
        """Teacher-forced step: ``(x_t estimate from a posterior sample, posterior, prior)``."""
        post = self.encode(x_prev, x_t)
        return self.decode(post.rsample(), x_prev), post, self.prior(x_prev)

    # ------------------------------------------------------------------ generation
    def orthonormalize_rotations(self, x: Tensor) -> Tensor:
        """Project every rotation block of ``x (..., dim)`` back onto SO(3) (against float drift)."""
        parts = []
        for part in self.spec.parts:
            v = x[..., self.spec.slices[part]]
            if part in ROTATIONS:
                v = orthonormalize(v.reshape(*v.shape[:-1], -1, 3, 3)).flatten(-3)
            parts.append(v)
        return torch.cat(parts, -1)

    def project_velocities(self, x_prev: Tensor, x: Tensor, fps: float = MOTION_FPS) -> Tensor:
        """``x (..., dim)`` with its velocity channels replaced by the step it makes from ``x_prev``:
        angular velocities ``log(R_t R_{t-1}^T) * fps``, Euclidean ones ``(L_t - L_{t-1}) * fps``.

        A generated state's velocities are predicted independently of its step, and in long rollouts
        they wander away from it (measured: the angular velocity grew to ~4 rad/s while the head turned
        at ~0.9 rad/s); this keeps them what they claim to be. They are backward differences where the
        data's are central ones (half a frame of lag)."""
        spec, x = self.spec, x.clone()
        step = self.step(x_prev, x) * fps
        for part, vel in spec.velocity_of.items():
            x[..., spec.slices[vel]] = step[..., spec.out_slices[part]]
        return x

    @torch.no_grad()
    def rollout(self, x0: Tensor, horizon: int, n_samples: int = 1, use_mean: bool = False,
                generator: torch.Generator | None = None, feedback=None) -> Tensor:
        """Autoregressive sampling from start states ``x0 (B, dim)``.

        Args:
            horizon: steps to generate.
            n_samples: samples per start state (K).
            use_mean: take the prior's mean instead of sampling z.
            feedback: optional ``f(x_prev (N, dim), x (N, dim)) -> x`` applied to every generated state
                (see :func:`motionprior.rollout.make_feedback`).

        Returns:
            ``(K, B, horizon + 1, dim)``, the start state first.
        """
        b = x0.shape[0]
        x = x0[None].expand(n_samples, b, -1).reshape(n_samples * b, -1)
        out = [x]
        for _ in range(horizon):
            p = self.prior(x)
            z = p.mean if use_mean else p.sample(generator)
            x_new = self.orthonormalize_rotations(self.decode(z, x))
            x = feedback(x, x_new) if feedback is not None else x_new
            out.append(x)
        return torch.stack(out, 1).view(n_samples, b, horizon + 1, -1)
