"""HuMoR-Face training: scheduled sampling, a short run through the CLI, reconstruction, resume, sampling."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from flame.head import head_layer
from flame.layout import find_sequences
from flame.rotations import axis_angle_to_matrix
from flame.sequence import FlameSequence
from motionprior.clips import load_clips
from motionprior.generator import load_generator
from motionprior.lit_humor import LitHumorFace
from motionprior.losses import HumorLosses
from motionprior.model import HumorFace, HumorNetwork
from motionprior.settings import HeadModel
from motionprior.state import StateSpec, states_to_params
from motionprior.steering import DriftControl, steered_target

TINY = HumorNetwork(hidden=32, layers=2, latent=8)


def tiny_lit(standin_paths, n_exp: int = 4, **blocks) -> LitHumorFace:
    """A small HuMoR-Face on the stand-in, with the given blocks."""
    return LitHumorFace(state=blocks.pop("state", StateSpec(n_exp=n_exp)), head=HeadModel(str(standin_paths.pkl)),
                        network=TINY, **blocks)


def load_prior(path):
    """The HuMoR-Face network of a generator file."""
    return load_generator(path).network


def test_scheduled_sampling_feeds_back_detached_predictions(standin_paths, motion_corpus):
    torch.manual_seed(0)
    lit = tiny_lit(standin_paths)
    layer = head_layer(standin_paths.pkl)
    clips = load_clips(find_sequences(motion_corpus, "train"), layer, lit.spec, progress=False)
    states = torch.as_tensor(np.stack([c.states[:6] for c in clips]))
    seen = []
    encode = lit.model.encode
    lit.model.encode = lambda prev, x: (seen.append(prev), encode(prev, x))[1]
    w = lit.run_window(states, p_teacher=0.0)
    pred, post, prior, inputs = w.pred, w.post, w.prior, w.inputs
    torch.testing.assert_close(w.targets, states[:, 1:])  # HuMoR: the ground truth, however far the input drifted
    assert pred.shape == (len(clips), 5, lit.spec.dim) and post.mean.shape == (len(clips), 5, 8)
    torch.testing.assert_close(seen[0], states[:, 0])  # the first step always starts from the ground truth
    for t in range(1, 5):
        torch.testing.assert_close(seen[t], pred[:, t - 1])
        assert not seen[t].requires_grad
    torch.testing.assert_close(inputs, torch.stack(seen, 1))  # run_window also returns those inputs
    seen.clear()
    lit.run_window(states, p_teacher=1.0)  # teacher forcing: one batched step over all ground-truth inputs
    torch.testing.assert_close(seen[0], states[:, :-1])
    terms = lit.losses(pred, states[:, 1:], torch.as_tensor(np.stack([c.shape for c in clips])), post, prior)
    assert {"kl", "flame_landmarks", "flame_consistency", "flame_vertices", "recon_landmarks"} <= set(terms)
    assert all(torch.isfinite(v) for v in terms.values())


def test_return_times_are_checked(standin_paths):
    tiny_lit(standin_paths, drift=DriftControl(return_time={"root_orient": 0.25, "jaw": 0.05, "expression": 0.05,
                                                            "landmarks": 0.25}))
    with pytest.raises(ValueError, match="missing"):
        tiny_lit(standin_paths, drift=DriftControl(return_time={"jaw": 0.05}))
    with pytest.raises(ValueError, match="unknown"):
        tiny_lit(standin_paths, drift=DriftControl(return_time={"mouth": 0.05, "root_orient": 0.25, "jaw": 0.05,
                                                                "expression": 0.05, "landmarks": 0.25}))


def test_unknown_loss_weight_is_an_error(standin_paths):
    with pytest.raises(ValueError, match="landmark_vel"):
        tiny_lit(standin_paths, losses=HumorLosses(recon_weights={"landmark_vel": 2.0}))
    with pytest.raises(ValueError, match="unknown settings"):
        LitHumorFace(network={"hiden": 3})


@pytest.mark.slow
def test_training_writes_checkpoints_and_a_strictly_loadable_prior(trained_prior):
    ckpts = trained_prior["ckpts"]
    assert (ckpts / "last.ckpt").is_file() and list(ckpts.glob("best-epoch=*.ckpt")) and trained_prior["prior"].is_file()
    gen = load_generator(trained_prior["prior"])
    model, config = gen.network, gen.config
    load_generator(ckpts / "last.ckpt")  # Lightning checkpoints load too (weights_only)
    assert gen.family == "humor-face" and config["network"]["hidden"] == 128 and model.spec == StateSpec()
    assert float(model.state_std[model.spec.slices["landmarks"]].mean()) != 1.0  # train statistics stored
    events = list((trained_prior["root"] / "lightning_logs" / "version_0").glob("events.out.tfevents*"))
    assert events, "TensorBoard logs"


@pytest.mark.slow
def test_posterior_reconstruction_beats_holding_the_previous_frame(trained_prior, motion_corpus, standin_paths):
    model = load_prior(trained_prior["prior"])
    spec = model.spec
    clips = load_clips(find_sequences(motion_corpus, "train"), head_layer(standin_paths.pkl), spec, progress=False)
    prev = torch.as_tensor(np.concatenate([c.states[:-1] for c in clips]))  # transitions within each clip
    cur = torch.as_tensor(np.concatenate([c.states[1:] for c in clips]))
    with torch.no_grad():
        recon = model.decode(model.encode(prev, cur).mean, prev)
    sl = spec.slices["landmarks"]
    err = (recon[:, sl] - cur[:, sl]).view(-1, 68, 3).norm(dim=-1).mean()
    hold = (prev[:, sl] - cur[:, sl]).view(-1, 68, 3).norm(dim=-1).mean()
    assert err < 0.5 * hold, (float(err), float(hold))


@pytest.mark.slow
def test_resume_continues_from_the_last_checkpoint(trained_prior, tmp_path):
    from motionprior.__main__ import main

    args = list(trained_prior["args"])
    args[args.index("--trainer.max_epochs") + 1] = "11"
    assert main([*args, "--ckpt_path", str(trained_prior["ckpts"] / "last.ckpt")]) == 0
    first = torch.load(trained_prior["ckpts"] / "last.ckpt", weights_only=True)
    resumed = torch.load(trained_prior["root"] / "lightning_logs" / "version_1" / "checkpoints" / "last.ckpt",
                         weights_only=True)
    assert first["epoch"] == 9 and resumed["epoch"] == 10 and resumed["global_step"] > first["global_step"]


@pytest.mark.slow
def test_config_typo_fails_loudly(trained_prior, capsys):
    from motionprior.__main__ import main

    with pytest.raises(SystemExit) as e:
        main([*trained_prior["args"], "--model.network.hiden", "3"])
    assert e.value.code != 0 and "hiden" in capsys.readouterr().err


@pytest.mark.slow
def test_extra_velocities_through_the_command_line(motion_corpus, standin_paths, tiny_prior_args, tmp_path):
    """``--model.state.extra_velocities`` reaches the data (from the model), the checkpoint and the loaded
    generator, whose rollouts keep the velocities equal to the steps they make."""
    from motionprior.__main__ import main
    from motionprior.generator import MotionStart

    config = str(Path(__file__).resolve().parents[2] / "configs/motionprior/quick.yaml")
    assert main(["fit", "--config", config, "--data.data", str(motion_corpus), "--model.head.flame_model",
                 str(standin_paths.pkl), "--trainer.default_root_dir", str(tmp_path), *tiny_prior_args,
                 "--model.state.extra_velocities", "[jaw, expression]"]) == 0
    gen = load_generator(tmp_path / "lightning_logs" / "version_0" / "checkpoints" / "prior.pt")
    model, spec = gen.network, gen.spec
    assert spec == StateSpec(extra_velocities=("jaw", "expression")) and model.state_std.shape == (spec.dim,)
    assert float(model.state_std[spec.slices["jaw_vel"]].mean()) != 1.0  # train statistics of the new channels
    assert gen.feedback == "flame+velocities"
    seq = FlameSequence.load(find_sequences(motion_corpus, "test")[0].path)
    captured = []
    rollout = model.rollout
    model.rollout = lambda *a, **k: captured.append(rollout(*a, **k)) or captured[-1]
    gen.sample([MotionStart(seq, 0)], n_samples=2, seconds=5 / 30)
    x = captured[0][:, 0]  # (K, T, dim)
    steps = model.step(x[:, :-1], x[:, 1:]) * 30.0
    torch.testing.assert_close(x[:, 1:, spec.slices["jaw_vel"]], steps[..., spec.out_slices["jaw"]],
                               atol=1e-4, rtol=1e-4)


@pytest.mark.slow
def test_sample_command(trained_prior, motion_corpus, tmp_path):
    from motionprior.__main__ import main

    out = tmp_path / "samples"
    assert main(["sample", "--checkpoint", str(trained_prior["prior"]), "--data", str(motion_corpus), "--out", str(out),
                 "--starts", "2", "--samples", "6", "--seconds", "2", "--render", "4", "--size", "64"]) == 0
    info = json.loads((out / "samples.json").read_text())
    assert len(info["starts"]) == 2 and info["horizon_frames"] == 60 and info["generator"] == "humor-face"
    seqs = sorted(out.glob("*.npz"))
    seq = FlameSequence.load(seqs[0])
    assert seq.n_views == 6 and seq.n_frames == 61 and seq.fps == 30.0 and "stand-in" in seq.model
    assert len(list(out.glob("*.mp4"))) == 2 and len(list(out.glob("*_pose.png"))) == 2


@pytest.mark.slow
def test_eval_sample_command_scores_the_samples(trained_prior, motion_corpus, tmp_path):
    from eval.__main__ import main

    out = tmp_path / "scored"
    assert main(["sample", "--checkpoint", str(trained_prior["prior"]), "--data", str(motion_corpus), "--out", str(out),
                 "--starts", "2", "--samples", "6", "--seconds", "2", "--render", "0", "--truth", str(motion_corpus)]) == 0
    result = json.loads((out / "motion.json").read_text())  # the motion evaluator's report on the written files
    info = json.loads((out / "samples.json").read_text())
    assert len(info["starts"]) == 2 and info["horizon_frames"] == 60 and info["generator"] == "humor-face"
    rows = {r["set"]: r for r in result["rows"]}
    h = rows["humor-face samples"]
    assert h["clips"] == 12 and h["nonfinite_fraction"] == 0 and h["rotation_invalid"] == 0 and h["apd_mean_world"] > 0
    assert np.isfinite([h["fd_expression"], h["fd_pose"], h["fd_landmarks"], h["fd_combined"]]).all()
    ref = rows["real clips of other identities (reference)"]  # real train clips scored like the samples
    assert ref["clips"] > 0 and ref["nonfinite_fraction"] == 0 and ref["variance_ratio"] > 0 and ref["fd_pose"] >= 0
    # the data is the corpus itself, so its ground truth judged against itself: FD 0, all in range
    truth = rows["ground truth (reference)"]
    assert truth["clips"] == 2 and truth["out_of_range"] == 0 and abs(truth["variance_ratio"] - 1) < 1e-6
    assert truth["fd_expression"] < 1e-6 and truth["fd_combined"] < 1e-6
    assert truth["freeze_rate"] == 0.25  # 2 clips x 2 one-second windows: only the slowest is below their 5th pct.
    assert (out / "motion.md").is_file() and (out / "spectra.png").is_file()
    assert not list(out.glob("*.mp4"))
    assert main(["sample", "--checkpoint", str(trained_prior["prior"]), "--data", str(motion_corpus), "--out", str(out),
                 "--truth", str(tmp_path)]) == 2  # not a corpus: refused before sampling
    assert main(["sample", "--checkpoint", str(tmp_path / "missing.pt"), "--data", str(motion_corpus),
                 "--out", str(out)]) == 2


@pytest.mark.slow
def test_file_metrics_agree_with_state_space_metrics(trained_prior, motion_corpus, standin_paths, tmp_path):
    """FD_expression and APD (world landmarks) of the evaluator, on sample files, equal the same formulas on
    the prior's own states where the features coincide: the expression is the state's; the landmarks are
    FLAME's of the sampled parameters (feedback ``flame`` recomputes them in the state at every step)."""
    from eval.metrics.motion import apd, frechet_distance
    from eval.motion import score_set
    from eval.motion_features import load_motion_set, sequence_features
    from motionprior.generator import MotionStart

    generator = load_generator(trained_prior["prior"])
    model, spec = generator.network, generator.spec
    generator.config["drift"]["feedback"] = "flame"  # landmarks in the state = FLAME's of the sampled parameters
    layer = generator.layer
    real_clips = load_clips(find_sequences(motion_corpus, "test"), layer, spec, min_seconds=0.0, progress=False)
    captured = []
    rollout = model.rollout
    model.rollout = lambda *a, **k: captured.append(rollout(*a, **k)) or captured[-1]
    seq = generator.sample([MotionStart(FlameSequence.load(find_sequences(motion_corpus, "test")[0].path), 0,
                                        name="s")], n_samples=5, seconds=45 / 30, seed=3)[0]
    states = captured[0].double().numpy()
    gen = sequence_features(FlameSequence.load(seq.save(tmp_path / "s.npz")), layer, "s")
    real = load_motion_set(f"{motion_corpus}@test", layer, progress=False)
    scored = score_set(gen, real)
    ex = spec.slices["expression"]
    old_fd = frechet_distance(np.concatenate([c.states[:, ex] for c in real_clips]),
                              states[:, 0, :, ex].reshape(-1, spec.n_exp))
    assert scored["fd_expression"] == pytest.approx(old_fd, rel=1e-3)
    lm = states[:, 0, 1:, spec.slices["landmarks"]].reshape(5, 45, 68, 3)
    assert scored["apd_mean_world"] == pytest.approx(apd(lm)["apd_mean"], rel=1e-3)
    assert scored["apd_flat_world"] == pytest.approx(apd(lm)["apd_flat"], rel=1e-3)


