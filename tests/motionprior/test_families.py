"""Generator families: a registry the families fill themselves, and the abilities they declare."""

from __future__ import annotations

import numpy as np
import pytest
from torch import nn

from flame.errors import InputError
from motionprior.diffusion import DiffusionGenerator
from motionprior.generator import FAMILIES, Generator, family_class
from motionprior.rollout import HumorGenerator


def test_each_family_registers_itself_and_declares_what_it_can_do():
    assert family_class("humor-face") is HumorGenerator and family_class("motion-diffusion") is DiffusionGenerator
    assert HumorGenerator.can_score and not HumorGenerator.can_inpaint
    assert DiffusionGenerator.can_inpaint and not DiffusionGenerator.can_score
    with pytest.raises(InputError, match=r"unknown generator family 'vq-vae'; known: \['humor-face', 'motion-diffusion'\]"):
        family_class("vq-vae")


def test_a_new_family_is_one_class():
    class Echo(Generator):
        family = "echo"

        @classmethod
        def build_network(cls, config: dict) -> nn.Module:
            return nn.Linear(1, 1)

        def generate(self, starts, horizon, n_samples, generator, mean):
            raise NotImplementedError

    try:
        assert family_class("echo") is Echo and not Echo.can_inpaint
        with pytest.raises(TypeError, match="defined twice"):
            type("Echo2", (Echo,), {"family": "echo"})
    finally:
        FAMILIES.pop("echo")


def test_an_ability_a_family_lacks_is_refused_in_one_line():
    humor = HumorGenerator.__new__(HumorGenerator)  # the refusal needs no network
    with pytest.raises(InputError, match="a humor-face generator cannot inpaint; use a motion-diffusion generator"):
        humor.inpaint(None, np.ones(3, bool))
    diffusion = DiffusionGenerator.__new__(DiffusionGenerator)
    with pytest.raises(InputError, match="no per-step likelihood to score motion with; use a humor-face generator"):
        diffusion.transition_nll(None)


def test_each_training_module_extends_the_shared_base_under_its_generators_name():
    from motionprior.lit_base import GeneratorTraining
    from motionprior.lit_diffusion import LitMotionDiffusion
    from motionprior.lit_humor import LitHumorFace

    for lit, gen in ((LitHumorFace, HumorGenerator), (LitMotionDiffusion, DiffusionGenerator)):
        assert issubclass(lit, GeneratorTraining) and lit.family == gen.family
        for hook in ("configure_optimizers", "on_save_checkpoint", "save_settings", "check_data"):
            assert hook not in vars(lit), f"{lit.__name__} copies {hook}"


@pytest.mark.slow
def test_the_state_statistics_are_computed_only_for_a_family_that_asks(motion_corpus, standin_paths):
    """The long-context family normalizes its own features: the data module no longer computes HuMoR-Face's state
    statistics for every family, only when asked - and then the train split's, as before."""
    from motionprior.clips import compute_statistics
    from motionprior.data import MotionDataModule
    from motionprior.settings import HeadModel

    dm = MotionDataModule(str(motion_corpus), head=HeadModel(flame_model=str(standin_paths.pkl)))
    dm.setup("fit")
    assert dm._statistics is None
    want = compute_statistics(dm.clips["train"], dm.spec)
    for got, expected in zip(dm.state_statistics(), want):
        assert got.shape == expected.shape and bool((got == expected).all())
    assert dm.state_statistics() is dm.state_statistics()  # kept
