"""Compare every W2S method (losses and label interventions) on real tasks.

For each task: weak static -> strong minilm (probe mode), default sizes, every registered method,
seeds 0..4 (``--seeds``). Prints per method: student accuracy, PGR [95% CI], the paired
PGR difference to naive ``xent`` [95% CI], whether the method beats xent with *non-overlapping*
PGR CIs, and its compute time relative to xent (sum over seeds of the stage's wall time,
including weak_ensemble's extra supervisors; same process, same cached features).

Tasks: ``sentiment`` (the default task) and SST-2 (GLUE; ``sst2/train.tsv.gz`` of the shared
data folder, found via $SUPERALIGN_DATA or <repo>/../shared/data; skipped with a note if absent).
Every run starts from an empty results store, so all students are trained, not read back.

usage: python bench/methods.py [--seeds 0,1,2,3,4] [--tasks sentiment,sst2] [--store DIR]
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
    return {
        "sentiment": {"task": "sentiment"},
        "sst2": {"task": str(sst2), "task_args": {"text_col": "text_a", "label_col": "label"}}
        if sst2.exists()
        else None,
    }


def fmt(d: dict | None) -> str:
    if not d or d.get("mean") is None:
        return "undefined" + (f" ({d['reason']})" if d and d.get("reason") else "")
    return f"{d['mean']:+.3f} [{d['ci'][0]:+.3f}, {d['ci'][1]:+.3f}]"


def bench_task(name: str, spec: dict, seeds: list[int], store_root: Path) -> None:
    from superalign.store import Store
    from superalign.w2s import ExperimentConfig, method_names, run_experiment

    cfg = ExperimentConfig(**spec, weak="static", strong="minilm", methods=method_names(), seeds=seeds)
    t = time.perf_counter()
    res = run_experiment(cfg, Store(store_root / name))
    wall = time.perf_counter() - t
    s = res.summary
    secs = {m: sum(r["seconds"] for r in res.rows if r["role"] == "student" and r["method"] == m) for m in cfg.methods}
    xent = s["methods"]["xent"]["pgr"]
    print(f"\n## {name}: weak static -> strong minilm, seeds {seeds}, sizes {cfg.sizes.model_dump()}")
    print(
        f"weak acc {s['weak_acc']['mean']:.3f}  ceiling acc {s['ceiling_acc']['mean']:.3f}  "
        f"gap {s['gap']['mean']:.3f} [{s['gap']['ci'][0]:.3f}, {s['gap']['ci'][1]:.3f}]  "
        f"(run {s['config_hash']}, {wall:.0f} s)"
    )
    head = (
        f"{'method':<15} {'acc':>6}  {'PGR [95% CI]':<26} {'PGR - xent [paired CI]':<26} "
        f"{'beats xent*':<11} {'time/xent':>9}"
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
            f"{m:<15} {r['acc']['mean']:6.3f}  {fmt(p):<26} {fmt(r.get('pgr_vs_xent')) if m != 'xent' else '':<26} "
            f"{beats:<11} {secs[m] / secs['xent']:8.2f}x"
        )
    print("* beats xent: the method's PGR CI lies entirely above xent's (non-overlapping 95% CIs).")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seeds", default="0,1,2,3,4")
    ap.add_argument("--tasks", default="sentiment,sst2")
    ap.add_argument("--store", type=Path, default=None, help="results store (default: a fresh temporary folder)")
    args = ap.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TQDM_DISABLE", "1")
    seeds = [int(x) for x in args.seeds.split(",")]
    known = tasks()
    with tempfile.TemporaryDirectory() as tmp:
        root = args.store or Path(tmp)
        for name in args.tasks.split(","):
            if known.get(name) is None:
                why = f"not found: {data_dir() / 'sst2'}" if name in known else "unknown task"
                print(f"\n## {name}: skipped ({why})")
                continue
            bench_task(name, known[name], seeds, root)


if __name__ == "__main__":
    main()
