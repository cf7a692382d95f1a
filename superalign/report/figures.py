"""The report's figures (matplotlib, Agg: no display needed), each a PNG with a title and caption.

An undefined PGR is never drawn as a number: a heatmap cell is hatched and says "undefined" with
its reason; in a plot of estimates it is a hatched band at its place, labelled "undefined".
"""

from __future__ import annotations

import io
import textwrap
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.colors import TwoSlopeNorm  # noqa: E402

HATCH = "////"
SIZES = {"tfidf": "TF-IDF", "profanity_check": "TF-IDF SVM", "static": "64-d static", "minilm": "22.7M"}
SIZES |= {"mpnet": "110M", "smollm2": "135M"}
RANK = ["tfidf", "profanity_check", "static", "minilm", "mpnet", "smollm2"]


@dataclass
class Figure:
    name: str  # file name stem
    title: str
    caption: str
    png: bytes


def _png(fig: Any) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100)
    plt.close(fig)
    return buf.getvalue()


def model_order(names: set[str], ladder: Sequence[str] = ()) -> list[str]:
    """Models weakest first: the sweep's ladder, then the built-in ladder, then the rest by name."""
    known = list(ladder) + [m for m in RANK if m not in ladder]
    return sorted(names, key=lambda m: (known.index(m) if m in known else len(known), m))


def _grid(n_rows: int, n_cols: int, w: float, h: float) -> tuple[Any, list[list[Any]]]:
    fig, axes = plt.subplots(n_rows, n_cols, figsize=(w * n_cols, h * n_rows), squeeze=False, layout="constrained")
    return fig, [list(row) for row in axes]


def _undefined_band(ax: Any, x: float, width: float, reason: str) -> None:
    """A hatched band at `x` on the whole y range: an undefined estimate, labelled as such."""
    ax.axvspan(x - width / 2, x + width / 2, facecolor="none", edgecolor="0.45", hatch=HATCH, lw=0)
    ax.text(
        x,
        0.5,
        "undefined",
        transform=ax.get_xaxis_transform(),
        rotation=90,
        ha="center",
        va="center",
        fontsize=7,
        color="0.25",
        bbox={"fc": "white", "ec": "none", "pad": 1},
    )


def _interval(est: dict[str, Any] | None) -> tuple[float, float, float] | None:
    """(mean, lower error, upper error) of an estimate (no CI: zero errors), None where absent or undefined."""
    if not est or est.get("mean") is None:
        return None
    lo, hi = est.get("ci") or (est["mean"], est["mean"])
    return est["mean"], est["mean"] - lo, hi - est["mean"]


def _errorbar(ax: Any, x: float, est: dict[str, Any] | None, width: float, **kw: Any) -> bool:
    """Plot one estimate with its CI; an undefined one as a hatched band. False if absent."""
    if not est:
        return False
    point = _interval(est)
    if point is None:
        _undefined_band(ax, x, width, est.get("reason", ""))
        return True
    mean, down, up = point
    ax.errorbar([x], [mean], yerr=[[down], [up]], fmt="o", capsize=3, **kw)
    return True


def pgr_heatmaps(runs: list[dict[str, Any]], ladder: Sequence[str]) -> list[Figure]:
    """PGR, weak (rows) x strong (columns), one panel per task and method."""
    if not runs:
        return []
    tasks = sorted({s["task"] for s in runs})
    methods = list(dict.fromkeys(m for s in runs for m in s["methods"]))
    weaks = model_order({s["weak"] for s in runs}, ladder)
    strongs = model_order({s["strong"] for s in runs}, ladder)
    fig, axes = _grid(len(tasks), len(methods), 1.25 * len(strongs) + 1.6, 1.0 * len(weaks) + 1.2)
    norm = TwoSlopeNorm(vmin=-0.5, vcenter=0.0, vmax=1.0)
    cmap = plt.get_cmap("RdYlGn")
    for (i, task), (j, method) in ((a, b) for a in enumerate(tasks) for b in enumerate(methods)):
        ax = axes[i][j]
        cells = {(s["weak"], s["strong"]): s["methods"].get(method) for s in runs if s["task"] == task}
        for r, w in enumerate(weaks):
            for c, st in enumerate(strongs):
                m = cells.get((w, st))
                if m is None:
                    ax.add_patch(plt.Rectangle((c, r), 1, 1, fc="0.93", ec="white"))
                    continue
                pgr = m["pgr"]
                if pgr["mean"] is None:
                    ax.add_patch(plt.Rectangle((c, r), 1, 1, fc="white", ec="0.5", hatch=HATCH, lw=0.5))
                    why = textwrap.fill(f"({pgr.get('reason', '')})", 16)
                    ax.text(
                        c + 0.5,
                        r + 0.5,
                        f"undefined\n{why}",
                        ha="center",
                        va="center",
                        fontsize=6.5,
                        bbox={"fc": "white", "ec": "none", "pad": 1},
                    )
                    continue
                ax.add_patch(plt.Rectangle((c, r), 1, 1, fc=cmap(norm(pgr["mean"])), ec="white"))
                lo, hi = pgr["ci"] or (pgr["mean"], pgr["mean"])
                ax.text(
                    c + 0.5, r + 0.5, f"{pgr['mean']:.2f}\n[{lo:.2f}, {hi:.2f}]", ha="center", va="center", fontsize=8
                )
        ax.set_xlim(0, len(strongs))
        ax.set_ylim(len(weaks), 0)
        ax.set_xticks([c + 0.5 for c in range(len(strongs))], strongs)
        ax.set_yticks([r + 0.5 for r in range(len(weaks))], weaks)
        ax.set_xlabel("strong student")
        ax.set_ylabel("weak supervisor")
        ax.set_title(f"{task} · {method}", fontsize=10)
    sm = plt.cm.ScalarMappable(norm=norm, cmap=cmap)
    fig.colorbar(sm, ax=[a for row in axes for a in row], shrink=0.8, label="PGR")
    caption = (
        "Performance gap recovered, (student − weak) / (ceiling − weak), on each task's primary metric, "
        "mean [95% bootstrap CI over seeds × test examples]. Hatched: PGR undefined, with the reason "
        "(the ceiling−weak gap is too small or its CI includes 0). Grey: pair not run."
    )
    return [Figure("pgr_heatmap", "PGR: weak supervisor × strong student", caption, _png(fig))]


