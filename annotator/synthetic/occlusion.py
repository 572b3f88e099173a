"""Occluders over a detector's output: stretches of video where the face, or part of it, is lost.

Real videos lose the face for 0.3-2 s at a time: a hand in front of the mouth, a turn past profile, a
burst of motion blur. The synthetic corpus simulates them on top of the detector model
(:mod:`annotator.synthetic.noise`) so that what a method recovers there can be measured against the
ground truth, which occluders never touch. Events start as a Poisson process of ``rate`` per second and
last ``seconds`` (uniform); each is one of:

* ``hand`` - a hand over the mouth: the mouth, the nose base and the lower jawline (:data:`HAND_POINTS`)
  are misplaced with the hand - shifted together by ``hand_offset`` face sizes in a random direction,
  drifting as the hand moves, each point a quarter of that off on its own - with low confidence, in
  every view;
* ``profile`` - the face turned beyond what the detector handles: no detection (NaN, ``valid = False``)
  in one view (in a multi-view rig the other cameras still see the face);
* ``blur`` - a burst of motion blur: every point jittered ``blur_jitter`` face sizes, low confidence, in
  every view.

The events are recorded in the capture's metadata (``occlusion``: kind, views, ``start`` and exclusive
``stop`` frame), so evaluations can score the frames inside them separately (:func:`occluded_frames`).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

__all__ = ["Occlusion", "OcclusionEvent", "HAND_POINTS", "OCCLUSION_KINDS", "draw_events", "occlude",
           "occluded_frames"]

#: iBUG-68 points a hand over the mouth hides: lower jawline 4-12, nose base 31-35, mouth 48-67
HAND_POINTS = np.r_[4:13, 31:36, 48:68]
OCCLUSION_KINDS = ("hand", "profile", "blur")


@dataclass(frozen=True)
class Occlusion:
    """Occluder settings (``python -m annotator synth --occlusion.*``).

    Attributes:
        rate: events per second of video (0: no occluders).
        seconds: shortest and longest event, seconds.
        kinds: relative frequency of each kind (``hand``, ``profile``, ``blur``).
        hand_offset: how far the hidden points land from where they are, in face sizes.
        blur_jitter: standard deviation of the blurred points, in face sizes.
    """

    rate: float = 0.0
    seconds: tuple[float, float] = (0.3, 2.0)
    kinds: dict[str, float] = field(default_factory=lambda: {"hand": 0.5, "profile": 0.25, "blur": 0.25})
    hand_offset: float = 0.12
    blur_jitter: float = 0.05

    def __post_init__(self) -> None:
        if self.rate < 0:
            raise ValueError(f"occlusion.rate must be >= 0 events per second, got {self.rate}")
        lo, hi = self.seconds
        if not 0 < lo <= hi:
            raise ValueError(f"occlusion.seconds must be (shortest, longest) with 0 < shortest <= longest, "
                             f"got {self.seconds}")
        unknown = set(self.kinds) - set(OCCLUSION_KINDS)
        if unknown or any(w < 0 for w in self.kinds.values()) or sum(self.kinds.values()) <= 0:
            raise ValueError(f"occlusion.kinds: non-negative weights of {list(OCCLUSION_KINDS)}, got {self.kinds}")


@dataclass(frozen=True)
class OcclusionEvent:
    """One occluder: ``kind``, the ``views`` it hides, frames ``start`` to ``stop`` (exclusive)."""

    kind: str
    views: tuple[int, ...]
    start: int
    stop: int

    def as_dict(self) -> dict:
        return {"kind": self.kind, "views": list(self.views), "start": self.start, "stop": self.stop}


def draw_events(rng: np.random.Generator, n_frames: int, fps: float, n_views: int,
                occ: Occlusion) -> list[OcclusionEvent]:
    """The occluders of one sequence of ``n_frames`` at ``fps`` seen by ``n_views`` cameras."""
    count = rng.poisson(occ.rate * n_frames / fps)
    kinds = list(occ.kinds)
    p = np.array([occ.kinds[k] for k in kinds], float)
    events = []
    for _ in range(count):
        kind = kinds[rng.choice(len(kinds), p=p / p.sum())]
        length = max(1, int(round(rng.uniform(*occ.seconds) * fps)))
        start = int(rng.integers(0, n_frames))
        views = (int(rng.integers(n_views)),) if kind == "profile" else tuple(range(n_views))
        events.append(OcclusionEvent(kind, views, start, min(n_frames, start + length)))
    return events


def occlude(landmarks: np.ndarray, valid: np.ndarray, view: int, events: list[OcclusionEvent],
            rng: np.random.Generator, occ: Occlusion) -> tuple[np.ndarray, np.ndarray]:
    """Apply ``events`` to one view's detections: ``landmarks (T, 68, 3)`` (x, y, confidence; pixels) and
    ``valid (T,)``; returns new arrays (a frame already lost stays lost)."""
    lm, valid = landmarks.copy(), valid.copy()
    for ev in events:
        if view not in ev.views:
            continue
        sl = slice(ev.start, ev.stop)
        n = ev.stop - ev.start
        box = np.fmax.reduce(lm[sl, :, :2], axis=1) - np.fmin.reduce(lm[sl, :, :2], axis=1)  # (n, 2), NaN if lost
        size = np.sqrt(np.maximum(box[:, 0] * box[:, 1], 1e-6))[:, None, None]  # NaN where already lost
        if ev.kind == "profile":
            valid[sl] = False
        elif ev.kind == "hand":
            angle = rng.uniform(0, 2 * np.pi)
            shift = occ.hand_offset * np.array([np.cos(angle), np.sin(angle)])
            drift = np.cumsum(rng.normal(0.0, 0.01, (n, 1, 2)), axis=0)  # the hand moves a little
            offset = shift + 0.25 * occ.hand_offset * rng.normal(0.0, 1.0, (1, len(HAND_POINTS), 2)) + drift
            lm[sl, HAND_POINTS, :2] += offset * size
            lm[sl, HAND_POINTS, 2] = rng.uniform(0.05, 0.3, (n, len(HAND_POINTS)))
        else:  # blur
            lm[sl, :, :2] += occ.blur_jitter * rng.normal(0.0, 1.0, (n, 68, 2)) * size
            lm[sl, :, 2] *= rng.uniform(0.2, 0.5, (n, 68))
    lm[~valid, :, :2] = np.nan
    lm[~valid, :, 2] = 0.0
    return lm, valid


def occluded_frames(events: list[dict] | list[OcclusionEvent], n_views: int, n_frames: int) -> np.ndarray:
    """``(V, T)`` bool: frames inside an occluder of each view (events as recorded in a capture's metadata
    or as :class:`OcclusionEvent`)."""
    mask = np.zeros((n_views, n_frames), bool)
    for ev in events:
        ev = ev.as_dict() if isinstance(ev, OcclusionEvent) else ev
        for v in ev["views"]:
            mask[v, ev["start"]:ev["stop"]] = True
    return mask