def constant_turn(spec: StateSpec, rate: float = 0.8, n: int = 12) -> tuple[torch.Tensor, torch.Tensor]:
    """States of a head turning about y at ``rate`` rad/s with landmarks drifting at ``v`` cm/s (30 Hz),
    velocities exact; returns ``(states (n, dim), v (68, 3))``."""
    g = torch.Generator().manual_seed(0)
    t = torch.arange(n, dtype=torch.float32) / 30.0
    v = torch.randn(68, 3, generator=g)
    x = torch.zeros(n, spec.dim)
    c, s = torch.cos(rate * t), torch.sin(rate * t)
    z, o = torch.zeros_like(t), torch.ones_like(t)
    x[:, spec.slices["root_orient"]] = torch.stack([c, z, s, z, o, z, -s, z, c], -1)
    x[:, spec.slices["root_orient_vel"]] = torch.tensor([0.0, rate, 0.0])
    x[:, spec.slices["jaw"]] = torch.eye(3).flatten()
    x[:, spec.slices["landmarks"]] = (torch.randn(68, 3, generator=g) + t[:, None, None] * v).flatten(1)
    x[:, spec.slices["landmarks_vel"]] = v.flatten()
    return x, v


def test_project_velocities_recovers_the_step():
    spec = StateSpec(n_exp=0)
    model = HumorFace(spec, TINY)
    x, v = constant_turn(spec, rate=0.8)
    wrong = x.clone()
    wrong[:, spec.slices["root_orient_vel"]] = torch.tensor([1.0, -4.0, 2.0])
    wrong[:, spec.slices["landmarks_vel"]] *= -7.0
    fixed = model.project_velocities(x[:-1], wrong[1:])
    torch.testing.assert_close(fixed[:, spec.slices["root_orient_vel"]], torch.tensor([[0.0, 0.8, 0.0]]).expand(11, 3),
                               atol=1e-5, rtol=0)
    torch.testing.assert_close(spec.get(fixed, "landmarks_vel"), v.expand(11, 68, 3), atol=1e-3, rtol=0)
    other = [p for p in spec.parts if not p.endswith("vel")]
    for part in other:  # nothing else changes
        torch.testing.assert_close(fixed[:, spec.slices[part]], wrong[1:, spec.slices[part]])


