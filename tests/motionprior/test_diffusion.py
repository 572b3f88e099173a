"""The long-context family's math: noise schedule, the DDIM sampler against an oracle denoiser, window
completion keeps what is known, training masks, features round trip."""

from __future__ import annotations

import math

import pytest
import torch

from flame.rotations import axis_angle_to_matrix, matrix_to_rotation_6d
from motionprior.diffusion import (
    DiffusionNetwork,
    MotionDenoiser,
    blend_boundaries,
    complete,
    cosine_alphas_cumprod,
    ddim_sample,
    denoising_loss,
    interpolation_base,
)
from motionprior.features import FeatureLayout, features_to_params
from motionprior.lit_diffusion import MASK_TASKS, training_masks
from motionprior.state import StateSpec

SPEC = StateSpec(n_exp=4)
NET = DiffusionNetwork(window=16, context=6, width=32, layers=1, heads=2, diffusion_steps=50, sampling_steps=10)


class Oracle(MotionDenoiser):
    """Predicts a known clean signal ``target (B, W, F)`` (normalized) whatever the noise: its residual from
    the base."""

    target: torch.Tensor

    def forward(self, r_t, step, base, mask):
        return (1 - mask) * (self.target - base)


def test_cosine_schedule():
    ab = cosine_alphas_cumprod(1000)
    assert ab.shape == (1000,) and (ab[1:] < ab[:-1]).all()
    assert ab[0] > 0.9999 and ab[-1] < 1e-4
    # Nichol & Dhariwal: alpha_bar(t) = f(t) / f(0), f(t) = cos^2((t / T + s) / (1 + s) pi / 2)
    f = lambda t: math.cos((t / 1000 + 0.008) / 1.008 * math.pi / 2) ** 2  # noqa: E731
    assert float(ab[499]) == pytest.approx(f(500) / f(0), rel=1e-6)


@pytest.mark.parametrize("eta", [0.0, 1.0])
def test_ddim_with_an_oracle_denoiser_returns_the_signal(eta):
    """If the network knew x_0, every step's estimate is x_0 and the sampler ends there, whatever the noise."""
    from dataclasses import replace

    torch.manual_seed(0)
    model = Oracle(SPEC, replace(NET, eta=eta))
    model.target = torch.randn(3, NET.window, model.features.dim)
    mask = torch.zeros_like(model.target)
    out = ddim_sample(model, torch.zeros_like(mask), mask, torch.Generator().manual_seed(1))
    torch.testing.assert_close(out, model.target, atol=1e-4, rtol=1e-4)


class Offset(MotionDenoiser):
    """Estimates the clean window ``x0`` off by 0.5 on every unknown entry, whatever the step."""

    x0: torch.Tensor

    def forward(self, r_t, step, base, mask):
        return (1 - mask) * (self.x0 - base + 0.5)


@pytest.mark.parametrize("cap", [1.0, 5.0, 1e6])
def test_denoising_loss_weights_each_row_by_its_clamped_snr(cap):
    model = Offset(SPEC, NET)
    x0 = torch.randn(64, NET.window, model.features.dim)
    model.x0 = x0
    torch.manual_seed(3)
    steps = torch.randint(NET.diffusion_steps, (64,))  # the loss draws its steps first
    ab = cosine_alphas_cumprod(NET.diffusion_steps)[steps].double()
    expected = 0.25 * float((ab / (1 - ab)).clamp(1.0, cap).mean())
    torch.manual_seed(3)
    loss = denoising_loss(model, x0, torch.zeros_like(x0), snr_cap=cap)
    assert float(loss) == pytest.approx(expected, rel=1e-4)
    if cap == 1.0:
        assert float(loss) == pytest.approx(0.25, rel=1e-6)  # the plain clean-window error


