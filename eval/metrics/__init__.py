"""Pure metric functions with documented units and conventions (torch / numpy / scipy only).

Annotation metrics: :func:`mpve` (mm), :func:`cvd` (mm), :func:`nme` (%), :func:`msi3d`,
:func:`jitter` (mm/s^3). See each docstring for frames, windows and fps handling, and
``docs/evaluation.md`` for how they relate to the NeuFace paper.
"""

from eval.metrics.cvd import cvd
from eval.metrics.mpve import mpve, similarity_align
from eval.metrics.nme import nme
from eval.metrics.stability import acceleration, jitter, msi3d

__all__ = ["mpve", "similarity_align", "cvd", "nme", "msi3d", "jitter", "acceleration"]
