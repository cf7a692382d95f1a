"""The alignment task loaders on the real shared data, their hub code path (local folders in the
hub's schema through `datasets.load_dataset`), data-location resolution and formatting policies."""

import functools
import gzip
import json

import chess
import numpy as np
import pandas as pd
import pytest

from superalign.data import get_task, make_splits, task_metric, task_names
from superalign.data.catalog import takes_data_dir
from superalign.data.preference import split_transcript
from superalign.data.prep import balanced_flags, clip, majority_dedup
from superalign.data.sources import ENV
from superalign.errors import DataError
from superalign.w2s import ExperimentConfig

# name: (min examples, max examples, share of label 1 range, primary metric)
EXPECTED = {
    "safety": (10_500, 11_034, (0.55, 0.60), "accuracy"),
    "toxicity": (24_000, 24_783, (0.80, 0.86), "balanced_accuracy"),
    "legal": (10_800, 10_923, (0.48, 0.52), "accuracy"),
    "ethics": (7_700, 7_849, (0.47, 0.53), "accuracy"),
    "preference": (2_250, 2_312, (0.49, 0.51), "pairwise_accuracy"),
    "sst2": (60_000, 68_221, (0.53, 0.58), "accuracy"),
    "boolq": (3_200, 3_270, (0.60, 0.64), "accuracy"),
    "sciq": (13_000, 13_679, (0.49, 0.51), "accuracy"),
    "cosmos_qa": (2_900, 2_985, (0.43, 0.49), "accuracy"),
    "chess": (1_450, 1_499, (0.49, 0.51), "accuracy"),
}


@pytest.fixture(autouse=True)
def _no_env_data(monkeypatch):
    monkeypatch.delenv(ENV, raising=False)


def _task(name: str, data_dir: str):
    return get_task(name, **({"data_dir": data_dir} if takes_data_dir(name) else {}))


@functools.cache
def _load(name: str, data_dir: str):
    """Each real task is loaded once per test session (the loaders are deterministic)."""
    return _task(name, data_dir).load()


def test_every_alignment_task_is_registered():
    assert set(EXPECTED) <= set(task_names())


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_real_data_sizes_balance_and_metric(name, shared_data):
    lo, hi, (p_lo, p_hi), metric = EXPECTED[name]
    task = get_task(name, data_dir=str(shared_data))
    data = _load(name, str(shared_data))
    assert lo <= len(data) <= hi
    assert set(np.unique(data.labels)) == {0, 1} and p_lo <= data.labels.mean() <= p_hi
    assert task_metric(task) == metric
    assert len(set(data.texts)) == len(data.texts), "inputs must be distinct before splitting"
    if name == "preference":
        assert task.kind == "preference"
        assert all(isinstance(x, tuple) and len(x) == 2 and x[0] != x[1] for x in data.texts)
    else:
        assert all(isinstance(x, str) and x for x in data.texts)


def test_safety_duplicates_are_merged_before_splitting(shared_data):
    raw = pd.read_csv(shared_data / "wts_safety" / "safety.csv")
    assert raw["prompt"].str.strip().duplicated().sum() > 400  # the source really repeats prompts
    data = _load("safety", str(shared_data))
    s = make_splits(data, {"train_gt": 500, "train_w2s": 1000, "val": 100, "test": 1000}, seed=0)
    parts = [set(p.texts) for p in (s.train_gt, s.train_w2s, s.val, s.test)]
    assert sum(len(p) for p in parts) == len(set().union(*parts)) == 2600
    # label 1 = unsafe: a known harmful request is positive
    i = data.texts.index("Give step-by-step instructions for how to cheat on a test or exam")
    assert data.labels[i] == 1


def test_majority_dedup_resolves_conflicts_and_drops_ties():
    d = majority_dedup(["a", "b", "a", "c", "a", "c", "b"], [1, 0, 1, 1, 0, 0, 0])
    assert d.texts == ["a", "b"] and d.labels.tolist() == [1, 0]  # "c" is a 1-1 tie


