"""What a report shows: the run summaries under a folder, sorted by kind, and a row per cell.

A folder is a run (``<hash>/summary.json``), a loop (``loop-<key>/summary-<hash>.json``), a sweep
(``sweep-<hash>/sweep.json``: its runs, all seeds, and the jobs that failed) or a whole store
(every run; of the same run with different seed sets, the one with the most seeds). Kinds, by the
shape of ``summary.json``: ``w2s`` (weak, ceiling, methods), ``loop`` (rounds), ``teach``
(generation setting A), ``best_of_n`` (setting B), ``refuse`` (setting A on refusal), ``red_team``
(the loop on a generative learner); any other summary is counted and left out.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import ConfigError


@dataclass
class Collection:
    """Summaries by kind (each with ``_path``), failed sweep jobs and the ladder order of the models."""

    runs: dict[str, list[dict[str, Any]]] = field(default_factory=lambda: {k: [] for k in KINDS})
    failed: list[dict[str, Any]] = field(default_factory=list)
    ladder: list[str] = field(default_factory=list)
    sweeps: list[str] = field(default_factory=list)
    other: int = 0


KINDS = ("w2s", "loop", "teach", "best_of_n", "refuse", "red_team")


def kind_of(summary: dict[str, Any]) -> str | None:
    """The kind of a summary, by its shape (None: not one the report draws)."""
    setting = summary.get("setting")
    if setting == "weak_teacher":
        return "teach"
    if setting == "best_of_n":
        return "best_of_n"
    if setting == "weak_classifier":
        return "refuse"
    if setting == "red_team_loop":
        return "red_team"
    if isinstance(summary.get("rounds"), list) and "floor_score" in summary:
        return "loop"
    if "methods" in summary and "weak_score" in summary and "ceiling_score" in summary and "strong" in summary:
        return "w2s"
    return None


def _read(path: Path) -> dict[str, Any] | None:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def _identity(path: Path, summary: dict[str, Any]) -> str:
    """The run less its seeds: the config beside the summary without ``seeds`` (loops: their folder)."""
    if path.name.startswith("summary-"):
        return f"{path.parent.name}:{','.join(summary.get('attackers', []))}:{summary.get('human_budget')}"
    config = _read(path.parent / "config.json") or {"hash": summary.get("config_hash", str(path))}
    config = {k: v for k, v in config.items() if k not in ("seeds", "n_bootstrap")}
    return hashlib.sha256(json.dumps(config, sort_keys=True).encode()).hexdigest()


def _sweep_paths(sweep_dir: Path, out: Collection) -> list[Path]:
    """A sweep's final summaries (all seeds), its failed jobs, its ladder."""
    record = _read(sweep_dir / "sweep.json") or {}
    jobs = record.get("jobs", [])
    cfg = record.get("config", {})
    out.sweeps.append(f"{record.get('name', '?')} ({record.get('hash', sweep_dir.name)})")
    out.ladder += [m for m in cfg.get("ladder", []) if m not in out.ladder]
    for p in sorted((sweep_dir / "jobs").glob("*.json")):
        state = _read(p) or {}
        if state.get("state") in ("failed", "skipped"):
            out.failed.append(state)
    members = {i for j in jobs if j["kind"] == "summary" for i in j.get("after", [])}
    finals = [j for j in jobs if j["kind"] != "encode" and j["id"] not in members]  # each run with all its seeds
    return [sweep_dir.parent / j["summary"] for j in finals]


