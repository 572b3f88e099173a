"""Real pixels: the shared face clips annotate end to end (skipped where the clips are absent)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from annotator.neuface import AnnotateConfig, annotate
from eval.metrics import jitter, msi3d, nme
from flame.types import FlameParams

pytestmark = pytest.mark.slow  # detection and annotation of a real video

CLIPS = Path(__file__).resolve().parents[3] / "shared" / "data" / "real_clips"


@pytest.fixture(scope="module")
def d18_capture():
    clip = CLIPS / "d18.mp4"
    if not clip.is_file():
        pytest.skip(f"real clips not available at {CLIPS}")
    from annotator.detect import DlibDetector
    from annotator.sources import capture_from_video

    return capture_from_video(clip, DlibDetector(), max_frames=150, progress=False)


def _stability(layer, seq):
    with torch.no_grad():
        out = layer(FlameParams(torch.as_tensor(seq.shape)[None, None], torch.as_tensor(seq.expression),
                                torch.as_tensor(seq.pose)))
    lm = out.landmarks3d[0].double() * 1000
    return float(msi3d(lm, seq.fps)), float(jitter(lm, seq.fps))


def test_real_clip_annotates_and_beats_regress(d18_capture, layer32_small_encoder, tmp_path):
    layer, enc, _, _ = layer32_small_encoder
    cap = d18_capture
    assert cap.valid.mean() > 0.95 and cap.image_size[0].tolist() == [480, 480]
    det = torch.as_tensor(cap.landmarks[0, :, :, :2], dtype=torch.float64)
    results = {}
    for name, cfg in {"regress": AnnotateConfig(method="regress"), "neuface": AnnotateConfig(epochs=15)}.items():
        seq = annotate(cap, layer, enc, cfg).sequence
        fitted = torch.as_tensor(seq.fitted_landmarks2d[0], dtype=torch.float64)
        results[name] = (float(nme(fitted, det)), *_stability(layer, seq))
    (nme_r, msi_r, jit_r), (nme_n, msi_n, jit_n) = results["regress"], results["neuface"]
    assert nme_n < nme_r and nme_n < 5.0, results  # the fit agrees with the detections
    assert msi_n > msi_r and jit_n < jit_r, results  # and is steadier than per-frame regression
    from annotator.overlay import write_overlay_video
    from annotator.sources import iter_video

    out = write_overlay_video(layer, seq, 0, tmp_path / "overlay.mp4",
                              frames=(f for i, f in enumerate(iter_video(CLIPS / "d18.mp4")) if i < cap.n_frames))
    import imageio.v3 as iio

    assert len(list(iio.imiter(out))) == cap.n_frames
