"""Writing result tables: Markdown and CSV from a list of row dicts (atomic writes)."""

from __future__ import annotations

import csv
import io
import math
import os
from pathlib import Path

from flame.files import atomic_write_bytes

__all__ = ["markdown_table", "write_csv", "format_value", "mean_row"]


def format_value(v: object, digits: int = 3) -> str:
    if isinstance(v, float):
        if math.isnan(v):
            return "-"
        if v != 0 and (abs(v) >= 1e4 or abs(v) < 10 ** -digits):
            return f"{v:.{digits}g}"
        return f"{v:.{digits}f}"
    return str(v)


def markdown_table(rows: list[dict] | list[list], columns: list[str] | None = None, digits: int = 3) -> str:
    """A Markdown table of ``rows``: dicts (keyed by column; missing keys are blank) or sequences (in
    the order of ``columns``)."""
    columns = columns or list(rows[0])
    rows = [r if isinstance(r, dict) else dict(zip(columns, r)) for r in rows]
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(format_value(r.get(c, ""), digits) for c in columns) + " |" for r in rows]
    return "\n".join(lines)


def write_csv(path: str | os.PathLike, rows: list[dict], columns: list[str] | None = None) -> Path:
    columns = columns or list(rows[0])
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=columns, extrasaction="ignore")
    writer.writeheader()
    writer.writerows(rows)
    atomic_write_bytes(path, lambda f: f.write(buf.getvalue().encode()))
    return Path(path)


def mean_row(rows: list[dict], label_key: str, label: str) -> dict:
    """Column-wise mean of the numeric, finite values (NaN where none)."""
    out: dict = {label_key: label}
    for key in rows[0]:
        if key == label_key:
            continue
        vals = [r[key] for r in rows if isinstance(r.get(key), (int, float)) and not isinstance(r.get(key), bool)
                and math.isfinite(r[key])]
        if vals:
            out[key] = sum(vals) / len(vals)
        elif all(isinstance(r.get(key), (int, float)) for r in rows):
            out[key] = float("nan")
    return out
