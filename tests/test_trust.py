"""Trust: stage keys that follow the code, checkpoints that refuse the wrong fit, and a store that
survives kill -9, concurrent runs, a full disk, an unwritable root and hostile keys.

The fault tests run real processes (``python -c`` / ``python -m superalign``) on tiny sizes with
the fast models (tfidf -> static); RELIABILITY.md lists each promise next to its test here.
"""

import ast
import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import yaml

import superalign
from superalign.errors import ModelError, SuperalignError
from superalign.models import encoder_for
from superalign.store import Store, StoreError, atomic_write_json
from superalign.w2s import ExperimentConfig, StageKeys, run_experiment, stages

from .conftest import REQUIRE, SMALL, require_assets, require_shared

REPO = Path(__file__).resolve().parents[1]
PACKAGE = REPO / "superalign"
ENV = {**os.environ, "HF_HUB_OFFLINE": "1"}  # children train with the parent's thread count: the same numbers


def names(result) -> list[str]:
    """The computed stages of a run by name (weak, ceiling, rung:<m>, a method; supervisor otherwise)."""
    by_key = {r["stage_key"]: r["method"] if r["role"] in ("student", "rung") else r["role"] for r in result.rows}
    return sorted(by_key.get(k, "supervisor") for k in result.computed)


# ------------------------------------------------------------------ 1. keys follow the code
def test_every_builtin_loss_default_is_read_without_torch_and_matches_the_loss():
    """The torch-free reader of losses.py agrees with each loss's own parameter model."""
    from superalign.losses import LOSSES, loss_params_model

    table = stages._loss_defaults_in(stages.LOSSES_SOURCE)
    assert set(table) == set(LOSSES)
    for name in LOSSES:
        fields = loss_params_model(name).model_fields
        assert table[name] == {k: f.default for k, f in fields.items()}, name


def test_changed_loss_default_recomputes_exactly_the_students_that_use_it(small_cfg, store, tmp_path, monkeypatch):
    from superalign import losses

    cfg = small_cfg.model_copy(
        update={
            "seeds": [0],
            "methods": ["xent", "logconf", "knn_relabel", "product"],
            "method_params": {"knn_relabel": {"loss": "logconf"}},
        }
    )
    first = run_experiment(cfg, store)
    assert names(first) == sorted(["weak", "ceiling", "xent", "logconf", "knn_relabel", "product"])
    # explicit defaults are the same computation: the same keys
    explicit = cfg.model_copy(
        update={"method_params": {"logconf": {"alpha_max": 0.5}, "knn_relabel": {"loss": "logconf", "k": 20}}}
    )
    assert run_experiment(explicit, store).computed == []
    # edit logconf's default in (a copy of) losses.py, as a developer would, and in the running loss
    src = stages.LOSSES_SOURCE.read_text()
    old = '    alpha_max: Fraction = 0.5,\n    warmup_frac: Fraction = 0.2,\n) -> torch.Tensor:\n    """Auxiliary'
    assert src.count(old) == 1
    edited = tmp_path / "losses.py"
    edited.write_text(src.replace(old, old.replace("0.5", "0.75")))
    monkeypatch.setattr(stages, "LOSSES_SOURCE", edited)
    monkeypatch.setattr(losses.logconf, "__defaults__", (0.75, 0.2))
    losses.params_model_of.cache_clear()
    try:
        second = run_experiment(cfg, store)
    finally:
        losses.params_model_of.cache_clear()
    assert names(second) == ["knn_relabel", "logconf"]  # xent, product, weak and ceiling are reused
    assert second.summary["methods"]["xent"] == first.summary["methods"]["xent"]


def test_changed_intervention_default_recomputes_only_that_method(small_cfg, store, monkeypatch):
    from superalign.w2s import methods

    cfg = small_cfg.model_copy(update={"seeds": [0], "methods": ["xent", "knn_relabel"]})
    run_experiment(cfg, store)

    class Fewer(methods.KnnParams):
        k: int = 10

    monkeypatch.setitem(methods.METHODS._items, "knn_relabel", replace(methods.METHODS["knn_relabel"], params=Fewer))
    assert names(run_experiment(cfg, store)) == ["knn_relabel"]


