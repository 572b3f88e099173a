"""Video writing: a stream that consumes its frames one at a time and appears atomically."""

from __future__ import annotations

import imageio.v3 as iio
import numpy as np
import pytest

from flame.errors import InputError
from flame.media import VideoWriter, write_video


def _frames(n: int, h: int = 33, w: int = 47):
    for i in range(n):
        yield np.full((h, w, 3), 20 * i, np.uint8)


def test_a_generator_is_written_frame_by_frame_with_odd_sizes_padded(tmp_path):
    pulled = []

    def frames():
        for i, f in enumerate(_frames(6)):
            pulled.append(i)
            yield f

    path = write_video(tmp_path / "v.mp4", frames(), fps=10)
    back = np.stack(list(iio.imiter(path)))
    assert back.shape == (6, 34, 48, 3) and pulled == list(range(6))
    np.testing.assert_allclose(back[:, :33, :47].mean((1, 2, 3)), 20 * np.arange(6), atol=3)


def test_a_failed_write_leaves_no_file(tmp_path):
    path = tmp_path / "v.mp4"
    with pytest.raises(RuntimeError, match="renderer crashed"):
        with VideoWriter(path, fps=10) as video:
            for i, f in enumerate(_frames(5)):
                if i == 3:
                    raise RuntimeError("renderer crashed")
                video.append(f)
    with pytest.raises(InputError, match="differs from the first frame"):
        write_video(path, [np.zeros((8, 8, 3), np.uint8), np.zeros((10, 8, 3), np.uint8)], fps=10)
    with pytest.raises(InputError, match="no frames"):
        write_video(path, [], fps=10)
    assert list(tmp_path.iterdir()) == []  # neither the video nor a temporary file
