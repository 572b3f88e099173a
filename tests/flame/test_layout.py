"""The on-disk layout: corpus round trip, the shard-merge rule, manifests of earlier versions, and the
sequence files of a split for every kind of data folder."""

from __future__ import annotations

import json

import pytest

from flame.errors import InputError
from flame.layout import (
    CORPUS_FORMAT,
    annotation_manifest,
    append_record,
    find_sequences,
    is_annotation_output,
    is_corpus,
    read_annotations,
    read_corpus,
    sequence_name,
    unique_names,
    write_corpus_info,
    write_corpus_manifest,
)


def _touch(path):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"x")
    return path


def test_corpus_round_trip(tmp_path):
    records = [{"id": f"wild{i:03d}_00", "identity": f"wild{i:03d}", "split": split, "path": f"{split}/wild{i:03d}_00",
                "frames": 40, "fps": 25.0, "views": 1, "emotion": "happy"}
               for i, split in enumerate(["train", "train", "val", "test"])]
    write_corpus_info(tmp_path, {"settings": {"n_shape": 100, "n_exp": 50}, "model_file": "/m.pkl", "complete": True})
    write_corpus_manifest(tmp_path, records)
    corpus = read_corpus(tmp_path)
    assert is_corpus(tmp_path) and not is_annotation_output(tmp_path)
    assert corpus.info["format"] == CORPUS_FORMAT and corpus.model_file == "/m.pkl"
    assert (corpus.n_shape, corpus.n_exp) == (100, 50)
    assert [s.id for s in corpus.split("train")] == ["wild000_00", "wild001_00"] and len(corpus.split(None)) == 4
    seq = corpus.sequence("wild003_00")
    assert seq.split == "test" and seq.gt == tmp_path / "test" / "wild003_00" / "gt.npz"
    assert seq.capture.name == "capture.npz" and seq.cameras.name == "cameras.npz" and seq.record["emotion"] == "happy"
    assert corpus.sequence().id == "wild000_00"
    with pytest.raises(InputError, match="wild999"):
        corpus.sequence("wild999")
    with pytest.raises(ValueError, match="lacks"):
        write_corpus_manifest(tmp_path, [{"id": "x"}])


def test_corpus_errors_name_the_folder(tmp_path):
    with pytest.raises(FileNotFoundError, match="annotator synth"):
        read_corpus(tmp_path)
    (tmp_path / "corpus.json").write_text(json.dumps({"format": "something else"}))
    with pytest.raises(InputError, match="not a synthetic corpus"):
        read_corpus(tmp_path)


def test_shards_reruns_and_cut_lines_merge_by_one_rule(tmp_path):
    assert annotation_manifest(tmp_path).name == "manifest.jsonl"
    shard0, shard1 = annotation_manifest(tmp_path, 0, 2), annotation_manifest(tmp_path, 1, 2)
    assert shard1.name == "manifest.shard-1-of-2.jsonl"
    _touch(tmp_path / "train" / "a.npz")
    _touch(tmp_path / "test" / "c.npz")
    append_record(shard0, {"id": "a", "status": "failed", "split": "train", "error": "crash"})
    append_record(shard0, {"id": "a", "status": "done", "split": "train", "output": "train/a.npz"})
    append_record(shard0, {"id": "a", "status": "failed", "split": "train", "error": "a later rerun failed"})
    append_record(shard1, {"id": "b", "status": "done", "split": "val", "output": "val/b.npz"})  # output gone
    append_record(shard1, {"id": "c", "status": "rejected", "split": "test"})
    append_record(annotation_manifest(tmp_path), {"id": "c", "status": "done", "split": "test", "output": "test/c.npz"})
    with open(shard1, "a") as f:
        f.write('{"id": "d", "status": "do')  # a line cut by a crash
    merged = read_annotations(tmp_path)
    assert is_annotation_output(tmp_path) and set(merged) == {"a", "b", "c"}
    assert merged["a"]["status"] == "done" and merged["a"]["output"] == "train/a.npz"  # a done output stays done
    assert merged["b"]["status"] == "missing"  # done once, but its output is gone: to be annotated again
    assert merged["c"]["status"] == "done"  # manifest.jsonl and the shard files merge alike
    assert paths(tmp_path, "train") == [tmp_path / "train" / "a.npz"]
    assert paths(tmp_path, "test") == [tmp_path / "test" / "c.npz"]


def paths(data, split):
    return [e.path for e in find_sequences(data, split)]


def test_manifest_of_an_earlier_version_reads(tmp_path):
    # lines exactly as the runner wrote them before the layout module existed (no defaults added)
    (tmp_path / "manifest.jsonl").write_text(
        '{"detect_seconds": 0.0, "fit_seconds": 3.1, "flags": [], "frames": 40, "id": "wild000_00", "input": '
        '"/c/test/wild000_00/capture.npz", "losses": {"lmk": 0.01}, "method": "neuface", "output": '
        '"test/wild000_00.npz", "seconds": 3.2, "split": "test", "status": "done", "valid_fraction": 1.0, "views": 1}\n'
        '{"error": "VideoError: /v/x.mp4: cannot read this video", "id": "x", "input": "/v/x.mp4", "method": "neuface", '
        '"output": "x.npz", "seconds": 0.1, "split": "", "status": "failed"}\n'
        '{"id": "legacy"}\n')
    _touch(tmp_path / "test" / "wild000_00.npz")
    merged = read_annotations(tmp_path)
    assert merged["wild000_00"]["losses"] == {"lmk": 0.01} and merged["x"]["error"].startswith("VideoError")
    assert merged["legacy"] == {"id": "legacy", "split": "", "output": "", "status": "failed"}
    assert paths(tmp_path, "test") == [tmp_path / "test" / "wild000_00.npz"]


