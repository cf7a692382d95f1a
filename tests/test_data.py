import json

import numpy as np
import pandas as pd
import pytest

from superalign.data import Dataset, binarize_labels, get_task, make_splits, task_names
from superalign.errors import ConfigError, DataError

from .conftest import require_assets

SIZES = {"train_gt": 20, "train_w2s": 30, "val": 10, "test": 40}


def _data(n=200, pos=0.3):
    labels = (np.arange(n) < int(pos * n)).astype(np.int64)
    return Dataset([f"text {i}" for i in range(n)], labels)


def test_splits_disjoint_sized_stratified_and_seeded():
    data = _data()
    s = make_splits(data, SIZES, seed=0)
    parts = [s.train_gt, s.train_w2s, s.val, s.test]
    assert [len(p) for p in parts] == [20, 30, 10, 40]
    texts = [t for p in parts for t in p.texts]
    assert len(set(texts)) == len(texts) == 100
    for p in parts:
        assert abs(p.labels.mean() - 0.3) <= 0.1
    again = make_splits(data, SIZES, seed=0)
    assert again.test.texts == s.test.texts
    other = make_splits(data, SIZES, seed=1)
    assert other.test.texts != s.test.texts
    # every seed draws from the same pool (data_seed), so feature caches are shared across seeds
    assert set(texts) == {t for p in (other.train_gt, other.train_w2s, other.val, other.test) for t in p.texts}


def test_duplicates_never_cross_splits():
    data = Dataset([f"t{i % 50}" for i in range(200)], np.arange(200) % 2)  # each text 4 times
    s = make_splits(data, {"train_gt": 10, "train_w2s": 10, "val": 10, "test": 20}, seed=0)
    texts = s.train_gt.texts + s.train_w2s.texts + s.val.texts + s.test.texts
    assert len(set(texts)) == 50
    with pytest.raises(DataError, match="only 50"):
        make_splits(data, {"train_gt": 10, "train_w2s": 10, "val": 10, "test": 21}, seed=0)


def test_split_sizes_larger_than_data():
    with pytest.raises(DataError, match="only 200"):
        make_splits(_data(), {**SIZES, "test": 1000}, seed=0)


def test_binarize_labels():
    assert binarize_labels([0, 1, 1], "y").tolist() == [0, 1, 1]
    assert binarize_labels(["True", "False"], "y").tolist() == [1, 0]
    assert binarize_labels([True, False], "y").tolist() == [1, 0]
    assert binarize_labels(["neg", "pos"], "y").tolist() == [0, 1]
    with pytest.raises(DataError, match="exactly 2 distinct values, found 3"):
        binarize_labels([0, 1, 2], "y")
    with pytest.raises(DataError, match="found 1"):
        binarize_labels([1, 1], "y")


@pytest.mark.parametrize("suffix", [".csv", ".jsonl", ".parquet"])
def test_file_task_formats(tmp_path, suffix):
    df = pd.DataFrame({"sentence": [f"s{i}" for i in range(10)], "y": ["pos", "neg"] * 5})
    path = tmp_path / f"d{suffix}"
    {
        ".csv": lambda: df.to_csv(path, index=False),
        ".jsonl": lambda: df.to_json(path, orient="records", lines=True),
        ".parquet": lambda: df.to_parquet(path),
    }[suffix]()
    data = get_task(str(path), text_col="sentence", label_col="y").load()
    assert len(data) == 10 and data.labels.tolist() == [1, 0] * 5


def test_file_task_errors(tmp_path):
    p = tmp_path / "d.csv"
    pd.DataFrame({"text": ["a", "b"], "label": [0, 1]}).to_csv(p, index=False)
    with pytest.raises(DataError, match="no column 'sentence'"):
        get_task(str(p), text_col="sentence").load()
    empty = tmp_path / "e.csv"
    empty.write_text("text,label\n")
    with pytest.raises(DataError, match="no rows"):
        get_task(str(empty)).load()
    with pytest.raises(DataError, match="not found"):
        get_task(str(tmp_path / "missing.csv")).load()
    bad = tmp_path / "bad.jsonl"
    bad.write_text("{not json\n")
    with pytest.raises(DataError, match="cannot parse"):
        get_task(str(bad)).load()


def test_hub_code_path_with_local_dataset_folder(tmp_path):
    """A folder goes through `datasets.load_dataset`, the same call as a hub id."""
    folder = tmp_path / "my_dataset"
    folder.mkdir()
    with open(folder / "train.jsonl", "w") as f:
        for i in range(12):
            f.write(json.dumps({"text": f"example {i}", "label": i % 2}) + "\n")
    data = get_task(str(folder)).load()
    assert len(data) == 12 and data.labels.sum() == 6


def test_unknown_hub_id_is_a_clear_error():
    with pytest.raises(DataError, match="cannot load dataset"):
        get_task("no-such-org/no-such-dataset-xyz").load()


def test_sentiment_drops_near_zero_ratings(tmp_path):
    (tmp_path / "movieReviewSnippets_GroundTruth.txt").write_text(
        "1\t2.5\tgreat\n2\t-0.2\tmeh\n3\t-1.0\tbad\n4\t0.4\tok\n"
    )
    data = get_task("sentiment", path=str(tmp_path)).load()
    assert data.texts == ["great", "bad"] and data.labels.tolist() == [1, 0]
    with pytest.raises(ConfigError):
        get_task("sentiment", source="nope").load()


def test_real_sentiment_data():
    require_assets("vader")
    data = get_task("sentiment").load()
    assert "sentiment" in task_names()
    assert 8000 < len(data) <= 10605 and 0.3 < data.labels.mean() < 0.7


def test_one_duplicate_rule_everywhere_majority_label_ties_dropped(tmp_path):
    """A file task, a registered loader's helper and make_splits resolve repeated inputs alike."""
    from superalign.data.prep import majority_dedup

    texts = ["a", "b", "a", "c", "a", "b", "d"]
    labels = [0, 1, 1, 1, 1, 0, 0]  # a: 0,1,1 -> 1; b: 1,0 tie -> dropped; c -> 1; d -> 0
    p = tmp_path / "dups.csv"
    pd.DataFrame({"text": texts, "label": labels}).to_csv(p, index=False)
    from_file = get_task(str(p)).load()
    assert from_file.texts == ["a", "c", "d"] and from_file.labels.tolist() == [1, 1, 0]
    helper = majority_dedup(texts, labels)
    assert helper.texts == from_file.texts and helper.labels.tolist() == from_file.labels.tolist()
    # a task that leaves its duplicates to the splitter gets the same rule
    many = Dataset([*texts, "e", "f"] * 3, np.array([*labels, 1, 0] * 3))
    s = make_splits(many, {"train_gt": 1, "train_w2s": 1, "val": 1, "test": 2}, seed=0)
    split = {t: int(y) for part in (s.train_gt, s.train_w2s, s.val, s.test) for t, y in zip(part.texts, part.labels)}
    assert split == {"a": 1, "c": 1, "d": 0, "e": 1, "f": 0}
    with pytest.raises(DataError, match="only 5 examples"):
        make_splits(many, {"train_gt": 1, "train_w2s": 1, "val": 1, "test": 3}, seed=0)
