"""The motion prior inside the annotation: one epoch's batch gradients add up to the gradient of the whole
motion's mean step NLL, a prior of another head model or family is refused, and the runner carries it."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

from annotator.motion_term import MotionPriorTerm, load_motion_prior
from annotator.neuface import AnnotateConfig, annotate
from flame.errors import InputError
from flame.layer import FlameLayer
from flame.sequence import resample_positions
from motionprior.generator import load_generator
from motionprior.state import states_at


@pytest.fixture(scope="module")
def prior_file(tmp_path_factory, standin_paths, layer32, write_generator):
    return write_generator(tmp_path_factory.mktemp("prior") / "prior.pt", standin_paths.pkl, layer32.model_sha256)


def random_motion(n_views: int, n_frames: int, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    pose = torch.zeros(n_views, n_frames, 15)
    pose[..., :3] = 0.05 * torch.randn(n_views, n_frames, 3, generator=g).cumsum(1)
    pose[..., 6] = 0.1 + 0.05 * torch.randn(n_views, n_frames, generator=g)
    expression = torch.randn(n_views, n_frames, 50, generator=g)
    return expression, pose, 0.5 * torch.randn(100, generator=g)


@pytest.mark.parametrize("fps", [25.0, 30.0, 60.0])
def test_an_epochs_batches_add_up_to_the_gradient_of_the_whole_motions_mean_step_nll(prior_file, standin_paths,
                                                                                      layer32, fps):
    term = load_motion_prior(prior_file, layer32, standin_paths.pkl)
    n_frames, views = 29, 2
    expression, pose, shape = random_motion(views, n_frames)
    value = term.refresh(expression, pose, shape, fps)
    # the reference: the mean NLL of every step of the whole motion, built independently of the term
    e, p = expression.clone().requires_grad_(), pose.clone().requires_grad_()
    frames = term.frame_vectors(e, p, shape)
    states = states_at(lambda i: frames[:, i], n_frames, fps, term.spec, torch.as_tensor(resample_positions(n_frames, fps)))
    reference = term.generator.transition_nll(states).mean()
    reference.backward()
    assert value == pytest.approx(float(reference.detach()), rel=1e-5)
    assert e.grad.abs().sum() > 0 and p.grad[..., :3].abs().sum() > 0
    # the batches of one epoch (a random partition of the frames): their gradients add up to T / B x the mean's
    g_e, g_p = torch.zeros_like(e), torch.zeros_like(p)
    batch = 5
    for t_idx in torch.randperm(n_frames, generator=torch.Generator().manual_seed(0)).split(batch):
        live_e, live_p = expression[:, t_idx].clone().requires_grad_(), pose[:, t_idx].clone().requires_grad_()
        term.loss(live_e, live_p, t_idx).backward()
        g_e[:, t_idx], g_p[:, t_idx] = live_e.grad * len(t_idx) / batch, live_p.grad * len(t_idx) / batch
    torch.testing.assert_close(g_e, e.grad * n_frames / batch, rtol=1e-5, atol=1e-8)
    torch.testing.assert_close(g_p, p.grad * n_frames / batch, rtol=1e-5, atol=1e-8)
    # scoring the steps in chunks (bounded memory for long clips) changes nothing but float32 summation order
    small = MotionPriorTerm(term.generator, layer32, chunk=4)
    assert small.refresh(expression, pose, shape, fps) == pytest.approx(value, rel=1e-5)
    for a, b in zip(small._grad, term._grad):
        torch.testing.assert_close(a, b, rtol=1e-3, atol=1e-3 * float(b.abs().max()))


def test_a_prior_of_another_head_model_or_without_a_likelihood_is_refused(tmp_path, standin_paths, layer32,
                                                                         standin_model, standin_embedding,
                                                                         write_generator):
    other = FlameLayer(dataclasses.replace(standin_model, sha256="f" * 64), standin_embedding, n_shape=100, n_exp=50)
    recorded = write_generator(tmp_path / "recorded.pt", standin_paths.pkl, "0" * 64)
    with pytest.raises(InputError, match="trained with head model 000000000000.*pass the model file it was trained"):
        load_motion_prior(recorded, layer32, standin_paths.pkl)
    unrecorded = write_generator(tmp_path / "old.pt", standin_paths.pkl, None)  # checked against its own model
    load_motion_prior(unrecorded, layer32, standin_paths.pkl)
    with pytest.raises(InputError, match="trained with head model .* but the annotation uses .*ffffffff"):
        load_motion_prior(unrecorded, other, standin_paths.pkl)
    with pytest.raises(InputError, match="motion-diffusion generator has no per-step likelihood"):
        load_motion_prior(write_generator(tmp_path / "d.pt", standin_paths.pkl, layer32.model_sha256, "motion-diffusion"),
                          layer32, standin_paths.pkl)
    with pytest.raises(InputError, match="but the annotation uses"):  # the term itself checks too
        MotionPriorTerm(load_generator(unrecorded), other)


@pytest.mark.slow  # annotates with the pretrained encoder
def test_the_prior_joins_after_the_first_stage_which_is_the_fit_without_it(prior_file, standin_paths,
                                                                            layer32_small_encoder, tiny_corpus):
    from annotator.capture import Capture
    from flame.layout import read_corpus

    layer, encoder, _, _ = layer32_small_encoder
    cap = Capture.load(read_corpus(tiny_corpus["wild"]).sequences[0].capture)
    term = load_motion_prior(prior_file, layer, standin_paths.pkl)
    staged = annotate(cap, layer, encoder, AnnotateConfig(epochs=4, prior=str(prior_file), prior_from=0.5), prior=term)
    assert ["motion_nll" in h for h in staged.history] == [False, False, True, True]
    never = annotate(cap, layer, encoder, AnnotateConfig(epochs=2, prior=str(prior_file), prior_from=1.0), prior=term)
    plain = annotate(cap, layer, encoder, AnnotateConfig(epochs=2))
    for name in ("expression", "pose", "cam"):  # a prior that never joins changes nothing
        np.testing.assert_array_equal(getattr(never.sequence, name), getattr(plain.sequence, name))
    with pytest.raises(ValueError, match="prior_from is a share of the epochs"):
        annotate(cap, layer, encoder, AnnotateConfig(epochs=2, prior=str(prior_file), prior_from=1.5), prior=term)


@pytest.mark.slow  # annotates with the pretrained encoder
def test_annotation_with_the_prior_records_it_and_scores_the_motion(prior_file, standin_paths, layer32_small_encoder,
                                                                   tiny_corpus):
    from annotator.capture import Capture
    from flame.layout import read_corpus

    layer, encoder, _, _ = layer32_small_encoder
    cap = Capture.load(read_corpus(tiny_corpus["lab"]).sequences[0].capture)
    term = load_motion_prior(prior_file, layer, standin_paths.pkl)
    cfg = AnnotateConfig(epochs=3, prior=str(prior_file), lambda_prior=0.1, prior_from=0.0)
    res = annotate(cap, layer, encoder, cfg, prior=term)
    assert res.sequence.metadata["prior"] == {"file": str(prior_file), "family": "humor-face"}
    nll = [h["motion_nll"] for h in res.history]
    assert all(np.isfinite(nll)) and nll[-1] < nll[0]  # the fit becomes more likely under the prior
    with pytest.raises(ValueError, match="give both or neither"):
        annotate(cap, layer, encoder, cfg)


@pytest.mark.slow
def test_the_runner_annotates_with_the_prior_and_refuses_a_mismatch_in_one_line(prior_file, tmp_path, standin_paths,
                                                                              layer32_small_encoder, tiny_corpus,
                                                                              write_generator):
    import subprocess
    import sys

    from annotator.pretrain import PretrainConfig
    from annotator.runner import RunConfig, run
    from flame.sequence import FlameSequence

    cache = layer32_small_encoder[3]
    cfg = RunConfig(input=str(tiny_corpus["wild"]), output=str(tmp_path / "out"), model=str(standin_paths.pkl),
                    encoder_cache=str(cache), pretrain=PretrainConfig(steps=500, batch=128),
                    annotate=AnnotateConfig(epochs=2, prior=str(prior_file), lambda_prior=0.01))
    entries = run(cfg, progress=False)
    assert [e["status"] for e in entries] == ["done"] * 3
    seq = FlameSequence.load(tmp_path / "out" / entries[0]["output"])
    assert seq.metadata["prior"]["file"] == str(prior_file) and seq.metadata["config"]["lambda_prior"] == 0.01
    with pytest.raises(InputError, match="regress does not optimize"):
        run(dataclasses.replace(cfg, output=str(tmp_path / "regress"), method="regress"), progress=False)
    other = write_generator(tmp_path / "other.pt", standin_paths.pkl, "0" * 64)
    res = subprocess.run([sys.executable, "-m", "annotator", "run", "--input", str(tiny_corpus["wild"]), "--output",
                          str(tmp_path / "mismatch"), "--model", str(standin_paths.pkl), "--annotate.prior", str(other)],
                         capture_output=True, text=True, timeout=300)
    assert res.returncode == 2 and "Traceback" not in res.stderr
    assert res.stderr.strip().splitlines()[-1].startswith(f"error: {other}: trained with head model 000000000000")
