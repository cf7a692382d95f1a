"""Compare every W2S method (losses and label interventions) on real tasks.

For each task: weak static -> strong minilm (probe mode), default sizes, every registered method,
seeds 0..4 (``--seeds``). Prints per method: student accuracy, PGR [95% CI], the paired
PGR difference to naive ``xent`` [95% CI], whether the method beats xent with *non-overlapping*
PGR CIs, and its compute time relative to xent (sum over seeds of the stage's wall time,
including weak_ensemble's extra supervisors; same process, same cached features; "cached" where
a rerun on the same --store read the method or xent back instead of training it).

Tasks: ``sentiment`` (the default task) and SST-2 (GLUE; ``sst2/train.tsv.gz`` of the shared
data folder, found via $SUPERALIGN_DATA or <repo>/../shared/data; skipped with a note if absent).
Every run starts from an empty results store, so all students are trained, not read back.

Each row also shows the weak-to-strong deception measure (Yang et al. 2024, ``w2s/deception.py``):
the student's accuracy where the weak model is wrong and its deception score. After all tasks, the
median PGR of each method across the (task, pair) cells and the number of cells where its paired
PGR - xent CI excludes 0 (the target of issue 18: best method median PGR >= 0.6, beating xent on
at least half of the cells).

``--tune METHOD.PARAM=[a,b]`` chooses that method's parameter per seed among the candidates by a
weak-label criterion on val (``superalign.w2s.tuning``; no gold label selects it); the table shows
the chosen candidate, and each candidate's PGR is printed under it for the record.

usage: python bench/methods.py [--seeds 0,1,2,3,4] [--tasks sentiment,sst2] [--pairs static:minilm]
                               [--methods all|a,b,...] [--set METHOD.PARAM=VALUE ...]
                               [--tune METHOD.PARAM=[V1,V2] ...] [--store DIR]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def data_dir() -> Path:
    return Path(os.environ.get("SUPERALIGN_DATA", ROOT.parent / "shared" / "data"))


def tasks() -> dict[str, dict]:
    sst2 = data_dir() / "sst2" / "train.tsv.gz"
    shared = {"task_args": {"data_dir": str(data_dir())}} if (data_dir() / "SOURCES.md").exists() else None
    return {
        "sentiment": {"task": "sentiment"},
        "sst2": {"task": str(sst2), "task_args": {"text_col": "text_a", "label_col": "label"}}
        if sst2.exists()
        else None,
        **{t: {"task": t, **shared} if shared else None for t in ("toxicity", "legal", "safety")},
    }


def over_labels(s: dict, method: str) -> float | None:
    """PGR measured from the method's best label source instead of the weak model: the floor is the
    higher of the weak model's test score and each extra supervisor's score on train_w2s (held out
    from every supervisor, drawn like test). Equal to PGR for a method with no extra supervisor; for
    an ensemble it asks whether the student went beyond its *combined* supervision. A point
    estimate; None where the floor leaves under ``min_gap`` (0.02) to the ceiling."""
    extra = [s["train_w2s_label_score"][n] for n in s["methods"][method].get("supervisors", [])]
    floor = max([s["weak_score"]["mean"], *extra])
    gap = s["ceiling_score"]["mean"] - floor
    return (s["methods"][method]["score"]["mean"] - floor) / gap if gap >= 0.02 else None


def fmt(d: dict | None) -> str:
    if not d or d.get("mean") is None:
        return "undefined" + (f" ({d['reason']})" if d and d.get("reason") else "")
    return f"{d['mean']:+.3f} [{d['ci'][0]:+.3f}, {d['ci'][1]:+.3f}]"


def bench_task(
    name: str,
    spec: dict,
    seeds: list[int],
    store_root: Path,
    pair=("static", "minilm"),
    methods=None,
    method_params: dict | None = None,
    grid: dict | None = None,
):
    from superalign.store import Store
    from superalign.w2s import ExperimentConfig, method_names, run_experiment

    weak, strong = pair
    methods = methods or method_names()
    cfg = ExperimentConfig(
        **spec,
        weak=weak,
        strong=strong,
        methods=methods,
        seeds=seeds,
        method_params=method_params or {},
        tune={"grid": grid or {}},
    )
    t = time.perf_counter()
    res = run_experiment(cfg, Store(store_root / name))
    wall = time.perf_counter() - t
    s = res.summary
    secs = {m: sum(r["seconds"] for r in res.rows if r["role"] == "student" and r["method"] == m) for m in cfg.methods}
    xent = s["methods"]["xent"]["pgr"]
    print(f"\n## {name}: weak {weak} -> strong {strong}, seeds {seeds}, sizes {cfg.sizes.model_dump()}")
    print(
        f"weak acc {s['weak_acc']['mean']:.3f}  ceiling acc {s['ceiling_acc']['mean']:.3f}  "
        f"gap {s['gap']['mean']:.3f} [{s['gap']['ci'][0]:.3f}, {s['gap']['ci'][1]:.3f}]  "
        f"(run {s['config_hash']}, {wall:.0f} s)"
    )
    head = (
        f"{'method':<20} {'acc':>6}  {'PGR [95% CI]':<26} {'PGR - xent [paired CI]':<26} "
        f"{'beats xent*':<11} {'time/xent':>9}  {'acc | weak wrong':>16}  {'deception':>9}  {'PGR over labels†':>16}"
    )
    print(head)
    print("-" * len(head))
    rows = sorted(cfg.methods, key=lambda m: -(s["methods"][m]["pgr"]["mean"] or -9))
    for m in rows:
        r = s["methods"][m]
        p = r["pgr"]
        beats = "yes" if p["mean"] is not None and xent["ci"] and p["ci"][0] > xent["ci"][1] else "no"
        if m == "xent":
            beats = "-"
        print(
            f"{m:<20} {r['acc']['mean']:6.3f}  {fmt(p):<26} {fmt(r.get('pgr_vs_xent')) if m != 'xent' else '':<26} "
            f"{beats:<11} {relative_time(secs[m], secs['xent']):>9}  "
            f"{r['deception']['acc_weak_wrong']['mean']:16.3f}  {r['deception']['score']['mean']:9.3f}  "
            f"{num(over_labels(s, m)):>16}"
        )
    d = s["ceiling_deception"]["acc_weak_wrong"]["mean"]
    print("* beats xent: the method's PGR CI lies entirely above xent's (non-overlapping 95% CIs).")
    sources = " · ".join(f"{n} {v:.3f}" for n, v in s.get("train_w2s_label_score", {}).items())
    print(f"labels of train_w2s against gold (the weak model's and each extra supervisor's): {sources}")
    print(f"acc | weak wrong: the ceiling's is {d:.3f}; deception: P(student wrong | weak wrong, ceiling right)")
    print("† PGR from the method's best label source (weak model, or an extra supervisor scored on train_w2s)")
    for m, t in s.get("tuning", {}).items():
        print(f"{m} tuned by {t['criterion']} on val (weak labels only); chosen per seed: {', '.join(t['chosen'])}")
        for cand, c in t["candidates"].items():
            print(f"  {cand:<28} criterion {c['criterion']:.3f}  PGR {fmt(c['pgr'])}")
    return s


def num(x: float | None) -> str:
    return "undefined" if x is None else f"{x:+.3f}"


def cell_parser(doc: str) -> argparse.ArgumentParser:
    """The options every per-cell bench shares: seeds, tasks, weak:strong pairs, the store."""
    ap = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seeds", default="0,1,2,3,4")
    ap.add_argument("--tasks", default="sentiment,sst2")
    ap.add_argument("--pairs", default="static:minilm", help="weak:strong pairs, comma-separated")
    ap.add_argument("--store", type=Path, default=None, help="results store (default: a fresh temporary folder)")
    return ap


def each_cell(args: argparse.Namespace, bench) -> dict:
    """``bench(name, spec, seeds, store_root, pair)`` on every (pair, task) cell of `args`; tasks
    whose data are missing are skipped with a note. Returns each cell's result by (task, weak, strong)."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TQDM_DISABLE", "1")
    seeds = [int(x) for x in args.seeds.split(",")]
    known = tasks()
    cells = {}
    with tempfile.TemporaryDirectory() as tmp:
        root = args.store or Path(tmp)
        for pair in [tuple(p.split(":")) for p in args.pairs.split(",")]:
            for name in args.tasks.split(","):
                if known.get(name) is None:
                    why = f"not found under {data_dir()}" if name in known else "unknown task"
                    print(f"\n## {name}: skipped ({why})")
                    continue
                cells[(name, *pair)] = bench(name, known[name], seeds, root, pair)
    return cells


