"""Peak memory of annotating a long HD video: ``python -m annotator run --overlay true`` on 10 s and on
60 s of the same 1280 x 720 clip (``s18.mp4`` of the shared real clips, looped), each in a process of its
own. Decoding, detection and overlay writing are streams, so the peak should not grow with the length:
the reference is the short video measured in the same run, and the figure is the ratio of the two.

Peak RSS is the ``ru_maxrss`` of the annotating process (``os.wait4``): the largest resident set of it
or of a subprocess it waited for (the ffmpeg readers and writers are far smaller).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

from eval.report import markdown_table

__all__ = ["CLIP", "loop_video", "peak_rss", "bench_memory"]

CLIP = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "real_clips" / "s18.mp4"


def loop_video(source: Path, seconds: float, out: Path) -> Path:
    """``out``: ``source`` played in a loop for ``seconds`` (written once, streamed frame by frame)."""
    from annotator.sources import iter_video, video_info
    from flame.media import VideoWriter

    if out.is_file():
        return out
    fps = video_info(source)["fps"]
    n = int(round(seconds * fps))
    with VideoWriter(out, fps, quality=8) as video:
        while video.frames < n:
            for frame in iter_video(source):
                if video.frames == n:
                    break
                video.append(frame)
    return out


def peak_rss(cmd: list[str], log: Path) -> tuple[float, float, int]:
    """Run ``cmd`` (its output goes to ``log``); returns (peak RSS in MB, wall seconds, exit status)."""
    t0 = time.perf_counter()
    log.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "w") as f:
        proc = subprocess.Popen(cmd, stdout=f, stderr=subprocess.STDOUT)
        _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    return usage.ru_maxrss / 1024, time.perf_counter() - t0, proc.returncode


def bench_memory(out_dir: Path, asset_dir: Path, encoder_cache: Path, lengths: tuple[float, ...] = (10.0, 60.0),
                 method: str = "neuface") -> tuple[str, list[dict]]:
    """Annotate (``method``, overlays on) each length of looped HD video; returns the table and records."""
    if not CLIP.is_file():
        return f"the HD clip {CLIP} is not here; memory bench skipped", []
    from annotator.sources import video_info

    work = out_dir / "memory"
    rows, records = [], []
    for seconds in lengths:
        video = loop_video(CLIP, seconds, work / f"s18_{seconds:g}s.mp4")
        info = video_info(video)
        target = work / f"annotated_{seconds:g}s"
        shutil.rmtree(target, ignore_errors=True)
        peak, wall, status = peak_rss([sys.executable, "-m", "annotator", "run", "--input", str(video), "--output",
                                       str(target), "--overlay", "true", "--method", method, "--assets", str(asset_dir),
                                       "--encoder_cache", str(encoder_cache)], work / f"annotate_{seconds:g}s.log")
        if status != 0:
            raise RuntimeError(f"annotating {video} failed (exit status {status}); see {work}/annotate_{seconds:g}s.log")
        records.append({"seconds": seconds, "frames": info["n_frames"], "size": info["size"], "peak_mb": peak,
                        "wall_s": wall})
    ref = records[0]["peak_mb"]
    for r in records:
        rows.append([f"{r['seconds']:g} s ({r['frames']} frames, {r['size'][0]}x{r['size'][1]})", f"{r['peak_mb']:.0f}",
                     f"{r['peak_mb'] / ref:.2f}x", f"{r['wall_s']:.0f}"])
    table = markdown_table(rows, ["video", "peak RSS (MB)", f"vs {records[0]['seconds']:g} s", "wall seconds"])
    return table + f"\n\n`python -m annotator run --overlay true --method {method}`, each length in its own process.", records