def test_bumped_stage_version_recomputes_exactly_that_stage(store, monkeypatch):
    """Each stage kind in turn (a chain for the rung, weak_ensemble for supervisors), then the package version."""
    require_assets("vader", "static")
    from superalign import assets

    cfg = ExperimentConfig(
        chain=["tfidf", str(assets.model_folder("static")), "static"],
        methods=["xent", "weak_ensemble"],
        method_params={"weak_ensemble": {"k": 2}},
        seeds=[0],
        sizes=SMALL,
        n_bootstrap=50,
    )
    rung = f"rung:{cfg.chain[1]}"
    everything = sorted(["weak", "ceiling", rung, "xent", "weak_ensemble", "supervisor", "supervisor"])
    assert names(run_experiment(cfg, store)) == everything
    expect = {
        "weak": ["weak"],  # same labels out: nothing downstream changes
        "ceiling": ["ceiling"],
        "rung": [rung],
        "student": ["weak_ensemble", "xent"],
        "supervisor": ["supervisor", "supervisor"],
        "lm_pretrain": [],  # generative fine-tuning is off here (tests/test_lmtune.py covers its stage)
    }
    assert set(expect) == set(stages.STAGE_VERSIONS)
    for stage, recomputed in expect.items():
        with monkeypatch.context() as m:
            m.setitem(stages.STAGE_VERSIONS, stage, stages.STAGE_VERSIONS[stage] + 1)
            assert names(run_experiment(cfg, store)) == recomputed, stage
    with monkeypatch.context() as m:
        m.setattr(superalign, "__version__", superalign.__version__ + ".post1")
        assert names(run_experiment(cfg, store)) == everything
    assert run_experiment(cfg, store).computed == []


# -------------------------------------------------------------------- 2. a rung keys itself
def _factory(key: str, settings, uses_val: bool = False):
    return SimpleNamespace(key=key, settings=settings, uses_val=uses_val)


def test_rung_key_holds_the_rungs_own_settings_not_the_strong_models():
    from superalign.data import Dataset, Splits

    part = Dataset(["a", "b"], np.array([0, 1]))
    splits = Splits(part, part, part, part)
    labels = np.eye(2)
    strong_a = StageKeys(splits, 0, _factory("minilm", ("finetune", {"lr": 1e-5}), uses_val=True))
    strong_b = StageKeys(splits, 0, _factory("minilm", ("finetune", {"lr": 5e-5}), uses_val=True))
    rung = _factory("static", {"epochs": 30})
    assert strong_a.rung(rung, labels) == strong_b.rung(rung, labels)  # the strong recipe is not the rung's
    assert strong_a.rung(rung, labels) != strong_a.rung(_factory("static", {"epochs": 5}), labels)


def test_chain_rung_follows_its_own_probe_settings_under_finetuning(tiny_models, store, one_torch_thread):
    """tfidf -> static (a probe rung) -> a fine-tuned tiny BERT: a fine-tuning change leaves the rung
    cached; a probe change recomputes it (tfidf ignores probe settings, so its labels are unchanged)."""
    require_assets("vader", "static")
    cfg = ExperimentConfig(
        chain=["tfidf", "static", tiny_models["bert"]],
        mode="finetune",
        finetune={"epochs": 1, "batch_size": 16, "max_length": 32, "early_stopping": False},
        methods=["xent"],
        seeds=[0],
        sizes={"train_gt": 100, "train_w2s": 150, "val": 20, "test": 100},
        n_bootstrap=50,
    )
    assert names(run_experiment(cfg, store)) == sorted(["weak", "ceiling", "rung:static", "xent"])
    lr = cfg.model_copy(update={"finetune": cfg.finetune.model_copy(update={"lr": 1e-4})})
    assert names(run_experiment(lr, store)) == ["ceiling", "xent"]
    epochs = cfg.model_copy(update={"probe": cfg.probe.model_copy(update={"epochs": 5})})
    assert names(run_experiment(epochs, store)) == ["rung:static", "weak", "xent"]


