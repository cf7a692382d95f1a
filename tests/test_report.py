"""Reports: every figure, the CSV and the HTML over real runs (W2S, a loop, a sweep with a failing
cell) and summaries made by the runners' own `summarize` functions; undefined PGR is never a number;
the page renders in headless Chromium with every figure decoded."""

import csv
import html
import json
import shutil
import subprocess
import sys

import numpy as np
import pytest

from superalign.generation import RefuseConfig
from superalign.generation.refuse import summarize_refuse
from superalign.oversight import LoopConfig, run_loop
from superalign.redteam import RedTeamConfig
from superalign.redteam.summary import summarize_red_team
from superalign.report import build_report, collect
from superalign.store import Store, atomic_write_json
from superalign.sweep import SweepConfig, run_sweep
from superalign.w2s import ExperimentConfig, run_experiment, summarize

from .conftest import require_assets, skip_unless_required

SIZES = {"train_gt": 300, "train_w2s": 400, "val": 50, "test": 300}
RUN = {"sizes": SIZES, "n_bootstrap": 200}


def _probs(correct: np.ndarray, labels: np.ndarray) -> np.ndarray:
    pred = np.where(correct, labels, 1 - labels)
    return np.eye(2)[pred] * 0.8 + 0.1


def synthetic_w2s(store: Store, weak: str, strong: str, accs: dict[str, float]) -> dict:
    """A W2S summary from `summarize` itself, on made-up predictions with the given accuracies."""
    cfg = ExperimentConfig(**RUN, weak=weak, strong=strong, methods=["xent", "logconf"], seeds=[0, 1])
    rng = np.random.default_rng(len(weak) + 7 * len(strong))
    tests, probs = [], []
    for _ in cfg.seeds:
        y = rng.integers(0, 2, 400)
        tests.append(y)
        probs.append({name: _probs(rng.random(400) < acc, y) for name, acc in accs.items()})
    summary = summarize(cfg, tests, probs)
    atomic_write_json(store.run_dir(cfg.hash()) / "config.json", cfg.model_dump(mode="json"))
    atomic_write_json(store.run_dir(cfg.hash()) / "summary.json", summary)
    return summary


def generation_summaries(store: Store) -> None:
    """Setting A and B summaries in the runners' schema (numbers from README's measured tables)."""
    est = lambda m, lo, hi: {"mean": m, "ci": [lo, hi]}  # noqa: E731
    undefined = {"mean": None, "ci": None, "reason": "no gap"}
    flu = {"ppl_per_char": 4.2, "distinct_bigrams": 0.58}
    teach = {
        "task": "sentiment_continuation",
        "setting": "weak_teacher",
        "weak": "smollm2@8",
        "strong": "smollm2",
        "judge": "minilm",
        "seeds": [0],
        "metric": "judge_score",
        "config_hash": "teach0",
        "weak_score": est(0.691, 0.65, 0.73),
        "ceiling_score": est(0.583, 0.54, 0.62),
        "gap": undefined,
        "weak_fluency": flu,
        "ceiling_fluency": flu,
        "methods": {"sft": {"score": est(0.731, 0.69, 0.77), "pgr": undefined, "fluency": flu}},
    }
    rows = [
        {
            "n": n,
            "gold_bon_weak": est(g, g - 0.05, g + 0.05),
            "gold_bon_gold": est(c, c - 0.04, c + 0.04),
            "proxy_bon_weak": p,
            "pgr": undefined if n == 1 else est(pg, pg - 0.1, pg + 0.1),
            "fluency_bon_weak": flu,
        }
        for n, g, c, p, pg in [
            (1, 0.462, 0.462, 0.522, 0),
            (2, 0.534, 0.637, 0.614, 0.41),
            (4, 0.601, 0.782, 0.697, 0.434),
        ]
    ]
    bon = {
        "task": "sentiment_continuation",
        "setting": "best_of_n",
        "weak": "static",
        "judge": "minilm",
        "policy": "local:smollm2",
        "seeds": [0, 1, 2],
        "metric": "judge_score",
        "config_hash": "bon0",
        "base_score": est(0.462, 0.39, 0.54),
        "rows": rows,
    }
    atomic_write_json(store.root / "teach0" / "summary.json", teach)
    atomic_write_json(store.root / "bon0" / "summary.json", bon)


