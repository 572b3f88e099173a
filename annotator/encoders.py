"""The re-parameterizing networks f_w of NeuFace: per-frame inputs -> FLAME parameters + camera.

* :class:`LandmarkEncoder` (default): an MLP on the 68 crop-NDC landmarks and their confidences,
  pretrained by the project on random samples of the model in use (:mod:`annotator.pretrain`).
* :class:`DecaEncoder`: DECA's coarse encoder - ResNet-50 without its classifier, then
  ``Linear(2048, 1024) - ReLU - Linear(1024, 236)`` - with DECA's exact state-dict keys, so
  ``deca_model.tar['E_flame']`` loads strictly. Input: RGB crops in [0, 1], 224 x 224.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import Tensor, nn

from flame.types import N_EXP, N_SHAPE

__all__ = ["EncoderOutput", "LandmarkEncoder", "DecaEncoder", "load_deca_encoder", "DECA_SPLIT"]

#: DECA's code layout: shape 100, tex 50, exp 50, pose 6, cam 3, light 27 = 236.
DECA_SPLIT = {"shape": (0, 100), "tex": (100, 150), "exp": (150, 200), "pose": (200, 206), "cam": (206, 209),
              "light": (209, 236)}


@dataclass(frozen=True)
class EncoderOutput:
    """Per-frame predictions, batch ``N``.

    Attributes:
        shape: ``(N, n_shape)``; expression: ``(N, n_exp)``;
        pose6: ``(N, 6)`` axis-angle [global | jaw] (radians, camera-aligned FLAME frame);
        cam: ``(N, 3)`` weak perspective ``(s, tx, ty)`` in crop NDC.
    """

    shape: Tensor
    expression: Tensor
    pose6: Tensor
    cam: Tensor


class LandmarkEncoder(nn.Module):
    """MLP: 68 crop-NDC landmarks (centred on the mean face) + confidences -> FLAME parameters.

    ``hidden`` units per layer, ``depth`` hidden layers (Linear - LayerNorm - GELU); LayerNorm has no
    running statistics, so nothing needs freezing during NeuFace's optimization.
    """

    def __init__(self, n_shape: int = N_SHAPE, n_exp: int = N_EXP, hidden: int = 512, depth: int = 3,
                 cam_scale: float = 8.0) -> None:
        super().__init__()
        self.n_shape, self.n_exp, self.hidden, self.depth = n_shape, n_exp, hidden, depth
        self.cam_scale = cam_scale
        layers: list[nn.Module] = []
        width = 68 * 3
        for _ in range(depth):
            layers += [nn.Linear(width, hidden), nn.LayerNorm(hidden), nn.GELU()]
            width = hidden
        self.trunk = nn.Sequential(*layers)
        self.head = nn.Linear(hidden, n_shape + n_exp + 6 + 3)
        nn.init.zeros_(self.head.weight)
        nn.init.zeros_(self.head.bias)
        self.register_buffer("mean_landmarks", torch.zeros(68, 2))

    def config(self) -> dict:
        return {"n_shape": self.n_shape, "n_exp": self.n_exp, "hidden": self.hidden, "depth": self.depth,
                "cam_scale": self.cam_scale}

    def forward(self, landmarks_ndc: Tensor, confidence: Tensor) -> EncoderOutput:
        """``landmarks_ndc (N, 68, 2)``, ``confidence (N, 68)`` in [0, 1] -> :class:`EncoderOutput`."""
        x = torch.cat([(landmarks_ndc - self.mean_landmarks).flatten(1), confidence.clamp(0, 1)], dim=1)
        out = self.head(self.trunk(x))
        a, b, c = self.n_shape, self.n_shape + self.n_exp, self.n_shape + self.n_exp + 6
        cam = torch.cat([self.cam_scale * torch.exp(out[:, c:c + 1]), 0.05 * out[:, c + 1:c + 3]], dim=1)
        return EncoderOutput(shape=out[:, :a], expression=out[:, a:b], pose6=0.5 * out[:, b:c], cam=cam)


# ----------------------------------------------------------------------------------------------
# DECA's ResNet-50 encoder (architecture and parameter names as in DECA's decalib/models)
# ----------------------------------------------------------------------------------------------
class _Bottleneck(nn.Module):
    expansion = 4

    def __init__(self, inplanes: int, planes: int, stride: int = 1, downsample: nn.Module | None = None) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(inplanes, planes, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, stride=stride, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.conv3 = nn.Conv2d(planes, planes * 4, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(planes * 4)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = downsample

    def forward(self, x: Tensor) -> Tensor:
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        return self.relu(out + (x if self.downsample is None else self.downsample(x)))


class _ResNet50(nn.Module):
    """ResNet-50 trunk without ``fc``: ``(N, 3, 224, 224) -> (N, 2048)`` after a 7x7 average pool."""

    def __init__(self) -> None:
        super().__init__()
        self.inplanes = 64
        self.conv1 = nn.Conv2d(3, 64, 7, stride=2, padding=3, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(3, stride=2, padding=1)
        self.layer1 = self._make(64, 3)
        self.layer2 = self._make(128, 4, stride=2)
        self.layer3 = self._make(256, 6, stride=2)
        self.layer4 = self._make(512, 3, stride=2)
        self.avgpool = nn.AvgPool2d(7, stride=1)

    def _make(self, planes: int, blocks: int, stride: int = 1) -> nn.Sequential:
        down = None
        if stride != 1 or self.inplanes != planes * 4:
            down = nn.Sequential(nn.Conv2d(self.inplanes, planes * 4, 1, stride=stride, bias=False),
                                 nn.BatchNorm2d(planes * 4))
        layers = [_Bottleneck(self.inplanes, planes, stride, down)]
        self.inplanes = planes * 4
        layers += [_Bottleneck(self.inplanes, planes) for _ in range(1, blocks)]
        return nn.Sequential(*layers)

    def forward(self, x: Tensor) -> Tensor:
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return self.avgpool(x).flatten(1)


class DecaEncoder(nn.Module):
    """DECA's ``E_flame``: ``encoder`` (ResNet-50) and ``layers`` (2048 -> 1024 -> 236).

    ``n_shape``/``n_exp`` select leading components of DECA's 100 / 50 outputs.
    """

    def __init__(self, n_shape: int = N_SHAPE, n_exp: int = N_EXP) -> None:
        super().__init__()
        most = {k: DECA_SPLIT[k][1] - DECA_SPLIT[k][0] for k in ("shape", "exp")}
        if n_shape > most["shape"] or n_exp > most["exp"]:
            raise ValueError(f"DECA predicts {most['shape']} shape and {most['exp']} expression components at most")
        self.n_shape, self.n_exp = n_shape, n_exp
        self.encoder = _ResNet50()
        self.layers = nn.Sequential(nn.Linear(2048, 1024), nn.ReLU(), nn.Linear(1024, 236))

    def freeze_batchnorm(self) -> None:
        """EFT/NeuFace: BatchNorm layers in eval mode with frozen affine parameters."""
        for m in self.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.eval()
                for p in m.parameters():
                    p.requires_grad_(False)

    def forward(self, images: Tensor) -> EncoderOutput:
        """``images (N, 3, 224, 224)`` RGB in [0, 1] -> :class:`EncoderOutput`."""
        code = self.layers(self.encoder(images))
        sl = {k: slice(*v) for k, v in DECA_SPLIT.items()}
        return EncoderOutput(shape=code[:, sl["shape"]][:, :self.n_shape], expression=code[:, sl["exp"]][:, :self.n_exp],
                             pose6=code[:, sl["pose"]], cam=code[:, sl["cam"]])


def load_deca_encoder(path: str | os.PathLike, n_shape: int = N_SHAPE, n_exp: int = N_EXP) -> DecaEncoder:
    """Load ``deca_model.tar['E_flame']`` strictly: a missing or unexpected key is an error."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: DECA checkpoint not found. DECA's weights are licensed: download "
                                f"deca_model.tar from the DECA project page (https://deca.is.tue.mpg.de) yourself.")
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:
        raise ValueError(f"{path}: not a loadable DECA checkpoint ({type(e).__name__}: {e})") from None
    if not isinstance(ckpt, dict) or "E_flame" not in ckpt:
        found = sorted(ckpt) if isinstance(ckpt, dict) else type(ckpt).__name__
        raise ValueError(f"{path}: expected a dict with an 'E_flame' state dict (DECA's deca_model.tar), found {found}")
    enc = DecaEncoder(n_shape, n_exp)
    try:
        enc.load_state_dict(ckpt["E_flame"], strict=True)
    except RuntimeError as e:
        raise ValueError(f"{path}: 'E_flame' does not match DECA's encoder (missing, unexpected or mis-shaped "
                         f"keys):\n{e}") from None
    return enc
