"""The long-context family: a transformer denoising-diffusion model over windows of motion features.

* **What it models**: windows of ``window`` frames at 30 Hz of :mod:`motionprior.features` (head 6D,
  jaw axis-angle, expression), normalized per channel with training-split statistics (buffers, saved
  with the weights).
* **Denoiser**: what the known frames say alone is the window's *base* (:func:`interpolation_base`: a
  straight line across a gap between known frames; after a past, its last value decaying towards the
  feature mean over ``base_decay_s``; the mean where nothing is known);
  the diffusion runs on the *residual* from it, so a denoiser that adds nothing completes a gap by linear
  interpolation, and the known frames reach every unknown one through the base rather than only through
  attention (why: ``docs/experiments/2026-12-07-inpainting-residual.md``). Every frame is a token
  ``Linear([r_t, base, m])`` (noisy residual, base, known-mask) plus a sinusoidal frame position and the
  embedded diffusion step; a pre-norm transformer encoder over the window; a linear head predicting the
  clean residual (MDM's ``x_0`` parameterization), each channel projected onto the smoothest signals of the
  window up to its group's ``max_frequency`` (:func:`lowpass_projection`; facial motion is band-limited -
  the bands chosen and why: ``docs/experiments/2026-11-30-long-context-family.md``; the projection keeps
  per-frame noise out of the samples by construction, as DCT-domain motion predictors do); zero on known
  entries.
* **Diffusion**: cosine noise schedule (Nichol & Dhariwal) of ``diffusion_steps``; sampling by DDIM over
  ``sampling_steps`` evenly spaced steps with stochasticity ``eta`` (0: deterministic given the noise).
* **Inpainting** is conditioning: the model is trained with masks (a known past of 1..``context``
  frames, a known past and future around a gap, known head channels, nothing known), so one network
  predicts from a past, fills gaps and completes expression given head pose. :func:`complete` sweeps
  windows over a clip of any length: a gap that fits in a window with known frames on both sides is
  centred in it (infilling); otherwise the window starts ``context`` frames before the first frame with
  an unknown entry (prediction); each completed window becomes known for the next one. A rollout is a completion of a
  known past followed by unknown frames: ``context`` frames (>= 1 s) of past condition every window.
* **Boundaries**: the denoiser alone does not hold the motion to the known frames (measured in
  ``docs/experiments/2026-12-07-continuity.md``); each completed window is joined to what is known by
  :func:`blend_boundaries` (inertialization: the offset at every boundary is removed and faded out, over
  ``blend_frames`` after a known past and over the whole gap between known frames), so what is known is
  continued without a jump.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor, nn

from flame.errors import InputError
from flame.sequence import MOTION_FPS, FlameSequence
from motionprior.features import FeatureLayout, features_to_params, states_to_features
from motionprior.generator import Generator, MotionStart, params_to_sequence
from motionprior.settings import as_block
from motionprior.state import StateSpec, sequence_to_states

__all__ = ["DiffusionNetwork", "MotionDenoiser", "cosine_alphas_cumprod", "ddim_sample", "complete", "blend_boundaries",
           "DiffusionGenerator"]


@dataclass(frozen=True)
class DiffusionNetwork:
    """The denoiser and its sampler.

    Attributes:
        window: frames per window (30 Hz).
        context: known past frames of every rollout window after the first (>= 30: one second).
        width / layers / heads / dropout: the transformer encoder (feed-forward 4 x width).
        diffusion_steps: noise levels of training; sampling_steps: DDIM steps when sampling.
        eta: DDIM stochasticity (0: deterministic given the initial noise; 1: DDPM-like).
        max_frequency: highest frequency (Hz) of the predicted clean window: one number, or one per
            feature group (``head``, ``jaw``, ``expression``).
        blend_frames: frames over which a completed window's offset from the known motion at each boundary
            is faded out (:func:`blend_boundaries`; 0: none).
        base_decay_s: time constant (s) of the base of a prediction: the last known value decaying towards the
            feature mean (:func:`interpolation_base`).
    """

    window: int = 60
    context: int = 30
    width: int = 256
    layers: int = 4
    heads: int = 4
    dropout: float = 0.1
    diffusion_steps: int = 100
    sampling_steps: int = 20
    eta: float = 0.0
    max_frequency: float | dict[str, float] = 10.0
    blend_frames: int = 15
    base_decay_s: float = 1.0

    def __post_init__(self) -> None:
        if not 1 <= self.context < self.window:
            raise ValueError(f"context {self.context} must be between 1 and window - 1 ({self.window - 1})")
        if self.base_decay_s <= 0:
            raise ValueError(f"base_decay_s must be positive, got {self.base_decay_s}")
        if self.blend_frames < 0:
            raise ValueError(f"blend_frames must be at least 0 (0: no blending), got {self.blend_frames}")
        if not 1 <= self.sampling_steps <= self.diffusion_steps:
            raise ValueError(f"sampling_steps {self.sampling_steps} must be between 1 and diffusion_steps")
        limits = self.max_frequency.values() if isinstance(self.max_frequency, dict) else [self.max_frequency]
        if not all(f > 0 for f in limits):
            raise ValueError(f"max_frequency must be positive, got {self.max_frequency}")

    @property
    def base_decay_frames(self) -> float:
        """``base_decay_s`` in frames at the motion rate."""
        return self.base_decay_s * MOTION_FPS


def cosine_alphas_cumprod(steps: int, s: float = 0.008) -> Tensor:
    """``alpha_bar (steps,)`` of the cosine schedule (betas clipped at 0.999), float64."""
    t = torch.arange(steps + 1, dtype=torch.float64) / steps
    f = torch.cos((t + s) / (1 + s) * math.pi / 2) ** 2
    betas = (1 - f[1:] / f[:-1]).clamp(max=0.999)
    return torch.cumprod(1 - betas, 0)


def lowpass_projection(window: int, max_frequency: float, fps: float = MOTION_FPS) -> Tensor:
    """``(W, W)`` orthogonal projection onto the smoothest signals of a ``window``-frame window: the
    eigenvectors of least bending energy (squared second differences, free ends) - lines, then slower to
    faster curves - as many as the DCT-II cosines of frequency ``k fps / (2 W)`` up to ``max_frequency``,
    plus one (the line). Cosines alone would force zero slope at both ends of the window (their even
    extension), so every window would end slowing down and the next one start from a stop."""
    k = min(int(max_frequency * 2 * window / fps) + 2, window)
    second = torch.zeros(window - 2, window, dtype=torch.float64)
    for i in range(window - 2):
        second[i, i:i + 3] = torch.tensor([1.0, -2.0, 1.0], dtype=torch.float64)
    _, vectors = torch.linalg.eigh(second.T @ second)  # ascending bending energy
    basis = vectors[:, :k]
    return (basis @ basis.T).float()


def _smooth_decay(u: Tensor) -> Tensor:
    """1 at ``u <= 0``, 0 at ``u >= 1``, smoothstep between (zero slope at both ends)."""
    u = u.clamp(0.0, 1.0)
    return 1 - u * u * (3 - 2 * u)


def nearest_known(mask: Tensor) -> tuple[Tensor, Tensor]:
    """Per entry of ``mask (B, W, F)`` (1 = known), the frame index ``(B, W, F)`` of the last known entry at or
    before it in its channel (-1: none) and of the first at or after it (W: none)."""
    b, w, f = mask.shape
    known = mask > 0.5
    idx = torch.arange(w, device=mask.device).view(1, w, 1).expand(b, w, f)
    left = torch.where(known, idx, torch.full_like(idx, -1)).cummax(1).values
    right = torch.where(known, idx, torch.full_like(idx, w)).flip(1).cummin(1).values.flip(1)
    return left, right


def interpolation_base(known: Tensor, mask: Tensor, decay_frames: float) -> Tensor:
    """What the known entries of ``known (B, W, F)`` (normalized; ``mask`` 1 = known) say alone, per channel:
    the known value itself; a straight line across a gap between known frames; in a run with a known side
    only (a prediction), the nearest known value decaying towards the feature mean (0) with time constant
    ``decay_frames`` - the expected course of a stationary process from a known value; 0 where nothing is
    known. The denoiser generates the residual from it."""
    w = known.shape[1]
    left, right = nearest_known(mask)
    has_left, has_right = left >= 0, right < w
    v_left, v_right = known.gather(1, left.clamp(min=0)), known.gather(1, right.clamp(max=w - 1))
    idx = torch.arange(w, device=known.device).view(1, w, 1)
    frac = ((idx - left) / (right - left).clamp(min=1)).to(known.dtype)
    line = v_left + frac * (v_right - v_left)
    after = v_left * torch.exp(-(idx - left).to(known.dtype) / decay_frames)
    before = v_right * torch.exp(-(right - idx).to(known.dtype) / decay_frames)
    held = torch.where(has_left, after, torch.where(has_right, before, torch.zeros_like(known)))
    return torch.where(mask > 0.5, known, torch.where(has_left & has_right, line, held))


def blend_boundaries(x: Tensor, mask: Tensor, frames: int) -> Tensor:
    """Continue the known motion into every run of unknown frames of ``x (B, W, F)`` (``mask (B, W, F)``, 1 =
    known), per channel. After a known past (a prediction), the run's first frame is moved to the last known
    value plus the run's own first step, and that offset fades out over ``frames`` frames (smoothstep). A run
    between known frames on both sides (a gap) has its first and last frames moved to continue the known
    frames at their own velocity (the run's own step where only one frame is known on that side), and both
    offsets fade over the whole gap, so it meets both neighbours and a constant offset of the whole
    completion goes. Known entries are returned unchanged. This is inertialization, the way animation
    systems join two motions without a jump: the generated motion keeps its detail, only its offset at the
    boundaries goes. Which step each kind of run takes was chosen by measurement
    (``docs/experiments/2026-12-07-continuity.md``)."""
    b, w, f = x.shape
    known = mask > 0.5
    idx = torch.arange(w, device=x.device).view(1, w, 1).expand(b, w, f)
    left, right = nearest_known(mask)
    has_left, has_right = left >= 0, right < w
    first, last = left + 1, right - 1  # the run's ends
    at = lambda i: x.gather(1, i.clamp(0, w - 1))  # noqa: E731
    run = last - first + 1
    own_first = torch.where(run > 1, at(first + 1) - at(first), torch.zeros_like(x))
    own_last = torch.where(run > 1, at(last) - at(last - 1), torch.zeros_like(x))
    both = has_left & has_right
    known_before = both & (left >= 1) & known.gather(1, (left - 1).clamp(min=0))  # a gap, 2 known frames before
    known_after = both & (right <= w - 2) & known.gather(1, (right + 1).clamp(max=w - 1))  # ... and after
    step_in = torch.where(known_before, at(left) - at(left - 1), own_first)
    step_out = torch.where(known_after, at(right + 1) - at(right), own_last)
    d_left = torch.where(has_left, at(left) + step_in - at(first), torch.zeros_like(x))
    d_right = torch.where(has_right, at(right) - step_out - at(last), torch.zeros_like(x))
    span = torch.where(both, run - 1, torch.full_like(run, frames)).clamp(min=1).to(x.dtype)
    w_left = _smooth_decay((idx - first).to(x.dtype) / span)
    w_right = _smooth_decay((last - idx).to(x.dtype) / span)
    single = both & (run == 1)  # one unknown frame between known ones: half of each side's offset
    w_left, w_right = torch.where(single, 0.5, w_left), torch.where(single, 0.5, w_right)
    return torch.where(known, x, x + w_left * d_left + w_right * d_right)


def _sinusoid(positions: Tensor, width: int) -> Tensor:
    """``(..., width)`` sinusoidal embedding of ``positions (...)``."""
    half = width // 2
    freqs = torch.exp(-math.log(10000.0) * torch.arange(half, dtype=torch.float32, device=positions.device) / half)
    angles = positions.float()[..., None] * freqs
    return torch.cat([angles.sin(), angles.cos()], -1)


class MotionDenoiser(nn.Module):
    """Predicts the clean window ``x_0 (B, W, F)`` from a noisy one (see the module docstring).

    Args:
        spec: the state layout the features come from; network: sizes and sampler (:class:`DiffusionNetwork`).
    """

    def __init__(self, spec: StateSpec = StateSpec(), network: DiffusionNetwork = DiffusionNetwork()) -> None:
        super().__init__()
        self.spec, self.network, self.features = spec, network, FeatureLayout(spec)
        f, w = self.features.dim, network.width
        self.inp = nn.Linear(3 * f, w)
        self.step_mlp = nn.Sequential(nn.Linear(w, w), nn.SiLU(), nn.Linear(w, w))
        layer = nn.TransformerEncoderLayer(w, network.heads, 4 * w, network.dropout, activation="gelu",
                                           batch_first=True, norm_first=True)
        self.encoder = nn.TransformerEncoder(layer, network.layers, enable_nested_tensor=False)
        self.norm = nn.LayerNorm(w)
        self.out = nn.Linear(w, f)
        self.register_buffer("positions", _sinusoid(torch.arange(network.window), w), persistent=False)
        self.register_buffer("alphas_cumprod", cosine_alphas_cumprod(network.diffusion_steps).float(), persistent=False)
        limits = self.features.per_channel(network.max_frequency, "max_frequency")
        projections = {f: lowpass_projection(network.window, f) for f in set(limits)}
        self.register_buffer("lowpass", torch.stack([projections[f] for f in limits]), persistent=False)  # (F, W, W)
        self.register_buffer("feature_mean", torch.zeros(f))
        self.register_buffer("feature_std", torch.ones(f))

    def set_statistics(self, mean: Tensor, std: Tensor) -> None:
        """Training-split per-channel mean and std of the features."""
        self.feature_mean.copy_(mean)
        self.feature_std.copy_(std.clamp_min(1e-4))

    def normalize(self, x: Tensor) -> Tensor:
        return (x - self.feature_mean) / self.feature_std

    def denormalize(self, x: Tensor) -> Tensor:
        return x * self.feature_std + self.feature_mean

    def forward(self, r_t: Tensor, step: Tensor, base: Tensor, mask: Tensor) -> Tensor:
        """Clean-residual estimate ``(B, W, F)`` (normalized; 0 on known entries) from the noisy residual
        ``r_t (B, W, F)``, the diffusion ``step (B,)``, the window's ``base (B, W, F)`` (:func:`interpolation_base`
        of what is known) and ``mask (B, W, F)`` (1 = known), band-limited. The completed window is
        ``base + residual``."""
        w = r_t.shape[1]
        h = self.inp(torch.cat([r_t, base, mask], -1)) + self.positions[:w]
        h = h + self.step_mlp(_sinusoid(step, h.shape[-1]))[:, None]
        r0 = torch.einsum("fts,bsf->btf", self.lowpass[:, :w, :w], self.out(self.norm(self.encoder(h))))
        return (1 - mask) * r0

    def q_sample(self, x0: Tensor, step: Tensor, noise: Tensor) -> Tensor:
        """The noisy window at ``step (B,)``."""
        a = self.alphas_cumprod[step].view(-1, 1, 1)
        return a.sqrt() * x0 + (1 - a).sqrt() * noise


def denoising_loss(model: MotionDenoiser, x0: Tensor, mask: Tensor, channel_weights: Tensor | None = None,
                   snr_cap: float = 1.0) -> Tensor:
    """Weighted mean squared error of the clean-window estimate (base + estimated residual) on the unknown
    entries; ``x0 (B, W, F)`` normalized, ``mask (B, W, F)``, ``channel_weights (F,)`` (default 1); the
    diffusion step is uniform, the noise standard normal. Each row is weighted by its step's signal-to-noise
    ratio clamped to ``[1, snr_cap]`` (1: plain x0 error; larger caps make the nearly clean steps, which carry
    the fine motion, count more - the truncated / min-SNR weightings of the diffusion literature)."""
    step = torch.randint(model.network.diffusion_steps, (len(x0),), device=x0.device)
    base = interpolation_base(x0, mask, model.network.base_decay_frames)
    r0 = (1 - mask) * (x0 - base)
    r0_hat = model(model.q_sample(r0, step, torch.randn_like(x0)), step, base, mask)
    a = model.alphas_cumprod[step]
    row = (a / (1 - a).clamp_min(1e-8)).clamp(1.0, snr_cap).view(-1, 1, 1)
    unknown = 1 - mask
    w = channel_weights if channel_weights is not None else x0.new_ones(x0.shape[-1])
    return ((r0_hat - r0).pow(2) * unknown * w * row).sum() / unknown.sum().clamp_min(1.0)


@torch.no_grad()
def ddim_sample(model: MotionDenoiser, known: Tensor, mask: Tensor, generator: torch.Generator, mean: bool = False
                ) -> Tensor:
    """Windows ``(B, W, F)`` (normalized) completing ``known`` where ``mask`` is 0, by DDIM (see the
    module docstring); ``mean``: from zero noise without stochasticity."""
    net = model.network
    ab = model.alphas_cumprod
    steps = torch.linspace(net.diffusion_steps - 1, 0, net.sampling_steps).round().long().tolist()
    eta = 0.0 if mean else net.eta
    noise = lambda: torch.randn(known.shape, generator=generator, device=known.device)  # noqa: E731
    base = interpolation_base(known, mask, net.base_decay_frames)
    r = torch.zeros_like(known) if mean else noise()
    for i, t in enumerate(steps):
        r0 = model(r, torch.full((len(r),), t, device=r.device, dtype=torch.long), base, mask)
        if i == len(steps) - 1:
            break
        a, a_prev = ab[t], ab[steps[i + 1]]
        eps = (r - a.sqrt() * r0) / (1 - a).sqrt()
        sigma = eta * ((1 - a_prev) / (1 - a) * (1 - a / a_prev)).clamp_min(0).sqrt()
        r = a_prev.sqrt() * r0 + (1 - a_prev - sigma ** 2).clamp_min(0).sqrt() * eps
        if eta > 0:
            r = r + sigma * noise()
    return base + r0


@torch.no_grad()
def complete(model: MotionDenoiser, features: Tensor, mask: Tensor, generator: torch.Generator,
             mean: bool = False) -> Tensor:
    """Complete clips ``features (N, T, F)`` (raw units) where ``mask (N, T, F)`` is 0, window by window
    (see the module docstring); returns ``(N, T, F)`` with the known entries unchanged."""
    net = model.network
    w, c = net.window, net.context
    n, t, f = features.shape
    pad = max(0, w - t)
    x = model.normalize(torch.cat([features, features.new_zeros(n, pad, f)], 1))
    m = torch.cat([mask.to(x.dtype), mask.new_zeros(n, pad, f).to(x.dtype)], 1)
    x = x * m
    todo = (m[:, :t] < 1).any(-1)  # (N, T): frames with an unknown entry (padding never counts)
    while todo.any():
        rows = todo.any(1).nonzero()[:, 0]
        first = todo[rows].float().argmax(1)
        after = torch.arange(t, device=x.device) > first[:, None]
        end = torch.where(after & ~todo[rows], torch.arange(t, device=x.device), t).min(1).values  # first known frame after
        gap = end - first
        # a gap that fits with known frames on both sides sits in the middle of its window (infilling);
        # otherwise the window starts `context` frames before it (prediction)
        start = torch.where((gap <= w - 2) & (end < t), first - (w - gap) // 2, first - c)
        start = start.clamp(min=0).clamp(max=max(0, t + pad - w))
        idx = start[:, None] + torch.arange(w, device=x.device)  # (R, W)
        win_x = x[rows[:, None], idx]
        win_m = m[rows[:, None], idx]
        out = ddim_sample(model, win_x, win_m, generator, mean)
        if net.blend_frames:
            out = blend_boundaries(out, win_m, net.blend_frames)
        x[rows[:, None], idx] = out
        m[rows[:, None], idx] = 1.0
        todo[rows[:, None], idx.clamp(max=t - 1)] = False
    return model.denormalize(x[:, :t])


class DiffusionGenerator(Generator):
    """A trained long-context diffusion model behind :class:`motionprior.generator.Generator`, with
    :meth:`inpaint` for completing given clips."""

    family = "motion-diffusion"
    can_inpaint = True
    revision = 2  # 2: the denoiser generates the residual from the interpolation base (was: the whole window)

    @classmethod
    def build_network(cls, config: dict) -> MotionDenoiser:
        return MotionDenoiser(as_block(StateSpec, config["state"]), as_block(DiffusionNetwork, config["network"]))

    @property
    def layout(self) -> FeatureLayout:
        return self.network.features

    def past_features(self, start: MotionStart) -> Tensor:
        """Features ``(P, F)`` of the start's past at 30 Hz (the last ``context`` frames at most)."""
        states = self.past_states(start)[-self.network.network.context:]
        return states_to_features(torch.as_tensor(states, dtype=torch.float32, device=self.device), self.layout)

    def generate(self, starts: list[MotionStart], horizon: int, n_samples: int, generator: torch.Generator,
                 mean: bool) -> tuple[Tensor, Tensor]:
        pasts = [self.past_features(s) for s in starts]
        if not all(torch.isfinite(p).all() for p in pasts):
            raise ValueError("start frames contain NaN / inf")
        longest = max(len(p) for p in pasts)
        feats = torch.zeros(len(starts), longest + horizon, self.layout.dim, device=self.device)
        known = torch.zeros_like(feats)
        for b, p in enumerate(pasts):  # left-aligned: a shorter past gets a few extra frames generated, cut below
            feats[b, :len(p)], known[b, :len(p)] = p, 1.0
        out = complete(self.network, feats.repeat(n_samples, 1, 1), known.repeat(n_samples, 1, 1), generator, mean)
        out = out.view(n_samples, len(starts), *feats.shape[1:])
        out = torch.stack([out[:, b, len(p) - 1:len(p) + horizon] for b, p in enumerate(pasts)], 1)  # start first
        return features_to_params(out, self.layout)

    @torch.no_grad()
    def inpaint(self, sequence: FlameSequence, known_frames: np.ndarray, given: tuple[str, ...] = (), view: int = 0,
                n_samples: int = 1, seed: int = 0, mean: bool = False) -> FlameSequence:
        """Complete one view of ``sequence`` (resampled to 30 Hz): every feature is known on the frames
        where ``known_frames (T30,)`` is true, and the groups in ``given`` (e.g. ``("head",)``: expression
        given head pose) on every frame; the rest is generated. Returns ``n_samples`` completions as a
        FlameSequence at 30 Hz (known entries unchanged)."""
        self.check_request(1, n_samples, len(known_frames))
        states = sequence_to_states(sequence, self.layer, self.spec, view=view)
        known_frames = np.asarray(known_frames, bool)
        if known_frames.shape != (len(states),):
            raise InputError(f"known_frames: expected {len(states)} flags (the view at 30 Hz), got {known_frames.shape}")
        feats = states_to_features(torch.as_tensor(states, dtype=torch.float32, device=self.device), self.layout)
        mask = torch.zeros_like(feats)
        mask[torch.as_tensor(known_frames, device=self.device)] = 1.0
        mask[:, self.layout.channels(*given)] = 1.0
        gen = torch.Generator(device=self.device).manual_seed(int(seed))
        out = complete(self.network, feats[None].repeat(n_samples, 1, 1), mask[None].repeat(n_samples, 1, 1), gen, mean)
        pose, expression = features_to_params(out, self.layout)
        name = str(sequence.metadata.get("name", "clip"))
        meta = {"generator": self.family, "generator_file": self.path, "seed": int(seed), "mean": bool(mean),
                "start": f"{name}/{sequence.view_names[view]}", "inpainted": True, "given": list(given),
                "known_frames": int(known_frames.sum())}
        start = MotionStart(sequence, 0, view)
        return params_to_sequence(pose, expression, self.identity(start), self.layer, metadata=meta)