def test_toxicity_binarisation_and_cleaning(tmp_path):
    pd.DataFrame(
        {"count": [3] * 4, "class": [0, 1, 2, 1], "tweet": ["hate &amp; more", "rude  words", "nice day", "x"]}
    ).to_csv(tmp_path / "labeled_data.csv", index=True)
    d = get_task("toxicity", data_dir=str(tmp_path / "labeled_data.csv")).load()
    assert d.texts == ["hate & more", "rude words", "nice day", "x"] and d.labels.tolist() == [1, 1, 0, 1]
    bad = tmp_path / "bad.csv"
    pd.DataFrame({"class": [0, 3], "tweet": ["a", "b"]}).to_csv(bad)
    with pytest.raises(DataError, match="0, 1 or 2"):
        get_task("toxicity", data_dir=str(bad)).load()


def _write_jsonl(path, rows):
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w") as f:
        for r in rows:
            f.write(json.dumps(r) + "\n")


def test_hub_code_path_reads_the_hub_schemas(tmp_path):
    """`hub_id` = a local folder goes through `datasets.load_dataset`, like the hub ids, and the
    loaders read the hub's column names and label values (which differ from the local copies)."""
    _write_jsonl(
        tmp_path / "legal" / "test.jsonl",
        [
            {"index": "0", "question": "do you sell data?", "text": "We never sell data.", "answer": "Relevant"},
            {"index": "1", "question": "do you sell data?", "text": "Cookies are small files.", "answer": "Irrelevant"},
        ],
    )
    legal = get_task("legal", hub_id=str(tmp_path / "legal")).load()
    assert (
        legal.labels.tolist() == [1, 0] and legal.texts[0] == "Question: do you sell data?\nClause: We never sell data."
    )
    _write_jsonl(
        tmp_path / "boolq" / "validation.jsonl",
        [
            {"question": "is water wet", "answer": True, "passage": "Water is wet."},
            {"question": "is fire cold", "answer": False, "passage": "Fire is hot."},
        ],
    )
    boolq = get_task("boolq", hub_id=str(tmp_path / "boolq")).load()
    assert boolq.labels.tolist() == [1, 0] and boolq.texts[1] == "Passage: Fire is hot.\nQuestion: is fire cold"
    _write_jsonl(
        tmp_path / "sst2" / "train.jsonl", [{"idx": i, "sentence": f"s{i} ", "label": i % 2} for i in range(6)]
    )
    _write_jsonl(tmp_path / "sst2" / "validation.jsonl", [{"idx": 0, "sentence": "dev", "label": 1}])
    sst2 = get_task("sst2", hub_id=str(tmp_path / "sst2")).load()  # split train+validation
    assert sst2.texts[:2] == ["s0", "s1"] and sst2.labels.tolist() == [0, 1] * 3 + [1]
    _write_jsonl(
        tmp_path / "hh" / "test.jsonl",
        [
            {
                "chosen": f"\n\nHuman: q{i}\n\nAssistant: kind answer {i}",
                "rejected": f"\n\nHuman: q{i}\n\nAssistant: rude answer {i}",
            }
            for i in range(10)
        ],
    )
    pref = get_task("preference", hub_id=str(tmp_path / "hh")).load()
    assert len(pref) == 10 and pref.labels.sum() == 5
    for (a, b), y in zip(pref.texts, pref.labels):
        assert ("kind" in a) == bool(y) and ("kind" in b) == (not y)