def test_interpolation_base_by_hand():
    """One channel, 8 frames: known at 0, 1 and 5 (values 1, 2, 6) - a line across the gap, after the last
    known frame (a prediction) its value decaying to the mean (0) with the time constant; a channel known
    nowhere is the mean."""
    known = torch.zeros(1, 8, 2)
    known[0, [0, 1, 5], 0] = torch.tensor([1.0, 2.0, 6.0])
    mask = torch.zeros_like(known)
    mask[0, [0, 1, 5], 0] = 1.0
    base = interpolation_base(known, mask, decay_frames=2.0)
    decay = [6.0 * math.exp(-1 / 2), 6.0 * math.exp(-2 / 2)]
    torch.testing.assert_close(base[0, :, 0], torch.tensor([1.0, 2.0, 3.0, 4.0, 5.0, 6.0, *decay]))
    assert (base[0, :, 1] == 0).all()
    mask[0, 0, 0], mask[0, 1, 0] = 0.0, 0.0  # only a future: the same decay backwards in time
    expected = [6.0 * math.exp(-(5 - i) / 2) for i in range(5)]
    torch.testing.assert_close(interpolation_base(known, mask, 2.0)[0, :5, 0], torch.tensor(expected))


def test_a_zero_residual_completes_a_gap_with_the_straight_line():
    """The denoiser generates only the residual from the base: a network that outputs zeros fills a gap with
    linear interpolation exactly, and any noise it is given does not reach the output."""
    model = MotionDenoiser(SPEC, NET).eval()
    torch.nn.init.zeros_(model.out.weight), torch.nn.init.zeros_(model.out.bias)
    known = torch.zeros(1, NET.window, model.features.dim)
    known[0, :4], known[0, 12:] = 1.0, 3.0
    mask = torch.zeros_like(known)
    mask[0, :4], mask[0, 12:] = 1.0, 1.0
    out = ddim_sample(model, known, mask, torch.Generator().manual_seed(0))
    torch.testing.assert_close(out[0, 3:13, 0], torch.linspace(1.0, 3.0, 10))


def test_snr_cap_below_one_is_refused():
    from motionprior.lit_diffusion import DiffusionTraining

    with pytest.raises(ValueError, match="snr_cap"):
        DiffusionTraining(snr_cap=0.5)


def test_complete_keeps_the_known_entries_and_fills_every_frame():
    """A clip 3.5 windows long with a known past, a gap, known head channels on every frame: known entries
    come back unchanged (raw units), everything else is generated (finite, not the zeros put in)."""
    torch.manual_seed(0)
    model = MotionDenoiser(SPEC, NET).eval()
    layout = model.features
    model.set_statistics(torch.randn(layout.dim) * 0.1, torch.rand(layout.dim) + 0.5)
    t = int(3.5 * NET.window)
    feats = torch.randn(2, t, layout.dim)
    mask = torch.zeros_like(feats)
    mask[:, :8] = 1.0                       # a past
    mask[:, 30:34] = 1.0                    # frames around a gap
    mask[:, :, layout.channels("head")] = 1.0
    out = complete(model, feats, mask, torch.Generator().manual_seed(0))
    assert out.shape == feats.shape and torch.isfinite(out).all()
    known = mask.bool()
    torch.testing.assert_close(out[known], feats[known], atol=1e-5, rtol=1e-5)
    assert (out[~known] != 0).all()
    again = complete(model, feats, mask, torch.Generator().manual_seed(0))
    torch.testing.assert_close(out, again)


def test_training_masks_follow_the_tasks():
    torch.manual_seed(0)
    layout = FeatureLayout(SPEC)
    head = layout.channels("head")
    for task in MASK_TASKS:
        m = training_masks(200, layout, NET.window, NET.context, {task: 1.0})
        frames = m[..., layout.channels("jaw")[0]]  # (n, W): which frames are fully known
        if task == "past":
            k = frames.sum(1)
            assert ((k >= 1) & (k <= NET.context)).all() and (frames[:, 0] == 1).all()
            assert (frames.diff(dim=1) <= 0).all()  # a prefix
            assert (k == NET.context).float().mean() > 0.4  # about half: a whole context
        elif task == "gap":
            assert (frames[:, 0] == 1).all() and (frames.sum(1) < NET.window).all()
            assert ((frames.diff(dim=1) != 0).sum(1) <= 2).all()  # known, unknown, known
        elif task == "head":
            assert (m[..., head] == 1).all() and (frames.sum(1) < NET.context).all()
        else:
            assert (m == 0).all()


