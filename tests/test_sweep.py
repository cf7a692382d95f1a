"""Sweeps: the plan, resuming (a real ``kill -9`` of a real sweep), shared stores, failing cells,
bad input on one line, and a real local Ray instance. Tiny splits and the fast models (tfidf, static)."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from superalign.errors import ConfigError, ModelError
from superalign.generation import RefuseConfig
from superalign.redteam import RedTeamConfig
from superalign.store import Store
from superalign.sweep import SweepConfig, plan_sweep, run_sweep
from superalign.w2s import ExperimentConfig, run_experiment

from .conftest import require_assets, skip_unless_required

REPO = Path(__file__).resolve().parents[1]
ENV = {**os.environ, "HF_HUB_OFFLINE": "1"}
SIZES = {"train_gt": 300, "train_w2s": 400, "val": 50, "test": 300}
RUN = {"sizes": SIZES, "n_bootstrap": 200}


def small(**kw) -> SweepConfig:
    require_assets("vader", "static")
    base = dict(tasks=["sentiment"], ladder=["tfidf", "static"], methods=["xent", "logconf"], seeds=[0, 1], run=RUN)
    return SweepConfig(**{**base, **kw})


def sweep_cli(cfg: SweepConfig, root: Path, *args: str, **kw) -> subprocess.Popen | subprocess.CompletedProcess:
    path = root.parent / f"sweep-{cfg.hash()}.yaml"
    path.write_text(yaml.safe_dump(cfg.model_dump(mode="json")))
    cmd = [sys.executable, "-m", "superalign", "sweep", str(path), "--store", str(root), "-q", *args]
    if kw.get("background"):
        return subprocess.Popen(
            cmd, cwd=REPO, env=ENV, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, start_new_session=True
        )
    return subprocess.run(cmd, cwd=REPO, env=ENV, capture_output=True, text=True, timeout=kw.get("timeout", 300))


def summaries(root: Path) -> dict[str, dict]:
    """Every run summary in the store, without its timing fields."""
    return {
        str(p.relative_to(root)): json.loads(p.read_text())
        for p in root.glob("*/summary*.json")
        if not p.parent.name.startswith("sweep-")
    }


def alive(pid: int) -> bool:
    """Whether process `pid` runs (a zombie waiting to be reaped does not)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0] != "Z"
    except OSError:
        return False


def rows(root: Path) -> list[tuple]:
    return sorted((r["config_hash"], r["seed"], r["role"], r["method"], r["acc"]) for r in Store(root).rows())


def test_plan_expands_the_ladder_pairs_seeds_and_runs(tmp_path):
    cfg = small(ladder=["tfidf", "static", "minilm"], seeds=[0, 1, 2], tasks=["sentiment", "sst2"])
    assert cfg.model_pairs() == [("tfidf", "static"), ("tfidf", "minilm"), ("static", "minilm")]
    assert len(small(self_pairs=True).model_pairs()) == 3
    assert small(pairs=[("static", "tfidf")]).model_pairs() == [("static", "tfidf")]
    jobs = plan_sweep(cfg, tmp_path)
    kinds = [j.kind for j in jobs]
    assert kinds.count("cell") == 2 * 3 * 3 and kinds.count("summary") == 2 * 3
    assert kinds.count("encode") == 2 * 2  # (task, model with an encoder): static and minilm, each once
    assert all(j.kind == "encode" for j in jobs[:4]) and not any(j.done for j in jobs)
    cell = next(j for j in jobs if j.kind == "cell" and j.info == {**j.info, "weak": "tfidf", "strong": "minilm"})
    assert cell.claims == {(cell.info["task"], cell.info["seed"], m) for m in ("tfidf", "minilm")}
    assert cell.after == {f"encode-{cell.info['task']}-minilm"}
    # the cell is exactly the config of `superalign run` with that seed: the same hash, so a run already
    # in the store is a cached cell
    one = ExperimentConfig(
        **RUN,
        task=cell.info["task"],
        weak="tfidf",
        strong="minilm",
        seeds=[cell.info["seed"]],
        methods=["xent", "logconf"],
    )
    assert cell.id == f"w2s-{one.hash()}"
    # loops and generation runs are cells too, one per seed, each with its run's summary path
    mixed = small(seeds=[0, 1], loops=[{"rounds": 1, "learner": "static"}], generation=[{"setting": "best_of_n"}])
    jobs = plan_sweep(mixed, tmp_path)
    loops, bon = [j for j in jobs if j.run == "loop"], [j for j in jobs if j.run == "best_of_n"]
    assert [j.kind for j in loops] == [j.kind for j in bon] == ["cell", "cell", "summary"]
    assert loops[0].summary.startswith("loop-") and bon[0].summary.endswith("/summary.json")
    assert bon[2].config["seeds"] == [0, 1] and bon[2].after == {bon[0].id, bon[1].id}
    # on the refusal task, a loop is the red-team loop and a generation run is setting A on refusal,
    # each cell the config of its command (`superalign loop|run --task refusal`) with one seed
    refusal = small(tasks=[], seeds=[0], loops=[{"task": "refusal", "rounds": 1}], generation=[{"task": "refusal"}])
    red, refuse = plan_sweep(refusal, tmp_path)
    assert (red.run, refuse.run) == ("red_team", "refuse")
    assert red.summary == f"{RedTeamConfig(rounds=1, seeds=[0]).hash()}/summary.json"
    assert refuse.summary == f"{RefuseConfig(seeds=[0]).hash()}/summary.json"


