"""Example inputs for the demo's annotate tab, made from a real photo that ships with scikit-image."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

__all__ = ["face_frames", "ensure_example_video"]


def face_frames(n: int, missing: range = range(0), seed: int = 0) -> list[np.ndarray]:
    """``n`` 320 x 320 RGB frames of scikit-image's astronaut photo (a real face) drifting slowly; frames
    in ``missing`` show a blank wall instead (the face leaves the picture)."""
    import skimage.data

    img = skimage.data.astronaut()
    rng = np.random.default_rng(seed)
    frames = []
    for t in range(n):
        dy, dx = int(6 * np.sin(t / 7)), int(6 * np.cos(t / 9))
        f = np.ascontiguousarray(img[20 + dy:340 + dy, 60 + dx:380 + dx])
        if t in missing:
            f = np.full_like(f, 128)
        frames.append(np.clip(f.astype(int) + rng.integers(-3, 4, f.shape), 0, 255).astype(np.uint8))
    return frames


def ensure_example_video(folder: str | os.PathLike, frames: int = 40, fps: float = 10.0) -> Path:
    """``folder/astronaut.mp4`` (written once): a short clip of a real face for the annotate tab."""
    from flame.media import write_video

    path = Path(folder) / "astronaut.mp4"
    if not path.is_file():
        write_video(path, face_frames(frames), fps=fps)
    return path