def test_features_round_trip_to_flame_pose():
    layout = FeatureLayout(SPEC)
    g = torch.Generator().manual_seed(0)
    head, jaw = 0.5 * torch.randn(10, 3, generator=g), 0.2 * torch.randn(10, 3, generator=g)
    expr = torch.randn(10, 4, generator=g)
    feats = torch.cat([matrix_to_rotation_6d(axis_angle_to_matrix(head)), jaw, expr], -1)
    pose, expression = features_to_params(feats, layout)
    torch.testing.assert_close(pose[:, 0:3], head, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(pose[:, 6:9], jaw)
    torch.testing.assert_close(expression, expr)
    assert (pose[:, 3:6] == 0).all() and (pose[:, 9:] == 0).all()
    with pytest.raises(ValueError, match="neck"):
        FeatureLayout(StateSpec(neck=True))


def test_lowpass_projection_keeps_slow_motion_and_removes_flicker():
    from motionprior.diffusion import lowpass_projection

    p = lowpass_projection(60, 10.0)
    torch.testing.assert_close(p @ p, p, atol=1e-5, rtol=0)  # a projection
    torch.testing.assert_close(p, p.T, atol=1e-6, rtol=0)  # orthogonal
    t = torch.arange(60) / 30.0
    speech = torch.sin(2 * math.pi * 4.0 * t + 0.3)  # 4 Hz syllables pass, edges included
    assert (p @ speech - speech).abs().max() < 0.05
    turn = 0.3 * t + torch.sin(2 * math.pi * 0.5 * t)  # a head turning at the window's ends keeps turning
    assert (p @ turn - turn).abs().max() < 0.01
    flicker = torch.tensor([(-1.0) ** i for i in range(60)])  # 15 Hz alternation: < 5 % of its energy passes
    assert (p @ flicker).norm() ** 2 < 0.05 * flicker.norm() ** 2


def test_band_limits_per_feature_group():
    from dataclasses import replace

    model = MotionDenoiser(SPEC, replace(NET, window=60, max_frequency={"head": 2.0, "jaw": 7.0, "expression": 7.0}))
    t = torch.arange(60) / 30.0
    speech = torch.sin(2 * math.pi * 4.0 * t + 0.3)
    layout = model.features
    for c in layout.channels("jaw", "expression"):  # 4 Hz passes the jaw and expression channels ...
        assert (model.lowpass[c] @ speech - speech).norm() < 0.1 * speech.norm()
    for c in layout.channels("head"):  # ... and hardly the head's (< 10 % of its energy)
        assert (model.lowpass[c] @ speech).norm() ** 2 < 0.1 * speech.norm() ** 2
    slow = torch.sin(2 * math.pi * 0.5 * t)
    assert (model.lowpass[0] @ slow - slow).abs().max() < 0.01
    with pytest.raises(ValueError, match="missing"):
        MotionDenoiser(SPEC, replace(NET, max_frequency={"head": 2.0, "jaw": 7.0}))
    with pytest.raises(ValueError, match="unknown groups"):
        MotionDenoiser(SPEC, replace(NET, max_frequency={"head": 2.0, "jaw": 7.0, "expression": 7.0, "neck": 1.0}))
    with pytest.raises(ValueError, match="positive"):
        replace(NET, max_frequency=0.0)


def test_a_gap_is_completed_between_known_frames_on_both_sides():
    """A 10-frame gap in a 16-frame window: the window is centred on the gap (3 known frames either side), so
    the completion sees the frames after the gap; an open end (a rollout) starts ``context`` frames back."""
    seen = []

    class Recorder(MotionDenoiser):
        def forward(self, x_t, step, known, mask):
            seen.append(mask[:, :, 0].clone())
            return super().forward(x_t, step, known, mask)

    torch.manual_seed(0)
    model = Recorder(SPEC, NET).eval()
    feats = torch.randn(1, 48, model.features.dim)
    mask = torch.ones_like(feats)
    mask[:, 20:30] = 0.0
    complete(model, feats, mask, torch.Generator().manual_seed(0))
    assert seen[0][0].tolist() == [1.0] * 3 + [0.0] * 10 + [1.0] * 3
    seen.clear()
    mask = torch.ones_like(feats)
    mask[:, 30:] = 0.0  # the future: prediction from a past of `context` frames
    complete(model, feats, mask, torch.Generator().manual_seed(0))
    assert seen[0][0].tolist() == [1.0] * NET.context + [0.0] * (NET.window - NET.context)


def test_blend_boundaries_removes_an_offset_between_known_frames():
    """A line with gaps whose completion is the line shifted by 3 (a constant offset), then also waving: known
    entries come back exactly, the offset goes (the line is restored), the wave's detail stays and the steps
    into and out of the gap continue the known frames' velocity."""
    t = torch.arange(40, dtype=torch.float64)
    line = (0.1 * t - 1.0)[None, :, None].repeat(2, 1, 3)
    mask = torch.ones_like(line)
    mask[0, 10:30] = 0.0  # a 20-frame gap
    mask[1, 10:14] = 0.0  # a 4-frame gap
    completed = torch.where(mask > 0, line, line + 3.0)
    out = blend_boundaries(completed, mask, frames=8)
    torch.testing.assert_close(out[mask > 0], line[mask > 0], rtol=0, atol=0)
    torch.testing.assert_close(out, line, rtol=0, atol=1e-12)
    wave = torch.where(mask > 0, line, line + 3.0 + 0.2 * torch.sin(t)[None, :, None])
    out = blend_boundaries(wave, mask, frames=8)
    steps = out.diff(dim=1)[0, :, 0]
    assert abs(steps[9] - 0.1) < 1e-9 and abs(steps[29] - 0.1) < 1e-9  # into and out of the gap: the line's step
    assert (out - line)[0, 12:28, 0].std() > 0.1  # the completion's own motion (the wave, std 0.14) is kept


def test_blend_boundaries_continues_from_a_single_known_frame():
    """One known frame, then a completion that starts 5 away and moves 0.1 a frame: the first generated frame
    takes the completion's own step from the known value, and the offset fades out over ``frames``."""
    t = torch.arange(30, dtype=torch.float64)
    mask = torch.zeros(1, 30, 1, dtype=torch.float64)
    mask[:, 0] = 1.0
    x = torch.where(mask > 0, torch.zeros(1, 30, 1, dtype=torch.float64), (5.0 + 0.1 * t)[None, :, None])
    out = blend_boundaries(x, mask, frames=10)
    assert out[0, 0, 0] == 0.0 and out[0, 1, 0] == pytest.approx(0.1)
    torch.testing.assert_close(out[0, 11:], x[0, 11:])  # faded out after 10 frames
    assert (out.diff(dim=1) > 0).all()  # monotone: no overshoot on the way


def test_complete_continues_the_known_motion():
    """A denoiser whose completion is 40 units off (a model that ignores what it is given): the output still
    leaves the known past with the past's own step and returns the known frames exactly."""
    torch.manual_seed(0)
    model = Oracle(SPEC, NET).eval()
    layout = model.features
    t = torch.arange(40, dtype=torch.float32)
    feats = (0.05 * t)[None, :, None].repeat(1, 1, layout.dim)
    mask = torch.zeros_like(feats)
    mask[:, :NET.context] = 1.0
    model.target = feats[:, :NET.window] + 40.0
    out = complete(model, feats, mask, torch.Generator().manual_seed(0), mean=True)
    torch.testing.assert_close(out[:, :NET.context], feats[:, :NET.context])
    first = out[0, NET.context] - out[0, NET.context - 1]
    torch.testing.assert_close(first, torch.full_like(first, 0.05), rtol=0, atol=1e-4)