def test_project_velocities_cover_the_extra_velocities():
    """A jaw opening at 1.5 rad/s about x and an expression rising at 0.6 /s: their velocities are recovered
    from the step."""
    spec = StateSpec(n_exp=4, extra_velocities=("jaw", "expression"))
    model = HumorFace(spec, TINY)
    x, _ = constant_turn(spec, rate=0.8)
    t = torch.arange(len(x)) / 30.0
    jaw = torch.zeros(len(x), 3)
    jaw[:, 0] = 1.5 * t
    x[:, spec.slices["jaw"]] = axis_angle_to_matrix(jaw).flatten(1)
    x[:, spec.slices["jaw_vel"]] = torch.tensor([1.5, 0.0, 0.0])
    x[:, spec.slices["expression"]] = 0.6 * t[:, None]
    x[:, spec.slices["expression_vel"]] = 0.6
    wrong = x.clone()
    wrong[:, spec.slices["jaw_vel"]] = torch.tensor([-3.0, 1.0, 0.5])
    wrong[:, spec.slices["expression_vel"]] = 5.0
    fixed = model.project_velocities(x[:-1], wrong[1:])
    torch.testing.assert_close(fixed[:, spec.slices["jaw_vel"]], x[1:, spec.slices["jaw_vel"]], atol=1e-5, rtol=0)
    torch.testing.assert_close(fixed[:, spec.slices["expression_vel"]], x[1:, spec.slices["expression_vel"]],
                               atol=1e-5, rtol=0)


