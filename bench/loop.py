"""Benchmark the attacker-learner-critic loop against naive W2S and the gold ceiling.

On one task (default: sentiment), for each seed, with a weak critic (tfidf + static, fit on
train_gt) and a minilm probe learner (loss logconf), it runs the loop twice -- without humans
(budget 0) and with a human budget (default 50) -- and prints:
  1. gold test accuracy [95% CI] of: naive W2S on critic labels (round 0 of the loop, the floor),
     the loop without humans, the loop with the budget, and the gold ceiling; the accuracy gain
     over naive W2S [95% CI] (paired bootstrap over seeds x test examples) and PGR vs the floor;
  2. per round, for both loops: accuracy and attack success of fresh attacks on val.
Targets (issue 6): loop+budget beats naive W2S with non-overlapping CIs; attack success falls
round over round.

usage: python bench/loop.py [--task sentiment] [--seeds 0,1,2] [--rounds 5] [--budget 50] [--store DIR]
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TQDM_DISABLE", "1")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--task", default="sentiment")
    ap.add_argument("--seeds", default="0,1,2")
    ap.add_argument("--rounds", type=int, default=4)
    ap.add_argument("--budget", type=int, default=50)
    ap.add_argument("--learner", default="minilm")
    ap.add_argument("--critic-models", default="tfidf,static")
    ap.add_argument("--attack-size", type=int, default=12, help="queries per attacker per round")
    ap.add_argument("--eval-size", type=int, default=20, help="fresh attacks per attacker per round (val)")
    ap.add_argument("--store", default="runs", help="results store (finished rounds are reused)")
    args = ap.parse_args()

    from superalign.config import LoopConfig, PerturbConfig
    from superalign.metrics import PGRAnalysis, Estimate
    from superalign.oversight import run_loop
    from superalign.store import Store

    base = LoopConfig(
        task=args.task, seeds=[int(s) for s in args.seeds.split(",")], rounds=args.rounds, learner=args.learner,
        critic_models=args.critic_models.split(","), attackers=["pool", "perturb"], attack_size=args.attack_size,
        eval_size=args.eval_size, perturb=PerturbConfig(max_queries=30, max_words=5),
    )
    store = Store(args.store)
    runs, times = {}, {}
    for name, budget in [("loop, no humans", 0), (f"loop, {args.budget} human labels", args.budget)]:
        t = time.perf_counter()
        runs[name] = run_loop(base.model_copy(update={"human_budget": budget}), store,
                              on_round=lambda s, r, m, n=name: print(f"  [{n}] seed {s} round {r}: acc {m['acc']:.3f}", file=sys.stderr, flush=True))
        times[name] = time.perf_counter() - t
    first = next(iter(runs.values()))
    seeds = first.seeds
    for other in runs.values():  # round 0 is the same model in both loops
        for a, b in zip(seeds, other.seeds):
            assert np.array_equal(a.test_probs[0], b.test_probs[0])
    R = base.rounds
    correct = {
        "weak": [s.test_probs[0].argmax(1) == s.test_labels for s in seeds],
        "ceiling": [s.ceiling_probs.argmax(1) == s.test_labels for s in seeds],
        "critic": [s.critic_test_probs.argmax(1) == s.test_labels for s in seeds],
    }
    for name, res in runs.items():
        correct[name] = [s.test_probs[R].argmax(1) == s.test_labels for s in res.seeds]
    pgr = PGRAnalysis(correct, n_boot=2000, min_gap=base.min_gap, seed=0)

    def gain(name: str) -> Estimate:
        d = pgr.boot[name] - pgr.boot["weak"]
        return Estimate(pgr.point[name] - pgr.point["weak"], tuple(np.percentile(d, [2.5, 97.5])))

    print(f"\n{args.task}: critic weak({args.critic_models}) -> learner {args.learner} probe (logconf), attackers pool+perturb, "
          f"{R} rounds, seeds {args.seeds}; test n={len(seeds[0].test_labels)} per seed")
    print(f"attack_size {base.attack_size}/attacker/round, eval_size {base.eval_size}, perturb {base.perturb.model_dump()}, "
          f"policy {base.policy}, human_weight {base.human_weight}, sizes {base.sizes.model_dump()}")
    rows = [("weak critic (tfidf+static on train_gt)", pgr.acc("critic").fmt(), "", ""),
            ("naive W2S on critic labels (round 0)", pgr.acc("weak").fmt(), "0", "0")]
    for name in runs:
        rows.append((f"{name} (round {R})", pgr.acc(name).fmt(), gain(name).fmt(), pgr.pgr(name).fmt()))
    rows.append(("gold ceiling (pool gold labels)", pgr.acc("ceiling").fmt(), gain("ceiling").fmt(), "1"))
    w = max(len(r[0]) for r in rows)
    print(f"{'model':<{w}}  {'gold test acc [95% CI]':<22}  {'gain vs naive [95% CI]':<24}  PGR vs naive [95% CI]")
    for r in rows:
        print(f"{r[0]:<{w}}  {r[1]:<22}  {r[2]:<24}  {r[3]}")
    loop_b = list(runs)[-1]
    lo_b, hi_n = pgr.acc(loop_b).ci[0], pgr.acc("weak").ci[1]
    print(f"loop with budget beats naive W2S with non-overlapping CIs: {'yes' if lo_b > hi_n else 'no'} "
          f"(loop CI low {lo_b:.3f} vs naive CI high {hi_n:.3f})")

    print("\nper round (mean over seeds): gold test accuracy | attack success of fresh attacks on val")
    for name, res in runs.items():
        attackers = list(res.summary["rounds"][0]["attack_success"])
        print(f"{name}  (wall time {times[name]:.0f} s)")
        print(f"  {'round':<6}{'acc [95% CI]':<24}" + "".join(f"{'attack: ' + a:<18}" for a in attackers) + f"{'critic acc on queries':<24}human labels")
        for r in res.summary["rounds"]:
            cq = r["critic_acc_on_queries"]
            est = Estimate(r["acc"]["mean"], tuple(r["acc"]["ci"]))
            print(f"  {r['round']:<6}{est.fmt():<24}" + "".join(f"{r['attack_success'][a]:<18.3f}" for a in attackers)
                  + f"{'' if cq is None else f'{cq:.3f}':<24}{r['human_spent']:.0f}")


if __name__ == "__main__":
    main()
