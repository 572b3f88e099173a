"""A trained motion generator as a term of the annotation objective (HuMoR's test-time
optimization, for faces).

The fitted motion of every view - FLAME pose and expression, with the sequence's identity - becomes the
generator's 30 Hz states (:mod:`motionprior.state`: rotations, velocities, 3D landmarks) and each step
is scored by the generator's per-step negative log-likelihood (HuMoR-Face: the negative ELBO of the step
under its CVAE, :meth:`motionprior.generator.Generator.transition_nll`). The term is the mean over the
steps of all views. Frames without a detection have no landmark term, so there the prior (with the
temporal term on the head rotation) decides the motion.

The NeuFace loop optimizes minibatches of frames in random order against targets computed from a full
no-grad pass at the start of every epoch (E-step). The motion term is handled the same way: at the
E-step its gradient with respect to every frame's pose and expression is computed once over the whole
motion (in chunks of steps, so the network's working memory does not grow with the clip), and each
batch adds the term linearized there, ``sum_t g_t . x_t`` over its frames, scaled so that one epoch's
gradients add up to the term's gradient as the landmark term's add up to its mean. The exact
alternative - rebuilding in every batch the states its frames take part in, from the batch's live
parameters and the E-step's neighbours - gave the same annotations at three times the cost
(``docs/experiments/2026-11-30-prior-guided-annotation.md``). The identity in the states is the
E-step's: the prior shapes the motion, not the identity.

This is the one place the annotator uses :mod:`motionprior` (its generator interface, imported only when
a prior is given).
"""

from __future__ import annotations

import logging
import os

import torch
from torch import Tensor

from flame.errors import InputError
from flame.layer import FlameLayer
from flame.sequence import resample_positions
from flame.types import FlameParams

__all__ = ["MotionPriorTerm", "load_motion_prior"]

log = logging.getLogger(__name__)


class MotionPriorTerm:
    """The motion term of a trained generator for annotations made with ``layer`` (same head model).

    Use: :meth:`refresh` with the E-step's full pass at the start of every epoch (returns the term's value
    there), then :meth:`loss` for each batch.

    Args:
        generator: a :class:`motionprior.generator.Generator` with a per-step likelihood.
        layer: the annotation's head model.
        chunk: steps scored together at the E-step (bounds its memory).
    """

    def __init__(self, generator, layer: FlameLayer, chunk: int = 256) -> None:
        if generator.layer.model_sha256 != layer.model_sha256:
            raise InputError(f"motion prior {generator.path}: trained with head model {generator.layer.model_label} "
                             f"({generator.layer.model_sha256[:12]}), but the annotation uses {layer.model_label} "
                             f"({layer.model_sha256[:12]}); pass the model file the prior was trained with")
        self.generator, self.layer, self.spec, self.chunk = generator, layer, generator.spec, chunk
        generator.network.requires_grad_(False)  # gradients flow to the fitted motion only
        self._grad: tuple[Tensor, Tensor] | None = None

    @property
    def path(self) -> str | None:
        return self.generator.path

    def frame_vectors(self, expression: Tensor, pose: Tensor, shape: Tensor) -> Tensor:
        """The generator's per-frame state parts ``(V, N, frame_dim)`` (:func:`motionprior.state.frame_vectors`)
        of expression ``(V, N, n_exp)`` and pose ``(V, N, 15)`` with identity ``shape (n_shape,)``."""
        from motionprior.state import frame_vectors

        params = FlameParams(shape.expand(*pose.shape[:-1], -1), expression, pose)
        return frame_vectors(pose, expression, self.layer.landmarks(params).landmarks3d * 100.0, self.spec)

    def refresh(self, expression: Tensor, pose: Tensor, shape: Tensor, fps: float) -> float:
        """E-step: the term's value at the full pass's fit (expression ``(V, T, n_exp)``, pose ``(V, T, 15)``,
        identity ``shape (n_shape,)``) and its gradient with respect to every frame, held for the coming
        batches. NaN (and no pull) for a clip shorter than two 30 Hz frames."""
        from motionprior.state import states_at

        n_frames = pose.shape[1]
        e, p = expression.detach().clone().requires_grad_(), pose.detach().clone().requires_grad_()
        positions = torch.as_tensor(resample_positions(n_frames, fps), device=pose.device)
        n_steps = len(positions) - 1
        total = 0.0
        with torch.enable_grad():
            for j0 in range(0, n_steps, self.chunk):
                j1 = min(j0 + self.chunk, n_steps)  # steps j0 .. j1 - 1 use states j0 .. j1
                pos = positions[j0:j1 + 1]
                a = max(int(pos[0].floor()) - 1, 0)  # the native frames those states read
                b = min(int(pos[-1].floor()) + 2, n_frames - 1)
                frames = self.frame_vectors(e[:, a:b + 1], p[:, a:b + 1], shape.detach())
                states = states_at(lambda i: frames[:, i - a], n_frames, fps, self.spec, pos)
                nll = self.generator.transition_nll(states.to(self._dtype)).sum() / (n_steps * pose.shape[0])
                nll.backward()
                total += float(nll.detach())
        self._grad = (e.grad, p.grad) if n_steps > 0 else (torch.zeros_like(e), torch.zeros_like(p))
        return total if n_steps > 0 else float("nan")

    @property
    def _dtype(self) -> torch.dtype:
        return next(self.generator.network.parameters()).dtype

    def loss(self, expression: Tensor, pose: Tensor, t_idx: Tensor) -> Tensor:
        """The term for a batch, linearized at the last :meth:`refresh`: the live expression
        ``(V, B, n_exp)`` and pose ``(V, B, 15)`` of frames ``t_idx (B,)`` against the gradient held for them,
        scaled by ``T / B`` (an epoch's batches add up to the term's gradient, times ``T / B`` like the
        landmark term's)."""
        if self._grad is None:
            raise RuntimeError("MotionPriorTerm.loss before refresh")
        g_expression, g_pose = self._grad
        scale = g_pose.shape[1] / len(t_idx)
        return ((g_expression[:, t_idx] * expression).sum() + (g_pose[:, t_idx] * pose).sum()) * scale


def load_motion_prior(path: str | os.PathLike, layer: FlameLayer, model_file: str | os.PathLike | None = None
                      ) -> MotionPriorTerm:
    """The motion term of the generator in ``path`` for annotations with ``layer`` (read from ``model_file``).

    A generator that records the hash of its head model is loaded with ``model_file`` and must match it;
    an older file is loaded with the head model its settings name, and that model must be ``layer``'s."""
    from motionprior.generator import load_generator, read_generator_file

    recorded = read_generator_file(path).model_sha256
    generator = load_generator(path, flame_model=str(model_file) if recorded and model_file else None)
    if not generator.can_score:
        raise InputError(f"motion prior {path}: a {generator.family} generator has no per-step likelihood to score "
                         "motion with; use a HuMoR-Face generator")
    term = MotionPriorTerm(generator, layer)
    log.info("motion prior %s (%s) for %s", path, generator.family, layer.model_label)
    return term