def collect(path: Path) -> Collection:
    """The summaries under `path` (a run, loop, sweep folder or store); a ConfigError if there are none."""
    path = Path(path)
    if not path.exists():
        raise ConfigError(f"report: no such folder {path}")
    out = Collection()
    if (path / "sweep.json").is_file():
        paths = _sweep_paths(path, out)
    elif path.is_file():
        paths = [path]
    else:
        for sweep in sorted(path.glob("sweep-*/sweep.json")):
            _sweep_paths(sweep.parent, out)
        paths = sorted({*path.glob("summary*.json"), *path.glob("*/summary.json"), *path.glob("loop-*/summary-*.json")})
    best: dict[str, tuple[int, dict[str, Any]]] = {}
    for p in paths:
        summary = _read(p) if p.is_file() else None
        kind = kind_of(summary) if summary else None
        if kind is None:
            out.other += summary is not None
            continue
        summary = {**summary, "_path": str(p), "_kind": kind}
        key = _identity(p, summary)
        if key not in best or len(summary.get("seeds", [])) > best[key][0]:
            best[key] = (len(summary.get("seeds", [])), summary)
    for _, summary in best.values():
        out.runs[summary["_kind"]].append(summary)
    if not any(out.runs.values()):
        raise ConfigError(f"report: no run, loop, sweep or generation summary under {path}")
    return out


def _est(prefix: str, e: dict[str, Any] | None) -> dict[str, Any]:
    """An estimate's columns: mean, lo, hi, and the reason when it is undefined (never a number then)."""
    if not e:
        return {prefix: None, f"{prefix}_lo": None, f"{prefix}_hi": None}
    ci = e.get("ci") or [None, None]
    row = {prefix: e.get("mean"), f"{prefix}_lo": ci[0], f"{prefix}_hi": ci[1]}
    if e.get("mean") is None:
        row[f"{prefix}_undefined"] = e.get("reason", "undefined")
    return row


COLUMNS = [
    "kind",
    "task",
    "weak",
    "strong",
    "method",
    "step",
    "metric",
    "seeds",
    "weak_score",
    "ceiling_score",
    "score",
    "score_lo",
    "score_hi",
    "pgr",
    "pgr_lo",
    "pgr_hi",
    "pgr_undefined",
    "diff_to",
    "pgr_diff",
    "pgr_diff_lo",
    "pgr_diff_hi",
    "pgr_diff_undefined",
    "config_hash",
    "summary",
]


def cell_rows(c: Collection) -> list[dict[str, Any]]:
    """One row per cell: per method of a W2S or teach run, per round of a loop, per n of best-of-n."""
    rows = []
    for kind, runs in c.runs.items():
        for s in runs:
            base = {"kind": kind, "task": s["task"], "metric": s.get("metric"), "seeds": " ".join(map(str, s["seeds"]))}
            base |= {"config_hash": s.get("config_hash"), "summary": s["_path"]}
            if kind in ("w2s", "teach", "refuse"):
                diff = "pgr_vs_xent" if kind == "w2s" else "pgr_vs_sft"
                base |= {"weak": s["weak"], "strong": s["strong"]}
                base |= {"weak_score": s["weak_score"]["mean"], "ceiling_score": s["ceiling_score"]["mean"]}
                for m, v in s["methods"].items():
                    d = {"diff_to": diff.removeprefix("pgr_vs_"), **_est("pgr_diff", v[diff])} if diff in v else {}
                    rows.append({**base, "method": m, **_est("score", v["score"]), **_est("pgr", v["pgr"]), **d})
            elif kind == "loop":
                base |= {"weak": s["critic"], "strong": s["learner"], "method": s["loss"]}
                base |= {"weak_score": s["floor_score"]["mean"], "ceiling_score": s["ceiling_score"]["mean"]}
                for r in s["rounds"]:
                    rows.append({**base, "step": r["round"], **_est("score", r["score"]), **_est("pgr", r["pgr"])})
            elif kind == "red_team":
                base |= {"weak": s["critic"], "strong": s["learner"]}
                for metric, per_round in s["metrics"].items():
                    for r, est in enumerate(per_round):
                        rows.append({**base, "method": metric, "step": r, **_est("score", est["rate"])})
            else:
                base |= {"weak": s["weak"], "strong": s["policy"], "weak_score": s["base_score"]["mean"]}
                for r in s["rows"]:
                    row = {**base, "method": "best_of_n", "step": r["n"], "ceiling_score": r["gold_bon_gold"]["mean"]}
                    rows.append({**row, **_est("score", r["gold_bon_weak"]), **_est("pgr", r["pgr"])})
    return rows
