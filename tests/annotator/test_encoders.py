"""Encoders: DECA's exact state-dict layout and strict loading; the landmark encoder and its cache."""

from __future__ import annotations

import pytest
import torch

from annotator.encoders import DECA_SPLIT, DecaEncoder, LandmarkEncoder, load_deca_encoder


def deca_layout() -> dict[str, tuple[int, ...]]:
    """DECA's E_flame keys and shapes, written from the documented ResNet-50 spec (not from our module)."""
    keys: dict[str, tuple[int, ...]] = {"encoder.conv1.weight": (64, 3, 7, 7)}

    def bn(prefix: str, c: int) -> None:
        for k in ("weight", "bias", "running_mean", "running_var"):
            keys[f"{prefix}.{k}"] = (c,)
        keys[f"{prefix}.num_batches_tracked"] = ()

    bn("encoder.bn1", 64)
    inplanes = 64
    for layer, (planes, blocks) in enumerate([(64, 3), (128, 4), (256, 6), (512, 3)], start=1):
        for b in range(blocks):
            p = f"encoder.layer{layer}.{b}"
            keys[f"{p}.conv1.weight"] = (planes, inplanes if b == 0 else planes * 4, 1, 1)
            bn(f"{p}.bn1", planes)
            keys[f"{p}.conv2.weight"] = (planes, planes, 3, 3)
            bn(f"{p}.bn2", planes)
            keys[f"{p}.conv3.weight"] = (planes * 4, planes, 1, 1)
            bn(f"{p}.bn3", planes * 4)
            if b == 0:
                keys[f"{p}.downsample.0.weight"] = (planes * 4, inplanes, 1, 1)
                bn(f"{p}.downsample.1", planes * 4)
        inplanes = planes * 4
    keys.update({"layers.0.weight": (1024, 2048), "layers.0.bias": (1024,), "layers.2.weight": (236, 1024),
                 "layers.2.bias": (236,)})
    return keys


def test_deca_state_dict_layout():
    expected = deca_layout()
    assert len(expected) == 322
    ours = {k: tuple(v.shape) for k, v in DecaEncoder().state_dict().items()}
    assert ours == expected


@pytest.fixture(scope="module")
def deca_tar(tmp_path_factory):
    g = torch.Generator().manual_seed(0)
    sd = {k: (torch.randn(*s, generator=g) * 0.01 if s else torch.tensor(0)) for k, s in deca_layout().items()}
    for k in sd:
        if k.endswith("running_var"):
            sd[k] = torch.ones_like(sd[k])
    path = tmp_path_factory.mktemp("deca") / "deca_model.tar"
    torch.save({"E_flame": sd, "E_detail": {"x": torch.zeros(1)}, "D_detail": {}}, path)
    return path, sd


def test_deca_checkpoint_loads_strictly(deca_tar, tmp_path):
    path, sd = deca_tar
    enc = load_deca_encoder(path).eval()
    torch.testing.assert_close(enc.state_dict()["layers.2.bias"], sd["layers.2.bias"])
    with torch.no_grad():
        out = enc(torch.rand(2, 3, 224, 224))
    assert out.shape.shape == (2, 100) and out.expression.shape == (2, 50) and out.pose6.shape == (2, 6)
    code = enc.layers(enc.encoder(torch.zeros(1, 3, 224, 224)))
    torch.testing.assert_close(enc(torch.zeros(1, 3, 224, 224)).cam, code[:, slice(*DECA_SPLIT["cam"])])
    missing = {k: v for k, v in sd.items() if k != "layers.0.bias"}
    torch.save({"E_flame": missing}, tmp_path / "missing.tar")
    with pytest.raises(ValueError, match="layers.0.bias"):
        load_deca_encoder(tmp_path / "missing.tar")
    torch.save({"E_flame": dict(sd, **{"encoder.fc.weight": torch.zeros(1000, 2048)})}, tmp_path / "extra.tar")
    with pytest.raises(ValueError, match="encoder.fc.weight"):
        load_deca_encoder(tmp_path / "extra.tar")
    torch.save({"E_flame": dict(sd, **{"layers.2.weight": torch.zeros(200, 1024)})}, tmp_path / "shape.tar")
    with pytest.raises(ValueError, match="size mismatch"):
        load_deca_encoder(tmp_path / "shape.tar")
    torch.save({"something": 1}, tmp_path / "other.tar")
    with pytest.raises(ValueError, match="E_flame"):
        load_deca_encoder(tmp_path / "other.tar")
    with pytest.raises(FileNotFoundError, match="deca.is.tue.mpg.de"):
        load_deca_encoder(tmp_path / "absent.tar")


def test_deca_batchnorm_freezing():
    enc = DecaEncoder()
    enc.train()
    enc.freeze_batchnorm()
    bns = [m for m in enc.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    assert bns and all(not m.training for m in bns) and all(not p.requires_grad for m in bns for p in m.parameters())
    trainable = sum(p.numel() for p in enc.parameters() if p.requires_grad)
    assert trainable == 25_794_988  # as counted in the official NeuFace setup


def test_landmark_encoder_outputs():
    enc = LandmarkEncoder(n_shape=20, n_exp=10)
    out = enc(torch.randn(4, 68, 2) * 0.5, torch.rand(4, 68))
    assert out.shape.shape == (4, 20) and out.expression.shape == (4, 10) and out.pose6.shape == (4, 6)
    assert (out.cam[:, 0] > 0).all()  # the scale is positive by construction


@pytest.mark.slow
def test_pretrained_encoder_recovers_pose_and_is_cached(layer32_small_encoder):
    from annotator.pretrain import PretrainConfig, load_or_pretrain, sample_batch

    layer, enc, cfg, cache = layer32_small_encoder
    batch = sample_batch(layer, 512, torch.Generator().manual_seed(99), cfg)
    with torch.no_grad():
        out = enc(batch["ndc"], batch["conf"])
    r2 = 1 - ((out.pose6 - batch["pose6"]) ** 2).mean(0) / batch["pose6"].var(0)
    assert (r2[:3] > 0.8).all(), r2  # head rotation is well determined by the landmarks
    assert r2[3] > 0.5, r2  # jaw opening
    again = load_or_pretrain(layer, cache, cfg)  # from the cache, not retrained
    for a, b in zip(enc.state_dict().values(), again.state_dict().values()):
        torch.testing.assert_close(a, b)
    assert cfg.tag() != PretrainConfig(steps=cfg.steps + 1, batch=cfg.batch).tag()  # settings are in the cache key
