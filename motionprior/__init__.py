"""HuMoR-Face: a generative facial motion prior over FlameSequence files.

Imports only ``flame``. Entry points: ``python -m motionprior fit`` (:mod:`motionprior.train`, training
with LightningCLI), :func:`motionprior.prior_file.load_prior` (a trained prior) and
:func:`motionprior.sample.sample_prior` (long rollouts from start frames of a split).
"""
