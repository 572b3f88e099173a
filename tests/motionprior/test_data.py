"""Training windows: random draws, and time reversal as configured."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from motionprior.clips import MotionClip
from motionprior.data import WindowDataset
from motionprior.state import StateSpec, reverse_states


def ramp_clip(spec: StateSpec, frames: int = 40) -> MotionClip:
    """A clip whose channels are all ``frame index + channel / dim``: any window shows its direction."""
    states = np.arange(frames, dtype=np.float32)[:, None] + np.arange(spec.dim, dtype=np.float32) / spec.dim
    return MotionClip("ramp/front", states, np.zeros(100, np.float32))


def test_time_reversal_plays_the_configured_fraction_of_windows_backwards():
    spec = StateSpec(n_exp=4)
    clip = ramp_clip(spec)
    torch.manual_seed(0)
    ds = WindowDataset([clip], window=5, random=True, length=400, time_reversal=0.5, spec=spec)
    backwards = 0
    for i in range(len(ds)):
        w = ds[i]["states"]
        assert w.shape == (6, spec.dim)
        step = w[1, 0] - w[0, 0]  # a root_orient channel: never negated, so its order shows the direction
        if step < 0:
            backwards += 1
            w = reverse_states(w, spec)  # undo: must be a window of the clip
        start = int(w[0, 0])
        np.testing.assert_array_equal(w.numpy(), clip.states[start:start + 6])
    assert 0.42 < backwards / len(ds) < 0.58  # binomial(400, 0.5): 4 sigma


def directions(ds: WindowDataset) -> set[str]:
    windows = [ds[i]["states"] for i in range(len(ds))]  # one draw each
    return {"forward" if w[1, 0] > w[0, 0] else "backward" for w in windows}


def test_validation_windows_and_default_are_never_reversed():
    spec = StateSpec(n_exp=4)
    clip = ramp_clip(spec)
    assert directions(WindowDataset([clip], 5, random=False, time_reversal=1.0, spec=spec)) == {"forward"}
    assert directions(WindowDataset([clip], 5, random=True, length=50)) == {"forward"}
    assert directions(WindowDataset([clip], 5, random=True, length=50, time_reversal=1.0, spec=spec)) == {"backward"}


def test_time_reversal_is_validated():
    clip = ramp_clip(StateSpec(n_exp=4))
    with pytest.raises(ValueError, match="probability"):
        WindowDataset([clip], 5, random=True, time_reversal=1.5, spec=StateSpec(n_exp=4))
    with pytest.raises(ValueError, match="spec"):
        WindowDataset([clip], 5, random=True, time_reversal=0.5)
