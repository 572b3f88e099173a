"""Benchmarks run end to end at a tiny size (figures are reported by `make bench`, never asserted)."""

from __future__ import annotations

from eval.bench import flame_bench


def test_flame_and_render_bench_smoke(standin_paths):
    table, records = flame_bench.bench_flame(standin_paths.folder, batches=(2,), repeats=1)
    assert "smplx" in table and records[0]["ours_per_s"] > 0 and records[0]["ratio"] > 0
    table, records = flame_bench.bench_render(standin_paths.folder, sizes=(64,), batches=(1,), repeats=1)
    assert records[0]["render_ms"] > 0 and "64" in table
