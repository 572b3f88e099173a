"""Overlay videos are streams: frames are pulled one at a time, and rendering only the face's box gives
the same images as rendering the whole frame."""

from __future__ import annotations

import numpy as np
import torch

from annotator.overlay import render_overlay_frames
from flame.camera import OrthoCamera, invert_transform, ndc_to_pixels, transform_points, weak_perspective_project
from flame.draw import overlay
from flame.layout import read_corpus
from flame.raster import rasterize
from flame.sequence import FlameSequence, sequence_to_params
from flame.shading import shade


def _full_frame_render(layer, seq: FlameSequence, view: int, t: int, base: np.ndarray) -> np.ndarray:
    """The mesh of frame ``t`` rasterized over the whole image and blended (no landmarks, no text)."""
    h, w = base.shape[:2]
    with torch.no_grad():
        out = layer(sequence_to_params(seq, layer, view, slice(t, t + 1)))
        cam = torch.as_tensor(seq.cam[view, t:t + 1], dtype=out.vertices.dtype)
        p = weak_perspective_project(out.vertices, cam)
        inv = invert_transform(torch.as_tensor(seq.crop_tform[view, t:t + 1], dtype=p.dtype))
        xy = transform_points(inv, ndc_to_pixels(p[..., :2], seq.crop_size))
        screen = torch.cat([xy, p[..., 2:] * inv[:, 0, 0].abs()[:, None, None]], -1)
        rgba = shade(rasterize(screen, layer.faces, (h, w)), out.vertices, layer.faces, OrthoCamera(cam, seq.crop_size),
                     colors=layer.vertex_colors.to(out.vertices.dtype), background=None).numpy()
    return overlay(base, rgba[0], alpha=0.55)


def test_the_face_box_render_equals_the_full_frame_render_and_frames_stream(layer64, tiny_corpus):
    # float64: in float32, z-buffer ties between nearly coincident surfaces resolve differently at a few
    # pixels when the coordinates are shifted into the box (as they would between two full-frame renders)
    seq = FlameSequence.load(read_corpus(tiny_corpus["wild"]).sequence().gt)
    seq = seq.replace(landmarks2d=np.full_like(seq.landmarks2d, np.nan), valid=np.zeros_like(seq.valid),
                      fitted_landmarks2d=None, metadata={})  # compare the mesh alone
    w, h = (int(x) for x in seq.image_size[0])
    rng = np.random.default_rng(0)
    bases = [rng.integers(0, 255, (h, w, 3), dtype=np.uint8) for _ in range(seq.n_frames)]
    pulled = []

    def frames():
        for i, f in enumerate(bases):
            pulled.append(i)
            yield f

    stream = render_overlay_frames(layer64, seq, 0, frames(), batch=4)
    for t in (0, 1, 2):
        img = next(stream)
        assert pulled == list(range(t + 1))  # one video frame read per overlay frame written
        ref = _full_frame_render(layer64, seq, 0, t, bases[t])
        rows = slice(30, h - 30)  # captions are drawn over the top and bottom rows
        np.testing.assert_array_equal(img[rows], ref[rows])
        assert (img[rows] != bases[t][rows]).any(-1).mean() > 0.02  # the face is drawn