# ------------------------------------------------------------------- 6. an unwritable store
def test_unwritable_store_is_one_line_exit_2_through_the_cli(tmp_path):
    r = subprocess.run(
        [sys.executable, "-m", "superalign", "run", "--store", "/proc/superalign-store", "-q"],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=REPO,
        env=ENV,
    )
    lines = [ln for ln in r.stderr.splitlines() if ln.strip()]
    assert r.returncode == 2 and len(lines) == 1, r.stderr
    assert lines[0] == "error: cannot create the store /proc/superalign-store: No such file or directory"


def test_unwritable_roots_are_store_errors(tmp_path):
    (tmp_path / "file").write_text("x")
    for root, why in [(tmp_path / "file" / "runs", "Not a directory"), ("/proc", "unable to open database file")]:
        with pytest.raises(StoreError, match=why) as e:
            Store(root)
        assert isinstance(e.value, SuperalignError) and "\n" not in str(e.value)


def test_atomic_writes_get_the_permissions_of_a_plain_new_file(tmp_path):
    plain = tmp_path / "plain"
    plain.write_text("x")
    atomic_write_json(tmp_path / "summary.json", {"a": 1})  # not the temp file's owner-only 0600
    assert (tmp_path / "summary.json").stat().st_mode & 0o777 == plain.stat().st_mode & 0o777


def test_sqlite_connections_are_closed_not_only_committed(tmp_path, monkeypatch):
    import sqlite3

    opened = []
    connect = sqlite3.connect
    monkeypatch.setattr(sqlite3, "connect", lambda *a, **k: opened.append(connect(*a, **k)) or opened[-1])
    store = Store(tmp_path / "runs")
    row = {"config_hash": "h", "task": "t", "seed": 0, "role": "weak", "model": "m", "method": "-", "stage_key": "k"}
    store.record([row])
    assert len(store.rows("h")) == 1 and len(opened) == 3
    for con in opened:
        with pytest.raises(sqlite3.ProgrammingError, match="closed"):
            con.execute("SELECT 1")


# --------------------------------------------------------------------- 7. did you mean
def test_unknown_model_suggests_the_nearest_name():
    with pytest.raises(ModelError, match=r"unknown model 'minim' \(did you mean 'minilm'\?\)") as e:
        encoder_for("minim")
    assert "\n" not in str(e.value)


# -------------------------------------------------------------- 8. faults with real processes
CHILD = """
import sys, time
from superalign.store import Store
from superalign.w2s import ExperimentConfig, run_experiment
cfg = ExperimentConfig.model_validate_json(sys.argv[1])
delay = float(sys.argv[3])
if delay:  # slow each computed stage down, so that a kill lands mid-run
    stage = Store.stage
    Store.stage = lambda self, key, compute: stage(self, key, lambda: (time.sleep(delay), compute())[1])
run_experiment(cfg, Store(sys.argv[2]))
"""


def child(cfg: ExperimentConfig, root: Path, delay: float = 0.0) -> subprocess.Popen:
    """A real process running `cfg` on the store at `root`; its stderr goes to a log file beside it."""
    root.parent.mkdir(parents=True, exist_ok=True)
    with open(root.parent / f"{root.name}.{time.monotonic_ns()}.log", "w") as log:
        proc = subprocess.Popen(
            [sys.executable, "-c", CHILD, cfg.model_dump_json(), str(root), str(delay)],
            cwd=REPO,
            env=ENV,
            stdout=subprocess.DEVNULL,
            stderr=log,
        )
    proc.log = Path(log.name)
    return proc


def cache_files(root: Path, pattern: str = "*.npz") -> dict[str, int]:
    """Stage files (or leftovers) under the cache, with their modification times."""
    return {p.name: p.stat().st_mtime_ns for p in (root / "cache").glob(pattern)}


