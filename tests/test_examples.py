"""The examples run, and extending from user code is safe to iterate on: a loss and an
intervention registered outside the package train like built-ins, a script run again
re-registers them, editing one retrains just its students, and a plugin makes them usable from
the CLI and in sweep workers."""

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from superalign.losses import LOSSES
from superalign.w2s import ExperimentConfig, run_experiment
from superalign.w2s.methods import METHODS

from .conftest import SMALL, require_assets

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "extend.py"


@pytest.fixture
def clean_registries(monkeypatch):
    """Whatever a test registers is gone after it."""
    monkeypatch.setattr(LOSSES, "_items", dict(LOSSES._items))
    monkeypatch.setattr(METHODS, "_items", dict(METHODS._items))


def _load(path: Path):
    """Execute `path` as the module ``user_extension`` (the same name each time, as a rerun would)."""
    spec = importlib.util.spec_from_file_location("user_extension", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_extension_example_runs(tmp_path):
    require_assets("vader", "static")
    out = subprocess.run(
        [sys.executable, str(EXAMPLE), "--weak", "tfidf", "--strong", "static", "--seeds", "0", "--small"]
        + ["--store", str(tmp_path / "runs")],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert out.returncode == 0, out.stderr[-2000:]
    for name in ("xent", "logconf", "smoothed", "sharpen"):
        assert f"\n{name} " in out.stdout


def test_editing_a_registered_user_method_retrains_only_its_students(tmp_path, store, clean_registries):
    require_assets("vader", "static")
    _load(EXAMPLE)
    cfg = ExperimentConfig(
        weak="tfidf", strong="static", seeds=[0], sizes=SMALL, n_bootstrap=50, methods=["xent", "smoothed", "sharpen"]
    )
    first = run_experiment(cfg, store)
    assert run_experiment(cfg, store).computed == []  # unchanged code: everything is read back

    edited = tmp_path / "extend.py"  # the same script, its intervention edited, run again
    edited.write_text(
        EXAMPLE.read_text().replace("sharp /= sharp.sum(1, keepdims=True)", "sharp /= sharp.sum(1)[:, None]")
    )
    _load(edited)  # re-registers smoothed and sharpen: a redefinition, not a clash
    again = run_experiment(cfg, store)
    keys = {r["method"]: r["stage_key"] for r in first.rows if r["role"] == "student"}
    new_keys = {r["method"]: r["stage_key"] for r in again.rows if r["role"] == "student"}
    assert new_keys["xent"] == keys["xent"] and new_keys["smoothed"] == keys["smoothed"]
    assert new_keys["sharpen"] != keys["sharpen"] and again.computed == [new_keys["sharpen"]]


def test_a_user_loss_under_a_built_in_name_is_still_an_error(clean_registries):
    from superalign.losses import register_loss

    with pytest.raises(ValueError, match="loss 'xent' is registered twice"):

        @register_loss("xent")
        def xent(logits, targets, step_frac):
            return logits.sum()


def _cli(*args: str, env: dict | None = None, timeout: int = 300) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "superalign", *args],
        cwd=EXAMPLE.parents[1],
        env={**os.environ, "HF_HUB_OFFLINE": "1", **(env or {})},
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def test_a_plugin_makes_user_methods_usable_from_the_cli_and_in_sweep_workers(tmp_path):
    require_assets("vader", "static")
    listing = _cli("--plugin", "examples/extend.py", "methods")
    assert listing.returncode == 0 and "sharpen" in listing.stdout and "smoothed" in listing.stdout
    sweep = tmp_path / "sweep.yaml"
    sweep.write_text(
        yaml.safe_dump(
            {
                "tasks": ["sentiment"],
                "pairs": [["tfidf", "static"]],
                "methods": ["xent", "sharpen", "smoothed"],
                "seeds": [0],
                "run": {"sizes": SMALL.model_dump(), "n_bootstrap": 50},
            }
        )
    )
    store = tmp_path / "runs"
    r = _cli(
        "sweep", str(sweep), "--store", str(store), "--workers", "1", "-q", env={"SUPERALIGN_PLUGINS": str(EXAMPLE)}
    )
    assert r.returncode == 0, r.stderr[-2000:]
    (summary,) = [json.loads(p.read_text()) for p in store.glob("*/summary.json")]
    assert set(summary["methods"]) == {"xent", "sharpen", "smoothed"}  # computed in a spawned worker process


def test_a_missing_or_failing_plugin_is_one_line_and_exit_status_2(tmp_path):
    bad = tmp_path / "bad.py"
    bad.write_text("raise RuntimeError('boom')\n")
    for plugin, message in [(str(tmp_path / "nope.py"), "no such file"), (str(bad), "RuntimeError: boom")]:
        r = _cli("--plugin", plugin, "methods")
        assert r.returncode == 2 and r.stderr.strip() == f"error: plugin {plugin!r}" + (
            f": {message}" if message == "no such file" else f" failed to import: {message}"
        )


def test_loading_a_plugin_twice_re_registers_it(clean_registries):
    from superalign.plugins import load_plugins

    assert load_plugins(str(EXAMPLE)) == ["superalign_plugin_extend"]
    first = METHODS["sharpen"]
    load_plugins(str(EXAMPLE))  # a second import of the same file is a redefinition, not a clash
    assert METHODS["sharpen"] is not first and "smoothed" in LOSSES
