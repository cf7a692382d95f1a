"""The report's files: ``report.html`` (one self-contained page: figures inline as data URIs, no
network), each figure as a PNG, and ``cells.csv`` (one row per cell, `collect.COLUMNS`)."""

from __future__ import annotations

import base64
import csv
import io
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from jinja2 import Environment, PackageLoader, select_autoescape

import superalign

from ..store import atomic_write_bytes
from .collect import COLUMNS, Collection, cell_rows
from .curves import best_of_n_figures, loop_figures, red_team_figures, refuse_figures, teach_figures
from .figures import Figure, methods_side_by_side, model_order, pgr_heatmaps, score_vs_size


@dataclass
class Written:
    """What `build_report` wrote."""

    html: Path
    csv: Path
    pngs: list[Path]
    figures: int
    cells: int


def _cell(e: dict[str, Any] | None) -> dict[str, str]:
    """An estimate as a table cell: ``mean [lo, hi]``, or ``undefined (reason)`` on a hatched background."""
    if not e:
        return {"text": "", "cls": ""}
    if e.get("mean") is None:
        return {"text": f"undefined ({e.get('reason', '')})", "cls": "undefined"}
    lo, hi = e["ci"] or (e["mean"], e["mean"])
    return {"text": f"{e['mean']:.3f} [{lo:.3f}, {hi:.3f}]", "cls": "num"}


def _text(value: Any) -> dict[str, str]:
    return {"text": "" if value is None else str(value), "cls": ""}


def _sections(c: Collection) -> list[dict[str, Any]]:
    w2s, loops = c.runs["w2s"], c.runs["loop"]
    gen = c.runs["teach"] + c.runs["best_of_n"] + c.runs["refuse"] + c.runs["red_team"]
    sections = []
    if w2s:
        ladder = c.ladder
        order = model_order({m for s in w2s for m in (s["weak"], s["strong"])}, ladder)
        rows = []
        for s in sorted(w2s, key=lambda s: (s["task"], order.index(s["weak"]), order.index(s["strong"]))):
            for m, v in s["methods"].items():
                pair = f"{s['weak']} → {s['strong']}"
                seeds = ",".join(map(str, s["seeds"]))
                rows.append(
                    [
                        _text(s["task"]),
                        _text(pair),
                        _text(m),
                        _cell(s["weak_score"]),
                        _cell(s["ceiling_score"]),
                        _cell(v["score"]),
                        _cell(v["pgr"]),
                        _cell(v.get("pgr_vs_xent")),
                        _text(seeds),
                    ]
                )
        sections += [
            {
                "id": "heatmap",
                "title": "Weak-to-strong: PGR by weak supervisor and strong student",
                "figures": pgr_heatmaps(w2s, ladder),
            },
            {
                "id": "size",
                "title": "Weak-to-strong: test score against strong-model size",
                "figures": score_vs_size(w2s, ladder),
            },
            {
                "id": "methods",
                "title": "Weak-to-strong: methods side by side",
                "figures": methods_side_by_side(w2s, ladder),
                "columns": [
                    "task",
                    "weak → strong",
                    "method",
                    "weak",
                    "ceiling",
                    "student",
                    "PGR",
                    "PGR − xent",
                    "seeds",
                ],
                "rows": rows,
            },
        ]
    if loops:
        rows = [
            [
                _text(s["task"]),
                _text(f"{s['critic']} → {s['learner']}"),
                _text(r["round"]),
                _cell(r["acc"]),
                _cell(r["pgr"]),
                _cell(r["gain_vs_naive"]),
                _text(r["human_spent"]),
            ]
            for s in loops
            for r in s["rounds"]
        ]
        sections.append(
            {
                "id": "loops",
                "title": "Scalable oversight: the attacker-learner-critic loop",
                "figures": loop_figures(loops),
                "columns": ["task", "critic → learner", "round", "accuracy", "PGR", "gain over naive", "human labels"],
                "rows": rows,
            }
        )
    if gen:
        rows = [
            [_text(s["task"]), _text(f"{s['weak']} → {s['strong']}"), _text(m), _cell(v["score"]), _cell(v["pgr"])]
            for s in c.runs["teach"] + c.runs["refuse"]
            for m, v in s["methods"].items()
        ]
        rows += [
            [
                _text(s["task"]),
                _text(f"{s['weak']} RM, {s['policy']}"),
                _text(f"best of {r['n']}"),
                _cell(r["gold_bon_weak"]),
                _cell(r["pgr"]),
            ]
            for s in c.runs["best_of_n"]
            for r in s["rows"]
        ]
        rows += [
            [
                _text(s["task"]),
                _text(f"critic {s['critic']}, learner {s['learner']}"),
                _text(f"round {r}"),
                _cell(s["metrics"]["correct"][r]["rate"]),
                _cell(None),
            ]
            for s in c.runs["red_team"]
            for r in range(s["rounds"] + 1)
        ]
        sections.append(
            {
                "id": "generation",
                "title": "Generative weak-to-strong",
                "figures": teach_figures(c.runs["teach"])
                + best_of_n_figures(c.runs["best_of_n"])
                + refuse_figures(c.runs["refuse"])
                + red_team_figures(c.runs["red_team"]),
                "columns": ["task", "models", "method", "gold score", "PGR"],
                "rows": rows,
            }
        )
    return sections


def _csv(rows: list[dict[str, Any]]) -> bytes:
    buf = io.StringIO()
    writer = csv.DictWriter(buf, COLUMNS, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return buf.getvalue().encode()


def write_report(c: Collection, source: Path, out: Path) -> Written:
    """Write the HTML, the PNGs and the CSV of `c` under `out` (atomically, each file)."""
    sections = _sections(c)
    figures: list[Figure] = [f for s in sections for f in s["figures"]]
    pngs = []
    for f in figures:
        atomic_write_bytes(out / f"{f.name}.png", f.png)
        pngs.append(out / f"{f.name}.png")
    for s in sections:
        s["figures"] = [{**f.__dict__, "data": base64.b64encode(f.png).decode()} for f in s["figures"]]
    rows = cell_rows(c)
    atomic_write_bytes(out / "cells.csv", _csv(rows))
    env = Environment(loader=PackageLoader("superalign.report"), autoescape=select_autoescape(["html", "j2"]))
    counts = ", ".join(f"{len(v)} {k} run{'s' * (len(v) != 1)}" for k, v in c.runs.items() if v)
    html = env.get_template("report.html.j2").render(
        title=source.name,
        source=str(source),
        counts=counts + (f" ({c.other} other summaries left out)" if c.other else ""),
        generated=time.strftime("%Y-%m-%d %H:%M"),
        version=superalign.__version__,
        sweeps=c.sweeps,
        sections=sections,
        failed=c.failed,
    )
    atomic_write_bytes(out / "report.html", html.encode())
    return Written(out / "report.html", out / "cells.csv", pngs, len(figures), len(rows))
