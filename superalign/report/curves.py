"""Figures of oversight loops (every metric per round) and generation runs (scores, PGR, fluency,
and best-of-n's over-optimization curve), in the style of `figures.py`."""

from __future__ import annotations

from typing import Any

from .figures import Figure, _errorbar, _grid, _interval, _png

LOOP_ESTIMATES = [
    ("acc", "learner accuracy"),
    ("score", "learner score (primary metric)"),
    ("pgr", "PGR (floor: naive W2S on critic labels)"),
    ("gain_vs_naive", "gain over naive W2S"),
    ("gain_vs_round0", "gain over round 0"),
]
LOOP_NUMBERS = [
    ("critic_test_acc", "critic accuracy on test"),
    ("critic_acc_on_queries", "critic accuracy on the round's queries"),
    ("human_spent", "human labels spent"),
    ("ece", "learner ECE"),
]


def _loop_title(s: dict[str, Any]) -> str:
    return f"{s['task']}: critic {s['critic']} → learner {s['learner']} ({s['loss']}), budget {s['human_budget']}"


def loop_figures(loops: list[dict[str, Any]]) -> list[Figure]:
    """Per loop: each round's estimates with CIs, attack success per attacker, and the other numbers."""
    out = []
    for n, s in enumerate(loops):
        rounds = s["rounds"]
        xs = [r["round"] for r in rounds]
        panels = len(LOOP_ESTIMATES) + 1 + len(LOOP_NUMBERS)
        cols = 5
        fig, axes = _grid((panels + cols - 1) // cols, cols, 3.2, 2.6)
        flat = [a for row in axes for a in row]
        for ax, (key, title) in zip(flat, LOOP_ESTIMATES):
            for r in rounds:
                _errorbar(ax, r["round"], r.get(key), 0.6, color="C0")
            if key in ("acc", "score"):
                for ref, style in (("floor", ":"), ("ceiling", "--")):
                    est = s.get(f"{ref}_{key}")
                    if est and est.get("mean") is not None:
                        ax.axhline(est["mean"], ls=style, color="0.3", lw=1, label=ref)
                ax.legend(fontsize=6)
            ax.set_title(title, fontsize=9)
        ax = flat[len(LOOP_ESTIMATES)]
        for name in rounds[0]["attack_success"]:
            ax.plot(xs, [r["attack_success"][name] for r in rounds], marker="o", label=name)
        ax.set_title("attack success of fresh attacks", fontsize=9)
        ax.legend(fontsize=6)
        for ax, (key, title) in zip(flat[len(LOOP_ESTIMATES) + 1 :], LOOP_NUMBERS):
            ys = [r.get(key) for r in rounds]
            ax.plot([x for x, y in zip(xs, ys) if y is not None], [y for y in ys if y is not None], marker="o")
            ax.set_title(title, fontsize=9)
        for ax in flat:
            ax.set_xticks(xs)
            ax.grid(alpha=0.3)
            ax.set_xlabel("round", fontsize=8)
        for ax in flat[panels:]:
            ax.set_visible(False)
        caption = (
            "Every metric of the loop per round (round 0: W2S before any attack or human label); estimates "
            "with 95% CIs over seeds × test examples; hatched: undefined."
        )
        out.append(Figure(f"loop_{n}", f"Oversight loop · {_loop_title(s)}", caption, _png(fig)))
    return out


def _per_model(
    s: dict[str, Any], names: list[str], score: dict[str, Any], lines: list[tuple[str, str, list]], titles: tuple
) -> bytes:
    """Three panels over the run's models: score [CI], each method's PGR [CI], and `lines`
    ((label, marker, one value per model) each) on the third; the PNG."""
    fig, axes = _grid(1, 3, 3.8, 3.2)
    for x, name in enumerate(names):
        _errorbar(axes[0][0], x, score[name], 0.6, color="C0")
        if name in s["methods"]:
            _errorbar(axes[0][1], x, s["methods"][name]["pgr"], 0.6, color="C1")
    for label, marker, ys in lines:
        axes[0][2].plot(range(len(names)), ys, marker=marker, label=label)
    axes[0][2].legend(fontsize=7)
    for ax, title in zip(axes[0], titles):
        ax.set_xticks(range(len(names)), names, rotation=30, ha="right")
        ax.set_title(title, fontsize=9)
        ax.grid(alpha=0.3)
    return _png(fig)


def teach_figures(runs: list[dict[str, Any]]) -> list[Figure]:
    """Setting A: gold judge score of teacher, ceiling and each student, their PGR, and fluency."""
    out = []
    for n, s in enumerate(runs):
        names = ["weak", "ceiling", *s["methods"]]
        score = {"weak": s["weak_score"], "ceiling": s["ceiling_score"]} | {
            m: v["score"] for m, v in s["methods"].items()
        }
        flu = {"weak": s["weak_fluency"], "ceiling": s["ceiling_fluency"]}
        flu |= {m: v["fluency"] for m, v in s["methods"].items()}
        keys = [k for k in flu["weak"] if isinstance(flu["weak"][k], int | float)]
        lines = [(k, "o", [flu[nm].get(k) for nm in names]) for k in keys]
        png = _per_model(s, names, score, lines, ("gold judge score [95% CI]", "PGR [95% CI]", "fluency guard"))
        title = f"Generation (weak teacher → strong student) · {s['task']}: {s['weak']} → {s['strong']}"
        caption = "The gold judge scores every model's continuations; PGR on that score; hatched: undefined."
        out.append(Figure(f"teach_{n}", title, caption, png))
    return out


def best_of_n_figures(runs: list[dict[str, Any]]) -> list[Figure]:
    """Setting B: gold score of best-of-n under each scorer, PGR per n, and the over-optimization curve."""
    out = []
    for n, s in enumerate(runs):
        rows = s["rows"]
        ns = [r["n"] for r in rows]
        fig, axes = _grid(1, 3, 3.8, 3.2)
        ax = axes[0][0]
        for key, label, color in (
            ("gold_bon_weak", "BoN under weak RM", "C0"),
            ("gold_bon_gold", "BoN under gold judge", "C2"),
        ):
            means = [r[key]["mean"] for r in rows]
            lo = [r[key]["ci"][0] if r[key]["ci"] else m for r, m in zip(rows, means)]
            hi = [r[key]["ci"][1] if r[key]["ci"] else m for r, m in zip(rows, means)]
            ax.plot(ns, means, marker="o", color=color, label=label)
            ax.fill_between(ns, lo, hi, color=color, alpha=0.2)
        ax.set_title("gold score of the pick [95% CI]", fontsize=9)
        ax.legend(fontsize=7)
        for k, r in enumerate(rows):
            _errorbar(axes[0][1], k, r["pgr"], 0.6, color="C1")
        axes[0][1].set_xticks(range(len(ns)), [str(x) for x in ns])
        axes[0][1].set_title("PGR(n) [95% CI]", fontsize=9)
        ax = axes[0][2]
        ax.plot(ns, [r["proxy_bon_weak"] for r in rows], marker="o", label="weak RM's score of its pick")
        ax.plot(ns, [r["gold_bon_weak"]["mean"] for r in rows], marker="s", label="gold score of that pick")
        ax.set_title("over-optimization curve", fontsize=9)
        ax.legend(fontsize=7)
        for a in axes[0]:
            a.set_xlabel("n", fontsize=8)
            a.grid(alpha=0.3)
        for a in (axes[0][0], axes[0][2]):
            a.set_xscale("log", base=2)
        title = f"Generation (best-of-n) · {s['task']}: weak RM {s['weak']}, judge {s['judge']}, policy {s['policy']}"
        caption = (
            "PGR(n) = (gold(BoN weak RM) − base) / (gold(BoN gold judge) − base), base = one sample. When the "
            "weak RM's score keeps rising while the gold score of its pick falls, the policy over-optimizes the proxy."
        )
        out.append(Figure(f"best_of_n_{n}", title, caption, _png(fig)))
    return out


def refuse_figures(runs: list[dict[str, Any]]) -> list[Figure]:
    """Setting A on refusal: correct behaviour of base, weak detector, ceiling and each student with
    CIs, their PGR, and the two ways to fail (harmful compliance, over-refusal)."""
    out = []
    for n, s in enumerate(runs):
        names = ["base", "weak", "ceiling", *s["methods"]]
        score = {k: s[f"{k}_score"] for k in ("base", "weak", "ceiling")} | {
            m: v["score"] for m, v in s["methods"].items()
        }
        rates = {k: s[f"{k}_rates"] for k in ("base", "weak", "ceiling")} | {
            m: v["rates"] for m, v in s["methods"].items()
        }
        lines = [
            (k, mk, [rates[nm][k] for nm in names]) for k, mk in (("harmful_compliance", "o"), ("over_refusal", "s"))
        ]
        png = _per_model(s, names, score, lines, ("correct behaviour [95% CI]", "PGR [95% CI]", "failure rates"))
        title = f"Refusal (weak detector → strong chat model) · {s['weak']} → {s['strong']}"
        caption = (
            "Correct behaviour: refuse an unsafe request, answer a safe one (gold labels, never seen in "
            "training); base: the strong model before fine-tuning; hatched: undefined."
        )
        out.append(Figure(f"refuse_{n}", title, caption, png))
    return out


def red_team_figures(runs: list[dict[str, Any]]) -> list[Figure]:
    """The red-team loop on a generative learner: each metric per round with CIs (ASR per attacker,
    harmful compliance, over-refusal, correct behaviour) and the human labels spent."""
    out = []
    for n, s in enumerate(runs):
        metrics = s["metrics"]
        fig, axes = _grid(1, len(metrics) + 1, 3.0, 2.6)
        for ax, (key, per_round) in zip(axes[0], metrics.items()):
            for r, est in enumerate(per_round):
                _errorbar(ax, r, est["rate"], 0.6, color="C0")
            ax.set_title(key.replace("_", " "), fontsize=9)
        ax = axes[0][-1]
        ax.plot(range(len(s["human_spent"])), s["human_spent"], marker="o")
        ax.set_title("human labels spent", fontsize=9)
        for ax in axes[0]:
            ax.set_xticks(range(s["rounds"] + 1))
            ax.set_xlabel("round", fontsize=8)
            ax.grid(alpha=0.3)
        title = f"Red-team loop · learner {s['learner']}, critic {s['critic']}, budget {s['human_budget']}"
        caption = (
            "Round 0: the learner before any feedback. ASR: fresh attacks on held-out unsafe requests that "
            "the learner complies with; rates with 95% CIs over seeds × prompts."
        )
        out.append(Figure(f"red_team_{n}", title, caption, _png(fig)))
    if runs:
        out.append(red_team_pareto(runs))
    return out


def red_team_pareto(runs: list[dict[str, Any]]) -> Figure:
    """The two objectives against each other: each attack rate (harmful compliance on plain test
    prompts, ASR per attacker) vs over-refusal, one line per run (budget) through its rounds."""
    keys = ["harmful_compliance"] + sorted({k for s in runs for k in s["metrics"] if k.startswith("asr_")})
    fig, axes = _grid(1, len(keys), 3.2, 3.0)
    for ax, key in zip(axes[0], keys):
        for i, s in enumerate(runs):
            pts = [
                (r, _interval(est["rate"]), _interval(s["metrics"]["over_refusal"][r]["rate"]))
                for r, est in enumerate(s["metrics"].get(key, []))
            ]
            pts = [(r, x, y) for r, x, y in pts if x and y]
            if not pts:
                continue
            label = f"budget {s['human_budget']} ({s['human_spent'][-1]:g} spent) · {s['critic']}"
            ax.errorbar(
                [x[0] for _, x, _ in pts],
                [y[0] for _, _, y in pts],
                xerr=[[x[1] for _, x, _ in pts], [x[2] for _, x, _ in pts]],
                yerr=[[y[1] for _, _, y in pts], [y[2] for _, _, y in pts]],
                fmt="-o",
                capsize=2,
                color=f"C{i}",
                alpha=0.85,
                label=label,
            )
            for r, x, y in pts:
                ax.annotate(str(r), (x[0], y[0]), textcoords="offset points", xytext=(4, 4), fontsize=7)
        ax.set(xlim=(-0.05, 1.05), ylim=(-0.05, 1.05))
        ax.set_xlabel(key.replace("_", " "), fontsize=8)
        ax.set_ylabel("over-refusal", fontsize=8)
        ax.grid(alpha=0.3)
    axes[0][0].legend(fontsize=7)
    caption = (
        "Lower left is better on both objectives. Each line is one run (human budget, critic), its points "
        "the rounds (numbered; 0 = before feedback), with 95% CIs on both axes; the two objectives are "
        "never averaged."
    )
    return Figure("red_team_pareto", "Red-team loop · attack success vs over-refusal", caption, _png(fig))
