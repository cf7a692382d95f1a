"""Weak-to-strong on every registered task: weak `static` -> strong `minilm` (probe mode),
methods xent and logconf, 3 seeds. Prints, per task and method, the primary metric of the weak
model, the ceiling and the student with 95% CIs, and PGR [95% CI] computed on that metric.

Also (unless --no-profanity) toxicity with the off-the-shelf weak supervisor `profanity_check`.

Real data comes from --data-dir / $SUPERALIGN_DATA (default <repo>/../shared/data). Features are
cached on disk ($SUPERALIGN_HOME/features) and stages in --store, so a rerun only prints.

usage: python bench/tasks.py [--tasks safety,toxicity] [--seeds 0,1,2] [--store DIR] [--data-dir DIR]
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

DEFAULT = {"train_gt": 500, "train_w2s": 1000, "val": 100, "test": 1000}
SIZES = {  # tasks too small for the default sizes
    "preference": {"train_gt": 500, "train_w2s": 1000, "val": 100, "test": 700},  # 2,312 pairs
    "chess": {"train_gt": 300, "train_w2s": 600, "val": 50, "test": 500},  # 1,499 puzzles
}


def fmt(d: dict) -> str:
    if d.get("mean") is None:
        return "undefined"
    lo, hi = d["ci"]
    return f"{d['mean']:.3f} [{lo:.3f}, {hi:.3f}]"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--tasks", default=None, help="comma-separated tasks (default: all registered)")
    ap.add_argument("--seeds", default="0,1,2")
    ap.add_argument("--weak", default="static")
    ap.add_argument("--strong", default="minilm")
    ap.add_argument("--store", default=str(REPO / "runs" / "bench-tasks"))
    ap.add_argument("--data-dir", default=os.environ.get("SUPERALIGN_DATA", str(REPO.parent / "shared" / "data")))
    ap.add_argument("--no-profanity", action="store_true", help="skip the toxicity run with weak profanity_check")
    args = ap.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TQDM_DISABLE", "1")

    from superalign.data import SplitSizes, get_task, task_names
    from superalign.data.catalog import takes_data_dir
    from superalign.store import Store
    from superalign.w2s import ExperimentConfig, run_experiment

    names = args.tasks.split(",") if args.tasks else task_names()
    runs = [(n, args.weak) for n in names]
    if not args.no_profanity and "toxicity" in names:
        runs.append(("toxicity", "profanity_check"))
    store = Store(args.store)
    results = []
    for name, weak in runs:
        task_args = {"data_dir": args.data_dir} if takes_data_dir(name) else {}
        cfg = ExperimentConfig(
            task=name,
            task_args=task_args,
            weak=weak,
            strong=args.strong,
            methods=["xent", "logconf"],
            seeds=[int(s) for s in args.seeds.split(",")],
            sizes=SplitSizes(**SIZES.get(name, DEFAULT)),
        )
        n = len(get_task(name, **task_args).load())
        t = time.perf_counter()
        s = run_experiment(cfg, store).summary
        secs = time.perf_counter() - t
        print(f"{name:10s} weak {weak:15s} done in {secs:6.1f} s", file=sys.stderr, flush=True)
        results.append((name, weak, n, cfg.sizes, s, secs))

    head = ["task", "weak", "metric", "n (gt/w2s/test)", "weak", "ceiling", "method", "student", "PGR [95% CI]"]
    lines = []
    for name, weak, n, sz, s, _ in results:
        for m, r in s["methods"].items():
            lines.append(
                [
                    name,
                    weak,
                    s["metric"],
                    f"{n} ({sz.train_gt}/{sz.train_w2s}/{sz.test})",
                    fmt(s["weak_score"]),
                    fmt(s["ceiling_score"]),
                    m,
                    fmt(r["score"]),
                    fmt(r["pgr"]) if r["pgr"]["mean"] is not None else f"undefined: {r['pgr']['reason']}",
                ]
            )
    widths = [max(len(h), *(len(x[i]) for x in lines)) for i, h in enumerate(head)]
    print(
        f"weak {args.weak} -> strong {args.strong} (probe), seeds {args.seeds}; scores are each task's primary metric"
    )
    print("  ".join(h.ljust(w) for h, w in zip(head, widths)))
    for x in lines:
        print("  ".join(v.ljust(w) for v, w in zip(x, widths)))
    print(f"total wall time {sum(r[-1] for r in results):.0f} s")


if __name__ == "__main__":
    main()
