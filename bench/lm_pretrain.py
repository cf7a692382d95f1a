"""Generative fine-tuning (issue 18, item 1; Burns et al. 2023, sec. 5.2.2), measured paired.

The same finetune-mode W2S experiment twice: as is, and with ``lm_pretrain.enabled=true`` (the
strong model first trains with its own language-modelling objective on the unlabelled train_w2s
and test inputs; the ceiling and every student then start from those weights). Same seeds, splits
and weak model, so every model is scored on the same test examples and the bootstrap is paired:

1. weak, ceiling and each student, without and with generative fine-tuning: accuracy [95% CI];
2. PGR [95% CI] of each student without and with it, and the paired difference of the two PGRs
   (each against its own ceiling, as the paper compares them).

usage: python bench/lm_pretrain.py [--strong minilm] [--weak static] [--task sentiment]
                                   [--methods xent] [--seeds 0,1,2] [--sizes 1000,1000,250,1000]
                                   [--epochs 2] [--store runs] [--set KEY=VALUE ...]
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

LM = "+lm"  # suffix of the models trained after generative fine-tuning


def correct_per_seed(res, store, tests) -> dict[str, list[np.ndarray]]:
    """Model name -> per seed, the boolean vector of correct test predictions (read from the stages)."""
    out: dict[str, list[np.ndarray]] = {}
    for seed, y in zip(res.config.seeds, tests):
        for row in (r for r in res.rows if r["seed"] == seed):
            name = {"weak": "weak", "ceiling": "ceiling"}.get(row["role"], row["method"])
            probs = store.stage(row["stage_key"], _not_cached)
            out.setdefault(name, []).append(probs["test"].argmax(-1) == y)
    return out


def _not_cached() -> dict:
    raise RuntimeError("a stage of the run just made is not in the store")


def interval(draws: np.ndarray) -> str:
    draws = draws[np.isfinite(draws)]
    lo, hi = np.percentile(draws, [2.5, 97.5])
    return f"[{lo:.3f}, {hi:.3f}]"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--task", default="sentiment")
    ap.add_argument("--weak", default="static")
    ap.add_argument("--strong", default="minilm")
    ap.add_argument("--methods", default="xent")
    ap.add_argument("--seeds", default="0,1,2")
    ap.add_argument("--sizes", default="1000,1000,250,1000", help="train_gt,train_w2s,val,test")
    ap.add_argument("--epochs", type=int, default=2, help="fine-tuning epochs")
    ap.add_argument("--store", default="runs")
    ap.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="a config override, repeatable")
    args = ap.parse_args()

    from superalign.config import apply_overrides
    from superalign.data import get_task, make_splits
    from superalign.metrics import PGRAnalysis
    from superalign.store import Store
    from superalign.summaries import print_summary
    from superalign.w2s import ExperimentConfig, run_experiment

    gt, w2s, val, test = (int(x) for x in args.sizes.split(","))
    base = {
        "task": args.task,
        "weak": args.weak,
        "strong": args.strong,
        "mode": "finetune",
        "methods": args.methods.split(","),
        "seeds": [int(s) for s in args.seeds.split(",")],
        "sizes": {"train_gt": gt, "train_w2s": w2s, "val": val, "test": test},
        "finetune": {"epochs": args.epochs},
    }
    store = Store(args.store)
    cfgs = {
        pretrain: ExperimentConfig(**apply_overrides({**base, "lm_pretrain": {"enabled": pretrain}}, list(args.set)))
        for pretrain in (False, True)
    }
    task = get_task(cfgs[False].task, **cfgs[False].task_args)  # the two runs differ only in lm_pretrain
    sizes, data = cfgs[False].split_sizes(task).model_dump(), task.load()
    tests = [make_splits(data, sizes, seed=s, data_seed=cfgs[False].data_seed).test.labels for s in cfgs[False].seeds]
    correct: dict[str, list[np.ndarray]] = {}
    for pretrain, cfg in cfgs.items():
        t = time.perf_counter()
        res = run_experiment(cfg, store)
        print(f"\nlm_pretrain {'on' if pretrain else 'off'}: {time.perf_counter() - t:.0f} s (run {cfg.hash()})")
        print_summary(res.summary)
        for name, vectors in correct_per_seed(res, store, tests).items():
            if pretrain and name == "weak":
                assert all((a == b).all() for a, b in zip(vectors, correct["weak"])), "the weak model differs"
                continue
            correct[name + (LM if pretrain else "")] = vectors

    a = PGRAnalysis(correct, n_boot=1000)
    b, w = a.boot, a.boot["weak"]
    print(f"\n{args.task}, {args.weak} -> {args.strong}, finetune mode, seeds {args.seeds}: without / with lm_pretrain")
    print(f"  {'weak':>16}: {a.score('weak').fmt()}")
    for name in ("ceiling", *base["methods"]):
        paired = a.diff(name + LM, name).fmt()
        print(f"  {name:>16}: {a.score(name).fmt()}  /  {a.score(name + LM).fmt()}   paired {paired}")
    gaps = (a.point["ceiling"] - a.point["weak"], a.point["ceiling" + LM] - a.point["weak"])
    for m in base["methods"]:
        with np.errstate(divide="ignore", invalid="ignore"):
            p0 = (b[m] - w) / (b["ceiling"] - w)
            p1 = (b[m + LM] - w) / (b["ceiling" + LM] - w)
            d = p1 - p0
        pgr0 = (a.point[m] - a.point["weak"]) / gaps[0]
        pgr1 = (a.point[m + LM] - a.point["weak"]) / gaps[1]
        print(
            f"  PGR {m}: {pgr0:.3f} {interval(p0)}  /  {pgr1:.3f} {interval(p1)}   "
            f"with - without {pgr1 - pgr0:+.3f} {interval(d)}"
        )
    print(f"  gaps (ceiling - weak): {gaps[0]:.3f} / {gaps[1]:.3f}")
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
    print(f"peak memory (max RSS of this process): {peak:.2f} GiB")


if __name__ == "__main__":
    main()