def relative_time(seconds: float, xent: float) -> str:
    """A method's compute time over xent's in this call; "cached" when either was read from the store."""
    return f"{seconds / xent:.2f}x" if seconds > 0 and xent > 0 else "cached"


def main() -> None:
    ap = cell_parser(__doc__)
    ap.add_argument("--methods", default="all", help="all, or a comma-separated list (xent is always added)")
    ap.add_argument(
        "--set", dest="overrides", action="append", default=[], help="method_params, e.g. boosted_ensemble.loss=product"
    )
    ap.add_argument(
        "--tune",
        action="append",
        default=[],
        help="a grid chosen on val by weak labels, e.g. boosted_ensemble.loss=[xent,product]",
    )
    args = ap.parse_args()
    from superalign.config import apply_overrides

    methods = None if args.methods == "all" else list(dict.fromkeys(["xent", *args.methods.split(",")]))
    params = apply_overrides({}, args.overrides)
    grid = apply_overrides({}, args.tune)
    summarize_cells(each_cell(args, lambda *a: bench_task(*a, methods=methods, method_params=params, grid=grid)))


def summarize_cells(cells: dict) -> None:
    """Median PGR per method across cells, and on how many cells PGR - xent's paired CI excludes 0."""
    if not cells:
        return
    import numpy as np

    names = list(next(iter(cells.values()))["methods"])
    print(f"\n## across {len(cells)} cells: {', '.join('/'.join(c) for c in cells)}")
    print(
        f"{'method':<20} {'median PGR':>10}  {'beats xent (paired CI > 0)':>27}  {'worse (CI < 0)':>14}  "
        f"{'median PGR over labels†':>23}"
    )
    rows = []
    for m in names:
        pgrs = [s["methods"][m]["pgr"]["mean"] for s in cells.values() if s["methods"][m]["pgr"]["mean"] is not None]
        own = [x for x in (over_labels(s, m) for s in cells.values()) if x is not None]
        diffs = [s["methods"][m].get("pgr_vs_xent") for s in cells.values()]
        up = sum(1 for d in diffs if d and d.get("ci") and d["ci"][0] > 0)
        down = sum(1 for d in diffs if d and d.get("ci") and d["ci"][1] < 0)
        med = float(np.median(pgrs)) if pgrs else float("nan")
        rows.append((med, m, up, down, f"{np.median(own):+.3f} ({len(own)} cells)" if own else "undefined"))
    for med, m, up, down, own in sorted(rows, key=lambda r: -r[0] if r[0] == r[0] else 9):
        print(f"{m:<20} {med:10.3f}  {up:>21}/{len(cells)}  {down:>11}/{len(cells)}  {own:>23}")


if __name__ == "__main__":
    main()
