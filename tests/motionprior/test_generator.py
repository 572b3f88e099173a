"""The generator interface over both families: strict loading of every exported file, deterministic
sampling per seed, what each family sees of the past, bad starts."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
import torch

from flame.errors import InputError
from flame.layout import find_sequences
from flame.sequence import FlameSequence
from motionprior.generator import GENERATOR_FORMAT, MotionStart, load_generator

pytestmark = pytest.mark.slow  # trains a tiny model of each family


@pytest.fixture(scope="module")
def generators(trained_prior, trained_diffusion) -> dict:
    return {"humor-face": trained_prior, "motion-diffusion": trained_diffusion}


@pytest.fixture(scope="module")
def start(motion_corpus) -> FlameSequence:
    return FlameSequence.load(find_sequences(motion_corpus, "test")[0].path)


@pytest.mark.parametrize("family", ["humor-face", "motion-diffusion"])
def test_every_exported_generator_loads_strictly(generators, family, tmp_path):
    run = generators[family]
    gen = load_generator(run["prior"])
    assert gen.family == family and gen.layer.is_standin
    ckpt = load_generator(run["ckpts"] / "last.ckpt")  # Lightning checkpoints load through the same door
    assert ckpt.family == family and ckpt.config["network"] == gen.config["network"]
    payload = torch.load(run["prior"], weights_only=True)
    assert payload["format"] == GENERATOR_FORMAT and payload["family"] == family
    # the head model travels with the weights as its hash; another model file is refused
    assert payload["model_sha256"] == gen.layer.model_sha256
    assert torch.load(run["ckpts"] / "last.ckpt", weights_only=True)["generator"]["model_sha256"] == gen.layer.model_sha256
    # what the weights mean is versioned per family: a file of another revision (or of none: 1) is refused
    assert payload["revision"] == type(gen).revision
    assert torch.load(run["ckpts"] / "last.ckpt", weights_only=True)["generator"]["revision"] == type(gen).revision
    unrevised = {k: v for k, v in payload.items() if k != "revision"}
    torch.save(unrevised if type(gen).revision != 1 else dict(payload, revision=2), tmp_path / "revision.pt")
    with pytest.raises(InputError, match="of revision .* train it again"):
        load_generator(tmp_path / "revision.pt")
    torch.save(dict(payload, model_sha256="0" * 64), tmp_path / "other_model.pt")
    with pytest.raises(InputError, match="trained with head model 000000000000.*pass the model file it was trained"):
        load_generator(tmp_path / "other_model.pt")
    missing = dict(payload, state_dict={k: v for i, (k, v) in enumerate(payload["state_dict"].items()) if i})
    extra = dict(payload, state_dict=payload["state_dict"] | {"surplus.weight": torch.zeros(1)})
    wider = dict(payload, config=payload["config"] | {"network": payload["config"]["network"] | {
        ("hidden" if family == "humor-face" else "width"): 64}})
    for name, bad, message in (("missing", missing, "do not fit"), ("extra", extra, "do not fit"),
                               ("wider", wider, "do not fit"), ("old", dict(payload, format="humor-face-prior"),
                                                                "not a generator file of this version")):
        torch.save(bad, tmp_path / f"{name}.pt")
        with pytest.raises(InputError, match=message):
            load_generator(tmp_path / f"{name}.pt")
    (tmp_path / "junk.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(InputError, match="not a generator file"):
        load_generator(tmp_path / "junk.pt")
    with pytest.raises(InputError, match="no such generator file"):
        load_generator(tmp_path / "absent.pt")


@pytest.mark.parametrize("family", ["humor-face", "motion-diffusion"])
def test_sampling_is_deterministic_per_seed(generators, family, start):
    gen = load_generator(generators[family]["prior"])
    s = MotionStart(start, frame=10, name="s")
    a, b, c = (gen.sample([s], n_samples=3, seconds=1.0, seed=seed)[0] for seed in (4, 4, 5))
    assert a.n_views == 3 and a.n_frames == 31 and a.fps == 30.0 and a.metadata["start"] == "s"
    assert a.metadata["generator"] == family and a.metadata["start_frame"] == 10
    np.testing.assert_array_equal(a.pose, b.pose)
    np.testing.assert_array_equal(a.expression, b.expression)
    assert np.abs(a.pose - c.pose).max() > 1e-4
    m1, m2 = (gen.sample([s], n_samples=2, seconds=0.5, seed=seed, mean=True)[0] for seed in (0, 9))
    np.testing.assert_array_equal(m1.pose, m2.pose)  # the deterministic mode does not depend on the seed
    np.testing.assert_allclose(m1.pose[0], m1.pose[1], atol=1e-5)  # batched rows: float round-off only
    # the samples begin with the start frame (frame 10 at 25 fps is frame 12 at 30 Hz)
    for part in (slice(0, 3), slice(6, 9)):  # head and jaw (neck and eyes are not generated)
        np.testing.assert_allclose(a.pose[:, 0, part], np.broadcast_to(start.pose[0, 10, part], (3, 3)), atol=1e-5)
    np.testing.assert_allclose(a.shape, start.shape[:len(a.shape)], atol=1e-6)


def test_what_each_family_sees_of_the_past(generators, start):
    """Two starts with the same start frame and different pasts: HuMoR-Face (the start state; its velocities
    see one frame either side) samples the same motion, the long-context family (0.4 s of context here)
    different motion."""
    still = replace(start, pose=start.pose.copy(), expression=start.expression.copy())
    still.pose[0, :9] = start.pose[0, 10]  # a past frozen at the start frame, up to the frame before it
    still.expression[0, :9] = start.expression[0, 10]
    for family, same in (("humor-face", True), ("motion-diffusion", False)):
        gen = load_generator(generators[family]["prior"])
        a, b = (gen.sample([MotionStart(seq, 10)], 2, 1.0, seed=1)[0] for seq in (start, still))
        assert np.allclose(a.pose, b.pose, atol=1e-6) == same, family


def test_bad_starts_are_refused(generators, start):
    gen = load_generator(generators["motion-diffusion"]["prior"])
    with pytest.raises(InputError, match="outside the sequence"):
        MotionStart(start, frame=start.n_frames)
    with pytest.raises(InputError, match="head model"):
        gen.sample([replace(start, model_sha256="0" * 64)], 1, 0.5)
    with pytest.raises(InputError, match="n_samples"):
        gen.sample([start], 0, 0.5)
    with pytest.raises(InputError, match="no start"):
        gen.sample([], 1, 0.5)
    # a request whose samples cannot fit in memory is refused before anything is allocated
    with pytest.raises(InputError, match=r"1 start\(s\) x 1000000 samples x 1e\+09 s need about .* GB of memory"):
        gen.sample([start], 1_000_000, 1e9)
    # an official export records no head model: accepted with a warning, like everywhere else
    sampled = gen.sample([replace(start, model_sha256="unknown")], 1, 0.5)
    assert sampled[0].n_frames == 16


def test_a_pipeline_trains_again_over_an_export_of_an_earlier_revision(trained_diffusion, tmp_path, motion_corpus,
                                                                       standin_paths, tiny_diffusion_args):
    """``fit_or_resume`` (the benchmarks' resumable training) neither returns nor resumes a run whose export is
    of an earlier revision of its family: it trains a new version, which loads."""
    import shutil

    from motionprior.generator import is_current_revision
    from motionprior.train import fit_or_resume

    root = tmp_path / "run"
    shutil.copytree(trained_diffusion["root"], root)
    stale = root / "lightning_logs" / "version_0" / "checkpoints" / "prior.pt"
    payload = torch.load(stale, weights_only=True)
    torch.save({k: v for k, v in payload.items() if k != "revision"}, stale)  # written before revisions: 1
    assert is_current_revision(trained_diffusion["prior"]) and not is_current_revision(stale)
    config = trained_diffusion["args"][trained_diffusion["args"].index("--config") + 1]
    fresh = fit_or_resume(config, root, ["--data.data", str(motion_corpus), "--model.head.flame_model",
                                         str(standin_paths.pkl), *tiny_diffusion_args])
    assert fresh.parent.parent.name == "version_1" and is_current_revision(fresh)
    assert load_generator(fresh).family == "motion-diffusion"
