"""A small ground-truth corpus and a HuMoR-Face prior trained on it through the command line (once per session)."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def motion_corpus(tmp_path_factory, standin_paths) -> Path:
    """A wild corpus: 6 identities x 1 sequence x 75 frames at 25 fps (train 3 / val 1 / test 2)."""
    from annotator.synthetic.builder import SynthConfig, build_corpus

    root = tmp_path_factory.mktemp("motion")
    return build_corpus(SynthConfig(domain="wild", identities=6, sequences=1, frames=75, out=str(root / "wild"),
                                    model=str(standin_paths.pkl), seed=5, split_fractions=(0.5, 0.2, 0.3)), progress=False)


TRAIN_ARGS = ["--model.network.hidden", "128", "--model.network.layers", "3", "--model.network.latent", "16", "--model.losses.vertex_stride", "16",
              "--model.drift.sched_sampling", "[4, 8]", "--model.losses.kl_warmup_epochs", "4", "--model.optim.milestones", "[8]",
              "--model.plot_every_n_epochs", "4", "--data.batch_size", "32", "--data.epoch_windows", "640",
              "--trainer.check_val_every_n_epoch", "2", "--trainer.enable_progress_bar", "false"]


@pytest.fixture(scope="session")
def trained_prior(tmp_path_factory, motion_corpus, standin_paths) -> dict:
    """Train 10 epochs with the quick config (shrunk); returns paths of the run."""
    from motionprior.__main__ import main

    root = tmp_path_factory.mktemp("prior")
    args = ["fit", "--config", str(Path(__file__).resolve().parents[2] / "configs/motionprior/quick.yaml"),
            "--data.data", str(motion_corpus), "--model.head.flame_model", str(standin_paths.pkl),
            "--trainer.default_root_dir", str(root), "--trainer.max_epochs", "10", *TRAIN_ARGS]
    assert main(args) == 0
    ckpts = root / "lightning_logs" / "version_0" / "checkpoints"
    return {"root": root, "ckpts": ckpts, "prior": ckpts / "prior.pt", "args": args}


@pytest.fixture(scope="session")
def small_train_args() -> list[str]:
    """The ``fit`` overrides of :func:`trained_prior` (a small, quick model)."""
    return list(TRAIN_ARGS)


@pytest.fixture(scope="session")
def trained_diffusion(tmp_path_factory, motion_corpus, standin_paths, tiny_diffusion_args) -> dict:
    """A tiny long-context diffusion model trained through the command line; returns paths of the run."""
    from motionprior.__main__ import main

    root = tmp_path_factory.mktemp("diffusion")
    args = ["fit", "--config", str(Path(__file__).resolve().parents[2] / "configs/motionprior/diffusion.yaml"),
            "--data.data", str(motion_corpus), "--model.head.flame_model", str(standin_paths.pkl),
            "--trainer.default_root_dir", str(root), *tiny_diffusion_args]
    assert main(args) == 0
    ckpts = root / "lightning_logs" / "version_0" / "checkpoints"
    return {"root": root, "ckpts": ckpts, "prior": ckpts / "prior.pt", "args": args}