def assert_consistent(store: Store) -> None:
    """Every stage file loads, no temp file is left, no (run, seed, role, method) is twice in the table."""
    for name in cache_files(store.root):
        with np.load(store.root / "cache" / name) as z:
            assert z.files, name
    rows = store.rows()
    assert len({(r["config_hash"], r["seed"], r["role"], r["method"]) for r in rows}) == len(rows)


@pytest.fixture
def fault_cfg(small_cfg):
    return small_cfg.model_copy(update={"methods": ["xent", "logconf", "product"]})  # 2 seeds x 5 stages


def test_kill_9_mid_run_resumes_without_recomputing_or_losing_a_stage(fault_cfg, tmp_path):
    reference = run_experiment(fault_cfg, Store(tmp_path / "reference"))  # the same run, never killed
    other = ExperimentConfig(**{**fault_cfg.model_dump(), "seeds": [3], "methods": ["xent"]})
    store = Store(tmp_path / "runs")
    run_experiment(other, store)
    other_rows = store.rows(other.hash())
    before = cache_files(store.root)

    proc = child(fault_cfg, store.root, delay=0.3)
    deadline = time.monotonic() + 120
    while len(cache_files(store.root)) < len(before) + 2 and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL, proc.log.read_text()
    done = cache_files(store.root)
    total = len(reference.computed)
    assert 2 <= len(done) - len(before) < total  # killed mid-run, with finished stages on disk
    assert store.rows(fault_cfg.hash()) == []  # rows are recorded at the end of a run

    # a half-written temp file beside every stage still to compute must be ignored
    unfinished = [k for k in reference.computed if f"{k}.npz" not in done]
    for k in unfinished:
        data = (tmp_path / "reference" / "cache" / f"{k}.npz").read_bytes()
        (store.root / "cache" / f".{k}.npz.planted.tmp").write_bytes(data[: len(data) // 2])

    again = run_experiment(fault_cfg, Store(store.root))
    assert sorted(again.computed) == sorted(unfinished)  # nothing finished is recomputed
    assert {n: t for n, t in cache_files(store.root).items() if n in done} == done  # nor rewritten
    assert json.dumps(again.summary, sort_keys=True) == json.dumps(reference.summary, sort_keys=True)
    rows = store.rows(fault_cfg.hash())
    assert len(rows) == len(reference.rows) and store.rows(other.hash()) == other_rows
    assert_consistent(store)


def test_truncated_files_in_the_cache_are_never_read_back(tmp_path, caplog):
    store = Store(tmp_path / "runs")
    good = store.stage("a", lambda: {"x": np.arange(1000.0)})
    data = (store.root / "cache" / "a.npz").read_bytes()
    (store.root / "cache" / ".b.npz.x1.tmp").write_bytes(data[:100])  # a writer killed mid-write
    (store.root / "cache" / "c.npz").write_bytes(data[:100])  # a truncated final file (not ours: we rename)
    for key in ("b", "c"):
        out = store.stage(key, lambda: {"x": np.arange(1000.0)})
        np.testing.assert_array_equal(out["x"], good["x"])
    assert store.computed == ["a", "b", "c"] and "unreadable cache file" in caplog.text
    np.testing.assert_array_equal(Store(store.root).stage("c", lambda: pytest.fail("recomputed"))["x"], good["x"])


def test_two_processes_on_one_store_both_complete_and_are_both_recorded(fault_cfg, tmp_path):
    a = fault_cfg.model_copy(update={"methods": ["xent", "logconf"]})
    b = fault_cfg.model_copy(update={"methods": ["xent", "product"]})  # shares weak, ceiling and xent with a
    root = tmp_path / "runs"
    procs = [child(a, root), child(b, root)]
    for p in procs:
        assert p.wait(timeout=300) == 0, p.log.read_text()
    store = Store(root)
    for cfg in (a, b):
        assert len(store.rows(cfg.hash())) == 2 * 4
        assert (store.run_dir(cfg.hash()) / "summary.json").exists()
        assert run_experiment(cfg, store).computed == []
    assert len(store.rows()) == 16 and cache_files(root, ".*.tmp") == {}
    assert_consistent(store)


ENOSPC_CHILD = """
import errno, os, sys
replace, calls, cache = os.replace, [], os.path.join(sys.argv[2], "cache")
def full_disk(src, dst, *args, **kwargs):  # the 4th stage file hits a full disk
    if str(dst).startswith(cache):
        calls.append(dst)
        if len(calls) == 4:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
    return replace(src, dst, *args, **kwargs)
os.replace = full_disk
sys.argv = ["superalign", "run", "--config", sys.argv[1], "--store", sys.argv[2], "-q"]
from superalign.cli import main
main()
"""


def test_full_disk_is_one_line_and_leaves_a_store_that_a_rerun_completes(fault_cfg, tmp_path):
    path = tmp_path / "cfg.yaml"
    path.write_text(yaml.safe_dump(fault_cfg.model_dump(mode="json")))
    root = tmp_path / "runs"
    r = subprocess.run(
        [sys.executable, "-c", ENOSPC_CHILD, str(path), str(root)],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=REPO,
        env=ENV,
    )
    lines = [ln for ln in r.stderr.splitlines() if ln.strip()]
    assert r.returncode == 2 and len(lines) == 1, r.stderr
    assert lines[0].startswith(f"error: cannot write {root}/cache/") and "No space left on device" in lines[0]
    assert len(cache_files(root)) == 3 and cache_files(root, ".*.tmp") == {}  # the failed write left nothing
    store = Store(root)
    assert_consistent(store)
    again = run_experiment(fault_cfg, store)
    assert len(again.computed) == 10 - 3 and len(store.rows(fault_cfg.hash())) == 10


@pytest.fixture
def tiny_disk(tmp_path):
    """A real 64 KiB tmpfs (needs root); `grow()` frees space as an operator would."""
    disk = tmp_path / "disk"
    disk.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(disk)], capture_output=True)
    if mounted.returncode != 0:
        pytest.skip("cannot mount a tmpfs here (needs root); the monkeypatched full disk test still runs")
    try:
        yield SimpleNamespace(path=disk, grow=lambda: subprocess.run(["mount", "-o", "remount,size=16m", str(disk)]))
    finally:
        subprocess.run(["umount", "-l", str(disk)])