def score_vs_size(runs: list[dict[str, Any]], ladder: Sequence[str]) -> list[Figure]:
    """Test score against the strong model (by size), one line per weak supervisor, with the ceiling."""
    if not runs:
        return []
    tasks = sorted({s["task"] for s in runs})
    methods = list(dict.fromkeys(m for s in runs for m in s["methods"]))
    strongs = model_order({s["strong"] for s in runs}, ladder)
    weaks = model_order({s["weak"] for s in runs}, ladder)
    fig, axes = _grid(len(methods), len(tasks), 4.6, 3.4)
    colors = plt.get_cmap("tab10")
    for (i, method), (j, task) in ((a, b) for a in enumerate(methods) for b in enumerate(tasks)):
        ax = axes[i][j]
        mine = [s for s in runs if s["task"] == task]
        for k, w in enumerate(weaks):
            pts = sorted(
                (strongs.index(s["strong"]), s["methods"][method]["score"])
                for s in mine
                if s["weak"] == w and method in s["methods"]
            )
            if pts:
                xs, est = [p[0] for p in pts], [p[1] for p in pts]
                lo = [e["mean"] - e["ci"][0] for e in est]
                hi = [e["ci"][1] - e["mean"] for e in est]
                ax.errorbar(
                    xs,
                    [e["mean"] for e in est],
                    yerr=[lo, hi],
                    marker="o",
                    capsize=3,
                    color=colors(k),
                    label=f"weak: {w}",
                )
        ceiling = {}
        for s in mine:
            ceiling.setdefault(strongs.index(s["strong"]), s["ceiling_score"])
        xs = sorted(ceiling)
        ax.plot(xs, [ceiling[x]["mean"] for x in xs], "k--", marker="s", label="ceiling (ground truth)")
        metric = mine[0].get("metric", "accuracy") if mine else "score"
        ax.set_xticks(range(len(strongs)), [f"{m}\n{SIZES.get(m, '')}" for m in strongs], fontsize=8)
        ax.set_xlim(-0.3, len(strongs) - 0.7)
        ax.set_xlabel("strong student (by size)")
        ax.set_ylabel(f"test {metric}")
        ax.set_title(f"{task} · {method}", fontsize=10)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    caption = (
        "Test score of the strong student trained on each weak supervisor's labels, against the strong "
        "model (weakest to strongest), with 95% CIs; dashed: the strong model trained on ground truth."
    )
    return [Figure("score_vs_size", "Test score against strong-model size", caption, _png(fig))]


def methods_side_by_side(runs: list[dict[str, Any]], ladder: Sequence[str]) -> list[Figure]:
    """Per task: PGR of every method, and its paired difference to xent, for each (weak, strong) pair."""
    out = []
    for task in sorted({s["task"] for s in runs}):
        mine = sorted(
            (s for s in runs if s["task"] == task), key=lambda s: model_order({s["weak"], s["strong"]}, ladder)
        )
        methods = list(dict.fromkeys(m for s in mine for m in s["methods"]))
        fig, axes = _grid(1, 2, 0.9 * len(methods) * max(1, len(mine)) ** 0.5 + 3, 3.6)
        width = 0.8 / len(mine)
        colors = plt.get_cmap("tab10")
        for k, s in enumerate(mine):
            axes[0][0].plot([], [], "o", color=colors(k), label=f"{s['weak']} → {s['strong']}")
            for key, ax in (("pgr", axes[0][0]), ("pgr_vs_xent", axes[0][1])):
                for x, m in enumerate(methods):
                    _errorbar(ax, x - 0.4 + width * (k + 0.5), s["methods"].get(m, {}).get(key), width, color=colors(k))
        for ax, title in zip(axes[0], ("PGR [95% CI]", "PGR − xent [paired 95% CI]")):
            lo, hi = ax.get_ylim()
            if lo < -2 or hi > 2:  # a near-zero gap's PGR CI can span tens: keep the others readable
                ax.set_ylim(max(lo, -2), min(hi, 2))
                title += ", axis clipped at ±2"
            ax.axhline(0, color="0.5", lw=0.8)
            ax.set_xticks(range(len(methods)), methods, rotation=30, ha="right")
            ax.set_title(f"{task}: {title}", fontsize=10)
            ax.grid(axis="y", alpha=0.3)
        axes[0][0].legend(fontsize=7)
        caption = (
            "Each method's PGR, and its difference to xent's paired over the same bootstrap draws (tighter "
            "than comparing two CIs), per weak → strong pair. Hatched band: undefined (reason in the table)."
        )
        out.append(Figure(f"methods_{task}", f"Methods side by side: {task}", caption, _png(fig)))
    return out
