"""Evaluation: pure metric functions (``eval.metrics``), experiments (``eval.experiments``),
benchmarks (``eval.bench``) and reports. May import flame, annotator and motionprior; nothing
imports eval."""
