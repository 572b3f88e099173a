"""Occluders of the synthetic corpus: event statistics, what each kind does to the detections, and a
corpus with occluders keeping the ground truth (and every unoccluded detection) of the same corpus
without them."""

from __future__ import annotations

import json

import numpy as np
import pytest

from annotator.capture import Capture
from annotator.synthetic.builder import SynthConfig, build_corpus
from annotator.synthetic.occlusion import HAND_POINTS, Occlusion, OcclusionEvent, draw_events, occlude, occluded_frames
from flame.sequence import FlameSequence


def test_events_follow_the_rate_and_durations():
    occ = Occlusion(rate=0.5, seconds=(0.3, 2.0))
    rng = np.random.default_rng(0)
    events = [e for _ in range(200) for e in draw_events(rng, 600, 30.0, 7, occ)]  # 200 x 20 s
    assert len(events) / (200 * 20) == pytest.approx(0.5, rel=0.08)  # events per second
    lengths = np.array([e.stop - e.start for e in events if e.stop < 600])  # not cut by the clip's end
    assert lengths.min() >= 9 and lengths.max() <= 60 and np.mean(lengths) == pytest.approx(34.5, rel=0.08)
    kinds = [e.kind for e in events]
    assert kinds.count("hand") / len(kinds) == pytest.approx(0.5, abs=0.05)
    profiles = [e for e in events if e.kind == "profile"]
    assert profiles and len(profiles) < len(events)  # both kinds drawn, so the next two lines check something
    assert all(len(e.views) == 1 for e in profiles)
    assert all(e.views == tuple(range(7)) for e in events if e.kind != "profile")
    assert draw_events(rng, 600, 30.0, 1, Occlusion()) == []  # rate 0: none


def _detections(t=40):
    rng = np.random.default_rng(1)
    lm = np.concatenate([rng.uniform(100, 300, (t, 68, 2)), rng.uniform(0.8, 1.0, (t, 68, 1))], -1)
    return lm, np.ones(t, bool)


def test_each_kind_touches_only_its_frames_and_points():
    lm, valid = _detections()
    occ = Occlusion(rate=1.0)
    rng = np.random.default_rng(2)
    hand, hand_valid = occlude(lm, valid, 0, [OcclusionEvent("hand", (0,), 10, 20)], rng, occ)
    others = np.setdiff1d(np.arange(68), HAND_POINTS)
    np.testing.assert_array_equal(hand[:10], lm[:10])
    np.testing.assert_array_equal(hand[20:], lm[20:])
    np.testing.assert_array_equal(hand[10:20, others], lm[10:20, others])
    moved = np.linalg.norm(hand[10:20, HAND_POINTS, :2] - lm[10:20, HAND_POINTS, :2], axis=-1)
    assert moved.mean() > 5 and (hand[10:20, HAND_POINTS, 2] <= 0.3).all() and hand_valid.all()

    lost, lost_valid = occlude(lm, valid, 0, [OcclusionEvent("profile", (0,), 5, 12)], rng, occ)
    assert not lost_valid[5:12].any() and lost_valid[:5].all() and lost_valid[12:].all()
    assert np.isnan(lost[5:12, :, :2]).all() and (lost[5:12, :, 2] == 0).all()
    np.testing.assert_array_equal(lost[12:], lm[12:])
    same, same_valid = occlude(lm, valid, 1, [OcclusionEvent("profile", (0,), 5, 12)], rng, occ)  # another view
    np.testing.assert_array_equal(same, lm)

    blur, _ = occlude(lm, valid, 0, [OcclusionEvent("blur", (0,), 30, 40)], rng, occ)
    assert (np.linalg.norm(blur[30:, :, :2] - lm[30:, :, :2], axis=-1) > 0).all()
    assert (blur[30:, :, 2] <= 0.5 * lm[30:, :, 2] + 1e-9).all()
    np.testing.assert_array_equal(blur[:30], lm[:30])

    mask = occluded_frames([{"kind": "hand", "views": [0, 1], "start": 3, "stop": 6}], 2, 10)
    assert mask.sum() == 6 and mask[:, 3:6].all()


def test_bad_settings_are_refused():
    with pytest.raises(ValueError, match="rate"):
        Occlusion(rate=-1)
    with pytest.raises(ValueError, match="seconds"):
        Occlusion(seconds=(2.0, 0.3))
    with pytest.raises(ValueError, match="kinds"):
        Occlusion(kinds={"sunglasses": 1.0})


def test_a_corpus_with_occluders_keeps_the_ground_truth(tmp_path, standin_paths):
    base = dict(domain="lab", identities=3, sequences=1, frames=60, assets=str(standin_paths.folder), seed=4)
    plain = build_corpus(SynthConfig(out=str(tmp_path / "plain"), **base), progress=False)
    occ = build_corpus(SynthConfig(out=str(tmp_path / "occ"), occlusion=Occlusion(rate=1.0), **base), progress=False)
    assert "occlusion" not in json.loads((plain / "corpus.json").read_text())["settings"]
    assert json.loads((occ / "corpus.json").read_text())["settings"]["occlusion"]["rate"] == 1.0
    n_events = 0
    for entry in (json.loads(x) for x in (plain / "manifest.jsonl").read_text().splitlines()):
        gt = FlameSequence.load(plain / entry["path"] / "gt.npz")
        assert gt.equals(FlameSequence.load(occ / entry["path"] / "gt.npz"))
        a, b = Capture.load(plain / entry["path"] / "capture.npz"), Capture.load(occ / entry["path"] / "capture.npz")
        events = b.metadata["occlusion"]
        n_events += len(events)
        hidden = occluded_frames(events, a.n_views, a.n_frames)
        np.testing.assert_array_equal(a.landmarks[~hidden], b.landmarks[~hidden])  # untouched outside the events
        assert not np.array_equal(a.landmarks[hidden], b.landmarks[hidden], equal_nan=True) or not hidden.any()
    assert n_events > 0
