"""Benchmark the attacker-learner-critic loop against naive W2S and the gold ceiling.

On one task (default: sentiment), for each seed, with a weak critic (default tfidf + static,
fit on train_gt) and a minilm probe learner, it runs the loop once per learner loss (default
logconf; ``--losses logconf,forward``) and human budget (default 0 and 50) and prints:
  1. gold test accuracy [95% CI] of: the critic; naive W2S (Burns et al.'s naive fine-tuning:
     xent on the critic's labels, the PGR floor); round 0 of the loop (the loop's loss and
     critic-confidence weights, before any attack or human; one per loss); the loop after its
     last round for each loss and budget; the gold ceiling. Gains over naive W2S and over
     round 0 are paired bootstrap differences (seeds x test examples);
  2. per round, for each loop: accuracy and the attack success of fresh attacks on val.
Targets (issue 6): loop+budget beats naive W2S with non-overlapping CIs; attack success falls
round over round.

usage: python bench/loop.py [--task sentiment] [--seeds 0,1,2] [--rounds 4] [--budgets 0,50]
                            [--losses logconf,forward] [--critic-models tfidf,static] [--train-gt 500]
                            [--mode probe] [--spelling [corpus|english]] [--canonicalize] [--store DIR]
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


def attack_change(seeds, attacker: str, last: int) -> str:
    """Pooled attack success (over seeds) at round 0 and at `last`, and their difference with a 95%
    normal-approximation CI (unpaired: the same val items are attacked each round, so this is
    conservative), and whether the per-round means fall every round."""

    def pooled(r):
        n = sum(s.rounds[r]["attack"][attacker]["n"] for s in seeds)
        return sum(
            s.rounds[r]["attack"][attacker]["success"] * s.rounds[r]["attack"][attacker]["n"] for s in seeds
        ) / max(n, 1), n

    per_round = [pooled(r) for r in range(last + 1)]
    (p0, n0), (p1, n1) = per_round[0], per_round[last]
    half = 1.96 * np.sqrt(p0 * (1 - p0) / max(n0, 1) + p1 * (1 - p1) / max(n1, 1))
    monotone = last > 0 and all(b[0] < a[0] for a, b in zip(per_round, per_round[1:]))
    return (
        f"{p0:.3f} (n={n0}) -> {p1:.3f} (n={n1}), "
        f"change {p1 - p0:+.3f} [{p1 - p0 - half:+.3f}, {p1 - p0 + half:+.3f}]; "
        f"falls every round: {'yes' if monotone else 'no'}"
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--task", default="sentiment")
    ap.add_argument("--seeds", default="0,1,2")
    ap.add_argument("--rounds", type=int, default=4)
    ap.add_argument("--budgets", default="0,50", help="human budgets, one loop each (0 = no humans)")
    ap.add_argument(
        "--losses", default="logconf", help="learner losses (registered names), one loop per loss and budget"
    )
    ap.add_argument("--learner", default="minilm")
    ap.add_argument("--critic-models", default="tfidf,static")
    ap.add_argument("--train-gt", type=int, default=500, help="gold examples the weak critic is fit on")
    ap.add_argument("--attack-size", type=int, default=40, help="queries per attacker per round")
    ap.add_argument("--eval-size", type=int, default=60, help="fresh attacks per attacker per round (val)")
    ap.add_argument("--edit-target", default="learner", choices=["learner", "source"])
    ap.add_argument(
        "--spelling",
        nargs="?",
        const="english",
        default="off",
        choices=["off", "corpus", "english"],
        help="the learner reads text through a word-recognition front-end (bare --spelling: english lexicon)",
    )
    ap.add_argument(
        "--canonicalize", action="store_true", help="the learner learns the attacker's phrase substitutions (canon.py)"
    )
    ap.add_argument(
        "--mode", default="probe", choices=["probe", "finetune"], help="finetune: fine-tune the learner (GPU advised)"
    )
    ap.add_argument("--store", default="runs", help="results store (finished rounds are reused)")
    args = ap.parse_args()

    from superalign.metrics import Estimate, PGRAnalysis
    from superalign.oversight import LoopConfig, PerturbConfig, run_loop
    from superalign.store import Store

    sizes = LoopConfig().sizes.model_copy(update={"train_gt": args.train_gt})
    base = LoopConfig(
        task=args.task,
        seeds=[int(x) for x in args.seeds.split(",")],
        rounds=args.rounds,
        learner=args.learner,
        critic_models=args.critic_models.split(","),
        attackers=["pool", "perturb"],
        attack_size=args.attack_size,
        eval_size=args.eval_size,
        perturb=PerturbConfig(max_queries=30, max_words=5),
        sizes=sizes,
        edit_target=args.edit_target,
        mode=args.mode,
        spelling=args.spelling,
        canonicalize=args.canonicalize,
    )
    store = Store(args.store)
    losses = args.losses.split(",")
    runs, times, round0 = {}, {}, {}
    for loss in losses:
        for budget in [int(b) for b in args.budgets.split(",")]:
            name = (f"loop, {budget} human labels" if budget else "loop, no humans") + (
                f", {loss}" if len(losses) > 1 else ""
            )
            t = time.perf_counter()
            runs[name] = run_loop(
                base.model_copy(update={"human_budget": budget, "loss": loss}),
                store,
                on_round=lambda s, r, m, n=name: print(
                    f"  [{n}] seed {s} round {r}: acc {m['acc']:.3f}", file=sys.stderr, flush=True
                ),
            )
            times[name] = time.perf_counter() - t
            round0.setdefault(loss, runs[name])
    first = next(iter(runs.values()))
    seeds = first.seeds
    for other in runs.values():  # the baselines are the same models in every loop (round 0 too, per loss)
        for a, b, c in zip(seeds, other.seeds, round0[other.config.loss].seeds):
            assert np.array_equal(a.naive_probs, b.naive_probs) and np.array_equal(b.test_probs[0], c.test_probs[0])
    R = base.rounds
    r0 = {loss: "round 0" + (f", {loss}" if len(losses) > 1 else "") for loss in losses}
    correct = {
        "weak": [s.naive_probs.argmax(1) == s.test_labels for s in seeds],
        "ceiling": [s.ceiling_probs.argmax(1) == s.test_labels for s in seeds],
        "critic": [s.critic_test_probs.argmax(1) == s.test_labels for s in seeds],
        **{r0[loss]: [s.test_probs[0].argmax(1) == s.test_labels for s in res.seeds] for loss, res in round0.items()},
    }
    for name, res in runs.items():
        correct[name] = [s.test_probs[R].argmax(1) == s.test_labels for s in res.seeds]
    pgr = PGRAnalysis(correct, n_boot=2000, min_gap=base.min_gap, seed=0)

    print(
        f"\n{args.task}: critic weak({args.critic_models}, fit on {args.train_gt} gold) -> "
        f"learner {args.learner} {args.mode} ({args.losses}), attackers pool+perturb, {R} rounds, "
        f"seeds {args.seeds}; test n={len(seeds[0].test_labels)} per seed"
    )
    print(
        f"attack_size {base.attack_size}/attacker/round, eval_size {base.eval_size}, "
        f"perturb {base.perturb.model_dump()}, "
        f"policy {base.policy}, critic_learns {base.critic_learns}, edit_target {base.edit_target}, "
        f"human_weight {base.human_weight}, sizes {base.sizes.model_dump()}"
    )
    rows = [("weak critic", "critic"), ("naive W2S (xent on critic labels)", "weak")]
    rows += [(f"round 0: W2S with {loss} + confidence weights", r0[loss]) for loss in losses]
    rows += [(f"{name} (round {R})", name) for name in runs] + [("gold ceiling (pool gold labels)", "ceiling")]
    w = max(len(r[0]) for r in rows)
    print(
        f"{'model':<{w}}  {'gold test acc [95% CI]':<22}  {'gain vs naive [95% CI]':<24}  "
        f"{'gain vs round 0 [95% CI]':<25}  PGR [95% CI]"
    )
    for label, key in rows:
        base0 = r0[runs[key].config.loss] if key in runs else r0[losses[0]]
        extra = (
            ("", "", "")
            if key == "critic"
            else (pgr.diff(key, "weak").fmt(), pgr.diff(key, base0).fmt(), pgr.pgr(key).fmt())
        )
        print(f"{label:<{w}}  {pgr.score(key).fmt():<22}  {extra[0]:<24}  {extra[1]:<25}  {extra[2]}")
    for name in runs:
        if not name.startswith("loop, no humans"):
            lo, hi = pgr.score(name).ci[0], pgr.score("weak").ci[1]
            print(
                f"{name} beats naive W2S with non-overlapping CIs: {'yes' if lo > hi else 'no'} "
                f"(loop CI low {lo:.3f} vs naive CI high {hi:.3f})"
            )

    print("\nper round (mean over seeds): gold test accuracy | attack success of fresh attacks on val")
    for name, res in runs.items():
        attackers = sorted(res.summary["rounds"][0]["attack_success"])  # replayed rounds list them sorted
        print(f"{name}  (wall time {times[name]:.0f} s)")
        print(
            f"  {'round':<6}{'acc [95% CI]':<24}"
            + "".join(f"{'attack: ' + a:<18}" for a in attackers)
            + f"{'critic acc on queries':<24}{'critic test acc':<18}human labels"
        )
        for r in res.summary["rounds"]:
            cq = r["critic_acc_on_queries"]
            est = Estimate(r["acc"]["mean"], tuple(r["acc"]["ci"]))
            print(
                f"  {r['round']:<6}{est.fmt():<24}"
                + "".join(f"{r['attack_success'][a]:<18.3f}" for a in attackers)
                + f"{'' if cq is None else f'{cq:.3f}':<24}{r['critic_test_acc']:<18.3f}{r['human_spent']:.0f}"
            )
        for a in attackers:
            print(f"  attack: {a}, round 0 -> {R}: {attack_change(res.seeds, a, R)}")


if __name__ == "__main__":
    main()
