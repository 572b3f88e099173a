"""Benchmarks run end to end at a tiny size (figures are reported by `make bench`, never asserted): every requested
case is measured once, and the reported figures are consistent with each other."""

from __future__ import annotations

import math

import pytest

from eval.bench import flame_speed


def test_flame_bench_measures_every_batch_against_smplx(standin_paths):
    table, records = flame_speed.bench_flame(standin_paths.folder, batches=(2, 3), repeats=1)
    assert [r["batch"] for r in records] == [2, 3]
    for r in records:
        assert all(math.isfinite(r[k]) and r[k] > 0 for k in ("ours_per_s", "smplx_per_s", "ratio", "ratio_fwd_bwd"))
        assert r["ratio"] == pytest.approx(r["ours_per_s"] / r["smplx_per_s"])  # speed-up = their time / ours
        assert f"| {r['batch']} | {r['ours_per_s']:.0f} | {r['smplx_per_s']:.0f} | {r['ratio']:.2f}x |" in table
    assert "smplx.FLAME" in table


def test_render_bench_measures_every_size_and_batch(standin_paths):
    table, records = flame_speed.bench_render(standin_paths.folder, sizes=(48, 64), batches=(1, 2), repeats=1)
    assert [(r["batch"], r["size"]) for r in records] == [(1, 48), (1, 64), (2, 48), (2, 64)]
    assert all(r["rasterize_ms"] > 0 and r["render_ms"] > 0 for r in records)
    assert len([line for line in table.splitlines() if " V / " in line]) == 4
