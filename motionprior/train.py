"""Training a generator through LightningCLI (``python -m motionprior fit / validate / test``).

The config's ``model.class_path`` names the family (:class:`motionprior.lit_humor.LitHumorFace`,
:class:`motionprior.lit_diffusion.LitMotionDiffusion`); the data module receives the model's state
layout and head model (they are set once, in the model's blocks). The best (``val/selection_loss``: the validation loss of the autoregressive epochs) and last
checkpoints are kept in ``<default_root_dir>/lightning_logs/version_N/checkpoints``; ``--ckpt_path
.../last.ckpt`` resumes (into a new ``version_N+1``). After ``fit`` the best model is exported as a
small standalone generator file ``prior.pt`` (:mod:`motionprior.generator`) next to the checkpoints. :func:`fit_or_resume` is the same for pipelines
(the quickstart, the prior benchmark).
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path

__all__ = ["lightning_cli", "fit_or_resume"]

log = logging.getLogger(__name__)
#: the logger of Lightning's rank-zero messages, which include tips advertising its cloud products
LIGHTNING_RANK_ZERO_LOGGER = "lightning.pytorch.utilities.rank_zero"


class _NoAdvertising(logging.Filter):
    """Drops Lightning's "Tip: ... try installing litlogger / litmodels" messages: a research CLI does not advertise."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "Tip:" not in record.getMessage()


def lightning_cli(args: list[str], run: bool = True):
    """LightningCLI on ``args``: a subcommand and its options (``run``), or only options, to build the
    model, data module and trainer without running anything (``run=False``). Returns the CLI object."""
    from lightning.pytorch import LightningModule
    from lightning.pytorch.callbacks import ModelCheckpoint
    from lightning.pytorch.cli import LightningCLI

    from motionprior.data import MotionDataModule
    from motionprior.generator import export_generator

    rank_zero = logging.getLogger(LIGHTNING_RANK_ZERO_LOGGER)
    if not any(isinstance(f, _NoAdvertising) for f in rank_zero.filters):
        rank_zero.addFilter(_NoAdvertising())

    class PriorCLI(LightningCLI):
        def add_arguments_to_parser(self, parser) -> None:
            for key in ("spec", "head"):  # the state layout and head model have one home: the model's blocks
                parser.link_arguments("model", f"data.{'state' if key == 'spec' else key}",
                                      compute_fn=lambda m, key=key: getattr(m, key), apply_on="instantiate")
            # best by validation loss, and the latest epoch (Lightning's save_last only follows new bests)
            parser.add_lightning_class_args(ModelCheckpoint, "checkpoint")
            parser.set_defaults({"checkpoint.monitor": "val/selection_loss", "checkpoint.mode": "min",
                                 "checkpoint.filename": "best-{epoch:03d}"})
            parser.add_lightning_class_args(ModelCheckpoint, "last_checkpoint")
            parser.set_defaults({"last_checkpoint.filename": "last", "last_checkpoint.save_on_train_epoch_end": True,
                                 "last_checkpoint.enable_version_counter": False})

        def after_fit(self) -> None:
            self.exported = None
            if not self.trainer.is_global_zero:
                return
            source = exported_checkpoint(self.trainer)
            if source is None:
                print(f"prior: not exported - training wrote no checkpoint (see {self.trainer.log_dir})")
                return
            self.exported = export_generator(source, Path(source).parent / "prior.pt")
            log.info("checkpoint %s exported to %s", source, self.exported)
            print(f"prior: {self.exported}")

    from_command_line = args == sys.argv[1:]  # LightningCLI warns when it is given its own command line
    return PriorCLI(LightningModule, MotionDataModule, args=None if from_command_line else args, run=run,
                    seed_everything_default=0, save_config_kwargs={"overwrite": True}, subclass_mode_model=True)


def fit_or_resume(config: str | Path, root: str | Path, overrides: list[str] = ()) -> Path:
    """Train a prior with ``fit --config config --trainer.default_root_dir root [overrides]``, for pipelines:
    returns the exported ``prior.pt`` of ``root`` if there is one of its family's current revision, resumes
    from the newest ``last.ckpt`` if an earlier run was interrupted, and trains from scratch otherwise (also
    when the newest export is of an earlier revision: its checkpoints are not resumed)."""
    from motionprior.generator import is_current_revision

    root = Path(root)
    versions = sorted(root.glob("lightning_logs/version_*"), key=lambda p: int(p.name.split("_")[-1]))
    for i in reversed(range(len(versions))):
        exported = versions[i] / "checkpoints" / "prior.pt"
        if exported.is_file():
            if is_current_revision(exported):
                return exported
            log.warning("%s was written by an earlier revision of its family; training again", exported)
            versions = versions[i + 1:]
            break
    args = ["fit", "--config", str(config), "--trainer.default_root_dir", str(root), *overrides]
    last = next((v / "checkpoints" / "last.ckpt" for v in reversed(versions) if (v / "checkpoints" / "last.ckpt").is_file()), None)
    if last is not None:
        log.info("resuming %s", last)
        args += ["--ckpt_path", str(last)]
    cli = lightning_cli(args)
    if cli.exported is None:
        raise RuntimeError(f"training in {root} produced no checkpoint")
    return cli.exported


def exported_checkpoint(trainer) -> str | None:
    """The checkpoint ``prior.pt`` is exported from: the best by validation loss, else (validation never ran,
    e.g. fewer epochs than ``check_val_every_n_epoch``) the last epoch's, with a warning; None if there is
    neither."""
    best = trainer.checkpoint_callback.best_model_path if trainer.checkpoint_callback is not None else ""
    if best:
        return best
    last = next((cb.last_model_path or cb.best_model_path for cb in trainer.checkpoint_callbacks
                 if getattr(cb, "monitor", "") is None and (cb.last_model_path or cb.best_model_path)), None)
    if last:
        log.warning("validation never ran (%d epochs, validation every %s), so there is no best checkpoint: "
                    "exporting the last epoch's weights", trainer.current_epoch, trainer.check_val_every_n_epoch)
    return last or None
