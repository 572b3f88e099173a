"""``python -m motionprior``: train generators of facial motion and sample long facial motion.

* ``fit`` / ``validate`` / ``test``: LightningCLI (:mod:`motionprior.train`) over a family's
  LightningModule (the config's ``model.class_path``: :class:`~motionprior.lit_humor.LitHumorFace`,
  :class:`~motionprior.lit_diffusion.LitMotionDiffusion`) and :class:`~motionprior.data.MotionDataModule`
  (``--config configs/motionprior/quick.yaml`` or ``diffusion.yaml``; unknown keys are errors).
* ``split``: train / val / test manifests of the official NeuFace dataset by identity
  (:mod:`motionprior.splits`).
* ``pack``: featurize a data set once into sharded state files and the train statistics
  (:mod:`motionprior.pack`); ``fit --data.data PACK`` then streams windows from them.
* ``sample``: K samples from start frames of a split with any generator, written as FlameSequence files,
  a video grid and pose plots (:mod:`motionprior.sample`); ``python -m eval sample`` also scores them.
"""

from __future__ import annotations

import sys

from flame.cli import Command
from flame.cli import main as cli_main

PROG = "python -m motionprior"


def _lightning(subcommand: str) -> Command:
    def run(argv: list[str]) -> None:
        from motionprior.train import lightning_cli

        lightning_cli([subcommand, *argv])

    return Command({"fit": "train (LightningCLI): --config configs/motionprior/quick.yaml --data.data DIR",
                    "validate": "evaluate a checkpoint (--ckpt_path) on the validation split",
                    "test": "evaluate a checkpoint (--ckpt_path) on the test split"}[subcommand], run)


def _sample(argv: list[str]) -> None:
    from flame.cli import parse_settings
    from motionprior.sample import SampleConfig, sample_prior
    from motionprior.sample import __doc__ as doc

    run = sample_prior(parse_settings(SampleConfig, argv, f"{PROG} sample", doc))
    print(f"{len(run.starts)} x {run.info['samples']} samples of {run.info['horizon_frames']} frames in {run.info['out']} "
          f"({run.info['rollout_frames_per_second']:.0f} frames/s); score them with `python -m eval sample`")


def _pack(argv: list[str]) -> None:
    from flame.cli import parse_settings
    from motionprior.pack import PackConfig, pack
    from motionprior.pack import __doc__ as doc

    cfg = parse_settings(PackConfig, argv, f"{PROG} pack", doc.split("\n\n")[0])
    info = pack(cfg)
    shards = ", ".join(f"{s} {n}" for s, n in info["splits"].items())
    print(f"{cfg.out}: shards {shards}; " + (f"complete - train with --data.data {cfg.out}" if info["complete"]
                                            else "this job's shards are done; the pack completes with the other jobs"))


def _split(argv: list[str]) -> None:
    from flame.cli import parse_settings
    from motionprior.splits import SplitConfig, write_splits
    from motionprior.splits import __doc__ as doc

    cfg = parse_settings(SplitConfig, argv, f"{PROG} split", doc)
    counts = write_splits(cfg)
    print(f"{cfg.out}: " + ", ".join(f"{s} {n} files" for s, n in counts.items()) + f"; pack it: {PROG} pack --data "
          f"{cfg.out} --out PACK")


COMMANDS = {name: _lightning(name) for name in ("fit", "validate", "test")} | {
    "split": Command("train/val/test split manifest of the official NeuFace dataset, by identity: --root DIR "
                     "--preset mead|voxceleb2|celebv_hq", _split),
    "pack": Command("featurize a data set once into sharded state files + statistics, for streaming training: "
                    "--data DIR --out PACK [--shard i/n]", _pack),
    "sample": Command("samples from start frames of a split, any generator: --checkpoint GEN --data DIR --out DIR",
                      _sample),
}


def main(argv: list[str] | None = None) -> int:
    return cli_main(PROG, "Train generators (HuMoR-Face, long-context diffusion) on annotated FlameSequence splits and "
                          "sample long facial motion.", COMMANDS, argv)


if __name__ == "__main__":
    sys.exit(main())
