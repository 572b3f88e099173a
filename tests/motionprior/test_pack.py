"""Packing a data set into shards and streaming windows from them (``python -m motionprior pack``)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from flame.head import head_layer
from flame.layout import find_sequences
from motionprior.__main__ import main
from motionprior.clips import compute_statistics, load_clips
from motionprior.data import WindowDataset
from motionprior.pack import PackedWindows, is_complete, read_pack
from motionprior.state import StateSpec

CONFIGS = Path(__file__).resolve().parents[2] / "configs" / "motionprior"


@pytest.fixture(scope="module")
def packed(tmp_path_factory, motion_corpus, standin_paths) -> Path:
    """The motion corpus packed by two cluster jobs (2 sequences per shard)."""
    out = tmp_path_factory.mktemp("pack") / "pack"
    args = ["pack", "--data", str(motion_corpus), "--out", str(out), "--flame_model", str(standin_paths.pkl),
            "--sequences_per_shard", "2", "--min_seconds", "0"]
    assert main([*args, "--shard", "0/2"]) == 0
    info = read_pack(out)
    assert not is_complete(out) and not (out / "statistics.npz").exists()  # the other job's shards are missing
    assert main([*args, "--shard", "1/2"]) == 0
    assert is_complete(out) and info["splits"] == {"train": 2, "val": 1, "test": 1}
    stamps = {p: p.stat().st_mtime_ns for p in out.rglob("shard-*")}
    assert main(args) == 0  # resumes: nothing to redo
    assert {p: p.stat().st_mtime_ns for p in out.rglob("shard-*")} == stamps
    return out


def test_pack_statistics_equal_the_in_memory_ones(packed, motion_corpus, standin_paths):
    spec = StateSpec()
    clips = load_clips(find_sequences(motion_corpus, "train"), head_layer(standin_paths.pkl), spec, min_seconds=0.0,
                       progress=False)
    want = compute_statistics(clips, spec)
    with np.load(packed / "statistics.npz") as z:
        for key, w in zip(("state_mean", "state_std", "delta_scale"), want):
            np.testing.assert_allclose(z[key], w.numpy(), rtol=1e-5, atol=1e-6)


def test_streamed_windows_equal_the_in_memory_windows(packed, motion_corpus, standin_paths):
    spec = StateSpec()
    clips = load_clips(find_sequences(motion_corpus, "train"), head_layer(standin_paths.pkl), spec, min_seconds=0.0,
                       progress=False)
    memory = WindowDataset(clips, 10, random=False)
    stream = PackedWindows(packed, "train", 10, random=False)
    items = list(stream)
    assert len(items) == len(memory) == len(stream)
    for a, i in zip(items, range(len(memory))):
        b = memory[i]
        assert torch.equal(a["states"], b["states"]) and torch.equal(a["shape"], b["shape"])
    # each DDP rank reads its own shards; together they read everything once
    ranks = [PackedWindows(packed, "train", 10, random=False, rank=r, world_size=2) for r in range(2)]
    assert sum(len(list(r)) for r in ranks) == len(items)
    assert {id(s.path) for s in ranks[0].shards}.isdisjoint({id(s.path) for s in ranks[1].shards})
    assert [s.path.name for s in ranks[0].shards] == ["shard-00000.f32"]
    torch.manual_seed(0)
    random = list(PackedWindows(packed, "train", 10, random=True, length=7, time_reversal=1.0, spec=spec))
    assert len(random) == 7 and all(r["states"].shape == (11, spec.dim) for r in random)
    # one sampler: the same seed draws the same random windows (and reversals) from memory and from the pack
    torch.manual_seed(1)
    streamed = list(PackedWindows(packed, "train", 10, random=True, length=9, time_reversal=0.5, spec=spec))
    torch.manual_seed(1)
    in_memory = WindowDataset(clips, 10, random=True, length=9, time_reversal=0.5, spec=spec)
    drawn = [in_memory[i] for i in range(9)]
    assert all(torch.equal(a["states"], b["states"]) for a, b in zip(streamed, drawn))
    assert len({tuple(a["states"][0, :3].tolist()) for a in streamed}) > 1  # not one window repeated


def test_training_streams_from_a_pack(packed, standin_paths):
    from motionprior.train import lightning_cli

    cli = lightning_cli(["fit", "--config", str(CONFIGS / "quick.yaml"), "--data.data", str(packed),
                         "--model.head.flame_model", str(standin_paths.pkl), "--trainer.fast_dev_run", "true",
                         "--trainer.enable_progress_bar", "false", "--model.network.hidden", "64", "--model.plot_every_n_epochs",
                         "0"])
    assert cli.trainer.state.finished and cli.datamodule.packed
    with np.load(packed / "statistics.npz") as z:
        np.testing.assert_allclose(cli.model.model.state_mean.numpy(), z["state_mean"])
    with pytest.raises(ValueError, match="packed with state"):
        lightning_cli(["fit", "--config", str(CONFIGS / "quick.yaml"), "--data.data", str(packed), "--model.state.n_exp", "10",
                       "--model.head.flame_model", str(standin_paths.pkl), "--trainer.fast_dev_run", "true"])


def test_official_dataset_split_by_identity_and_read_back(tmp_path, standin_paths):
    """MEAD-layout exports -> a split manifest by identity -> every file read as 7 clips of 30 fps."""
    import yaml

    from flame.official import MEAD_VIEWS, to_neuface_params
    from flame.sequence import FlameSequence
    from motionprior.splits import identity_of

    rng = np.random.default_rng(0)
    root = tmp_path / "neuface_output" / "MEAD"
    for actor in ("M003", "M005", "W009", "W011", "M012"):
        for seq in ("001", "002"):
            t = 9
            pose = np.zeros((7, t, 15))
            pose[..., 6] = rng.uniform(0, 0.2, (7, t))
            s = FlameSequence.from_params(shape=rng.normal(size=100), expression=rng.normal(size=(7, t, 50)), pose=pose,
                                          fps=30.0, model="x", model_sha256="unknown", view_names=list(MEAD_VIEWS))
            to_neuface_params(s, root / f"{actor}_angry_level_1_{seq}" / "flame_params" / "params.npz")
    out = tmp_path / "splits.yaml"
    assert main(["split", "--root", str(tmp_path / "neuface_output"), "--preset", "mead", "--out", str(out),
                 "--fractions", "[0.6, 0.2, 0.2]"]) == 0
    table = yaml.safe_load(out.read_text())
    assert table["preset"] == "mead" and [len(table[s]) for s in ("train", "val", "test")] == [6, 2, 2]
    ids = {s: {identity_of(tmp_path / p, "mead") for p in table[s]} for s in ("train", "val", "test")}
    assert sum(len(v) for v in ids.values()) == 5 and not ids["train"] & ids["test"]  # no actor in two splits
    entries = find_sequences(out, "test")
    seq = entries[0].load()
    assert seq.n_views == 7 and seq.n_frames == 9 and seq.fps == 30.0 and list(seq.view_names) == list(MEAD_VIEWS)
    assert identity_of("vox/id00012/x/flame_params/params.npz", "voxceleb2") == "id00012"
    assert identity_of("c/-0h6_LJnUSUY_3/flame_params/params.npz", "celebv_hq") == "-0h6_LJnUSUY"


def test_a_damaged_shard_is_refused_with_the_fix(packed, tmp_path):
    import shutil

    copy = tmp_path / "pack"
    shutil.copytree(packed, copy)
    shard = copy / "val" / "shard-00000.f32"
    shard.write_bytes(shard.read_bytes()[:-4])
    with pytest.raises(ValueError, match="shard-00000.f32.*pack this shard again"):
        PackedWindows(copy, "val", 10, random=False)
    with pytest.raises(ValueError, match="no test split|has no"):
        shutil.rmtree(copy / "test")
        (copy / "pack.json").write_text((copy / "pack.json").read_text().replace('"test": 1', '"test": 0'))
        PackedWindows(copy, "test", 10, random=False)


def test_ranks_draw_equal_numbers_of_training_windows(packed):
    """Unequal step counts would deadlock DDP: every rank draws the epoch's windows / world size."""
    one = PackedWindows(packed, "train", 10, random=True)
    two = [PackedWindows(packed, "train", 10, random=True, rank=r, world_size=2) for r in range(2)]
    assert len(two[0]) == len(two[1]) == len(one) // 2 and len(one) == len(one.plan.ordered)
    assert [len(PackedWindows(packed, "train", 10, random=True, length=64, rank=r, world_size=2)) for r in (0, 1)] == [32, 32]