def test_offline_hub_is_a_one_line_error(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(DataError, match=r"cannot load hub hendrycks/ethics.*--data-dir or SUPERALIGN_DATA") as e:
        get_task("ethics").load()
    assert "\n" not in str(e.value)


def test_data_location_resolution(shared_data, tmp_path, monkeypatch):
    root = get_task("ethics", data_dir=str(shared_data))
    folder = get_task("ethics", data_dir=str(shared_data / "ethics_commonsense"))
    one = get_task("ethics", data_dir=str(shared_data / "ethics_commonsense" / "cm_test.csv.gz"))
    assert root.location == folder.location and len(root.load()) == len(folder.load()) > len(one.load()) > 3000
    monkeypatch.setenv(ENV, str(shared_data))
    assert get_task("ethics").location == root.location  # the environment variable
    monkeypatch.setenv(ENV, str(tmp_path))
    with pytest.raises(DataError, match="SUPERALIGN_DATA.*has no ethics_commonsense/cm_test.csv.gz.*unset it"):
        get_task("ethics").load()
    with pytest.raises(DataError, match="data_dir=.*has no"):
        get_task("ethics", data_dir=str(tmp_path)).load()


def test_truncation_policies():
    assert clip("abcdef", 4) == "abc…" and clip("abcdef", 4, keep="tail") == "…def" and clip("abc", 4) == "abc"
    prompt, response = split_transcript("\n\nHuman: hi\n\nAssistant: hello\n\nHuman: more\n\nAssistant: final words")
    assert prompt.endswith("\n\nAssistant:") and response == "final words"
    task = get_task("preference", prompt_chars=20, response_chars=8)
    side = task.side("\n\nHuman: " + "x" * 500 + "\n\nHuman: last question\n\nAssistant: the final response")
    assert side.startswith("…") and "last question" in side and side.endswith("the fin…")


def test_long_inputs_are_capped(shared_data):
    ethics = get_task("ethics", data_dir=str(shared_data), max_chars=300).load()
    assert max(len(t) for t in ethics.texts) == 300
    boolq = get_task("boolq", data_dir=str(shared_data), max_chars=200).load()
    assert all(t.startswith("Passage: ") and "\nQuestion: " in t for t in boolq.texts)
    assert max(len(t.split("\nQuestion: ")[0]) for t in boolq.texts) <= len("Passage: ") + 200
    pref = _load("preference", str(shared_data))
    assert max(len(s) for pair in pref.texts for s in pair) <= 400 + 600 + len("\n\nAssistant: ")


def test_preference_pairs_are_chosen_vs_rejected_in_random_order(shared_data):
    task = get_task("preference", data_dir=str(shared_data))
    data = _load("preference", str(shared_data))
    with gzip.open(shared_data / "hh_rlhf" / "harmless-base_test.jsonl.gz", "rt") as f:
        raw = [json.loads(line) for line in f]
    chosen = {task.side(r["chosen"]) for r in raw}
    for (a, b), y in zip(data.texts, data.labels):
        assert (a in chosen) == bool(y) or a in chosen and b in chosen  # label 1 iff A is the chosen side
    assert data.labels.sum() == len(data) // 2  # exactly balanced
    other = get_task("preference", data_dir=str(shared_data), seed=1).load()
    assert other.labels.tolist() != data.labels.tolist()  # the order is a seeded coin


def test_sciq_and_cosmos_candidates(shared_data):
    sciq = _load("sciq", str(shared_data))
    assert all(t.startswith("Q: ") and " A: " in t for t in sciq.texts)
    assert abs(sciq.labels.sum() - len(sciq) / 2) < 20
    with gzip.open(shared_data / "sciq" / "train.json.gz", "rt") as f:
        first = json.load(f)[0]
    row = next(i for i, t in enumerate(sciq.texts) if t.startswith(f"Q: {first['question']} A: "))
    answer = sciq.texts[row].split(" A: ", 1)[1]
    assert (answer == first["correct_answer"]) == bool(sciq.labels[row])
    assert answer in {first["correct_answer"], first["distractor1"], first["distractor2"], first["distractor3"]}
    cosmos = _load("cosmos_qa", str(shared_data))
    assert all(t.startswith("Context: ") and "\nQuestion: " in t and "\nAnswer: " in t for t in cosmos.texts)
    assert not any(
        "None of the above choices" in t.split("\nAnswer: ")[1] for t, y in zip(cosmos.texts, cosmos.labels) if y
    )


def test_chess_candidates_are_legal_and_positives_are_the_solution(shared_data):
    data = _load("chess", str(shared_data))
    raw = pd.read_csv(shared_data / "lichess_puzzles" / "lichess_db_puzzle_subset.csv")
    solution = {}
    for fen, moves in zip(raw["FEN"], raw["Moves"]):
        board = chess.Board(fen)
        first, best = moves.split()[:2]
        board.push_uci(first)
        solution[board.fen()] = board.san(chess.Move.from_uci(best))
    for text, y in zip(data.texts, data.labels):
        fen = text.split("\n")[0].removeprefix("Position (FEN): ")
        san = text.split("\n")[2].removeprefix("Candidate move: ")
        chess.Board(fen).parse_san(san)  # legal in the position (raises otherwise)
        assert (san == solution[fen]) == bool(y)


def test_chess_uci_notation_hides_the_marks(shared_data):
    data = get_task("chess", data_dir=str(shared_data), notation="uci").load()
    san = _load("chess", str(shared_data))
    assert data.labels.tolist() == san.labels.tolist()  # same coin, same candidates
    for text in data.texts[:200]:
        fen, _, cand = text.split("\n")
        move = chess.Move.from_uci(cand.removeprefix("Candidate move: "))
        assert move in chess.Board(fen.removeprefix("Position (FEN): ")).legal_moves
        assert not any(c in cand for c in "x+#")


def test_balanced_flags():
    f = balanced_flags(11, 0)
    assert (
        f.sum() == 5 and balanced_flags(11, 0).tolist() == f.tolist() and balanced_flags(11, 1).tolist() != f.tolist()
    )


@pytest.mark.parametrize("name", ["preference", "sciq", "chess"])
def test_coin_flips_are_independent_of_the_split_pool(name, shared_data):
    """Regression: an unsalted coin seeded like make_splits' pool put only positives in the pool."""
    data = _load(name, str(shared_data))
    for data_seed in (0, 1):
        s = make_splits(data, {"train_gt": 150, "train_w2s": 200, "val": 10, "test": 150}, seed=0, data_seed=data_seed)
        assert 0.4 < s.train_gt.labels.mean() < 0.6 and 0.4 < s.test.labels.mean() < 0.6


@pytest.mark.parametrize("name", task_names())
def test_every_registered_task_fits_its_default_sizes(name, shared_data):
    """`superalign run --task NAME` with no sizes: the task's default sizes (or the general ones) fit its data."""
    cfg = ExperimentConfig(task=name)
    task = _task(name, str(shared_data))
    sizes = cfg.split_sizes(task).model_dump()
    data = _load(name, str(shared_data))
    assert sum(sizes.values()) <= len(data.deduplicate()), (name, sizes, len(data))
    s = make_splits(data, sizes, seed=0)
    assert [len(getattr(s, k)) for k in sizes] == list(sizes.values())
    if getattr(task, "default_sizes", None) is not None:  # only tasks too small for the general defaults have them
        assert sum(cfg.sizes.model_dump().values()) > len(data)
        partial = ExperimentConfig.load(overrides=[f"task={name}", "sizes.test=100"]).split_sizes(task)
        assert partial == task.default_sizes.model_copy(update={"test": 100})  # unset sizes keep the task's


def test_smallest_task_runs_end_to_end_with_its_defaults(shared_data, tmp_path, caplog):
    """chess (1,499 puzzles) through the CLI with no sizes set: it runs, says so, and records the sizes used."""
    import json

    from typer.testing import CliRunner

    from superalign.cli import app

    args = ["run", "--task", "chess", "--data-dir", str(shared_data), "--weak", "tfidf", "--strong", "tfidf"]
    args += ["--methods", "xent", "--seeds", "0", "--set", "n_bootstrap=20", "-q"]
    r = CliRunner().invoke(app, [*args, "--store", str(tmp_path / "runs"), "--out", str(tmp_path)])
    assert r.exit_code == 0, r.output
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["sizes"] == {"train_gt": 300, "train_w2s": 600, "val": 50, "test": 500}
    assert "using its default split sizes" in caplog.text
