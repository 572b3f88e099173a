"""The on-disk layout of corpora and annotation outputs: the contract between the annotator, which
writes them, and everything that reads them (the motion prior, evaluation, the demos).

Synthetic corpus (``python -m annotator synth``)::

    corpus.json                       {"format": CORPUS_FORMAT, "version": 1, "complete": bool,
                                       "settings": {..., "n_shape", "n_exp"}, "fps", "model" (label),
                                       "model_sha256", "model_file", "splits": {split: [identity]},
                                       "sequences": int, ...}; written first (complete false) and last
    manifest.jsonl                    one JSON object per line and sequence: "id", "split", "path" (its
                                      folder, relative), "identity", "frames", "fps", "views", ...
    <path>/gt.npz                     the ground truth (a FlameSequence)
    <path>/capture.npz                what the annotator reads (a Capture)
    <path>/cameras.npz                the rig per view and frame
    <path>/frames/<view>.mp4          rendered frames (optional)

Annotation output (``python -m annotator run``)::

    manifest.jsonl                    one JSON object per line and attempt; with ``--shard i/n`` each
    manifest.shard-<i>-of-<n>.jsonl   shard writes its own file. Keys: "id", "status" ("done",
                                      "rejected" or "failed"), "output" (relative path of the sequence
                                      file), "split" ("" outside a corpus), "input", "method", "error",
                                      "flags", timings and losses
    <output>                          e.g. <split>/<id>.npz, a FlameSequence

**Merge rule** (shards, resubmitted jobs, reruns): manifests are read in name order and lines in file
order; an input's record is its last ``done`` line whose output file exists, otherwise its last line
(a ``done`` line whose output is gone reads as status ``missing``). A line cut by a crash is skipped.
Unknown keys are kept and missing optional keys default, so manifests written by earlier versions read
unchanged.

Data for the motion prior and evaluation (:func:`find_sequences`) is a corpus (its ground truth), an
annotation output (its ``done`` sequences), a split manifest or a folder with ``train/ val/ test/``.
A split manifest (``.yaml`` / ``.json``; paths relative to the manifest)::

    preset: mead                      optional: the layout of every official params.npz listed
    train:                            (flame.official.NEUFACE_PRESETS: mead, voxceleb2, celebv_hq)
      - a/flame_params/params.npz     a file (FlameSequence, or params.npz with the preset)
      - {path: b/params.npz, fps: 25, views: [front]}   a file with its own layout
      - {path: c/params.npz, preset: voxceleb2}
    val: [...]
    test: [...]

An official ``params.npz`` whose layout no preset or entry states is refused when it is read.

**Sequence names** (:func:`sequence_name`; clip names add ``/<view>``): an official export
``<data_name>/flame_params/params.npz`` is named by its ``data_name`` folder, any other file
``<folder>/<stem>`` (``test/M003_001.npz`` -> ``test/M003_001``). Names of one set are unique
(:func:`unique_names`: a name two files share takes on their parent folders until it differs), so
outputs named after them never replace each other.
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from flame.errors import InputError
from flame.files import atomic_write_json, atomic_write_text
from flame.official import NEUFACE_PRESETS, NeufaceLayout, read_sequence
from flame.sequence import FlameSequence

__all__ = ["CORPUS_FORMAT", "CORPUS_INFO", "MANIFEST", "SPLITS", "GT_FILE", "CAPTURE_FILE", "CAMERAS_FILE",
           "CorpusSequence", "Corpus", "is_corpus", "read_corpus", "write_corpus_info", "write_corpus_manifest",
           "annotation_manifest", "append_record", "read_annotations", "is_annotation_output", "find_sequences",
           "read_jsonl", "SequenceEntry", "parse_shard", "SplitName", "OFFICIAL_PARAMS_FILE",
           "OFFICIAL_PARAMS_FOLDER", "sequence_name", "unique_names", "named_entries"]

log = logging.getLogger(__name__)

CORPUS_FORMAT = "neuface-motion-suite/synthetic-corpus"
CORPUS_INFO = "corpus.json"
MANIFEST = "manifest.jsonl"
SPLITS = ("train", "val", "test")
#: a split's name, as a type for typed settings
SplitName = Literal[SPLITS]
GT_FILE, CAPTURE_FILE, CAMERAS_FILE = "gt.npz", "capture.npz", "cameras.npz"
#: the official NeuFace export: ``{output_dir}/{dataset}/{data_name}/flame_params/params.npz``
OFFICIAL_PARAMS_FOLDER, OFFICIAL_PARAMS_FILE = "flame_params", "params.npz"


def sequence_name(path: str | os.PathLike) -> str:
    """The name of the sequence in file ``path`` (see the module docstring): the ``data_name`` folder of an
    official export, else ``<folder>/<stem>``."""
    path = Path(path)
    if path.name == OFFICIAL_PARAMS_FILE:
        return path.parent.parent.name if path.parent.name == OFFICIAL_PARAMS_FOLDER else path.parent.name
    return f"{path.parent.name}/{path.stem}"


def unique_names(paths: list[Path]) -> list[str]:
    """:func:`sequence_name` of each path, made unique within the list: a name several files share is
    prefixed with their parent folders (official exports: above ``data_name``) until the names differ; the
    same file listed twice is numbered (``name#2``)."""
    paths = [Path(p) for p in paths]
    names = [sequence_name(p) for p in paths]
    depth = [2 if p.name == OFFICIAL_PARAMS_FILE and p.parent.name == OFFICIAL_PARAMS_FOLDER else 1 for p in paths]
    for _ in range(max((len(p.parts) for p in paths), default=0)):
        seen: dict[str, list[int]] = {}
        for i, n in enumerate(names):
            seen.setdefault(n, []).append(i)
        clashes = [idx for idx in seen.values() if len(idx) > 1]
        if not clashes:
            return names
        for i in (i for idx in clashes for i in idx):
            depth[i] += 1
            parent = paths[i].parents[depth[i] - 1] if depth[i] <= len(paths[i].parents) else None
            if parent is not None and parent.name:
                names[i] = f"{parent.name}/{names[i]}"
    counts: dict[str, int] = {}
    for i, n in enumerate(names):
        counts[n] = counts.get(n, 0) + 1
        names[i] = n if counts[n] == 1 else f"{n}#{counts[n]}"
    return names


def read_jsonl(path: str | os.PathLike) -> list[dict]:
    """The JSON objects of a ``.jsonl`` file, one per non-blank line; a line cut by a crash is skipped."""
    records = []
    for n, line in enumerate(Path(path).read_text().splitlines(), 1):
        if not line.strip():
            continue
        try:
            records.append(json.loads(line))
        except ValueError:
            log.warning("%s:%d: skipping an unreadable line (cut by a crash?)", path, n)
    return records


# ----------------------------------------------------------------------------------------------
# Synthetic corpora
# ----------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class CorpusSequence:
    """One sequence of a corpus: its manifest record and where its files are.

    Attributes:
        id: sequence id (``<identity>_<index>``).
        split: ``train``, ``val`` or ``test``.
        folder: absolute folder of its files.
        record: the whole manifest record (identity, frames, fps, views, emotion, ...).
    """

    id: str
    split: str
    folder: Path
    record: dict[str, Any] = field(default_factory=dict)

    @property
    def gt(self) -> Path:
        return self.folder / GT_FILE

    @property
    def capture(self) -> Path:
        return self.folder / CAPTURE_FILE

    @property
    def cameras(self) -> Path:
        return self.folder / CAMERAS_FILE


@dataclass(frozen=True)
class Corpus:
    """A synthetic corpus as read from disk: ``corpus.json`` (``info``) and its sequences."""

    folder: Path
    info: dict[str, Any]
    sequences: tuple[CorpusSequence, ...]

    @property
    def model_file(self) -> str:
        """The head model file the corpus was built with."""
        return str(self.info["model_file"])

    @property
    def n_shape(self) -> int:
        return int(self.info["settings"]["n_shape"])

    @property
    def n_exp(self) -> int:
        return int(self.info["settings"]["n_exp"])

    def split(self, name: str | None) -> list[CorpusSequence]:
        """The sequences of one split (all for ``None``), in manifest order."""
        return [s for s in self.sequences if name is None or s.split == name]

    def sequence(self, seq_id: str | None = None) -> CorpusSequence:
        """The sequence ``seq_id`` (the first of the manifest for ``None``)."""
        if not self.sequences:
            raise InputError(f"{self.folder}: the corpus has no sequences")
        if seq_id is None:
            return self.sequences[0]
        for s in self.sequences:
            if s.id == seq_id:
                return s
        raise InputError(f"sequence {seq_id!r} is not in {self.folder / MANIFEST}")


def is_corpus(folder: str | os.PathLike) -> bool:
    """Whether ``folder`` holds a synthetic corpus (its ``corpus.json``)."""
    return (Path(folder) / CORPUS_INFO).is_file()


def read_corpus(folder: str | os.PathLike) -> Corpus:
    """Read a corpus; errors name the folder and how to make one."""
    folder = Path(folder)
    path = folder / CORPUS_INFO
    if not path.is_file():
        raise FileNotFoundError(f"{folder}: no {CORPUS_INFO}; build a corpus with `python -m annotator synth --out "
                                f"{folder}`")
    try:
        info = json.loads(path.read_text())
    except ValueError as e:
        raise InputError(f"{path}: not readable JSON ({e})") from None
    if not isinstance(info, dict) or info.get("format") != CORPUS_FORMAT:
        raise InputError(f"{path}: not a synthetic corpus description (format {CORPUS_FORMAT!r})")
    records = read_jsonl(folder / MANIFEST) if (folder / MANIFEST).is_file() else []
    sequences = tuple(CorpusSequence(str(r["id"]), str(r["split"]), folder / r["path"], r) for r in records)
    return Corpus(folder, info, sequences)


def write_corpus_info(folder: str | os.PathLike, info: dict[str, Any]) -> None:
    """Write ``corpus.json`` (atomically) with the format tag and version."""
    atomic_write_json(Path(folder) / CORPUS_INFO, {"format": CORPUS_FORMAT, "version": 1, **info})


def write_corpus_manifest(folder: str | os.PathLike, records: list[dict[str, Any]]) -> None:
    """Write ``manifest.jsonl`` (atomically); every record needs ``id``, ``split`` and ``path``."""
    for r in records:
        missing = [k for k in ("id", "split", "path") if k not in r]
        if missing:
            raise ValueError(f"corpus manifest record {r} lacks {missing}")
    atomic_write_text(Path(folder) / MANIFEST, "".join(json.dumps(r, sort_keys=True) + "\n" for r in records))


# ----------------------------------------------------------------------------------------------
# Annotation outputs
# ----------------------------------------------------------------------------------------------
def parse_shard(shard: str) -> tuple[int, int]:
    """``"i/n"`` -> ``(i, n)``: job ``i`` of ``n`` (``0 <= i < n``) of a job sharded over a cluster."""
    try:
        i, n = (int(x) for x in shard.split("/"))
    except ValueError:
        raise InputError(f"--shard must look like i/n (e.g. 0/4), got {shard!r}") from None
    if not 0 <= i < n:
        raise InputError(f"--shard {shard}: need 0 <= i < n")
    return i, n


def annotation_manifest(folder: str | os.PathLike, shard: int = 0, shards: int = 1) -> Path:
    """The manifest that shard ``shard`` of ``shards`` appends to."""
    return Path(folder) / (MANIFEST if shards == 1 else f"manifest.shard-{shard}-of-{shards}.jsonl")


def append_record(manifest: str | os.PathLike, record: dict[str, Any]) -> None:
    """Append one record as a line and flush it to disk (a crash loses at most the line being written)."""
    line = json.dumps(record, sort_keys=True) + "\n"
    with open(manifest, "a") as f:
        f.write(line)
        f.flush()
        os.fsync(f.fileno())


def _manifests(folder: Path) -> list[Path]:
    return sorted(folder.glob("manifest*.jsonl"))


def is_annotation_output(folder: str | os.PathLike) -> bool:
    """Whether ``folder`` holds annotation manifests (and is not a corpus)."""
    folder = Path(folder)
    return folder.is_dir() and not is_corpus(folder) and bool(_manifests(folder))


def read_annotations(folder: str | os.PathLike) -> dict[str, dict[str, Any]]:
    """Every input of an annotation output with its record, by id (the merge rule of the module
    docstring): status ``done`` means its output file exists. Records get defaults for the optional keys:
    ``split`` "", ``output`` "", ``status`` "failed"."""
    folder = Path(folder)
    last: dict[str, dict] = {}
    done: dict[str, dict] = {}
    for manifest in _manifests(folder):
        for record in read_jsonl(manifest):
            if "id" not in record:
                continue
            record = {"split": "", "output": "", "status": "failed", **record}
            if record["status"] == "done":
                if record["output"] and (folder / record["output"]).is_file():
                    done[record["id"]] = record
                else:
                    record["status"] = "missing"
            last[record["id"]] = record
    return {k: done.get(k, v) for k, v in last.items()}


# ----------------------------------------------------------------------------------------------
# Sequence files of a split
# ----------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class SequenceEntry:
    """One sequence file of a data split: ``path``, for an official NeuFace ``params.npz`` the ``layout``
    (fps, views) its split manifest states, and its ``name`` in the set (default: :func:`sequence_name`)."""

    path: Path
    layout: NeufaceLayout | None = None
    name: str = ""

    def __post_init__(self) -> None:
        if not self.name:
            object.__setattr__(self, "name", sequence_name(self.path))

    def clip_name(self, view: str) -> str:
        """The name of one view of the sequence (a clip): ``<name>/<view>``."""
        return f"{self.name}/{view}"

    def load(self) -> FlameSequence:
        """The sequence (:func:`flame.official.read_sequence`)."""
        return read_sequence(self.path, self.layout)


def find_sequences(data: str | os.PathLike, split: str) -> list[SequenceEntry]:
    """The sequence files of ``split`` in ``data`` (see the module docstring), sorted."""
    data = Path(data)
    if split not in SPLITS:
        raise InputError(f"split must be one of {SPLITS}, got {split!r}")
    if not data.exists():
        raise FileNotFoundError(f"{data}: no such data folder or split manifest")
    if data.is_file():
        return _split_manifest(data, split)
    if is_corpus(data):
        paths = [s.gt for s in read_corpus(data).split(split)]
    elif is_annotation_output(data):
        records = [r for r in read_annotations(data).values() if r["status"] == "done"]
        if records and not any(r["split"] for r in records):
            raise InputError(f"{data}: the annotated inputs carry no train/val/test split (they were not a corpus); "
                             f"write a split manifest (.yaml: {{train: [files], val: [...], test: [...]}}) and pass it")
        paths = list({data / r["output"] for r in records if r["split"] == split})
    elif any((data / name).is_dir() for name in SPLITS):
        paths = list((data / split).rglob("*.npz"))
    else:
        raise InputError(f"{data}: not an annotation output, a corpus, a split manifest or a folder with "
                         f"{'/'.join(SPLITS)}/")
    return named_entries([SequenceEntry(p) for p in sorted(paths)])


def named_entries(entries: list[SequenceEntry]) -> list[SequenceEntry]:
    """``entries`` with names unique within the list (:func:`unique_names`)."""
    names = unique_names([e.path for e in entries])
    return [SequenceEntry(e.path, e.layout, n) for e, n in zip(entries, names)]


def _layout(entry: dict, default: NeufaceLayout | None, where: str) -> NeufaceLayout | None:
    """The params.npz layout an entry states: its preset, else the manifest's, with ``fps`` / ``views`` of
    the entry replacing the preset's (views default to one ``front`` view)."""
    if "preset" in entry:
        if entry["preset"] not in NEUFACE_PRESETS:
            raise InputError(f"{where}: unknown preset {entry['preset']!r}; choose from {list(NEUFACE_PRESETS)}")
        default = NEUFACE_PRESETS[entry["preset"]]
    if "fps" not in entry and "views" not in entry:
        return default
    if "fps" not in entry and default is None:
        raise InputError(f"{where}: views without fps; state fps: <frames per second> too")
    fps = entry["fps"] if "fps" in entry else default.fps
    views = entry["views"] if "views" in entry else default.views if default else ("front",)
    try:
        return NeufaceLayout(float(fps), tuple(views))
    except (TypeError, ValueError) as e:
        raise InputError(f"{where}: {e} (an entry states fps: <number> and views: [names])") from None


def _split_manifest(path: Path, split: str) -> list[SequenceEntry]:
    import yaml

    text = path.read_text()
    try:
        table = json.loads(text) if path.suffix == ".json" else yaml.safe_load(text)
    except (ValueError, yaml.YAMLError) as e:
        raise InputError(f"{path}: not a readable split manifest ({e})") from None
    if not isinstance(table, dict) or not set(table) <= {*SPLITS, "preset"}:
        raise InputError(f"{path}: a split manifest maps train/val/test to lists of files (and an optional preset), "
                         f"got {type(table).__name__} with keys {sorted(table) if isinstance(table, dict) else '-'}")
    default = _layout({"preset": table["preset"]}, None, str(path)) if "preset" in table else None
    out = []
    for i, item in enumerate(table.get(split) or []):
        where = f"{path}: {split}[{i}]"
        entry = item if isinstance(item, dict) else {"path": item}
        if not isinstance(entry.get("path"), str) or not set(entry) <= {"path", "fps", "views", "preset"}:
            raise InputError(f"{where}: an entry is a path or {{path, fps, views, preset}}, got {item!r}")
        out.append(SequenceEntry((path.parent / entry["path"]).resolve(), _layout(entry, default, where)))
    return named_entries(out)
