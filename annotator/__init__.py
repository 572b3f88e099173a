"""The NeuFace annotator: face videos and multi-view captures -> FlameSequence files.

Imports only ``flame``. Entry points: :func:`annotator.runner.run` (``python -m annotator run``: videos,
capture folders or a synthetic corpus, resumable and shardable), :func:`annotator.neuface.annotate`
(one capture: NeuFace and the ``fit`` / ``regress`` baselines) and
:func:`annotator.synthetic.builder.build_corpus` (the synthetic corpus with ground truth).
"""
