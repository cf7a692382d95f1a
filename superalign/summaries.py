"""Rich tables of a W2S run's and an oversight loop's summary (what ``superalign run`` and
``superalign loop`` print)."""

from __future__ import annotations

import sys

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from .metrics import Estimate

console = Console(width=None if sys.stdout.isatty() else 160)  # tables unwrapped in logs and pipes


def _est(d: dict) -> str:
    """A summary's estimate dict, formatted as ``mean [lo, hi]``."""
    return Estimate.from_dict(d).fmt()


def _metric_label(metric: str) -> str:
    return {"balanced_accuracy": "balanced acc.", "pairwise_accuracy": "pairwise acc."}.get(metric, metric)


def print_summary(s: dict, cached: bool = False) -> None:
    metric = s.get("metric", "accuracy")
    extra = metric == "balanced_accuracy"  # then also show plain accuracy (pairwise accuracy *is* accuracy on pairs)
    label = _metric_label(metric)
    models = " -> ".join(s["chain"]) if s.get("chain") else f"weak {s['weak']} -> strong {s['strong']}"
    title = f"{s['task']}: {models}, seeds {s['seeds']} (run {s['config_hash']}{', cached' if cached else ''})"
    t = Table(title=title)
    vs_xent = any("pgr_vs_xent" in m for m in s["methods"].values())
    t.add_column("model", no_wrap=True)
    cols = (
        f"{label} [95% CI]",
        *(["accuracy"] if extra else []),
        "PGR [95% CI]",
        *(["PGR - xent [paired 95% CI]"] if vs_xent else []),
        "agree w/ weak",
    )
    for col in cols:
        t.add_column(col)
    pad = [""] if vs_xent else []

    def score(d: dict, prefix: str = "") -> str:
        return _est(d[f"{prefix}score"])

    def acc(d: dict, prefix: str = "") -> list[str]:
        return [f"{d[f'{prefix}acc']['mean']:.3f}"] if extra else []

    t.add_row(f"weak ({s['weak']})", score(s, "weak_"), *acc(s, "weak_"), "", *pad, "")
    t.add_row(f"ceiling ({s['strong']}, ground truth)", score(s, "ceiling_"), *acc(s, "ceiling_"), "", *pad, "")
    below = s["weak"]
    for rung, r in s.get("rungs", {}).items():
        t.add_row(f"rung: {rung} (xent on {below} labels)", score(r), *acc(r), _est(r["pgr"]), *pad, "")
        below = rung
    for name, m in s["methods"].items():
        diff = [_est(m["pgr_vs_xent"]) if "pgr_vs_xent" in m else ""] if vs_xent else []
        row_label = f"student: {name}" + (f" (on {below} labels)" if s.get("chain") else "")
        t.add_row(row_label, score(m), *acc(m), _est(m["pgr"]), *diff, f"{m['agreement']:.3f}")
    console.print(t)
    sources = s.get("train_w2s_label_score", {})
    if len(sources) > 1:  # extra supervisors: is a student better than the best labels it was given?
        listed = " · ".join(f"{escape(n)} {v:.3f}" for n, v in sources.items())
        console.print(f"labels of train_w2s, {label} against its gold (for the record, never used): {listed}")
    if "ceiling_deception" in s:
        print_deception(s)
    if "tuning" in s:
        print_tuning(s)


def print_tuning(s: dict) -> None:
    """Each tuned method's grid: the weak-label criterion on val that chose, and (for the record
    only, never used to choose) each candidate's test score and PGR."""
    for method, tuned in s["tuning"].items():
        chosen = tuned["chosen"]
        t = Table(title=f"{method}: chosen on val by {tuned['criterion']} (weak labels only)")
        for col in ("candidate", f"{tuned['criterion']} on val", "test score [95% CI]", "PGR [95% CI]", "chosen"):
            t.add_column(col, no_wrap=col == "candidate")
        for name, c in tuned["candidates"].items():
            picks = f"{sum(1 for x in chosen if x == name)}/{len(chosen)} seeds"
            t.add_row(escape(name), f"{c['criterion']:.3f}", _est(c["score"]), _est(c["pgr"]), picks)
        console.print(t)


