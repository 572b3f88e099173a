"""Input and output containers of the FLAME layer.

Units and frame: metres, radians; the FLAME model frame (+y up, the face looks toward +z, +x is
the subject's left). Any number of leading batch dimensions ``...`` is allowed (batch first,
time second: ``(B, T, ...)``). Tensors are never created on a default device: helpers take the
device and dtype of a tensor you pass.
"""

from __future__ import annotations

from dataclasses import dataclass, fields, replace

import torch
from torch import Tensor

__all__ = ["FlameParams", "FlameOutput", "POSE_SLICES", "N_JOINTS", "N_POSE", "N_SHAPE", "N_EXP"]

N_JOINTS = 5
N_POSE = 3 * N_JOINTS
#: Identity and expression components a layer uses unless asked otherwise (DECA's and NeuFace's 100 / 50
#: of FLAME's 300 / 100).
N_SHAPE = 100
N_EXP = 50
#: Slices of the 15-value pose vector: [global | neck | jaw | left eye | right eye].
POSE_SLICES = {
    "global": slice(0, 3),
    "neck": slice(3, 6),
    "jaw": slice(6, 9),
    "left_eye": slice(9, 12),
    "right_eye": slice(12, 15),
}


@dataclass(frozen=True)
class FlameParams:
    """FLAME parameters.

    Attributes:
        shape: ``(..., n_shape)`` identity coefficients (units of the model's PCA std).
        expression: ``(..., n_exp)`` expression coefficients.
        pose: ``(..., 15)`` axis-angle, radians: ``[global | neck | jaw | left eye | right eye]``;
            joints 0 root, 1 neck, 2 jaw, 3 left eye, 4 right eye.
        translation: ``(..., 3)`` metres, added after skinning, or ``None`` for zero.

    The leading dimensions of the fields broadcast against each other, so a sequence-level
    ``shape (B, 1, n_shape)`` can drive ``expression (B, T, n_exp)``.
    """

    shape: Tensor
    expression: Tensor
    pose: Tensor
    translation: Tensor | None = None

    def __post_init__(self) -> None:
        if self.pose.shape[-1] != N_POSE:
            raise ValueError(
                f"FlameParams.pose must end in 15 values [global|neck|jaw|leye|reye], got shape "
                f"{tuple(self.pose.shape)}; use FlameParams.from_pose6 for DECA-style 6-value poses"
            )
        if self.translation is not None and self.translation.shape[-1] != 3:
            raise ValueError(f"FlameParams.translation must end in 3, got {tuple(self.translation.shape)}")

    @property
    def batch_shape(self) -> torch.Size:
        """Broadcast leading shape of all fields."""
        shapes = [self.shape.shape[:-1], self.expression.shape[:-1], self.pose.shape[:-1]]
        if self.translation is not None:
            shapes.append(self.translation.shape[:-1])
        return torch.broadcast_shapes(*shapes)

    @staticmethod
    def zeros(batch_shape: tuple[int, ...], n_shape: int, n_exp: int, like: Tensor) -> "FlameParams":
        """All-zero parameters with the dtype and device of ``like``."""
        z = lambda n: like.new_zeros(*batch_shape, n)  # noqa: E731
        return FlameParams(shape=z(n_shape), expression=z(n_exp), pose=z(N_POSE))

    @staticmethod
    def from_pose6(
        shape: Tensor, expression: Tensor, pose6: Tensor, eye_pose: Tensor | None = None
    ) -> "FlameParams":
        """DECA/EMOCA/NeuFace convention: ``pose6 (..., 6) = [global | jaw]``; neck = 0;
        ``eye_pose (..., 6) = [left | right]`` or zero."""
        if pose6.shape[-1] != 6:
            raise ValueError(f"pose6 must end in 6 values [global|jaw], got {tuple(pose6.shape)}")
        zeros3 = pose6.new_zeros(*pose6.shape[:-1], 3)
        eyes = eye_pose if eye_pose is not None else pose6.new_zeros(*pose6.shape[:-1], 6)
        pose = torch.cat([pose6[..., :3], zeros3, pose6[..., 3:6], eyes.expand(*pose6.shape[:-1], 6)], dim=-1)
        return FlameParams(shape=shape, expression=expression, pose=pose)

    def pose6(self) -> Tensor:
        """``(..., 6)`` = ``[global | jaw]`` (drops neck and eyes)."""
        return torch.cat([self.pose[..., 0:3], self.pose[..., 6:9]], dim=-1)

    def replace(self, **changes: Tensor | None) -> "FlameParams":
        return replace(self, **changes)

    def to(self, *args, **kwargs) -> "FlameParams":
        return FlameParams(**{f.name: (None if (v := getattr(self, f.name)) is None else v.to(*args, **kwargs))
                              for f in fields(self)})


@dataclass(frozen=True)
class FlameOutput:
    """Result of :class:`flame.layer.FlameLayer`; ``...`` = the broadcast batch shape of the params.

    Attributes:
        vertices: ``(..., V, 3)`` metres, FLAME frame, posed and translated (``None`` from
            :meth:`FlameLayer.landmarks <flame.layer.FlameLayer.landmarks>`).
        joints: ``(..., 5, 3)`` posed joint locations [root, neck, jaw, left eye, right eye].
        landmarks2d_3d: ``(..., 68, 3)`` iBUG-68 points for 2D fitting: the 17 contour points are
            chosen from the dynamic table by head yaw (global * neck rotation), then the 51 static
            points (DECA's ``landmarks2d`` before projection).
        landmarks3d: ``(..., 68, 3)`` the fixed "full" 68-point embedding (DECA's ``landmarks3d``).
    """

    vertices: Tensor | None
    joints: Tensor
    landmarks2d_3d: Tensor
    landmarks3d: Tensor

    @property
    def static_landmarks(self) -> Tensor:
        """``(..., 51, 3)``: iBUG points 17-67 (brows, nose, eyes, mouth)."""
        return self.landmarks2d_3d[..., 17:, :]
