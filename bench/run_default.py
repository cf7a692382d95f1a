"""Benchmark the default run and the encoder cache (issues 2 and 19).

Prints a measure / value / target table. Each of `--cold` rounds runs, back to back so that the
machine's drift from hour to hour touches them alike:
  - `superalign run` (the default experiment) cold: an empty feature cache and store, the assets
    present;
  - a fresh process that imports `sentence-transformers`, loads MiniLM and encodes exactly the
    texts the cold run encoded with MiniLM (read back from its feature cache): the least a cold
    process must spend to produce those features;
  - the raw encoding of those texts by `sentence-transformers` in this process (model loaded);
  - with ``--bf16``, the cold run again with ``--set probe.encoder_bf16=true``.
It reports the medians and ranges of cold ÷ raw encoding and cold ÷ fresh process over the rounds,
the run warm (the same command again, served from the store), and its peak memory: its largest
process (exact, `ru_maxrss`) and its whole process tree, the second process that encodes the weak
model included (sampled every 50 ms). Then MiniLM through superalign's cached encoder on a cold
cache ÷ raw `sentence-transformers` on the same texts, alternating A B A B ... over `--repeats`
pairs (median and spread), and a warm cache read ÷ raw encoding of the same texts.

With ``--phases``, only one cold run in this process, timed by part (MiniLM, static model,
probe training, predictions, the rest). The static model encodes in a second process while
MiniLM loads (`superalign.models.background`): this process only waits for it, if at all.

usage: python bench/run_default.py [--texts N] [--repeats R] [--cold C] [--bf16] [--phases]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import resource
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _table import print_measures  # bench/ is on sys.path when a script in it runs


def cold_home(tmp: Path) -> Path:
    """A superalign home under ``tmp`` with the assets present and the feature cache empty."""
    from superalign import assets

    home = tmp / "home"
    home.mkdir()
    (home / "assets").symlink_to(assets.home() / "assets")
    return home


def timed_run(home: Path, store: Path, *options: str) -> tuple[float, float]:
    """Wall time (s) of `superalign run [options]` in `home`, and the peak resident memory (MB) of its
    process tree (it and its children together), sampled every 50 ms."""
    import psutil  # installed with accelerate

    env = {**os.environ, "SUPERALIGN_HOME": str(home)}
    command = [sys.executable, "-m", "superalign", "run", "-q", "--store", str(store), *options]
    t = time.perf_counter()
    run = psutil.Popen(command, env=env, stdout=subprocess.DEVNULL)
    peak = 0
    while run.poll() is None:
        try:
            peak = max(peak, sum(p.memory_info().rss for p in [run, *run.children(recursive=True)]))
        except psutil.NoSuchProcess:  # a child ended between the listing and the reading
            pass
        time.sleep(0.05)
    wall = time.perf_counter() - t
    if run.returncode:
        raise subprocess.CalledProcessError(run.returncode, run.args)
    return wall, peak / 2**20


def encoded_texts(home: Path, key: str) -> list[str]:
    """The default run's texts whose `key` features its cache holds: what the cold run encoded."""
    from superalign.data import get_task, make_splits
    from superalign.w2s import ExperimentConfig

    cfg = ExperimentConfig()
    data = get_task(cfg.task).load()
    texts = {}
    for seed in cfg.seeds:
        splits = make_splits(data, cfg.sizes.model_dump(), seed=seed, data_seed=cfg.data_seed)
        for split in (splits.train_gt, splits.train_w2s, splits.val, splits.test):
            texts.update((hashlib.blake2b(t.encode(), digest_size=16).digest(), t) for t in split.texts)
    path = home / "features" / f"{hashlib.sha256(key.encode()).hexdigest()[:20]}.sqlite"
    with sqlite3.connect(path) as con:
        cached = {h for (h,) in con.execute("SELECT h FROM emb")}
    return [t for h, t in texts.items() if h in cached]


RAW_PROCESS = """
import json, sys
from sentence_transformers import SentenceTransformer
model = SentenceTransformer(sys.argv[1], device="cpu")
model.encode(json.load(open(sys.argv[2])), batch_size=64, convert_to_numpy=True)
"""


def raw_process(texts: list[str], model: Path) -> float:
    """Wall time of a fresh Python process that imports sentence-transformers, loads `model` and
    encodes `texts`: the least a cold process must spend to produce those features."""
    with tempfile.NamedTemporaryFile("w", suffix=".json") as f:
        json.dump(texts, f)
        f.flush()
        t = time.perf_counter()
        subprocess.run([sys.executable, "-c", RAW_PROCESS, str(model), f.name], check=True, capture_output=True)
        return time.perf_counter() - t


def rate(fn, texts: list[str]) -> float:
    t = time.perf_counter()
    fn(texts)
    return len(texts) / (time.perf_counter() - t)


def encoder_ratios(texts: list[str], repeats: int) -> dict[str, list[float]]:
    """Texts/s of raw sentence-transformers, our cached encoder on a cold cache, and on a warm
    one, alternating raw and cold-cache passes `repeats` times."""
    from sentence_transformers import SentenceTransformer

    from superalign import assets
    from superalign.models import CachedEncoder, encoder_for

    raw = SentenceTransformer(str(assets.require("minilm")), device="cpu")
    inner = encoder_for("minilm")
    raw_encode = lambda ts: raw.encode(ts, batch_size=64, convert_to_numpy=True)  # noqa: E731
    raw_encode(texts[:64])  # warm both up
    inner.encode(texts[:64])
    rates: dict[str, list[float]] = {"raw": [], "cold": [], "warm": []}
    with tempfile.TemporaryDirectory() as tmp:
        ours = CachedEncoder(inner, Path(tmp))
        for _ in range(repeats):
            rates["raw"].append(rate(raw_encode, texts))
            ours.path.unlink(missing_ok=True)
            rates["cold"].append(rate(ours.encode, texts))
            rates["warm"].append(rate(ours.encode, texts))
    return rates


