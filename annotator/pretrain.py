"""Pretraining of the :class:`~annotator.encoders.LandmarkEncoder` on random samples of the model in use.

Each sample: an identity from the prior, an expression (leading components dominant), a head pose
(yaw to +-70 deg) and jaw opening; the 68 landmarks are projected with a *perspective* camera at a
random distance, corrupted like a detector (jitter, contour sliding, outliers, random confidences),
and normalized by the DECA crop exactly as at annotation time. Targets are the parameters and the
weak-perspective camera that best explains the noise-free landmarks in that crop. Losses: L1 on the
parameters and on the reprojected landmarks.

The result is cached by model hash and settings (``<cache>/landmark_encoder_<sha12>_<cfg>.pt``), so
a model is pretrained once (about two CPU minutes with the defaults).
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import os
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
from torch import Tensor
from tqdm import tqdm

from annotator.crop import normalize_landmarks
from annotator.encoders import LandmarkEncoder
from flame.camera import CROP_SIZE, fit_weak_perspective, pixels_to_ndc, transform_points, weak_perspective_project
from flame.files import atomic_write_bytes
from flame.layer import FlameLayer
from flame.rotations import matrix_to_axis_angle, yaw_pitch_roll_to_matrix
from flame.types import FlameParams

__all__ = ["PretrainConfig", "sample_batch", "pretrain", "load_or_pretrain", "encoder_cache_path",
           "DEFAULT_ENCODER_CACHE"]

log = logging.getLogger(__name__)
#: Where pretrained landmark encoders are cached (one file per model hash and settings).
DEFAULT_ENCODER_CACHE = "runs/assets/encoders"


@dataclass(frozen=True)
class PretrainConfig:
    """Settings of the encoder pretraining (all of them are part of the cache key).

    Attributes:
        steps, batch, lr: AdamW with a one-cycle schedule.
        hidden, depth: MLP width and number of hidden layers.
        seed: seed of the sampled training data.
        max_yaw_deg: head yaw range of the samples.
        jitter: range of the detector jitter (fraction of the face size) added to the samples.
    """

    steps: int = 3000
    batch: int = 256
    lr: float = 1e-3
    hidden: int = 512
    depth: int = 3
    seed: int = 0
    max_yaw_deg: float = 70.0
    jitter: tuple[float, float] = (0.002, 0.02)  # detector jitter, fraction of face size (uniform range)

    def tag(self) -> str:
        return hashlib.sha256(json.dumps(asdict(self), sort_keys=True).encode()).hexdigest()[:10]


def _face_size(px: Tensor) -> Tensor:
    span = px.amax(-2) - px.amin(-2)
    return (span[..., 0] * span[..., 1]).clamp_min(1e-6).sqrt()


def sample_batch(layer: FlameLayer, n: int, g: torch.Generator, cfg: PretrainConfig) -> dict[str, Tensor]:
    """Random parameters, their noisy normalized landmarks, and the regression targets."""
    dt = layer.v_template.dtype
    r = lambda *s: torch.randn(*s, generator=g, dtype=dt)  # noqa: E731
    u = lambda *s: torch.rand(*s, generator=g, dtype=dt)  # noqa: E731
    shape = (r(n, layer.n_shape) * 0.9).clamp(-3, 3)
    k = torch.arange(layer.n_exp, dtype=dt)
    exp_std = torch.where(k < 12, torch.ones_like(k), 12.0 / (k + 1))
    expression = r(n, layer.n_exp) * exp_std * (0.3 + 0.9 * u(n, 1))
    ypr = torch.stack([(2 * u(n) - 1) * math.radians(cfg.max_yaw_deg), (r(n) * 0.25).clamp(-0.7, 0.7),
                       (r(n) * 0.14).clamp(-0.5, 0.5)], 1)
    glob = matrix_to_axis_angle(yaw_pitch_roll_to_matrix(ypr))
    jaw = torch.stack([torch.where(u(n) < 0.35, u(n) * 0.03, u(n) * 0.4), r(n) * 0.02, r(n) * 0.02], 1)
    pose = torch.zeros(n, 15, dtype=dt)
    pose[:, :3], pose[:, 6:9] = glob, jaw
    with torch.no_grad():
        lm3 = layer.landmarks(FlameParams(shape, expression, pose)).landmarks2d_3d  # (n, 68, 3)
    # perspective camera on +z: distance, focal length, off-centre head
    dist = 0.35 + 1.6 * u(n, 1, 1)
    f = 1000.0
    off = (2 * u(n, 1, 2) - 1) * 0.05
    z = dist - lm3[..., 2:3]
    px = f * (lm3[..., :2] + off) / z * torch.tensor([1.0, -1.0], dtype=dt) + 500.0
    size = _face_size(px)[:, None, None]
    noisy = px + r(n, 68, 2) * (cfg.jitter[0] + (cfg.jitter[1] - cfg.jitter[0]) * u(n, 1, 1)) * size
    noisy[:, :17] += r(n, 1, 1) * 0.02 * size * (px[:, 16:17] - px[:, 0:1]).sign()  # contour sliding
    outlier = u(n, 68, 1) < 0.01
    noisy = noisy + outlier * r(n, 68, 2) * 0.08 * size
    conf = (0.55 + 0.45 * u(n, 68)).clamp(0, 1)
    tform, ndc_in = normalize_landmarks(torch.cat([noisy, conf[..., None]], -1))
    ndc_true = pixels_to_ndc(transform_points(tform, px), CROP_SIZE)
    cam = fit_weak_perspective(lm3, ndc_true)
    return {"ndc": ndc_in, "conf": conf, "shape": shape, "expression": expression, "pose6": torch.cat([glob, jaw], 1),
            "cam": cam, "ndc_true": ndc_true}


def _loss(layer: FlameLayer, enc: LandmarkEncoder, batch: dict[str, Tensor]) -> tuple[Tensor, dict[str, float]]:
    out = enc(batch["ndc"], batch["conf"])
    pose = torch.zeros(len(out.shape), 15, dtype=out.shape.dtype)
    pose = torch.cat([out.pose6[:, :3], pose[:, 3:6], out.pose6[:, 3:6], pose[:, 9:]], 1)
    lm3 = layer.landmarks(FlameParams(out.shape, out.expression, pose)).landmarks2d_3d
    ndc = weak_perspective_project(lm3, out.cam)[..., :2]
    parts = {
        "shape": (out.shape - batch["shape"]).abs().mean(),
        "expression": (out.expression - batch["expression"]).abs().mean(),
        "pose": (out.pose6 - batch["pose6"]).abs().mean() * 10,
        "cam": (torch.log(out.cam[:, 0] / batch["cam"][:, 0])).abs().mean() + (out.cam[:, 1:] - batch["cam"][:, 1:]).abs().mean() * 10,
        "landmarks": (ndc - batch["ndc_true"]).abs().mean() * 10,
    }
    return sum(parts.values()), {k: float(v.detach()) for k, v in parts.items()}


def pretrain(layer: FlameLayer, cfg: PretrainConfig = PretrainConfig(), progress: bool = True) -> tuple[LandmarkEncoder, dict]:
    """Train a LandmarkEncoder for ``layer``'s model; returns it and a summary (losses, timing)."""
    torch.manual_seed(cfg.seed)
    g = torch.Generator().manual_seed(cfg.seed)
    enc = LandmarkEncoder(layer.n_shape, layer.n_exp, hidden=cfg.hidden, depth=cfg.depth)
    with torch.no_grad():
        mean = sample_batch(layer, 2048, g, cfg)["ndc"].mean(0)
        enc.mean_landmarks.copy_(mean)
    val = sample_batch(layer, 1024, torch.Generator().manual_seed(cfg.seed + 10_000), cfg)
    opt = torch.optim.AdamW(enc.parameters(), lr=cfg.lr, weight_decay=1e-4)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=cfg.lr, total_steps=cfg.steps, pct_start=0.1)
    t0 = time.perf_counter()
    history = []
    for step in tqdm(range(cfg.steps), desc="pretraining landmark encoder", disable=not progress):
        loss, parts = _loss(layer, enc, sample_batch(layer, cfg.batch, g, cfg))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
        if step % 250 == 0 or step == cfg.steps - 1:
            with torch.no_grad():
                vloss, vparts = _loss(layer, enc, val)
            history.append({"step": step, "train": loss.item(), "val": vloss.item(), **{f"val_{k}": v for k, v in vparts.items()}})
    summary = {"seconds": round(time.perf_counter() - t0, 1), "history": history, "config": asdict(cfg),
               "model_sha256": layer.model_sha256, "encoder": enc.config()}
    log.info("landmark encoder pretrained in %.0f s, validation loss %.4f", summary["seconds"], history[-1]["val"])
    return enc.eval(), summary