def test_real_full_disk_is_one_line_and_a_rerun_after_freeing_space_completes(fault_cfg, tmp_path, tiny_disk):
    path = tmp_path / "cfg.yaml"
    path.write_text(yaml.safe_dump(fault_cfg.model_dump(mode="json")))
    root = tiny_disk.path / "runs"
    args = [sys.executable, "-m", "superalign", "run", "--config", str(path), "--store", str(root), "-q"]
    r = subprocess.run(args, capture_output=True, text=True, timeout=300, cwd=REPO, env=ENV)
    lines = [ln for ln in r.stderr.splitlines() if ln.strip()]
    assert r.returncode == 2 and len(lines) == 1 and lines[0].startswith("error: "), r.stderr
    assert "No space left on device" in lines[0] or "disk is full" in lines[0], lines[0]
    finished = cache_files(root)
    assert len(finished) < 10 and cache_files(root, ".*.tmp") == {}
    tiny_disk.grow()
    store = Store(root)
    assert_consistent(store)
    again = run_experiment(fault_cfg, store)
    assert len(again.computed) == 10 - len(finished) and len(store.rows(fault_cfg.hash())) == 10
    assert {n: t for n, t in cache_files(root).items() if n in finished} == finished


# ------------------------------------------------------------------------------ 9. security
UNSAFE_LOADS = {("torch", "load"), ("pickle", "load"), ("pickle", "loads"), ("joblib", "load"), ("dill", "load")}


def _calls(tree: ast.AST):
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            f = node.func
            if isinstance(f, ast.Attribute):
                name = (f.value.id if isinstance(f.value, ast.Name) else "", f.attr)
            else:
                name = (f.id,) if isinstance(f, ast.Name) else None
            yield node, name, {k.arg: k.value for k in node.keywords}