@pytest.mark.parametrize("mode", ["velocities", "flame+velocities"])
def test_training_feeds_back_the_corrected_prediction(standin_paths, motion_corpus, mode):
    torch.manual_seed(0)
    lit = tiny_lit(standin_paths, drift=DriftControl(feedback=mode))
    layer = head_layer(standin_paths.pkl)
    clips = load_clips(find_sequences(motion_corpus, "train"), layer, lit.spec, progress=False)
    states = torch.as_tensor(np.stack([c.states[:5] for c in clips]))
    shape = torch.as_tensor(np.stack([c.shape for c in clips]))
    w = lit.run_window(states, p_teacher=0.0, shape=shape)
    pred, inputs = w.pred, w.inputs
    spec, m = lit.spec, lit.model
    for t in range(1, 4):
        expected = m.orthonormalize_rotations(pred[:, t - 1].detach())
        if "flame" in mode:  # landmarks: FLAME's of the predicted parameters, cm
            params = states_to_params(expected, spec, shape, layer.n_exp)
            expected[:, spec.slices["landmarks"]] = layer.landmarks(params).landmarks3d.flatten(1) * 100.0
        expected = m.project_velocities(inputs[:, t - 1], expected)
        torch.testing.assert_close(inputs[:, t], expected, atol=1e-5, rtol=1e-5)
    with pytest.raises(ValueError, match="feedback"):
        DriftControl(feedback="flame+velocity")