def encoder_cache_path(layer: FlameLayer, cfg: PretrainConfig, cache_dir: str | os.PathLike) -> Path:
    return Path(cache_dir) / f"landmark_encoder_{layer.model_sha256[:12]}_n{layer.n_shape}-{layer.n_exp}_{cfg.tag()}.pt"


def load_or_pretrain(layer: FlameLayer, cache_dir: str | os.PathLike, cfg: PretrainConfig = PretrainConfig(),
                     progress: bool = True) -> LandmarkEncoder:
    """The cached encoder for this model and settings, pretraining it on first use (written atomically)."""
    path = encoder_cache_path(layer, cfg, cache_dir)
    if path.is_file():
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
        enc = LandmarkEncoder(**json.loads(ckpt["encoder"]))
        enc.load_state_dict(ckpt["state_dict"], strict=True)
        if ckpt["model_sha256"] != layer.model_sha256:
            raise ValueError(f"{path}: encoder belongs to model {ckpt['model_sha256'][:12]}, not {layer.model_sha256[:12]}")
        return enc.to(layer.v_template.dtype).eval()
    enc, summary = pretrain(layer, cfg, progress=progress)
    payload = {"state_dict": enc.state_dict(), "encoder": json.dumps(enc.config()), "model_sha256": layer.model_sha256,
               "summary": json.dumps(summary)}
    import io

    buf = io.BytesIO()
    torch.save(payload, buf)
    atomic_write_bytes(path, lambda f: f.write(buf.getvalue()))
    return enc