def test_no_unsafe_deserialization_and_no_remote_code_in_the_package():
    found = []
    for path in sorted(PACKAGE.rglob("*.py")):
        for node, name, kw in _calls(ast.parse(path.read_text())):
            where = f"{path.relative_to(REPO)}:{node.lineno}"
            safe_torch = name == ("torch", "load") and getattr(kw.get("weights_only"), "value", None) is True
            if name in UNSAFE_LOADS and not safe_torch:
                found.append(f"{where} {'.'.join(name)}")
            if name in (("np", "load"), ("numpy", "load")) and "allow_pickle" in kw:
                found.append(f"{where} np.load(allow_pickle=...)")
            if "trust_remote_code" in kw and getattr(kw["trust_remote_code"], "value", None) is not False:
                found.append(f"{where} trust_remote_code")
            if name in (("eval",), ("exec",), ("compile",), ("os", "system")):
                found.append(f"{where} {'.'.join(name)} (nothing a model generates is ever executed)")
    assert found == []
    text = "\n".join(p.read_text() for p in PACKAGE.rglob("*.py"))
    assert "import pickle" not in text and "trust_remote_code=True" not in text


@pytest.mark.parametrize("bad", ["../x", "..", "a/b", "/etc", "a\\b", ".hidden", "", "x\0y", "a b"])
def test_keys_and_hashes_cannot_escape_the_store(store, bad):
    for where in (store.run_dir, store.checkpoint_dir, lambda k: store.stage(k, lambda: {"x": np.zeros(1)})):
        with pytest.raises(StoreError, match="invalid store key"):
            where(bad)
    assert store.run_dir("76e8409917a6").parent == store.root


# --------------------------------------------------------------- 10. CI turns skips into failures
def test_ci_turns_missing_data_and_asset_skips_into_failures(monkeypatch):
    from . import conftest

    monkeypatch.setattr(conftest, "shared_data_dir", lambda: None)
    monkeypatch.setattr(conftest.assets, "get", lambda name: SimpleNamespace(ready=False))
    monkeypatch.delenv(REQUIRE, raising=False)
    for check in (require_shared, lambda: require_assets("vader")):
        with pytest.raises(pytest.skip.Exception):
            check()
    monkeypatch.setenv(REQUIRE, "1")
    for check in (require_shared, lambda: require_assets("vader")):
        with pytest.raises(pytest.fail.Exception, match=REQUIRE):
            check()
    assert f"export {REQUIRE}=1" in (REPO / ".ci" / "run").read_text()


def test_reliability_md_names_only_tests_that_exist():
    import re

    text = (REPO / "RELIABILITY.md").read_text()
    refs = set(re.findall(r"`(T|tests/\w+\.py)::(\w+)`", text))
    assert len(refs) > 20
    for file, name in refs:
        path = Path(__file__) if file == "T" else REPO / file
        assert f"def {name}(" in path.read_text(), (file, name)


def test_hub_models_are_keyed_by_their_resolved_revision(tmp_path, monkeypatch, caplog):
    """Offline, a hub model's key pins the commit its cached snapshot is at; a new upload (main moved)
    is a new key; an id the cache does not know is keyed by its name, with a warning."""
    from huggingface_hub import constants

    from superalign.models.ladder import hf_source, hub_key

    def cache(sha):
        repo = tmp_path / "models--acme--tiny"
        (repo / "refs").mkdir(parents=True, exist_ok=True)
        (repo / "refs" / "main").write_text(sha)
        (repo / "snapshots" / sha).mkdir(parents=True, exist_ok=True)
        (repo / "snapshots" / sha / "config.json").write_text("{}")

    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path))
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    first, second = "1" * 40, "2" * 40
    cache(first)
    assert hub_key("acme/tiny") == f"hub:acme/tiny@{first}" and hf_source("acme/tiny")[1] == f"hub:acme/tiny@{first}"
    cache(second)
    assert hub_key("acme/tiny") == f"hub:acme/tiny@{second}"
    assert hub_key("acme/unseen") == "hub:acme/unseen" and "keyed by its name only" in caplog.text