def phases() -> list[tuple[str, str, str]]:
    """One cold default run in this process (imports of superalign itself excluded), with the wall
    time of its main parts: where the time beyond encoding goes."""
    from collections import defaultdict

    from superalign.models import classifiers, encoders
    from superalign.store import Store
    from superalign.w2s import ExperimentConfig, run_experiment

    spent: dict[str, float] = defaultdict(float)

    def timed(owner: type, name: str, label: str) -> None:
        inner = getattr(owner, name)

        def wrapper(*args, **kwargs):
            t = time.perf_counter()
            try:
                return inner(*args, **kwargs)
            finally:
                spent[label] += time.perf_counter() - t

        setattr(owner, name, wrapper)

    timed(encoders.SentenceTransformerEncoder, "encode", "MiniLM: import, load and encode")
    timed(encoders.StaticEncoder, "encode", "static model: load and encode")
    timed(classifiers.ProbeClassifier, "_train", "probe training (every fit)")
    timed(classifiers.ProbeClassifier, "predict_proba", "probe predictions")
    timed(subprocess.Popen, "wait", "waiting for the second process (static model)")
    with tempfile.TemporaryDirectory() as tmp:
        os.environ["SUPERALIGN_HOME"] = str(cold_home(Path(tmp)))
        t = time.perf_counter()
        run_experiment(ExperimentConfig(), store=Store(Path(tmp) / "runs"))
        total = time.perf_counter() - t
    rows = [(label, f"{s:.2f}", "") for label, s in sorted(spent.items(), key=lambda kv: -kv[1])]
    return [
        *rows,
        ("the rest (data, splits, stages, bootstrap, summaries)", f"{total - sum(spent.values()):.2f}", ""),
        ("cold default run in this process (s)", f"{total:.2f}", ""),
    ]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--texts", type=int, default=1000, help="texts for the encoder throughput test")
    ap.add_argument("--repeats", type=int, default=5, help="alternating raw / cached pairs")
    ap.add_argument("--cold", type=int, default=3, help="cold default runs (each on an empty cache)")
    ap.add_argument("--phases", action="store_true", help="only time the parts of one cold run, in this process")
    ap.add_argument("--bf16", action="store_true", help="each round also runs cold with probe.encoder_bf16=true")
    args = ap.parse_args()
    if args.phases:
        print_measures(phases())
        return
    from sentence_transformers import SentenceTransformer

    from superalign import assets
    from superalign.models import encoder_for

    model = assets.require("minilm")
    colds, trees, raws, fresh, bf16 = [], [], [], [], []
    for i in range(args.cold):
        with tempfile.TemporaryDirectory() as tmp:
            home = cold_home(Path(tmp))
            cold, tree_mb = timed_run(home, Path(tmp) / "runs")
            colds.append(cold)
            trees.append(tree_mb)
            if i == 0:
                largest_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024  # before any other child
                warm, _ = timed_run(home, Path(tmp) / "runs")
                texts = encoded_texts(home, encoder_for("minilm").key)
                raw = SentenceTransformer(str(model), device="cpu")
                raw.encode(texts[:64], batch_size=64)
        if args.bf16:
            with tempfile.TemporaryDirectory() as tmp:
                bf16.append(timed_run(cold_home(Path(tmp)), Path(tmp) / "runs", "--set", "probe.encoder_bf16=true")[0])
        fresh.append(raw_process(texts, model))
        t = time.perf_counter()
        raw.encode(texts, batch_size=64, convert_to_numpy=True)
        raws.append(time.perf_counter() - t)
    rates = encoder_ratios(texts[: args.texts], args.repeats)
    cold_ratio = [c / r for c, r in zip(rates["cold"], rates["raw"])]
    warm_ratio = [w / r for w, r in zip(rates["warm"], rates["raw"])]
    spread = lambda xs, unit="x": f"{statistics.median(xs):.2f}{unit} ({min(xs):.2f}-{max(xs):.2f})"  # noqa: E731
    rows = [
        (f"default run, cold (s; median, range of {args.cold})", spread(colds, ""), "<= 90"),
        ("default run, warm (s)", f"{warm:.1f}", "<= 5"),
        ("default run, cold: peak resident memory, its largest process (MB)", f"{largest_mb:.0f}", ""),
        ("default run, cold: peak resident memory, all its processes (MB, sampled)", f"{max(trees):.0f}", "<= 2048"),
        (f"raw MiniLM encoding of the {len(texts)} texts it encoded (s)", spread(raws, ""), ""),
        ("cold run / that raw encoding time (per round)", spread([c / r for c, r in zip(colds, raws)]), "<= 1.3x"),
        ("a fresh process importing sentence-transformers, loading MiniLM, encoding them (s)", spread(fresh, ""), ""),
        ("cold run / that process (per round)", spread([c / f for c, f in zip(colds, fresh)]), ""),
        *(
            [
                ("default run, cold, probe.encoder_bf16=true (s)", spread(bf16, ""), ""),
                ("cold run, float32 / bf16 features (per round)", spread([c / b for c, b in zip(colds, bf16)]), ""),
            ]
            if args.bf16
            else []
        ),
        ("MiniLM raw sentence-transformers (texts/s, median)", f"{statistics.median(rates['raw']):.0f}", ""),
        (f"cached encoder, cold cache / raw (median of {args.repeats}, spread)", spread(cold_ratio), ">= 0.95x"),
        ("cached encoder, warm cache / raw (median)", f"{statistics.median(warm_ratio):.0f}x", ">= 50x"),
    ]
    print_measures(rows)


if __name__ == "__main__":
    main()