def test_a_run_already_in_the_store_is_a_cached_cell(tmp_path):
    cfg = small(seeds=[0])
    store = Store(tmp_path / "runs")
    run_experiment(ExperimentConfig(**RUN, weak="tfidf", strong="static", seeds=[0]), store)
    jobs = plan_sweep(cfg, store.root)
    assert [j.done for j in jobs] == [True]  # one cell, cached; no encode job, no summary (one seed)
    result = run_sweep(cfg, store.root, echo=lambda s: None)
    assert result.states == {}


def test_bad_grids_and_models_are_one_line_errors(tmp_path):
    with pytest.raises(ConfigError, match="no .weak, strong. pair"):
        SweepConfig.load(None, ["ladder=[tfidf]"])
    with pytest.raises(ConfigError, match="expands to nothing"):
        SweepConfig.load(None, ["tasks=[]"])
    with pytest.raises(ConfigError, match="set by the sweep"):
        SweepConfig.load(None, ["run.weak=tfidf"])
    with pytest.raises(ModelError, match="did you mean"):
        plan_sweep(small(ladder=["tfidf", "statik"]), tmp_path)
    for args in (
        ["--ladder", "tfidf,statik"],
        ["--ladder", "tfidf"],
        ["--store", "/proc/runs"],
        ["--ray", "127.0.0.1:9"],
    ):
        start = time.perf_counter()
        r = sweep_cli(small(), tmp_path / "runs", *args, timeout=120)
        lines = [ln for ln in r.stderr.splitlines() if ln.strip()]
        assert r.returncode == 2 and len(lines) == 1 and lines[0].startswith("error: "), (args, r.stderr)
        assert time.perf_counter() - start < 60, args


def test_sweep_runs_on_two_workers_and_a_rerun_computes_nothing(tmp_path):
    cfg = small(self_pairs=True)  # tfidf -> tfidf fails (tfidf trains with xent or hard only): reported, others go on
    root = tmp_path / "runs"
    r = sweep_cli(cfg, root, "--workers", "2")
    assert r.returncode == 2, r.stderr
    assert r.stderr.strip() == "error: 3 of 10 jobs failed (listed above)"  # 2 cells + their summary (skipped)
    records = {p.stem: json.loads(p.read_text()) for p in (root / f"sweep-{cfg.hash()}" / "jobs").glob("*.json")}
    failed = sorted(v["label"] for v in records.values() if v["state"] != "done")
    assert failed == [
        "sentiment: tfidf -> tfidf, seed 0",
        "sentiment: tfidf -> tfidf, seed 1",
        "sentiment: tfidf -> tfidf, seeds 0,1",
    ]
    assert all("not 'logconf'" in v["error"] for v in records.values() if v["state"] == "failed")
    cells = [v for v in records.values() if v["state"] == "done" and v["id"].startswith("w2s-")]
    assert len(cells) == 4 and {v["threads"] for v in cells} == {1}  # 2 workers x 1 thread on 2 cores
    assert len({v["pid"] for v in cells}) == 2
    good = small(pairs=[("tfidf", "static"), ("static", "static")])
    before = summaries(root)
    start = time.perf_counter()
    again = run_sweep(good, root, workers=2, echo=lambda s: None)
    assert again.states == {} and time.perf_counter() - start < 10  # every run of it is in the store
    assert summaries(root) == before
    # the sweep's summaries are those of `superalign run` with all seeds
    direct = run_experiment(ExperimentConfig(**RUN, weak="tfidf", strong="static", seeds=[0, 1]), Store(root))
    assert direct.computed == [] and before[f"{direct.config.hash()}/summary.json"] == direct.summary


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """A sweep of one pair x 4 seeds, run to the end once: what killed, shared and Ray sweeps must equal."""
    cfg, root = small(seeds=[0, 1, 2, 3]), tmp_path_factory.mktemp("reference") / "runs"
    assert run_sweep(cfg, root, workers=2, echo=lambda s: None).failed == []
    return cfg, root


