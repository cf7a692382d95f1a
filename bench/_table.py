"""The measure / value / target table every benchmark script prints."""

from __future__ import annotations

from collections.abc import Sequence


def print_measures(rows: Sequence[tuple[str, str, str]]) -> None:
    """Print (measure, value, target) rows, columns aligned."""
    w = max(len(r[0]) for r in rows)
    v = max(len("value"), *(len(r[1]) for r in rows))
    print(f"{'measure':<{w}}  {'value':>{v}}  target")
    for name, value, target in rows:
        print(f"{name:<{w}}  {value:>{v}}  {target}")
