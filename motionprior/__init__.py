"""Generative facial motion over FlameSequence files: HuMoR-Face and the long-context diffusion family.

Imports only ``flame``. Entry points: ``python -m motionprior fit`` (:mod:`motionprior.train`, training
either family with LightningCLI), :func:`motionprior.generator.load_generator` (a trained generator of any
family, with ``sample`` and, for the long-context family, ``inpaint``) and
:func:`motionprior.sample.sample_prior` (samples from start frames of a split, written to files).
"""