def test_autoregressive_phase_can_feed_back_prior_samples(standin_paths, motion_corpus):
    """``prior_feedback: 1``: the fed-back state is the prior's step from the previous input (here its mean,
    in the validation pass), corrected by the feedback; the predictions scored stay the posterior's, and
    with ``return_time`` the targets of steps from fed-back inputs are steered, not the ground truth."""
    torch.manual_seed(0)
    lit = tiny_lit(standin_paths, drift=DriftControl(feedback="velocities", prior_feedback=1.0, return_time=0.3))
    layer = head_layer(standin_paths.pkl)
    clips = load_clips(find_sequences(motion_corpus, "train"), layer, lit.spec, progress=False)
    states = torch.as_tensor(np.stack([c.states[:5] for c in clips]))
    w = lit.run_window(states, p_teacher=0.0, use_mean=True)
    pred, post, inputs = w.pred, w.post, w.inputs
    m = lit.model
    with torch.no_grad():
        torch.testing.assert_close(pred, m.decode(post.mean, inputs))  # scored: posterior steps from each input
        for t in range(1, 4):
            prev = inputs[:, t - 1]
            expected = m.project_velocities(prev, m.orthonormalize_rotations(m.decode(m.prior(prev).mean, prev)))
            torch.testing.assert_close(inputs[:, t], expected, atol=1e-5, rtol=1e-5)
            assert (inputs[:, t] - pred[:, t - 1]).abs().max() > 1e-4  # not the posterior's prediction
            torch.testing.assert_close(w.targets[:, t], steered_target(lit.spec, inputs[:, t], states[:, t],
                                                                       states[:, t + 1], 0.3))
        torch.testing.assert_close(w.targets[:, 0], states[:, 1])  # the first input is the ground truth
        assert (w.targets[:, 1:] - states[:, 2:]).abs().max() > 1e-4
        torch.testing.assert_close(post.mean, m.encode(inputs, w.targets).mean, atol=1e-4, rtol=1e-4)  # sees the targets
    with pytest.raises(ValueError, match="prior_feedback"):
        DriftControl(prior_feedback=1.5)
    with pytest.raises(ValueError, match="return_time"):
        tiny_lit(standin_paths, drift=DriftControl(return_time=0.0))


@pytest.mark.slow
def test_ddp_training_on_two_cpu_processes(motion_corpus, standin_paths, small_train_args, tmp_path):
    """configs/motionprior/ddp.yaml: two gloo processes train, one prior is exported."""
    import subprocess
    import sys
    from pathlib import Path

    configs = Path(__file__).resolve().parents[2] / "configs" / "motionprior"
    cmd = [sys.executable, "-m", "motionprior", "fit", "--config", str(configs / "quick.yaml"), "--config",
           str(configs / "ddp.yaml"), "--data.data", str(motion_corpus), "--model.head.flame_model", str(standin_paths.pkl),
           "--trainer.default_root_dir", str(tmp_path), "--trainer.max_epochs", "2", *small_train_args,
           "--model.drift.sched_sampling", "[0, 1]", "--data.batch_size", "16"]
    res = subprocess.run(cmd, capture_output=True, text=True, timeout=600, cwd=Path(__file__).resolve().parents[2])
    assert res.returncode == 0, res.stderr[-3000:]
    log = res.stdout + res.stderr
    assert "GLOBAL_RANK: 1, MEMBER: 2/2" in log and "gloo" in log
    priors = list(tmp_path.glob("lightning_logs/version_*/checkpoints/prior.pt"))
    assert len(priors) == 1
    load_prior(priors[0])
