"""The CVAE's pieces: Gaussian KL against torch.distributions, residual rotations, rollout, schedules."""

from __future__ import annotations

import pytest
import torch
from torch.distributions import Normal, kl_divergence

from flame.rotations import axis_angle_to_matrix
from motionprior.losses import kl_weight_at
from motionprior.model import Gaussian, HumorFace, HumorNetwork
from motionprior.state import StateSpec
from motionprior.steering import teacher_probability

TINY = HumorNetwork(hidden=32, layers=2, latent=8)


def random_states(spec: StateSpec, n: int, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, spec.dim, generator=g)
    for part in spec.rotations:
        k = spec.parts[part] // 9
        x[:, spec.slices[part]] = axis_angle_to_matrix(0.3 * torch.randn(n, k, 3, generator=g)).flatten(1)
    return x


def test_gaussian_kl_matches_torch_distributions():
    g = torch.Generator().manual_seed(0)
    a = Gaussian(torch.randn(5, 7, generator=g), torch.randn(5, 7, generator=g))
    b = Gaussian(torch.randn(5, 7, generator=g), torch.randn(5, 7, generator=g))
    ref = kl_divergence(Normal(a.mean, (0.5 * a.logvar).exp()), Normal(b.mean, (0.5 * b.logvar).exp()))
    torch.testing.assert_close(a.kl(b), ref)
    assert a.kl(a).abs().max() < 1e-6


def test_decoder_left_multiplies_rotation_deltas():
    spec = StateSpec(n_exp=4)
    torch.manual_seed(0)
    model = HumorFace(spec, TINY)
    last = model.decoder.linears[-1]
    delta = torch.randn(spec.out_dim) * 0.1
    with torch.no_grad():
        last.weight.zero_()
        last.bias.copy_(delta)
    x = random_states(spec, 3)
    out = model.decode(torch.randn(3, 8), x)
    for part in spec.rotations:
        r_delta = axis_angle_to_matrix(delta[spec.out_slices[part]].view(-1, 3))
        torch.testing.assert_close(spec.get(out, part), r_delta @ spec.get(x, part), atol=1e-6, rtol=0)
    for part in spec.euclidean:
        torch.testing.assert_close(out[:, spec.slices[part]], x[:, spec.slices[part]] + delta[spec.out_slices[part]])


def test_rollout_shapes_seeds_and_orthonormality():
    spec = StateSpec(n_exp=4)
    torch.manual_seed(0)
    model = HumorFace(spec, TINY).eval()
    x0 = random_states(spec, 2)
    run = lambda seed: model.rollout(x0, 50, n_samples=3, generator=torch.Generator().manual_seed(seed))  # noqa: E731
    a, b, c = run(1), run(1), run(2)
    assert a.shape == (3, 2, 51, spec.dim)
    torch.testing.assert_close(a, b)
    assert not torch.allclose(a, c)
    torch.testing.assert_close(a[:, :, 0], x0.expand(3, 2, -1))
    r = spec.get(a, "root_orient")
    assert (r @ r.transpose(-1, -2) - torch.eye(3)).abs().max() < 1e-5
    mean = model.rollout(x0, 5, n_samples=4, use_mean=True)
    torch.testing.assert_close(mean[0], mean[3])  # the prior mean is deterministic


def test_schedules_as_configured():
    # HuMoR: ground truth until epoch 10, then 0.9 ... 0.1, autoregressive from epoch 20
    assert [teacher_probability(e, 10, 20) for e in (0, 10, 11, 15, 19, 20, 50)] == pytest.approx(
        [1, 1, 0.9, 0.5, 0.1, 0, 0])
    assert teacher_probability(3, 5, 5) == 1 and teacher_probability(5, 5, 5) == 0
    assert [kl_weight_at(e, 4e-4, 50) for e in (0, 25, 50, 80)] == pytest.approx([0, 2e-4, 4e-4, 4e-4])
    assert kl_weight_at(0, 1.0, 0) == 1.0


def test_the_sampling_path_does_not_import_lightning():
    """Loading a prior file, featurizing clips, rolling out and writing samples need no Lightning (the
    demo and the evaluation load fast and run where Lightning is not wanted)."""
    import subprocess
    import sys

    code = ("import sys; import motionprior.sample, motionprior.generator, motionprior.clips, motionprior.rollout, "
            "motionprior.diffusion, motionprior.figures, motionprior.pack, eval.motion, "
            "eval.motion_features; "
            "bad = sorted(m for m in sys.modules if m.split('.')[0] in ('lightning', 'pytorch_lightning')); "
            "print(bad); sys.exit(1 if bad else 0)")
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert run.returncode == 0, run.stdout + run.stderr
