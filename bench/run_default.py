"""Benchmark the default run and the encoder cache.

Prints a table with:
  - wall time of `superalign run` (the default experiment) cold (empty feature cache and store,
    assets present) and warm (the same command again, served from the store);
  - MiniLM encoding throughput through superalign's cached encoder (cache empty) divided by raw
    `sentence-transformers` encode of the same texts, both in this process.
Targets (issue 2): cold <= 90 s, warm <= 5 s, encoder >= 0.9x raw.

usage: python bench/run_default.py [--texts N]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _table import print_measures  # bench/ is on sys.path when a script in it runs


def timed_run(home: Path, store: Path) -> float:
    env = {**os.environ, "SUPERALIGN_HOME": str(home)}
    t = time.perf_counter()
    subprocess.run(
        [sys.executable, "-m", "superalign", "run", "-q", "--store", str(store)],
        env=env,
        check=True,
        stdout=subprocess.DEVNULL,
    )
    return time.perf_counter() - t


def encoder_ratio(n: int) -> tuple[float, float]:
    from sentence_transformers import SentenceTransformer

    from superalign import assets
    from superalign.data import get_task
    from superalign.models import CachedEncoder, encoder_for

    texts = get_task("sentiment").load().texts[:n]
    raw = SentenceTransformer(str(assets.require("minilm")), device="cpu")
    ours_inner = encoder_for("minilm")
    raw.encode(texts[:64], batch_size=64)  # warm both up
    ours_inner.encode(texts[:64])
    with tempfile.TemporaryDirectory() as tmp:
        ours = CachedEncoder(ours_inner, Path(tmp))
        rates = {"raw": [], "ours": []}
        for _ in range(2):  # alternate to cancel drift
            t = time.perf_counter()
            raw.encode(texts, batch_size=64, convert_to_numpy=True)
            rates["raw"].append(n / (time.perf_counter() - t))
            ours.path.unlink(missing_ok=True)
            t = time.perf_counter()
            ours.encode(texts)
            rates["ours"].append(n / (time.perf_counter() - t))
    return max(rates["ours"]), max(rates["raw"])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--texts", type=int, default=1000, help="texts for the encoder throughput test")
    args = ap.parse_args()
    from superalign import assets

    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp) / "home"
        home.mkdir()
        (home / "assets").symlink_to(assets.home() / "assets")  # assets present, feature cache empty
        cold = timed_run(home, Path(tmp) / "runs")
        warm = timed_run(home, Path(tmp) / "runs")
    ours, raw = encoder_ratio(args.texts)
    rows = [
        ("default run, cold (s)", f"{cold:.1f}", "<= 90"),
        ("default run, warm (s)", f"{warm:.1f}", "<= 5"),
        ("MiniLM raw sentence-transformers (texts/s)", f"{raw:.0f}", ""),
        ("MiniLM via superalign CachedEncoder (texts/s)", f"{ours:.0f}", ""),
        ("encoder throughput ratio (ours / raw)", f"{ours / raw:.2f}x", ">= 0.9x"),
    ]
    print_measures(rows)


if __name__ == "__main__":
    main()
