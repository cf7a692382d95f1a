"""The CLI: listings, --out, and one-line errors with exit status 2 on bad input."""

import json
import subprocess
import sys

import pandas as pd
import pytest
from typer.testing import CliRunner

from superalign.cli import app
from superalign.errors import ConfigError

from .conftest import require_assets, require_shared, shared_data_dir

runner = CliRunner()
FAST = ["--weak", "tfidf", "--strong", "static", "--seeds", "0", "--set", "n_bootstrap=50", "-q"]


def cli(*args: str, cwd=None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "superalign", *args], capture_output=True, text=True, cwd=cwd, timeout=300
    )


def test_listings():
    assert "sentiment" in runner.invoke(app, ["tasks"]).output
    out = runner.invoke(app, ["models"]).output
    assert all(m in out for m in ("tfidf", "static", "minilm", "mpnet"))
    assert "--config" in runner.invoke(app, ["run", "--help"]).output


def test_run_writes_summary(tmp_path):
    require_assets("vader", "static")
    sizes = [
        "--set",
        "sizes.train_gt=200",
        "--set",
        "sizes.train_w2s=300",
        "--set",
        "sizes.val=20",
        "--set",
        "sizes.test=200",
    ]
    r = runner.invoke(app, ["run", *FAST, *sizes, "--store", str(tmp_path / "runs"), "--out", str(tmp_path / "out")])
    assert r.exit_code == 0, r.output
    s = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert s["weak"] == "tfidf" and s["strong"] == "static" and set(s["methods"]) == {"xent", "logconf"}
    assert "PGR" in r.output and "student: logconf" in r.output


def test_run_finetune_mode(tmp_path, tiny_models, one_torch_thread):
    """--mode finetune fine-tunes a Hugging Face folder; its checkpoints land in the store."""
    require_assets("vader")
    sizes = [
        "--set",
        "sizes.train_gt=100",
        "--set",
        "sizes.train_w2s=120",
        "--set",
        "sizes.val=30",
        "--set",
        "sizes.test=100",
    ]
    ft = [
        "--set",
        "finetune.epochs=1",
        "--set",
        "finetune.max_length=32",
        "--set",
        "finetune.lr=0.002",
        "--set",
        "finetune.lora=true",
    ]
    args = [
        "run",
        "--weak",
        "tfidf",
        "--strong",
        tiny_models["gpt2"],
        "--mode",
        "finetune",
        "--seeds",
        "0",
        "--set",
        "n_bootstrap=50",
        "-q",
        *sizes,
        *ft,
        "--store",
        str(tmp_path / "runs"),
        "--out",
        str(tmp_path / "out"),
    ]
    r = runner.invoke(app, args)
    assert r.exit_code == 0, r.output
    s = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert set(s["methods"]) == {"xent", "logconf"}
    assert len(list((tmp_path / "runs" / "checkpoints").rglob("weights.safetensors"))) == 3  # ceiling + 2 students
    bad = runner.invoke(app, [*args[:5], "--mode", "nosuchmode", *args[7:]])
    assert isinstance(bad.exception, ConfigError) and "mode" in str(bad.exception)


@pytest.fixture
def table(tmp_path):
    p = tmp_path / "t.csv"
    pd.DataFrame({"text": [f"t{i}" for i in range(40)], "label": [0, 1] * 20, "multi": [0, 1, 2, 3] * 10}).to_csv(
        p, index=False
    )
    return p


TINY = ["--set", "sizes.train_gt=5", "--set", "sizes.train_w2s=5", "--set", "sizes.val=5", "--set", "sizes.test=5"]


def test_chain_run_prints_each_rung(tmp_path):
    require_assets("vader", "static", "minilm")
    sizes = [
        "--set",
        "sizes.train_gt=200",
        "--set",
        "sizes.train_w2s=300",
        "--set",
        "sizes.val=20",
        "--set",
        "sizes.test=200",
    ]
    args = [
        "run",
        "--chain",
        "tfidf,static,minilm",
        "--methods",
        "xent",
        "--seeds",
        "0",
        "--set",
        "n_bootstrap=50",
        "-q",
        *sizes,
    ]
    r = runner.invoke(
        app, [*args, "--store", str(tmp_path / "runs"), "--out", str(tmp_path / "out")], env={"COLUMNS": "200"}
    )
    assert r.exit_code == 0, r.output
    s = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert s["chain"] == ["tfidf", "static", "minilm"] and (s["weak"], s["strong"]) == ("tfidf", "minilm")
    assert set(s["rungs"]) == {"static"} and 0.5 < s["rungs"]["static"]["acc"]["mean"] < 1
    assert "tfidf -> static -> minilm" in r.output and "rung: static (xent on tfidf labels)" in r.output
    assert "student: xent (on static labels)" in r.output