def test_annotations_without_splits_ask_for_a_split_manifest(tmp_path):
    _touch(tmp_path / "clip.npz")
    append_record(annotation_manifest(tmp_path), {"id": "clip", "status": "done", "split": "", "output": "clip.npz"})
    with pytest.raises(InputError, match="split manifest"):
        paths(tmp_path, "train")


@pytest.mark.parametrize("suffix", [".yaml", ".json"])
def test_split_manifests_and_split_folders(tmp_path, suffix):
    a, b = _touch(tmp_path / "data" / "a.npz"), _touch(tmp_path / "data" / "b.npz")
    manifest = tmp_path / f"splits{suffix}"
    manifest.write_text(json.dumps({"train": ["data/a.npz", "data/b.npz"], "test": ["data/b.npz"]}))  # JSON is YAML
    assert paths(manifest, "train") == [a, b] and paths(manifest, "val") == []
    folders = tmp_path / "folders"
    t = _touch(folders / "train" / "x" / "t.npz")
    assert paths(folders, "train") == [t] and paths(folders, "test") == []
    bad = tmp_path / f"bad{suffix}"
    bad.write_text(json.dumps({"training": []}))
    with pytest.raises(InputError, match="train/val/test"):
        paths(bad, "train")
    with pytest.raises(InputError, match="split must be"):
        paths(manifest, "dev")
    with pytest.raises(FileNotFoundError):
        find_sequences(tmp_path / "missing", "train")
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputError, match="not an annotation output"):
        paths(tmp_path / "empty", "train")


def test_split_manifest_states_the_layout_of_official_params(tmp_path):
    """A preset for the whole manifest, per-entry fps / views / preset over it; unstated layouts refused."""
    from flame.official import MEAD_VIEWS, NeufaceLayout

    manifest = tmp_path / "splits.yaml"
    manifest.write_text("preset: mead\ntrain:\n  - a/params.npz\n  - {path: b/params.npz, preset: voxceleb2}\n"
                        "  - {path: c/params.npz, fps: 24}\n  - {path: d/params.npz, fps: 25, views: [cam0, cam1]}\n")
    layouts = [e.layout for e in find_sequences(manifest, "train")]
    assert layouts == [NeufaceLayout(30.0, MEAD_VIEWS), NeufaceLayout(25.0), NeufaceLayout(24.0, MEAD_VIEWS),
                       NeufaceLayout(25.0, ("cam0", "cam1"))]
    manifest.write_text("train:\n  - {path: a/params.npz, views: [front]}\n")
    with pytest.raises(InputError, match="views without fps"):
        find_sequences(manifest, "train")
    manifest.write_text("train:\n  - {path: a/params.npz, fps: -3}\n")
    with pytest.raises(InputError, match=r"train\[0\].*fps must be positive"):
        find_sequences(manifest, "train")
    manifest.write_text("preset: vocaset\ntrain: []\n")
    with pytest.raises(InputError, match="unknown preset"):
        find_sequences(manifest, "train")


def test_sequence_names_know_the_official_layout_and_never_clash(tmp_path):
    """One naming rule (data_name of an official export, else folder/stem), unique within a set."""
    from pathlib import Path

    mead = [Path(f"out/MEAD/{a}_angry_level_1_001/flame_params/params.npz") for a in ("M003", "W009")]
    assert [sequence_name(p) for p in mead] == ["M003_angry_level_1_001", "W009_angry_level_1_001"]
    assert sequence_name("ann/test/M003_001.npz") == "test/M003_001"
    assert sequence_name("flat/M003_001/params.npz") == "M003_001"
    vox = [Path(f"vox/{i}/00001/flame_params/params.npz") for i in ("id00012", "id00015")]
    same = [Path("a/test/clip.npz"), Path("b/test/clip.npz")]
    names = unique_names([*vox, *same, same[0]])
    assert names == ["id00012/00001", "id00015/00001", "a/test/clip", "b/test/clip", "a/test/clip#2"]
    # find_sequences names the entries of a split manifest the same way
    for p in [*vox, *same]:
        _touch(tmp_path / p)
    (tmp_path / "s.yaml").write_text("preset: voxceleb2\ntest: [" + ", ".join(str(p) for p in [*vox, *same]) + "]\n")
    assert [e.name for e in find_sequences(tmp_path / "s.yaml", "test")] == names[:4]
    assert find_sequences(tmp_path / "s.yaml", "test")[0].clip_name("front") == "id00012/00001/front"
