"""2D drawing on uint8 images ``(H, W, 3)``: landmarks, lines, blending, grids and a built-in bitmap font
(no font files needed)."""

from __future__ import annotations

import numpy as np
from torch import Tensor

__all__ = ["IBUG68_CONNECTIONS", "to_uint8", "draw_points", "draw_lines", "draw_landmarks", "overlay", "image_grid",
           "put_text"]

#: Polylines of the iBUG-68 layout: (first, last, closed).
IBUG68_CONNECTIONS = [(0, 16, False), (17, 21, False), (22, 26, False), (27, 30, False), (31, 35, False),
                      (36, 41, True), (42, 47, True), (48, 59, True), (60, 67, True)]


def to_uint8(image: Tensor | np.ndarray) -> np.ndarray:
    """Float RGB(A) in [0, 1] -> uint8 RGB numpy ``(..., H, W, 3)``."""
    if isinstance(image, Tensor):
        image = image.detach().cpu().numpy()
    if image.dtype == np.uint8:
        return image[..., :3]
    return (np.clip(image[..., :3], 0, 1) * 255 + 0.5).astype(np.uint8)


def draw_points(image: np.ndarray, points: np.ndarray, color: tuple[int, int, int], radius: float = 2.0) -> np.ndarray:
    """Filled discs at ``points (N, 2)`` (pixels) on a copy of ``image (H, W, 3) uint8``."""
    out = image.copy()
    h, w = out.shape[:2]
    r = int(np.ceil(radius))
    dy, dx = np.mgrid[-r:r + 1, -r:r + 1]
    disc = (dx ** 2 + dy ** 2) <= radius ** 2
    dx, dy = dx[disc], dy[disc]
    pts = np.asarray(points, dtype=np.float64)
    pts = pts[np.isfinite(pts).all(axis=1)]
    xs = (np.floor(pts[:, :1]).astype(np.int64) + dx[None]).ravel()
    ys = (np.floor(pts[:, 1:2]).astype(np.int64) + dy[None]).ravel()
    keep = (xs >= 0) & (xs < w) & (ys >= 0) & (ys < h)
    out[ys[keep], xs[keep]] = color
    return out


def draw_lines(image: np.ndarray, segments: np.ndarray, color: tuple[int, int, int], width: float = 1.0) -> np.ndarray:
    """Anti-alias-free line segments ``(S, 2, 2)`` (pixels) on a copy of ``image``."""
    seg = np.asarray(segments, dtype=np.float64).reshape(-1, 2, 2)
    seg = seg[np.isfinite(seg).all(axis=(1, 2))]
    if len(seg) == 0:
        return image.copy()
    length = np.linalg.norm(seg[:, 1] - seg[:, 0], axis=1)
    n = np.maximum(2, np.ceil(length * 2).astype(int))
    pts = np.concatenate([seg[i, 0] + np.linspace(0, 1, n[i])[:, None] * (seg[i, 1] - seg[i, 0]) for i in range(len(seg))])
    return draw_points(image, pts, color, radius=max(0.5, width / 2))


def draw_landmarks(
    image: np.ndarray, landmarks: np.ndarray, color: tuple[int, int, int] = (0, 220, 0), radius: float = 2.0,
    connect: bool = True,
) -> np.ndarray:
    """iBUG-68 landmarks ``(68, 2)`` as dots joined by the standard polylines."""
    lm = np.asarray(landmarks, dtype=np.float64)[:, :2]
    out = image
    if connect and len(lm) == 68:
        segs = []
        for a, b, closed in IBUG68_CONNECTIONS:
            idx = list(range(a, b + 1)) + ([a] if closed else [])
            segs += [(lm[i], lm[j]) for i, j in zip(idx[:-1], idx[1:])]
        out = draw_lines(out, np.array(segs), tuple(int(c * 0.7) for c in color))
    return draw_points(out, lm, color, radius)


def overlay(image: np.ndarray, render_rgba: Tensor | np.ndarray, alpha: float = 0.6) -> np.ndarray:
    """Blend a rendered RGBA ``(H, W, 4)`` float over a uint8 frame ``(H, W, 3)``."""
    if isinstance(render_rgba, Tensor):
        render_rgba = render_rgba.detach().cpu().numpy()
    a = render_rgba[..., 3:4] * alpha
    rgb = render_rgba[..., :3] / np.maximum(render_rgba[..., 3:4], 1e-6)
    out = image.astype(np.float64) / 255 * (1 - a) + np.clip(rgb, 0, 1) * a
    return (out * 255 + 0.5).astype(np.uint8)


def image_grid(images: list[np.ndarray], cols: int, pad: int = 2, fill: int = 255) -> np.ndarray:
    """Tile equally sized uint8 images ``(H, W, 3)`` row-major into one image."""
    h, w = images[0].shape[:2]
    rows = (len(images) + cols - 1) // cols
    grid = np.full((rows * (h + pad) + pad, cols * (w + pad) + pad, 3), fill, dtype=np.uint8)
    for i, im in enumerate(images):
        r, c = divmod(i, cols)
        grid[pad + r * (h + pad): pad + r * (h + pad) + h, pad + c * (w + pad): pad + c * (w + pad) + w] = im[..., :3]
    return grid


_FONT = {  # 3x5 bitmap glyphs, rows top to bottom
    "0": "111101101101111", "1": "010110010010111", "2": "111001111100111", "3": "111001111001111",
    "4": "101101111001001", "5": "111100111001111", "6": "111100111101111", "7": "111001010010010",
    "8": "111101111101111", "9": "111101111001111", "-": "000000111000000", "+": "000010111010000",
    ".": "000000000000010", ":": "000010000010000", " ": "000000000000000", "=": "000111000111000",
    "(": "010100100100010", ")": "010001001001010", "/": "001001010100100", "_": "000000000000111",
    "%": "101001010100101", ",": "000000000010100",
    "A": "010101111101101", "B": "110101110101110", "C": "011100100100011", "D": "110101101101110",
    "E": "111100110100111", "F": "111100110100100", "G": "011100101101011", "H": "101101111101101",
    "I": "111010010010111", "J": "001001001101010", "K": "101101110101101", "L": "100100100100111",
    "M": "101111111101101", "N": "110101101101101", "O": "010101101101010", "P": "110101110100100",
    "Q": "010101101110011", "R": "110101110101101", "S": "011100010001110", "T": "111010010010010",
    "U": "101101101101111", "V": "101101101101010", "W": "101101111111101", "X": "101101010101101",
    "Y": "101101010010010", "Z": "111001010100111",
}


def put_text(image: np.ndarray, text: str, xy: tuple[int, int], color: tuple[int, int, int] = (0, 0, 0),
             scale: int = 2) -> np.ndarray:
    """Draw upper-case ``text`` with a tiny built-in bitmap font (no font files needed)."""
    out = image.copy()
    h, w = out.shape[:2]
    x0, y0 = xy
    for ch in text.upper():
        glyph = _FONT.get(ch, _FONT[" "])
        bits = np.array([int(c) for c in glyph], dtype=bool).reshape(5, 3)
        block = np.kron(bits, np.ones((scale, scale), dtype=bool))
        ys, xs = np.nonzero(block)
        ys, xs = ys + y0, xs + x0
        keep = (xs >= 0) & (xs < w) & (ys >= 0) & (ys < h)
        out[ys[keep], xs[keep]] = color
        x0 += 4 * scale
    return out