def test_methods_listing():
    out = runner.invoke(app, ["methods"], env={"COLUMNS": "250"}).output
    assert all(m in out for m in ("adaptconf", "knn_relabel", "weak_ensemble", "alpha_max=0.5"))


def _bad(tmp_path, table):
    data = str(shared_data_dir() or tmp_path)
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
        "unknown method": (
            ["--task", str(table), "--methods", "xent,nosuchloss", *TINY],
            "unknown method 'nosuchloss'",
        ),
        "bad chain": (["--chain", "static"], "chain"),
        "chain contradicts": (["--chain", "tfidf,static", "--strong", "minilm"], "contradicts chain"),
        "data dir lacks the task": (
            ["--task", "ethics", "--data-dir", str(tmp_path)],
            "has no ethics_commonsense/cm_test.csv.gz",
        ),
        "text model on pairs": (
            [
                "--task",
                "preference",
                "--data-dir",
                data,
                "--weak",
                "profanity_check",
                "--set",
                "sizes.train_gt=20",
                "--set",
                "sizes.train_w2s=20",
                "--set",
                "sizes.val=5",
                "--set",
                "sizes.test=20",
            ],
            "single texts",
        ),
    }


@pytest.mark.parametrize(
    "case",
    [
        "unknown task",
        "unknown model",
        "missing column",
        "non-binary labels",
        "empty data",
        "sizes too large",
        "invalid yaml",
        "bad override",
        "unknown method",
        "bad chain",
        "chain contradicts",
        "data dir lacks the task",
        "text model on pairs",
    ],
)
def test_bad_input_exits_2_with_one_line(case, tmp_path, table):
    if case == "text model on pairs":
        require_shared()
    args, expected = _bad(tmp_path, table)[case]
    r = cli("run", *FAST, "--store", str(tmp_path / "runs"), *args)
    assert r.returncode == 2, (r.stdout, r.stderr)
    lines = [ln for ln in r.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: ") and expected in lines[0], r.stderr


def test_tasks_lists_alignment_tasks_with_sources(tmp_path, monkeypatch):
    monkeypatch.setenv("SUPERALIGN_HOME", str(tmp_path))
    monkeypatch.delenv("SUPERALIGN_DATA", raising=False)
    out = runner.invoke(app, ["tasks", "--no-sizes"]).output
    for name in ("safety", "toxicity", "legal", "ethics", "preference", "sst2", "boolq", "sciq", "cosmos_qa", "chess"):
        assert f"\n{name}: " in out  # its description line
    assert "balanced_accuracy" in out and "pairwise_accuracy" in out and "ETHICS commonsense" in out
    from superalign.data.catalog import task_rows

    rows = {r.name: r for r in task_rows(sizes=False)}
    assert rows["ethics"].source.startswith("hub hendrycks/ethics") and rows["preference"].kind == "preference"
    data = shared_data_dir()
    if data is not None:
        rows = {r.name: r for r in task_rows(data_dir=str(data), sizes=False)}
        assert rows["preference"].source == "hh_rlhf/harmless-base_test.jsonl.gz"


def test_task_sizes_are_cached_by_source(tmp_path, monkeypatch):
    from superalign.data import catalog
    from superalign.data.sources import SourcedTask

    data = require_shared()
    monkeypatch.setenv("SUPERALIGN_HOME", str(tmp_path))
    monkeypatch.setattr(catalog, "task_names", lambda: ["ethics", "safety"])
    first = {r.name: r for r in catalog.task_rows(data_dir=str(data))}
    assert first["ethics"].size == "7,849" and first["safety"].balance.endswith("%")
    monkeypatch.setattr(SourcedTask, "load", lambda self: pytest.fail("counted again instead of using the cache"))
    assert {r.name: r for r in catalog.task_rows(data_dir=str(data))} == first


def test_run_preference_prints_its_metric(tmp_path):
    data = require_shared()
    sizes = [
        "--set",
        "sizes.train_gt=200",
        "--set",
        "sizes.train_w2s=300",
        "--set",
        "sizes.val=10",
        "--set",
        "sizes.test=300",
    ]
    r = runner.invoke(
        app,
        [
            "run",
            "--task",
            "preference",
            "--data-dir",
            str(data),
            "--weak",
            "tfidf",
            "--strong",
            "tfidf",
            "--methods",
            "xent",
            "--seeds",
            "0",
            "--set",
            "n_bootstrap=50",
            "-q",
            *sizes,
            "--store",
            str(tmp_path / "runs"),
            "--out",
            str(tmp_path / "out"),
        ],
    )
    assert r.exit_code == 0, r.output
    assert "pairwise acc." in r.output and "PGR" in r.output
    s = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert s["metric"] == "pairwise_accuracy" and s["methods"]["xent"]["score"]["mean"] is not None
