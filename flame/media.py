"""Image and video files: PNG and H.264 mp4 (imageio-ffmpeg), written atomically.

Videos are written as a stream (:class:`VideoWriter`): memory does not grow with the number of frames.
"""

from __future__ import annotations

import os
from contextlib import ExitStack
from pathlib import Path
from typing import Iterable

import numpy as np
from torch import Tensor

from flame.draw import to_uint8
from flame.errors import InputError
from flame.files import atomic_path, atomic_write_bytes

__all__ = ["write_png", "write_video", "VideoWriter"]


def write_png(path: str | os.PathLike, image: np.ndarray) -> None:
    """Write a uint8 RGB image atomically."""
    import imageio.v3 as iio

    data = iio.imwrite("<bytes>", to_uint8(image), extension=".png")
    atomic_write_bytes(path, lambda f: f.write(data))


class VideoWriter:
    """An H.264 mp4 written frame by frame; the file appears under ``path`` only when the writer is
    closed without an error (a crash leaves no half-written video).

    Frames are uint8 RGB ``(H, W, 3)`` (or float RGB(A) in [0, 1]) of one size; odd sizes are padded by
    one pixel (yuv420p needs even sizes). Use as a context manager::

        with VideoWriter("out.mp4", fps=30) as video:
            for frame in frames:
                video.append(frame)
    """

    def __init__(self, path: str | os.PathLike, fps: float, quality: int = 7) -> None:
        self.path, self.fps, self.quality = Path(path), float(fps), quality
        self.size: tuple[int, int] | None = None
        self.frames = 0
        self._stack = ExitStack()
        self._writer = None

    def __enter__(self) -> "VideoWriter":
        tmp = self._stack.enter_context(atomic_path(self.path))
        import imageio.v2 as iio2

        self._writer = iio2.get_writer(str(tmp), format="FFMPEG", mode="I", fps=self.fps, codec="libx264",
                                       quality=self.quality, pixelformat="yuv420p", macro_block_size=1,
                                       ffmpeg_log_level="error")
        self._stack.callback(self._writer.close)
        return self

    def append(self, frame: np.ndarray | Tensor) -> None:
        frame = to_uint8(frame)
        h, w = frame.shape[:2]
        if self.size is None:
            self.size = (h, w)
        elif (h, w) != self.size:
            raise InputError(f"{self.path}: frame size {(h, w)} differs from the first frame {self.size}")
        if h % 2 or w % 2:
            frame = np.pad(frame, ((0, h % 2), (0, w % 2), (0, 0)), mode="edge")
        self._writer.append_data(frame)
        self.frames += 1

    def __exit__(self, exc_type, exc, tb) -> bool:
        if exc_type is None and self.frames == 0:
            exc = InputError(f"{self.path}: no frames to write")
            self._stack.__exit__(InputError, exc, None)  # closes the encoder, removes the temporary file
            raise exc
        # the encoder is closed first; the temporary file becomes ``path`` only without an exception
        return self._stack.__exit__(exc_type, exc, tb)


def write_video(path: str | os.PathLike, frames: Iterable[np.ndarray | Tensor], fps: float, quality: int = 7) -> Path:
    """Write frames (any iterable: a list or a generator, consumed one at a time) to an mp4; see
    :class:`VideoWriter`."""
    with VideoWriter(path, fps, quality) as video:
        for frame in frames:
            video.append(frame)
    return Path(path)
