"""A calibrated rig's cameras beside a folder of views (``cameras.npz``) reach the capture."""

from __future__ import annotations

import shutil

import numpy as np
import pytest

from annotator.detect import DlibDetector
from annotator.sources import capture_from_folder, rig_calibration
from flame.layout import CAMERAS_FILE


def _cameras(path, names, frames=None):
    v = len(names)
    K = np.stack([np.array([[900.0 + i, 0, 320], [0, 900.0 + i, 240], [0, 0, 1]]) for i in range(v)])
    R = np.stack([np.eye(3)] * v)
    t = np.stack([[0.1 * i, 0.0, 1.0] for i in range(v)])
    if frames is not None:
        K, R, t = (np.repeat(a[:, None], frames, 1) for a in (K, R, t))
    np.savez(path, view_names=np.array(names), K=K, R=R, t=t)


def test_views_are_matched_by_name_and_a_static_rig_covers_every_frame(tmp_path):
    _cameras(tmp_path / CAMERAS_FILE, ["left_30", "front", "top"])
    cal = rig_calibration(tmp_path / CAMERAS_FILE, ["front", "left_30"], 4)
    assert cal["intrinsics"].shape == (2, 4, 3, 3) and cal["extrinsics"].shape == (2, 4, 3, 4)
    assert cal["intrinsics"][0, 3, 0, 0] == 901.0 and cal["intrinsics"][1, 0, 0, 0] == 900.0  # front is the file's 2nd
    np.testing.assert_array_equal(cal["extrinsics"][0, 2, :, 3], [0.1, 0.0, 1.0])
    _cameras(tmp_path / "moving.npz", ["front", "left_30"], frames=6)  # per frame: the first frames of the capture
    assert rig_calibration(tmp_path / "moving.npz", ["front", "left_30"], 4)["extrinsics"].shape == (2, 4, 3, 4)


def test_a_calibration_that_does_not_fit_is_refused_with_the_fix(tmp_path):
    _cameras(tmp_path / CAMERAS_FILE, ["front"])
    with pytest.raises(ValueError, match=r"no camera for the views \['left_30'\].*name each view's camera"):
        rig_calibration(tmp_path / CAMERAS_FILE, ["front", "left_30"], 4)
    _cameras(tmp_path / "short.npz", ["front"], frames=2)
    with pytest.raises(ValueError, match=r"K is \(2, 3, 3\) per view; expected \(3, 3\) or \(frames >= 4"):
        rig_calibration(tmp_path / "short.npz", ["front"], 4)
    np.savez(tmp_path / "partial.npz", view_names=np.array(["front"]), K=np.eye(3)[None])
    with pytest.raises(ValueError, match="R, t missing"):
        rig_calibration(tmp_path / "partial.npz", ["front"], 4)


@pytest.mark.slow
def test_a_folder_of_views_with_cameras_is_a_calibrated_capture(face_videos, tmp_path):
    folder = tmp_path / "rig"
    shutil.copytree(face_videos / "multiview_bad", folder)
    _cameras(folder / CAMERAS_FILE, ["front", "left_30"])
    cap = capture_from_folder(folder, DlibDetector(), truncate=True, max_frames=3, progress=False)
    assert cap.intrinsics.shape == (2, 3, 3, 3) and cap.extrinsics.shape == (2, 3, 3, 4)
    (folder / CAMERAS_FILE).unlink()
    assert capture_from_folder(folder, DlibDetector(), truncate=True, max_frames=3, progress=False).extrinsics is None


@pytest.mark.slow
def test_the_synthetic_corpus_writes_the_layout_the_reader_reads(tiny_corpus):
    """One layout for ``cameras.npz``: what the corpus builder writes beside a lab capture reads back as that capture's
    own calibration."""
    import json

    from annotator.capture import Capture

    entry = json.loads((tiny_corpus["lab"] / "manifest.jsonl").read_text().splitlines()[0])
    folder = tiny_corpus["lab"] / entry["path"]
    cap = Capture.load(folder / "capture.npz")
    cal = rig_calibration(folder / CAMERAS_FILE, list(cap.view_names[::-1]), cap.n_frames)  # any view order
    np.testing.assert_allclose(cal["intrinsics"], cap.intrinsics[::-1], rtol=1e-6)  # the capture keeps float32
    np.testing.assert_allclose(cal["extrinsics"], cap.extrinsics[::-1], rtol=1e-6, atol=1e-7)
