"""The FlameSequence file format and the official NeuFace params.npz import/export."""

from __future__ import annotations

import numpy as np
import pytest

from flame.errors import InputError
from flame.official import MEAD_VIEWS, NeufaceLayout, from_neuface_params, to_neuface_params
from flame.sequence import FlameSequence, SequenceFormatError, resize_coefficients, sequence_to_params


def _sequence(v=3, t=7, n_shape=100, n_exp=50, seed=0, with_extras=True) -> FlameSequence:
    rng = np.random.default_rng(seed)
    pose = np.zeros((v, t, 15), np.float32)
    pose[..., :3] = rng.normal(size=(v, t, 3)) * 0.2
    pose[..., 6:9] = rng.normal(size=(v, t, 3)) * 0.1
    tform = np.tile(np.eye(3, dtype=np.float32), (v, t, 1, 1))
    tform[..., 0, 0] = tform[..., 1, 1] = 0.5
    tform[..., :2, 2] = -20.0
    lm = rng.uniform(50, 400, size=(v, t, 68, 3)).astype(np.float32)
    lm[..., 2] = rng.uniform(0, 1, size=(v, t, 68))
    valid = np.ones((v, t), bool)
    valid[0, t // 2] = False
    lm[0, t // 2, :, :2] = np.nan
    extras = dict(
        fitted_landmarks2d=rng.uniform(0, 400, (v, t, 68, 2)).astype(np.float32),
        intrinsics=np.tile(np.array([[700.0, 0, 256], [0, 700.0, 240], [0, 0, 1]], np.float32), (v, t, 1, 1)),
        losses={"lmk": rng.uniform(size=(v, t)).astype(np.float32), "temp": rng.uniform(size=(v, t)).astype(np.float32)},
        metadata={"method": "neuface", "source": "clip.mp4", "lambdas": [10, 100, 200]},
    ) if with_extras else {}
    return FlameSequence(
        model="procedural stand-in head (not FLAME) [abcd]", model_sha256="abcd" * 16, fps=30.0,
        view_names=np.array([f"view{i}" for i in range(v)]), frame_ids=np.arange(10, 10 + t),
        shape=rng.normal(size=n_shape).astype(np.float32), expression=rng.normal(size=(v, t, n_exp)).astype(np.float32),
        pose=pose, cam=rng.uniform(5, 9, size=(v, t, 3)).astype(np.float32), crop_tform=tform, landmarks2d=lm,
        valid=valid, image_size=np.tile([[512, 480]], (v, 1)), **extras,
    )


def test_round_trip(tmp_path):
    seq = _sequence()
    path = seq.save(tmp_path / "seq.npz")
    again = FlameSequence.load(path)
    assert again.equals(seq)
    assert again.is_standin and again.n_views == 3 and again.n_frames == 7
    with np.load(path, allow_pickle=False) as z:  # no pickled objects anywhere in the file
        assert all(z[k].dtype != object for k in z.files)
    assert not again.equals(seq.replace(fps=25.0))


def test_a_file_is_judged_by_its_arrays_not_its_name(tmp_path):
    """A FlameSequence saved as ``face_params_001.npz`` loads; an official params.npz under any name is
    sent to the importer."""
    seq = _sequence(with_extras=False)
    assert FlameSequence.load(seq.save(tmp_path / "face_params_001.npz")).equals(seq)
    official = to_neuface_params(seq.replace(pose=seq.pose * np.r_[np.ones(3), np.zeros(3), np.ones(3),
                                                                  np.zeros(6)].astype(np.float32)),
                                 tmp_path / "renamed.npz")
    with pytest.raises(SequenceFormatError, match="official NeuFace params.npz"):
        FlameSequence.load(official)


def test_views_and_frames_slicing(tmp_path):
    seq = _sequence()
    one = seq.view("view1")
    assert one.n_views == 1 and np.array_equal(one.pose[0], seq.pose[1])
    part = seq.frames(2, 5)
    assert part.n_frames == 3 and part.frame_ids.tolist() == [12, 13, 14] and part.losses["lmk"].shape == (3, 3)
    assert one.intrinsics.shape == (1, 7, 3, 3) and part.intrinsics.shape == (3, 3, 3, 3)
    picked = seq.at([4, 1, 1])
    assert picked.frame_ids.tolist() == [14, 11, 11] and np.array_equal(picked.pose[:, 0], seq.pose[:, 4])
    assert picked.intrinsics.shape == (3, 3, 3, 3) and picked.losses["temp"].shape == (3, 3)
    params = seq.to_params()
    assert tuple(params.expression.shape) == (3, 7, 50) and tuple(params.shape.shape) == (1, 1, 100)


def test_failed_save_keeps_the_previous_file(tmp_path, monkeypatch):
    seq = _sequence()
    path = seq.save(tmp_path / "seq.npz")
    before = path.read_bytes()

    def boom(*a, **k):
        raise OSError("disk full")

    monkeypatch.setattr(np, "savez_compressed", boom)
    with pytest.raises(OSError, match="disk full"):
        seq.replace(fps=12.0).save(path)
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["seq.npz"]


def test_invalid_sequences_have_clear_errors(tmp_path):
    seq = _sequence(with_extras=False)
    with pytest.raises(SequenceFormatError, match="'cam' has shape"):
        seq.replace(cam=seq.cam[:, :3])
    bad = seq.pose.copy()
    bad[0, 0, 0] = np.nan
    with pytest.raises(SequenceFormatError, match="'pose' contains NaN"):
        seq.replace(pose=bad)
    (tmp_path / "junk.npz").write_bytes(b"garbage")
    with pytest.raises(SequenceFormatError, match="junk.npz: .*not a valid .npz") as err:
        FlameSequence.load(tmp_path / "junk.npz")
    assert "allow_pickle" not in str(err.value)  # numpy's advice to load unsafely is not ours
    np.savez(tmp_path / "pickled.npz", a=np.array([{"x": 1}], dtype=object))
    with pytest.raises(SequenceFormatError, match="pickled objects, which are never loaded") as err:
        FlameSequence.load(tmp_path / "pickled.npz")
    assert "allow_pickle" not in str(err.value)
    np.savez(tmp_path / "other.npz", a=np.zeros(3))
    with pytest.raises(SequenceFormatError, match="not a FlameSequence file"):
        FlameSequence.load(tmp_path / "other.npz")
    with pytest.raises(FileNotFoundError):
        FlameSequence.load(tmp_path / "absent.npz")


@pytest.mark.parametrize("views", [["front"], ["down", "front", "left_30", "left_60", "right_30", "right_60", "top"]])
def test_neuface_params_export_import(tmp_path, views):
    v, t = len(views), 5
    seq = _sequence(v=v, t=t, with_extras=False).replace(view_names=np.array(views))
    path = to_neuface_params(seq, tmp_path / "params.npz")
    with np.load(path) as z:
        assert set(z.files) == {"cam", "pose", "expr", "shapes", "landmarks2d"}
        assert z["pose"].shape == (t * v, 6) and z["expr"].shape == (t * v, 50) and z["shapes"].shape == (t * v, 100)
        # rows are interleaved frame-major: row = t * V + v
        row = 3 * v + (v - 1)
        np.testing.assert_allclose(z["pose"][row, :3], seq.pose[v - 1, 3, :3])
        np.testing.assert_allclose(z["cam"][row], seq.cam[v - 1, 3])
        # landmarks in crop NDC: the tform maps pixels to the crop, then / 224 * 2 - 1
        px = seq.landmarks2d[v - 1, 3, 0, :2]
        np.testing.assert_allclose(z["landmarks2d"][row, 0], (0.5 * px - 20.0) / 112 - 1, rtol=1e-5)
    back = from_neuface_params(path, NeufaceLayout(30.0, views))
    np.testing.assert_allclose(back.pose, seq.pose, atol=1e-7)
    np.testing.assert_allclose(back.expression, seq.expression)
    np.testing.assert_allclose(back.cam, seq.cam)
    np.testing.assert_allclose(back.shape, seq.shape)
    assert list(back.view_names) == views
    with pytest.raises(SequenceFormatError, match="official NeuFace params.npz"):
        FlameSequence.load(path)
    if v > 1:
        with pytest.raises(SequenceFormatError, match="not a multiple"):
            from_neuface_params(path, NeufaceLayout(30.0, views[:4]))
    with pytest.raises(SequenceFormatError, match="does not record its frame rate or views.*preset"):
        from_neuface_params(path)


def test_export_in_a_presets_view_order_reads_back_with_the_preset(tmp_path):
    """A 7-view capture in the rig's order (front first) exported for the MEAD preset (alphabetical rows)."""
    rig = ["front", "left_30", "left_60", "right_30", "right_60", "top", "down"]
    seq = _sequence(v=7, with_extras=False).replace(view_names=np.array(rig))
    seq = seq.replace(pose=seq.pose * np.r_[np.ones(3), np.zeros(3), np.ones(3), np.zeros(6)].astype(np.float32))
    back = from_neuface_params(to_neuface_params(seq, tmp_path / "params.npz", layout="mead"), "mead")
    for view in rig:
        np.testing.assert_allclose(back.view(view).expression, seq.view(view).expression, atol=1e-6)
    with pytest.raises(InputError, match="at 30 fps; the layout reads"):
        to_neuface_params(seq.view("front"), tmp_path / "x.npz", layout="mead")


def test_mead_preset_round_trip(tmp_path):
    """Our 7-view export read back with the ``mead`` preset: 7 clips of the right length and rate, each view's
    rows in place (the alphabetical official order)."""
    t = 11
    seq = _sequence(v=7, t=t, with_extras=False).replace(view_names=np.array(MEAD_VIEWS), fps=30.0)
    back = from_neuface_params(to_neuface_params(seq, tmp_path / "params.npz"), "mead")
    assert back.n_views == 7 and back.n_frames == t and back.fps == 30.0
    assert list(back.view_names) == ["down", "front", "left_30", "left_60", "right_30", "right_60", "top"]
    np.testing.assert_allclose(back.pose, seq.pose, atol=1e-7)
    np.testing.assert_allclose(back.expression, seq.expression)
    vox = from_neuface_params(to_neuface_params(seq.view("front"), tmp_path / "vox.npz"), "voxceleb2")
    assert vox.n_views == 1 and vox.n_frames == t and vox.fps == 25.0
    # a 7-view file read as single view would be 77 frames cycling through the views: the preset prevents it,
    # and a view count that does not divide the rows is refused
    with pytest.raises(SequenceFormatError, match="not a multiple of the 6 views"):
        from_neuface_params(tmp_path / "params.npz", NeufaceLayout(30.0, MEAD_VIEWS[:6]))
    with pytest.raises(ValueError, match="unknown data set preset"):
        from_neuface_params(tmp_path / "params.npz", "vocaset")


def test_export_refuses_what_the_format_cannot_hold(tmp_path):
    seq = _sequence(v=1, t=3, with_extras=False)
    pose = seq.pose.copy()
    pose[..., 3] = 0.1  # neck
    with pytest.raises(ValueError, match="neck or eye"):
        to_neuface_params(seq.replace(pose=pose), tmp_path / "params.npz")
    with pytest.raises(ValueError, match="expression components"):
        to_neuface_params(_sequence(v=1, t=3, n_exp=20, with_extras=False), tmp_path / "params.npz")


def test_coefficients_resize_only_without_losing_values():
    a = np.arange(1.0, 7.0).reshape(2, 3)
    np.testing.assert_array_equal(resize_coefficients(a, 5, "x"), [[1, 2, 3, 0, 0], [4, 5, 6, 0, 0]])
    padded = np.concatenate([a, np.zeros((2, 4))], 1)
    np.testing.assert_array_equal(resize_coefficients(padded, 3, "x"), a)  # only zeros are cut
    with pytest.raises(InputError, match=r"clip.npz: expression: 7 components .* the 3 used here"):
        resize_coefficients(np.ones((2, 7)), 3, "clip.npz: expression")


def test_a_layer_with_fewer_components_refuses_the_sequence(layer32, tmp_path):
    seq = _sequence(v=1, t=3, n_exp=100, with_extras=False)  # 100 non-zero expression components
    with pytest.raises(InputError, match="100 components"):
        sequence_to_params(seq, layer32)
    with pytest.raises(InputError, match="params.npz holds 50"):
        to_neuface_params(seq, tmp_path / "params.npz")
    small = seq.replace(expression=np.concatenate([seq.expression[..., :50], np.zeros((1, 3, 50), np.float32)], -1))
    params = sequence_to_params(small, layer32)  # zeros beyond 50 are dropped, values are kept
    np.testing.assert_allclose(params.expression.numpy(), small.expression[..., :50])
    assert params.shape.shape[-1] == layer32.n_shape


def test_stack_views_and_pick_views_round_trip():
    rng = np.random.default_rng(3)
    shape = rng.normal(size=10).astype(np.float32)
    a = FlameSequence.from_params(shape=shape, expression=rng.normal(size=(2, 6, 4)), pose=rng.normal(size=(2, 6, 15)),
                                  fps=30.0, model="m", model_sha256="h", view_names=["a0", "a1"])
    b = FlameSequence.from_params(shape=np.concatenate([shape, [0.0, 0.0]]), expression=rng.normal(size=(6, 5)),
                                  pose=rng.normal(size=(6, 15)), fps=30.0, model="m", model_sha256="h")
    both = FlameSequence.stack_views([a, b])
    assert list(both.view_names) == ["a0", "a1", "front"] and both.n_exp == 5
    np.testing.assert_array_equal(both.pick_views([2]).pose, b.pose)
    np.testing.assert_array_equal(both.pick_views([1, 0]).expression[..., :4], a.expression[::-1])
    assert not both.expression[:2, :, 4].any()  # padded with zeros
    with pytest.raises(SequenceFormatError, match="identity"):
        FlameSequence.stack_views([a, b.replace(shape=b.shape + 1)])