def refusal_summaries(store: Store) -> None:
    """Setting A on refusal and a red-team loop, from their runners' own summarize functions on made-up
    refusals: (unsafe, refused) per prompt for each model, and two rounds of loop records."""
    rng = np.random.default_rng(3)
    cfg = RefuseConfig(seeds=[0, 1], n_bootstrap=200)
    per_seed = []
    for _ in cfg.seeds:
        unsafe = rng.random(200) < 0.6
        acc = {"base": 0.5, "weak": 0.7, "ceiling": 0.9, "sft": 0.78, "confident": 0.8, "relabel": 0.84}
        per_seed.append(
            {"unsafe": unsafe, "refused": {m: np.where(rng.random(200) < a, unsafe, ~unsafe) for m, a in acc.items()}}
        )
    atomic_write_json(store.run_dir(cfg.hash()) / "summary.json", summarize_refuse(cfg, per_seed))
    loop = RedTeamConfig(seeds=[0], rounds=1, n_bootstrap=200, attackers=["templates", "rephrase"])
    records = []
    for r in range(loop.rounds + 1):
        flip = lambda p, n=40: list(rng.random(n) < p)  # noqa: E731
        ev = {"asr": {"templates": flip(0.9 - 0.3 * r), "rephrase": flip(0.8 - 0.3 * r)}}
        ev |= {"over_refusal": flip(0.1 * r), "harmful_compliance": flip(0.9 - 0.3 * r), "correct": flip(0.4 + 0.2 * r)}
        queries = [{"attacker": a, "meta": {"complied": bool(c)}} for a in loop.attackers for c in flip(0.5, 8)]
        records.append({"eval": ev, "queries": queries, "human_spent": 10 * r, "verdicts": [{"status": "ok"}]})
    atomic_write_json(store.run_dir(loop.hash()) / "summary.json", summarize_red_team(loop, [records]))


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    """Real runs (tfidf -> static and static -> static, 1 and 2 seeds; a 1-round loop; a sweep whose
    tfidf -> tfidf cells fail) plus summaries from `summarize` (defined PGR) and generation summaries."""
    require_assets("vader", "static")
    store = Store(tmp_path_factory.mktemp("report") / "runs")
    for weak in ("tfidf", "static"):
        for seeds in ([0], [1], [0, 1]):
            run_experiment(ExperimentConfig(**RUN, weak=weak, strong="static", seeds=seeds), store)
    loop = LoopConfig(
        **RUN,
        rounds=1,
        human_budget=10,
        attackers=["pool"],
        critic_models=["tfidf"],
        learner="static",
        attack_size=10,
        eval_size=10,
        seeds=[0],
    )
    run_loop(loop, store)
    synthetic_w2s(store, "tfidf", "minilm", {"weak": 0.6, "ceiling": 0.9, "xent": 0.72, "logconf": 0.8})
    synthetic_w2s(store, "static", "minilm", {"weak": 0.65, "ceiling": 0.9, "xent": 0.75, "logconf": 0.7})
    generation_summaries(store)
    refusal_summaries(store)
    cfg = SweepConfig(ladder=["tfidf", "static"], self_pairs=True, seeds=[0, 1], run=RUN, name="report")
    sweep = run_sweep(cfg, store.root, echo=lambda s: None)
    assert len(sweep.failed) == 3  # tfidf -> tfidf: two cells, and their summary skipped
    return store, sweep


@pytest.fixture(scope="module")
def written(store, tmp_path_factory):
    """The report over the whole store."""
    return build_report(store[0].root, tmp_path_factory.mktemp("out"))


