"""The CLI: listings, --out, and one-line errors with exit status 2 on bad input."""

import json
import subprocess
import sys

import pandas as pd
import pytest
from typer.testing import CliRunner

from superalign.cli import app
from superalign.errors import ConfigError

from .conftest import require_assets

runner = CliRunner()
FAST = ["--weak", "tfidf", "--strong", "static", "--seeds", "0", "--set", "n_bootstrap=50", "-q"]


def cli(*args: str, cwd=None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "superalign", *args], capture_output=True, text=True, cwd=cwd, timeout=300)


def test_listings():
    assert "sentiment" in runner.invoke(app, ["tasks"]).output
    out = runner.invoke(app, ["models"]).output
    assert all(m in out for m in ("tfidf", "static", "minilm", "mpnet"))
    assert "--config" in runner.invoke(app, ["run", "--help"]).output


def test_run_writes_summary(tmp_path):
    require_assets("vader", "static")
    sizes = ["--set", "sizes.train_gt=200", "--set", "sizes.train_w2s=300", "--set", "sizes.val=20", "--set", "sizes.test=200"]
    r = runner.invoke(app, ["run", *FAST, *sizes, "--store", str(tmp_path / "runs"), "--out", str(tmp_path / "out")])
    assert r.exit_code == 0, r.output
    s = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert s["weak"] == "tfidf" and s["strong"] == "static" and set(s["methods"]) == {"xent", "logconf"}
    assert "PGR" in r.output and "student: logconf" in r.output


def test_run_finetune_mode(tmp_path, tiny_models, one_torch_thread):
    """--mode finetune fine-tunes a Hugging Face folder; its checkpoints land in the store."""
    require_assets("vader")
    sizes = ["--set", "sizes.train_gt=100", "--set", "sizes.train_w2s=120", "--set", "sizes.val=30", "--set", "sizes.test=100"]
    ft = ["--set", "finetune.epochs=1", "--set", "finetune.max_length=32", "--set", "finetune.lr=0.002", "--set", "finetune.lora=true"]
    args = ["run", "--weak", "tfidf", "--strong", tiny_models["gpt2"], "--mode", "finetune", "--seeds", "0",
            "--set", "n_bootstrap=50", "-q", *sizes, *ft, "--store", str(tmp_path / "runs"), "--out", str(tmp_path / "out")]
    r = runner.invoke(app, args)
    assert r.exit_code == 0, r.output
    s = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert set(s["methods"]) == {"xent", "logconf"}
    assert len(list((tmp_path / "runs" / "checkpoints").glob("*/weights.safetensors"))) == 3  # ceiling + 2 students
    bad = runner.invoke(app, [*args[:5], "--mode", "nosuchmode", *args[7:]])
    assert isinstance(bad.exception, ConfigError) and "mode" in str(bad.exception)


@pytest.fixture
def table(tmp_path):
    p = tmp_path / "t.csv"
    pd.DataFrame({"text": [f"t{i}" for i in range(40)], "label": [0, 1] * 20, "multi": [0, 1, 2, 3] * 10}).to_csv(p, index=False)
    return p


def _bad(tmp_path, table):
    bad_yaml = tmp_path / "bad.yaml"
    bad_yaml.write_text("weak: [unclosed\n")
    empty = tmp_path / "empty.csv"
    empty.write_text("text,label\n")
    return {
        "unknown task": (["--task", "nosuchtask"], "nosuchtask"),
        "unknown model": (["--weak", "nosuchmodel"], "unknown model 'nosuchmodel'"),
        "missing column": (["--task", str(table), "--text-col", "sentence"], "no column 'sentence'"),
        "non-binary labels": (["--task", str(table), "--label-col", "multi"], "exactly 2 distinct values"),
        "empty data": (["--task", str(empty)], "no rows"),
        "sizes too large": (["--task", str(table)], "only 40 examples"),
        "invalid yaml": (["--config", str(bad_yaml)], "invalid YAML"),
        "bad override": (["--set", "sizes.test=-5"], "sizes.test"),
        "unknown method": (["--task", str(table), "--methods", "xent,nosuchloss", "--set", "sizes.train_gt=5",
                            "--set", "sizes.train_w2s=5", "--set", "sizes.val=5", "--set", "sizes.test=5"], "unknown loss"),
    }


@pytest.mark.parametrize("case", ["unknown task", "unknown model", "missing column", "non-binary labels", "empty data",
                                  "sizes too large", "invalid yaml", "bad override", "unknown method"])
def test_bad_input_exits_2_with_one_line(case, tmp_path, table):
    args, expected = _bad(tmp_path, table)[case]
    r = cli("run", *FAST, "--store", str(tmp_path / "runs"), *args)
    assert r.returncode == 2, (r.stdout, r.stderr)
    lines = [ln for ln in r.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: ") and expected in lines[0], r.stderr
