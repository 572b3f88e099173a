"""The NeuFace annotator: face videos and multi-view captures -> FlameSequence files.

Imports only ``flame``. Its capabilities (synthetic capture corpus, detection, encoders, NeuFace
optimization, baselines, corpus runner) arrive with issues 3 and 4; see ``python -m annotator --help``.
"""
