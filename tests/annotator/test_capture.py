"""The Capture format: round trip and validation."""

from __future__ import annotations

import numpy as np
import pytest

from annotator.capture import Capture, CaptureFormatError


def _capture(v=2, t=5, calibrated=True) -> Capture:
    rng = np.random.default_rng(0)
    lm = rng.uniform(0, 500, (v, t, 68, 3)).astype(np.float32)
    valid = np.ones((v, t), bool)
    valid[1, 2] = False
    lm[1, 2, :, :2] = np.nan
    lm[1, 2, :, 2] = 0
    return Capture(source="test", fps=30.0, view_names=np.array(["front", "left_30"][:v]), frame_ids=np.arange(t),
                   landmarks=lm, valid=valid, image_size=np.full((v, 2), 512),
                   intrinsics=np.tile(np.eye(3, dtype=np.float32), (v, t, 1, 1)) if calibrated else None,
                   extrinsics=np.zeros((v, t, 3, 4), np.float32) if calibrated else None,
                   videos=np.array(["frames/front.mp4", "frames/left_30.mp4"][:v]), metadata={"k": [1, 2]})


@pytest.mark.parametrize("calibrated", [True, False])
def test_round_trip(tmp_path, calibrated):
    c = _capture(calibrated=calibrated)
    back = Capture.load(c.save(tmp_path / "capture.npz"))
    np.testing.assert_array_equal(back.landmarks, c.landmarks)
    np.testing.assert_array_equal(back.valid, c.valid)
    assert list(back.view_names) == ["front", "left_30"] and back.metadata == {"k": [1, 2]}
    assert (back.intrinsics is None) == (not calibrated) and list(back.videos) == list(c.videos)
    with np.load(tmp_path / "capture.npz", allow_pickle=False) as z:
        assert all(z[k].dtype != object for k in z.files)


def test_validation(tmp_path):
    c = _capture()
    with pytest.raises(CaptureFormatError, match="'landmarks' has shape"):
        c.replace(landmarks=c.landmarks[:, :, :51])
    with pytest.raises(CaptureFormatError, match="fps"):
        c.replace(fps=0.0)
    with pytest.raises(CaptureFormatError, match="'intrinsics'"):
        c.replace(intrinsics=np.eye(3))
    np.savez(tmp_path / "x.npz", a=1)
    with pytest.raises(CaptureFormatError, match="not a capture file"):
        Capture.load(tmp_path / "x.npz")
    with pytest.raises(FileNotFoundError):
        Capture.load(tmp_path / "missing.npz")
