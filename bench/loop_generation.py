"""Benchmark the attacker-learner-critic loop on a generative learner (issue 15).

On `refusal`, SmolLM2-135M-Instruct is red-teamed by the templates, rephrase and llm attackers,
judged by the weak critic (a tfidf prompt classifier fit on train_gt + the refusal detector) and
refined by DPO (LoRA) through TRL, for each human budget; then:

1. per budget, every round: ASR per attacker [95% CI], over-refusal [95% CI], harmful compliance and
   the gold correct-behaviour rate [95% CI] on held-out requests, human labels spent;
2. the final round's correct-behaviour rate per budget, its paired change from round 0, and PGR =
   (budget - critic-only floor) / (gold ceiling - floor), the ceiling being the loop in which the
   human labels every query it can (``--ceiling``);
3. with ``--selections`` and/or ``--trains``: every budget under each human selection policy and
   each training mode (dpo, sft, dpo+sft), and each variant's paired difference to the first one
   (where is a scarce label worth most, and how should the learner use it?); the budget-0 floor
   and the ceiling run under the first training mode;
4. with ``--frozen``: the self-play attacker's ASR against a fixed learner, round over round (does it learn?).

usage: python bench/loop_generation.py [--seeds 0] [--budgets 0,50] [--ceiling] [--frozen] [--rounds 3]
                                       [--selections disagreement,critic_uncertainty,random]
                                       [--trains dpo,dpo+sft]
                                       [--attack-size 12] [--eval-size 24] [--test 64] [--store runs]
                                       [--set KEY=VALUE ...]   (any RedTeamConfig field, e.g. train=sft)
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TQDM_DISABLE", "1")

CEILING_BUDGET = 100_000  # every query the human can answer


def final_eval(store, cfg) -> list[dict]:
    """Per seed, the final round's evaluation record: per-request vectors (correct, over_refusal,
    harmful_compliance) on the same test requests in every run of a seed, so runs pair."""
    run = store.run_dir(cfg.hash())
    return [json.loads((run / f"seed{s}" / f"round{cfg.rounds}.json").read_text())["eval"] for s in cfg.seeds]


def vectors(evals: dict[str, list[dict]], key: str) -> dict:
    """Per run name, the per-seed boolean vectors of `key` (the input of `PGRAnalysis`)."""
    import numpy as np

    return {name: [np.array(e[key], dtype=bool) for e in per_seed] for name, per_seed in evals.items()}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seeds", default="0")
    ap.add_argument("--budgets", default="0,50", help='human budgets ("" for none, e.g. with --frozen alone)')
    ap.add_argument("--ceiling", action="store_true", help="also run the gold ceiling (every query labelled)")
    ap.add_argument("--frozen", action="store_true", help="also run the llm attacker against a frozen learner")
    ap.add_argument("--selections", default="", help="human selection policies to compare (default: the config's)")
    ap.add_argument("--trains", default="", help="learner training modes to compare (default: the config's)")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--attack-size", type=int, default=12)
    ap.add_argument("--eval-size", type=int, default=24)
    ap.add_argument("--test", type=int, default=64, help="held-out test prompts per seed")
    ap.add_argument("--store", default="runs")
    ap.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="a config override, repeatable")
    args = ap.parse_args()

    from superalign.config import apply_overrides
    from superalign.metrics import PGRAnalysis
    from superalign.redteam import RedTeamConfig, run_red_team
    from superalign.store import Store
    from superalign.summaries import print_red_team

    store = Store(args.store)
    base = dict(
        seeds=[int(s) for s in args.seeds.split(",")],
        rounds=args.rounds,
        attack_size=args.attack_size,
        eval_size=args.eval_size,
        sizes={"train_gt": 200, "train_w2s": 300, "val": 1, "test": args.test},
    )
    budgets = [int(b) for b in args.budgets.split(",") if b] + ([CEILING_BUDGET] if args.ceiling else [])
    selections = [s for s in args.selections.split(",") if s] or [None]
    trains = [t for t in args.trains.split(",") if t] or [None]
    variants = [(sel, tr) for tr in trains for sel in selections]
    cfgs = {}  # name in the final table -> config
    first = {}  # name -> the name of the same budget under the first variant
    for b in budgets:
        ref = None  # this budget's row under the first variant
        for sel, tr in variants if 0 < b < CEILING_BUDGET else variants[:1]:
            label = " ".join(x for x in (sel, tr) if x)
            name = "weak" if b == 0 else "ceiling" if b == CEILING_BUDGET else f"budget {b} {label}".strip()
            ref = ref or name
            first[name] = ref
            over = {**base, "human_budget": b, **({"selection": sel} if sel else {}), **({"train": tr} if tr else {})}
            cfgs[name] = cfg = RedTeamConfig(**apply_overrides(over, args.set))
            t0 = time.perf_counter()
            summary = run_red_team(cfg, store)
            print_red_team(summary, cached=not summary["computed"])
            took = time.perf_counter() - t0
            print(f"{name}: {took:.0f} s; attack success in training rounds: {summary['train_asr']}")
    if "weak" in cfgs and len(cfgs) > 1:
        evals = {name: final_eval(store, cfg) for name, cfg in cfgs.items()}
        correct = vectors(evals, "correct")
        shown = list(correct)
        if "ceiling" not in correct:  # PGRAnalysis needs one; without a ceiling run no PGR is printed
            correct["ceiling"] = correct[shown[1]]
        a = PGRAnalysis(correct, n_boot=1000)
        print("\nfinal-round correct behaviour (floor = budget 0, the critic alone)")
        for name in shown:
            row = f"  {name:>9}: {a.score(name).fmt()}"
            if name != "weak":
                row += f"   vs budget 0: {a.diff(name, 'weak').fmt()}"
            if first[name] != name:
                row += f"   vs {first[name]}: {a.diff(name, first[name]).fmt()}"
            if name.startswith("budget") and args.ceiling:
                row += f"   PGR: {a.pgr(name).fmt()}"
            print(row)
        print("final-round objectives, paired change from budget 0 (negative is better)")
        for key in ("over_refusal", "harmful_compliance"):
            rates = PGRAnalysis(vectors(evals, key), n_boot=1000)
            print(f"  {key}: " + "; ".join(f"{n} {rates.diff(n, 'weak').fmt()}" for n in shown if n != "weak"))
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20  # KiB -> GiB (Linux)
    print(f"peak memory (max RSS of this process): {peak:.2f} GiB")
    if args.frozen:
        frozen = {**base, "human_budget": 0, "attackers": ["llm"], "freeze_learner": True}
        cfg = RedTeamConfig(**apply_overrides(frozen, args.set))
        summary = run_red_team(cfg, store)
        print_red_team(summary, cached=not summary["computed"])
        print(f"self-play attacker vs a frozen learner, training ASR by round: {summary['train_asr']['llm']}")


if __name__ == "__main__":
    main()
