"""Training data at scale: ``python -m motionprior pack`` featurizes a data set once into sharded,
memory-mappable state files plus the train-split normalization statistics; :class:`PackedWindows`
streams training windows from them with memory that does not grow with the data.

Layout of a pack folder::

    pack.json                       {"format": PACK_FORMAT, "version", "state": StateSpec fields,
                                     "model", "model_sha256", "source", "min_seconds", "trim",
                                     "sequences_per_shard", "splits": {split: number of shards}}
    <split>/shard-<k>.f32           the shard's clips' states (30 Hz), concatenated: raw little-endian
                                    float32, C order, (frames, dim) - np.memmap reads it with the index
    <split>/shard-<k>.index.npz     "starts", "lengths" (clips,), "shapes" (clips, n_shape), "names",
                                    "dim"; train shards also the partial sums of the statistics
    statistics.npz                  state_mean, state_std, delta_scale (merged from the train shards)

Shard ``k`` of a split holds its sequences ``k * sequences_per_shard ...`` in the order of
:func:`flame.layout.find_sequences`; each shard is written atomically (the index last), so packing
resumes where it stopped, and ``--shard i/n`` packs the shards ``k % n == i`` (one job per cluster node);
the statistics are merged once every train shard exists.

Why plain numpy files and not LitData / WebDataset: a training item is a random *window* of 11 frames
of a clip, not a stored sample. Both libraries stream pre-serialized samples sequentially from chunks
(LitData's ``optimize`` writes chunks of items, WebDataset tar shards of items), so windows would have to
be cut at pack time - fixing the window length and the window starts in the files and multiplying the
data by the overlap - or read sequentially with a shuffle buffer that breaks HuMoR's uniform random
windows. A state shard is one contiguous float32 array: any window of any clip is one ``pread`` of
``(window + 1) * dim * 4`` bytes at a computed offset, the files need no reader but numpy, and
nothing beyond a shard's small index lives in memory. Reads go through ``os.pread`` rather than a
memory map, so the pages of the data set do not accumulate in the trainer's resident memory; packing
appends one sequence at a time to its shard, so its memory does not grow with the shard either.
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import IterableDataset, get_worker_info
from tqdm.auto import tqdm

from flame.errors import InputError
from flame.files import atomic_path, atomic_write_bytes, atomic_write_json
from flame.layout import SPLITS, SplitName, find_sequences, parse_shard
from flame.types import N_EXP
from motionprior.clips import SUM_KEYS, add_sums, load_clips, statistic_sums, statistics_from_sums
from motionprior.state import StateSpec, reverse_states
from motionprior.windows import WindowPlan

__all__ = ["PACK_FORMAT", "PACK_INFO", "PackConfig", "pack", "is_pack", "read_pack", "is_complete", "pack_statistics",
           "PackedWindows"]

log = logging.getLogger(__name__)

PACK_FORMAT = "neuface-motion-suite/packed-states"
PACK_INFO = "pack.json"
STATISTICS = "statistics.npz"
@dataclass
class PackConfig:
    """Settings of ``python -m motionprior pack``.

    Attributes:
        data: annotation output, corpus, split manifest or split folder (:func:`flame.layout.find_sequences`).
        out: the pack folder.
        splits: which splits to pack.
        n_exp / neck / eyes / extra_velocities: the state layout (as the prior's; :class:`StateSpec`).
        flame_model / assets: the head model (default: the stand-in in ``assets``).
        min_seconds / trim: drop clips shorter than this; cut this fraction from both ends.
        sequences_per_shard: sequences per shard file.
        shard: ``"i/n"``: pack only the shards ``k % n == i`` (one job of a cluster array).
    """

    data: str
    out: str
    splits: list[SplitName] = SPLITS
    n_exp: int = N_EXP
    neck: bool = False
    eyes: bool = False
    extra_velocities: list[str] = ()
    flame_model: str | None = None
    assets: str | None = None
    min_seconds: float = 1.0
    trim: float = 0.0
    sequences_per_shard: int = 256
    shard: str = "0/1"

    def spec(self) -> StateSpec:
        return StateSpec(n_exp=self.n_exp, neck=self.neck, eyes=self.eyes, extra_velocities=tuple(self.extra_velocities))


def is_pack(path: str | os.PathLike) -> bool:
    return (Path(path) / PACK_INFO).is_file()


def read_pack(path: str | os.PathLike) -> dict:
    """``pack.json`` of a pack folder, checked."""
    info = json.loads((Path(path) / PACK_INFO).read_text())
    if info.get("format") != PACK_FORMAT:
        raise InputError(f"{path}: not a pack folder of this suite (format {info.get('format')!r})")
    return info


def _shard_paths(root: Path, split: str, k: int) -> tuple[Path, Path]:
    return root / split / f"shard-{k:05d}.f32", root / split / f"shard-{k:05d}.index.npz"


def _pack_shard(entries, layer, spec: StateSpec, cfg: PackConfig, data_path: Path, index_path: Path,
                with_sums: bool) -> None:
    """Featurize one shard's sequences one at a time, appending their states to the shard file (memory:
    one sequence), then write the index (with the statistics' partial sums for the train split)."""
    starts, lengths, names, shapes, sums, row = [], [], [], [], None, 0
    with atomic_path(data_path) as tmp, open(tmp, "wb") as f:
        for entry in entries:
            for clip in load_clips([entry], layer, spec, cfg.min_seconds, cfg.trim, progress=False):
                f.write(np.ascontiguousarray(clip.states, dtype="<f4").tobytes())
                starts.append(row)
                lengths.append(len(clip.states))
                names.append(clip.name)
                shapes.append(clip.shape)
                row += len(clip.states)
                if with_sums:
                    sums = add_sums(sums, statistic_sums(clip.states, spec))
        f.flush()
        os.fsync(f.fileno())
    index = {"starts": np.array(starts, np.int64), "lengths": np.array(lengths, np.int64),
             "names": np.array(names, dtype=str), "dim": np.array(spec.dim),
             "shapes": np.array(shapes, np.float32).reshape(len(shapes), layer.n_shape)}
    if with_sums:
        sums = sums or {"n": np.array(0.0), "sum": np.zeros(spec.dim), "sumsq": np.zeros(spec.dim),
                        "n_delta": np.array(0.0), "delta_sumsq": np.zeros(spec.out_dim)}
        index |= {f"sums_{k}": v for k, v in sums.items()}
    atomic_write_bytes(index_path, lambda f: np.savez(f, **index))


def pack(cfg: PackConfig, progress: bool = True) -> dict:
    """Pack ``cfg.data`` (see the module docstring); returns ``pack.json`` with ``complete`` (every shard of
    every split and the statistics exist)."""
    from motionprior.state import prior_layer

    spec = cfg.spec()
    me, n_jobs = parse_shard(cfg.shard)
    unknown = set(cfg.splits) - set(SPLITS)
    if unknown or "train" not in cfg.splits:
        raise InputError(f"splits must include train and be among {SPLITS}, got {list(cfg.splits)}")
    if cfg.sequences_per_shard < 1:
        raise InputError(f"sequences_per_shard must be >= 1, got {cfg.sequences_per_shard}")
    layer = prior_layer(spec, cfg.flame_model, cfg.assets)
    root = Path(cfg.out)
    info = {"format": PACK_FORMAT, "version": 1, "state": asdict(spec), "model": layer.model_label,
            "model_sha256": layer.model_sha256, "source": str(cfg.data), "min_seconds": cfg.min_seconds,
            "trim": cfg.trim, "sequences_per_shard": cfg.sequences_per_shard, "splits": {}}
    if is_pack(root):
        old = read_pack(root)
        same = {k: old.get(k) for k in ("state", "model_sha256", "source", "min_seconds", "trim", "sequences_per_shard")}
        want = {k: json.loads(json.dumps(info[k])) for k in same}
        if same != want:
            raise InputError(f"{root}: packed with other settings ({same}); use a new --out or delete the folder")
    todo = []
    for split in cfg.splits:
        entries = find_sequences(cfg.data, split)
        n = -(-len(entries) // cfg.sequences_per_shard)
        info["splits"][split] = n
        (root / split).mkdir(parents=True, exist_ok=True)
        for k in range(me, n, n_jobs):
            data_path, index_path = _shard_paths(root, split, k)
            if not (index_path.is_file() and data_path.is_file()):
                todo.append((split, k, entries[k * cfg.sequences_per_shard:(k + 1) * cfg.sequences_per_shard]))
    root.mkdir(parents=True, exist_ok=True)
    atomic_write_json(root / PACK_INFO, info)  # the settings only: every job writes the same
    for split, k, entries in tqdm(todo, desc="pack", unit="shard", disable=not progress):
        _pack_shard(entries, layer, spec, cfg, *_shard_paths(root, split, k), with_sums=split == "train")
    done = all(_shard_paths(root, s, k)[1].is_file() for s, n in info["splits"].items() for k in range(n))
    if done and not (root / STATISTICS).is_file():  # the job that finishes last merges
        sums = None
        for k in range(info["splits"]["train"]):
            with np.load(_shard_paths(root, "train", k)[1]) as z:
                sums = add_sums(sums, {key: z[f"sums_{key}"] for key in SUM_KEYS})
        mean, std, scale = statistics_from_sums(sums or {"n": np.array(0.0)}, spec)
        atomic_write_bytes(root / STATISTICS, lambda f: np.savez(f, state_mean=mean.numpy(), state_std=std.numpy(),
                                                                 delta_scale=scale.numpy()))
    if not done:
        log.info("%s: this job's shards are packed; the others (and the statistics) follow from the other jobs", root)
    return info | {"complete": is_complete(root)}


def is_complete(root: str | os.PathLike) -> bool:
    """Every shard of every split of the pack and the statistics exist (read from the files, not a flag
    that concurrent jobs could leave stale)."""
    root = Path(root)
    info = read_pack(root)
    shards = all(_shard_paths(root, s, k)[1].is_file() for s, n in info["splits"].items() for k in range(n))
    return shards and (root / STATISTICS).is_file()


def pack_statistics(root: str | os.PathLike) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The train-split statistics of a complete pack."""
    path = Path(root) / STATISTICS
    if not path.is_file():
        raise InputError(f"{root}: the pack is incomplete (no {STATISTICS}); run the remaining pack shards")
    with np.load(path) as z:
        return tuple(torch.as_tensor(z[k]) for k in ("state_mean", "state_std", "delta_scale"))


class _Shard:
    """One shard: its small index in memory, its states read window by window with ``os.pread``."""

    def __init__(self, data_path: Path, index_path: Path) -> None:
        with np.load(index_path) as z:
            self.starts, self.lengths, self.shapes, self.dim = z["starts"], z["lengths"], z["shapes"], int(z["dim"])
        frames = int(self.lengths.sum())
        if data_path.stat().st_size != frames * self.dim * 4:
            raise InputError(f"{data_path}: {data_path.stat().st_size} bytes, but its index says {frames} x {self.dim} "
                             f"float32; pack this shard again (delete it and its index)")
        self.path = data_path
        self._fd: int | None = None

    def read(self, clip: int, start: int, n: int) -> np.ndarray:
        if self._fd is None:  # opened lazily, so each DataLoader worker has its own descriptor
            self._fd = os.open(self.path, os.O_RDONLY)
        row = int(self.starts[clip]) + start
        buf = os.pread(self._fd, n * self.dim * 4, row * self.dim * 4)
        return np.frombuffer(buf, "<f4").reshape(n, self.dim).astype(np.float32)

    def __getstate__(self) -> dict:
        return self.__dict__ | {"_fd": None}


class PackedWindows(IterableDataset):
    """Windows of ``window`` transitions streamed from the shards of one split of a pack.

    Each DDP rank reads its own shards (``rank::world_size``; every rank reads all of them when there
    are fewer shards than ranks, with a warning). ``random=True`` (training, as HuMoR): ``length``
    windows per epoch (default: the split's number of non-overlapping windows), shared out equally over
    the ranks (unequal step counts would leave the ranks waiting for each other), each a uniformly
    chosen clip and start (torch's global generator: seeded by ``seed_everything``, offset per
    rank by the data module, per worker by the DataLoader), played backwards with probability
    ``time_reversal``. ``random=False``: the non-overlapping windows in order, split over workers.
    """

    def __init__(self, root: str | os.PathLike, split: str, window: int, random: bool, length: int | None = None,
                 time_reversal: float = 0.0, spec: StateSpec | None = None, rank: int = 0, world_size: int = 1) -> None:
        info = read_pack(root)
        n = info["splits"].get(split, 0)
        if not n:
            raise InputError(f"{root}: the pack has no {split} split (pack it with --splits)")
        ks = list(range(n))[rank::world_size] if n >= world_size else list(range(n))
        if n < world_size:
            log.warning("%s: %d %s shards for %d ranks; every rank reads all of them (pack with a smaller "
                        "--sequences_per_shard)", root, n, split, world_size)
        every = [_Shard(*_shard_paths(Path(root), split, k)) for k in range(n)]  # indices only: small
        self.shards = [every[k] for k in ks]
        log.info("%s split of %s: rank %d of %d reads shards %s", split, root, rank, world_size, ks)
        self.window, self.spec = window, spec
        self.clips = [(s, c) for s, shard in enumerate(self.shards) for c in range(len(shard.lengths))]
        total = sum(int(max(length_ - 1, 0)) // window for shard in every for length_ in shard.lengths)
        self.plan = WindowPlan([int(self.shards[s].lengths[c]) for s, c in self.clips], window, random,
                               max(1, (length or total) // world_size) if random else None, time_reversal,
                               source=f"{root}: the {split} split")

    def __len__(self) -> int:
        return self.plan.length

    def _item(self, k: int, start: int, reverse: bool) -> dict[str, torch.Tensor]:
        s, c = self.clips[k]
        states = torch.from_numpy(self.shards[s].read(c, start, self.window + 1))
        if reverse:
            states = reverse_states(states, self.spec)
        return {"states": states, "shape": torch.from_numpy(self.shards[s].shapes[c])}

    def __iter__(self):
        worker = get_worker_info()
        wid, nw = (worker.id, worker.num_workers) if worker else (0, 1)
        if self.plan.random:
            for _ in range(wid, self.plan.length, nw):
                yield self._item(*self.plan.draw())
        else:
            for k, start in self.plan.ordered[wid::nw]:
                yield self._item(k, start, False)
