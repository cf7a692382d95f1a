"""The examples run, and extending from user code is safe to iterate on: a loss and an
intervention registered outside the package train like built-ins, a script run again
re-registers them, and editing one retrains just its students."""

import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest

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
