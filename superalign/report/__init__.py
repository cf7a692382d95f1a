"""Reports: one self-contained HTML page, its figures as PNGs and a CSV of every cell, over a run,
a loop, a sweep or a whole store (``superalign report DIR``)."""

from __future__ import annotations

from pathlib import Path

from .collect import Collection, cell_rows, collect, kind_of
from .render import Written, write_report


def build_report(path: str | Path, out: str | Path) -> Written:
    """Collect the summaries under `path` and write ``report.html``, the PNGs and ``cells.csv`` to `out`."""
    path = Path(path)
    return write_report(collect(path), path.resolve(), Path(out))


__all__ = ["Collection", "Written", "build_report", "cell_rows", "collect", "kind_of"]