def test_kill_9_mid_sweep_then_rerun_recomputes_no_finished_cell_and_loses_no_row(reference, tmp_path):
    cfg, ref = reference
    root = tmp_path / "runs"
    proc = sweep_cli(cfg, root, "--workers", "2", background=True)
    jobs_dir = root / f"sweep-{cfg.hash()}" / "jobs"
    deadline = time.time() + 240
    while time.time() < deadline and not list(jobs_dir.glob("w2s-*.json")):
        time.sleep(0.01)  # kill as soon as one cell is recorded: the other cells are still running
    workers = {json.loads(p.read_text())["pid"] for p in jobs_dir.glob("w2s-*.json")}
    os.kill(proc.pid, signal.SIGKILL)  # the sweep, mid-sweep: its workers notice and exit
    proc.wait()
    while time.time() < deadline and any(alive(pid) for pid in workers):
        time.sleep(0.1)
    assert not any(alive(pid) for pid in workers), "a worker outlived its sweep"
    finished = {p: p.stat().st_mtime_ns for p in root.glob("*/summary.json")}
    stages = {p: p.stat().st_mtime_ns for p in (root / "cache").glob("*.npz")}
    assert 1 <= len(finished) < 4, "killed mid-sweep, with finished cells"
    assert sum(j.done for j in plan_sweep(cfg, root)) == len(finished)
    again = run_sweep(cfg, root, workers=2, echo=lambda s: None)
    recomputed = [i for i, s in again.states.items() if i.startswith("w2s-")]
    assert len(recomputed) == 4 - len(finished) and not again.failed  # no finished cell ran again
    assert {p: p.stat().st_mtime_ns for p in finished} == finished  # nor was its summary rewritten
    assert {p: p.stat().st_mtime_ns for p in stages} == stages  # nor a finished stage
    assert summaries(root) == summaries(ref)
    assert rows(root) == rows(ref)  # every row once: none lost, none duplicated


def test_two_sweeps_on_one_store_both_complete(reference, tmp_path):
    cfg, ref = reference
    root = tmp_path / "runs"
    a, b = small(seeds=[0]), small(seeds=[0, 1])  # both compute the cell of seed 0 at once
    procs = [sweep_cli(c, root, background=True) for c in (a, b)]
    assert [p.wait(timeout=300) for p in procs] == [0, 0], [p.stderr.read() for p in procs]
    assert all(j.done for c in (a, b) for j in plan_sweep(c, root))
    cells = {k: v for k, v in summaries(root).items() if k in summaries(ref)}
    assert len(cells) == 2 and cells == {k: summaries(ref)[k] for k in cells}
    assert not list(root.rglob(".*.tmp"))


def test_ray_runs_the_sweep_on_a_real_local_instance(reference, tmp_path):
    ray = pytest.importorskip("ray")
    _, ref = reference
    cfg = small(seeds=[0, 1])
    ray.init(num_cpus=2, include_dashboard=False, logging_level="ERROR", log_to_driver=False)
    try:
        result = run_sweep(cfg, tmp_path / "ray", workers=2, ray="auto", echo=lambda s: None)
    finally:
        ray.shutdown()
    assert result.failed == [] and result.count("done") == len(result.jobs) == 4  # encode, 2 cells, summary
    assert len({s["pid"] for s in result.states.values()}) == 2  # two Ray workers
    got, want = summaries(tmp_path / "ray"), summaries(ref)
    cells = [k for k in got if k in want]
    assert len(cells) == 2 and {k: got[k] for k in cells} == {k: want[k] for k in cells}  # whoever computed them


def test_track_mlflow_logs_each_run_once_in_a_local_store(tmp_path, monkeypatch):
    try:
        import mlflow
    except ImportError:
        skip_unless_required("the optional 'track' extra (mlflow-skinny) is not installed")
    monkeypatch.setenv("MLFLOW_ALLOW_FILE_STORE", "true")  # what the tracker sets for itself
    cfg = small(seeds=[0])
    root = tmp_path / "runs"
    for _ in range(2):  # a rerun logs nothing twice
        r = sweep_cli(cfg, root, "--track", "mlflow")
        assert r.returncode == 0, r.stderr
    mlflow.set_tracking_uri((root / "mlruns").as_uri())
    runs = mlflow.search_runs(experiment_names=[f"sweep-sweep-{cfg.hash()}"], output_format="list")
    assert len(runs) == 1
    run = runs[0]
    assert run.data.params["weak"] == "tfidf" and run.data.params["strong"] == "static"
    assert {"weak_score", "ceiling_score", "methods.xent.score", "methods.xent.score.lo"} <= set(run.data.metrics)
    assert "methods.xent.pgr" not in run.data.metrics  # undefined here (small splits): a tag, never a number
    assert run.data.tags["undefined.methods.xent.pgr"].startswith("ceiling - weak gap")
