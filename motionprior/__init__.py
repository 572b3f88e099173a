"""HuMoR-Face: a generative facial motion prior over FlameSequence files.

Imports only ``flame``. State, data, CVAE model, Lightning training and rollouts arrive with issue 5;
see ``python -m motionprior --help``.
"""