def test_report_over_a_store_has_every_figure_and_every_cell(written):
    names = sorted(p.name for p in written.pngs)
    assert names == [
        "best_of_n_0.png",
        "loop_0.png",
        "methods_sentiment.png",
        "pgr_heatmap.png",
        "red_team_0.png",
        "red_team_pareto.png",
        "refuse_0.png",
        "score_vs_size.png",
        "teach_0.png",
    ]
    assert all(p.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" for p in written.pngs)
    rows = list(csv.DictReader(written.csv.open()))
    kinds = [r["kind"] for r in rows]
    # W2S: 4 pairs x 2 methods, each with all its seeds (the 1-seed runs are the same runs: left out)
    assert kinds.count("w2s") == 8 and kinds.count("loop") == 2 and kinds.count("teach") == 1
    assert kinds.count("best_of_n") == 3 and kinds.count("refuse") == 3  # one row per method
    assert kinds.count("red_team") == 5 * 2  # 2 attackers' ASR, over-refusal, compliance, correct x 2 rounds
    assert {r["seeds"] for r in rows if r["kind"] == "w2s"} == {"0 1"}
    page = written.html.read_text()
    assert "http://" not in page and "https://" not in page  # self-contained: nothing fetched
    assert page.count("data:image/png;base64,") == 9


def test_undefined_pgr_is_never_a_number(store, written):
    store, _ = store
    rows = list(csv.DictReader(written.csv.open()))
    undefined = [r for r in rows if r["pgr_undefined"]]
    defined = [r for r in rows if r["pgr"]]
    assert undefined and defined
    assert all(r["pgr"] == r["pgr_lo"] == r["pgr_hi"] == "" for r in undefined)
    real = json.loads(
        (
            store.root / ExperimentConfig(**RUN, weak="tfidf", strong="static", seeds=[0, 1]).hash() / "summary.json"
        ).read_text()
    )
    reason = real["methods"]["xent"]["pgr"]["reason"]  # small splits: the tfidf -> static gap is below min_gap
    assert real["methods"]["xent"]["pgr"]["mean"] is None
    assert f'<td class="undefined">undefined ({html.escape(reason)})</td>' in written.html.read_text()
    assert any(r["pgr_undefined"] == reason and r["weak"] == "tfidf" and r["strong"] == "static" for r in undefined)


def test_report_of_a_sweep_shows_its_runs_with_all_seeds_and_its_failed_jobs(store, tmp_path):
    store, sweep = store
    c = collect(sweep.dir)
    assert sorted((s["weak"], s["strong"], tuple(s["seeds"])) for s in c.runs["w2s"]) == [
        ("static", "static", (0, 1)),
        ("tfidf", "static", (0, 1)),
    ]
    assert c.runs["loop"] == [] and c.ladder == ["tfidf", "static"]
    assert sorted(f["state"] for f in c.failed) == ["failed", "failed", "skipped"]
    page = build_report(sweep.dir, tmp_path / "out").html.read_text()
    assert "Failed jobs" in page and "not &#39;logconf&#39;" in page


def test_report_cli_and_bad_folders(store, tmp_path):
    store, _ = store
    run = store.root / ExperimentConfig(**RUN, weak="tfidf", strong="static", seeds=[0, 1]).hash()
    r = subprocess.run(
        [sys.executable, "-m", "superalign", "report", str(run)], capture_output=True, text=True, timeout=120
    )
    assert r.returncode == 0 and (run / "report" / "report.html").is_file(), r.stderr
    for bad in (tmp_path / "missing", tmp_path):
        r = subprocess.run(
            [sys.executable, "-m", "superalign", "report", str(bad)], capture_output=True, text=True, timeout=120
        )
        assert r.returncode == 2 and r.stderr.startswith("error: report: no") and r.stderr.count("\n") == 1, r.stderr


def test_report_renders_in_headless_chromium(written, tmp_path):
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    if browser is None:
        skip_unless_required("no headless Chromium here (Debian: apt-get install chromium)")
    args = [browser, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", "--window-size=1300,2400"]
    url = written.html.resolve().as_uri()
    dom = subprocess.run([*args, "--dump-dom", url], capture_output=True, text=True, timeout=120).stdout
    assert f'data-images="{written.figures}/{written.figures}"' in dom  # every inline figure decoded
    shot = tmp_path / "shot.png"
    subprocess.run([*args, f"--screenshot={shot}", url], capture_output=True, timeout=120, check=True)
    from PIL import Image

    pixels = np.asarray(Image.open(shot).convert("L"))
    assert pixels.shape == (2400, 1300) and pixels.std() > 20  # a page with figures, not a blank one
