"""Evaluation: pure metric functions (``eval.metrics``), the two evaluators built on them (``eval.annotation``:
annotations against ground truth; ``eval.motion``: motion against real motion, from files read by
``eval.motion_features``), experiments and benchmarks that call them (``eval.experiments``, ``eval.bench``) and
reports. May import flame, annotator and motionprior; nothing
imports eval."""