def print_deception(s: dict) -> None:
    """The weak-to-strong deception table (``w2s/deception.py``): accuracy where the weak model is
    right and where it is wrong, and the deception score, per student and for the ceiling."""
    t = Table(title="weak-to-strong deception (Yang et al. 2024), test accuracy by whether the weak model is right")
    for col in ("model", "acc where weak right", "acc where weak wrong", "deception score [95% CI]"):
        t.add_column(col, no_wrap=col == "model")
    rows = [(f"ceiling ({s['strong']}, ground truth)", s["ceiling_deception"])]
    rows += [(f"student: {n}", m["deception"]) for n, m in s["methods"].items() if "deception" in m]
    for i, (label, d) in enumerate(rows):  # the ceiling's own score is 0 by definition
        t.add_row(label, _est(d["acc_weak_right"]), _est(d["acc_weak_wrong"]), _est(d["score"]) if i else "-")
    console.print(t)
    console.print(
        "deception score: of the test examples the ceiling gets right and the weak model wrong, "
        "the share the student gets wrong"
    )


def print_loop_summary(s: dict, cached: bool = False) -> None:
    title = (
        f"{s['task']}: critic {s['critic']} -> learner {s['learner']} ({s['loss']}), "
        f"attackers {','.join(s['attackers'])}, "
        f"human budget {s['human_budget']}, seeds {s['seeds']} (run {s['config_hash']}{', cached' if cached else ''})"
    )
    t = Table(title=title)
    attackers = list(s["rounds"][0]["attack_success"])
    metric = _metric_label(s["metric"])
    for col in (
        "round",
        f"learner {metric} [95% CI]",
        "gain vs naive W2S [95% CI]",
        "PGR [95% CI]",
        *[f"attack success: {a}" for a in attackers],
        "critic acc on queries",
        "critic test acc",
        "human labels",
    ):
        t.add_column(col)
    for r in s["rounds"]:
        cq = r["critic_acc_on_queries"]
        t.add_row(
            str(r["round"]),
            _est(r["score"]),
            _est(r["gain_vs_naive"]),
            _est(r["pgr"]),
            *[f"{r['attack_success'][a]:.3f}" for a in attackers],
            "" if cq is None else f"{cq:.3f}",
            f"{r['critic_test_acc']:.3f}",
            f"{r['human_spent']:.0f}",
        )
    console.print(t)
    console.print(
        f"critic on test: {metric} {_est(s['critic_score'])}, ECE {s['critic_ece']:.3f}; "
        f"naive W2S (xent on critic labels; the PGR floor): {metric} {_est(s['floor_score'])}; "
        f"gold ceiling: {metric} {_est(s['ceiling_score'])}"
    )


def print_best_of_n(s: dict, cached: bool = False) -> None:
    """The best-of-n table: gold score under each scorer's pick, the proxy's own score, PGR, fluency."""
    title = (
        f"{s['task']}: best-of-n, policy {s['policy']}, weak RM {s['weak']}, gold judge {s['judge']}, "
        f"seeds {s['seeds']} (run {s['config_hash']}{', cached' if cached else ''})"
    )
    t = Table(title=title)
    for col in (
        "n",
        "gold score: BoN weak RM [95% CI]",
        "gold score: BoN gold judge [95% CI]",
        "weak RM's score of its pick",
        "PGR [95% CI]",
        "ppl/char",
        "distinct bigrams",
    ):
        t.add_column(col)
    for r in s["rows"]:
        f = r["fluency_bon_weak"]
        t.add_row(
            str(r["n"]),
            _est(r["gold_bon_weak"]),
            _est(r["gold_bon_gold"]),
            f"{r['proxy_bon_weak']:.3f}",
            _est(r["pgr"]),
            f"{f['ppl_per_char']:.2f}",
            f"{f['distinct_bigrams']:.3f}",
        )
    console.print(t)
    console.print(
        f"base (one sample, gold judge): {_est(s['base_score'])}; PGR = (BoN weak - base) / (BoN gold - base)"
    )
    if s.get("dpo_rows"):
        d = Table(title="DPO on each scorer's preference pairs (gold judge's score of one test continuation)")
        for col in (
            "steps",
            "gold: DPO on weak RM [95% CI]",
            "gold: DPO on gold judge [95% CI]",
            "weak RM's score of its policy",
            "PGR [95% CI]",
        ):
            d.add_column(col)
        for r in s["dpo_rows"]:
            d.add_row(
                str(r["steps"]),
                _est(r["gold_dpo_weak"]),
                _est(r["gold_dpo_gold"]),
                f"{r['proxy_dpo_weak']:.3f}",
                _est(r["pgr"]),
            )
        console.print(d)


def print_teach(s: dict, cached: bool = False) -> None:
    """Setting A's table, the shape of a classification run's: gold judge score and PGR per model, fluency."""
    title = (
        f"{s['task']}: weak {s['weak']} -> strong {s['strong']}, gold judge {s['judge']}, seeds {s['seeds']} "
        f"(run {s['config_hash']}{', cached' if cached else ''})"
    )
    t = Table(title=title)
    vs_sft = any("pgr_vs_sft" in m for m in s["methods"].values())
    for col in (
        "model",
        "gold judge score [95% CI]",
        "PGR [95% CI]",
        *(["PGR - sft [paired 95% CI]"] if vs_sft else []),
        "ppl/char",
        "distinct bigrams",
    ):
        t.add_column(col)
    pad = [""] if vs_sft else []

    def guard(f: dict) -> list[str]:
        return [f"{f['ppl_per_char']:.2f}", f"{f['distinct_bigrams']:.3f}"]

    t.add_row(f"weak teacher ({s['weak']}, gold demos)", _est(s["weak_score"]), "", *pad, *guard(s["weak_fluency"]))
    t.add_row(f"ceiling ({s['strong']}, gold demos)", _est(s["ceiling_score"]), "", *pad, *guard(s["ceiling_fluency"]))
    for name, m in s["methods"].items():
        diff = [_est(m["pgr_vs_sft"]) if "pgr_vs_sft" in m else ""] if vs_sft else []
        t.add_row(f"student: {name}", _est(m["score"]), _est(m["pgr"]), *diff, *guard(m["fluency"]))
    console.print(t)


def print_refuse(s: dict, cached: bool = False) -> None:
    """Setting A on ``refusal``: correct-behaviour rate and PGR per model, and the two objectives apart."""
    title = (
        f"{s['task']}: weak {s['weak']} (prompt classifier) -> strong {s['strong']}, seeds {s['seeds']} "
        f"(run {s['config_hash']}{', cached' if cached else ''})"
    )
    t = Table(title=title)
    cols = ("model", "correct behaviour [95% CI]", "- weak, paired [95% CI]", "PGR [95% CI]")
    for col in (*cols, "harmful compliance", "over-refusal"):
        t.add_column(col)

    def rates(r: dict) -> list[str]:
        return [f"{r['harmful_compliance']:.3f} of {r['n_unsafe']}", f"{r['over_refusal']:.3f} of {r['n_safe']}"]

    t.add_row(f"base ({s['strong']}, untuned)", _est(s["base_score"]), "", "", *rates(s["base_rates"]))
    t.add_row(f"weak ({s['weak']} decisions)", _est(s["weak_score"]), "", "", *rates(s["weak_rates"]))
    t.add_row(f"ceiling ({s['strong']}, gold labels)", _est(s["ceiling_score"]), "", "", *rates(s["ceiling_rates"]))
    for name, m in s["methods"].items():
        t.add_row(f"student: {name}", _est(m["score"]), _est(m["vs_weak"]), _est(m["pgr"]), *rates(m["rates"]))
    console.print(t)


def print_red_team(s: dict, cached: bool = False) -> None:
    """The generative loop: every objective per round [95% CI], and the human labels spent."""
    title = (
        f"{s['task']} loop: learner {s['learner']}, critic {s['critic']}, {s['train']}, human budget "
        f"{s['human_budget']} ({s['selection']}), seeds {s['seeds']} "
        f"(run {s['config_hash']}{', cached' if cached else ''})"
    )
    t = Table(title=title)
    names = [f"asr_{a}" for a in s["attackers"]] + ["over_refusal", "harmful_compliance", "correct"]
    heads = [f"ASR {a}" for a in s["attackers"]] + ["over-refusal", "harmful compliance", "correct behaviour"]
    for col in ("round", "human", *heads):
        t.add_column(col)

    def cell(m: dict) -> str:
        return _est(m["rate"]) if m["rate"] else "n/a"

    for r in range(s["rounds"] + 1):
        t.add_row(str(r), str(s["human_spent"][r]), *(cell(s["metrics"][n][r]) for n in names))
    console.print(t)
