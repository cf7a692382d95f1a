"""Sweeps: one 8-cell probe-mode sweep on local workers and on Ray, a warm rerun, and kill -9 halfway.

    python bench/sweep.py [--keep DIR]

The sweep: sentiment and sst2 x (tfidf -> static, static -> minilm) x seeds 0, 1; xent and logconf;
splits 500 / 1,000 / 200 / 800. Each executor runs it on a fresh store (the encoder cache under
$SUPERALIGN_HOME/features is shared, and warmed first, so the times are training and scoring).
Prints a measure / value / target table.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _table import print_measures  # noqa: E402

from superalign.sweep import SweepConfig, plan_sweep, run_sweep  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
CONFIG = SweepConfig(
    name="bench",
    tasks=["sentiment", "sst2"],
    pairs=[("tfidf", "static"), ("static", "minilm")],
    methods=["xent", "logconf"],
    seeds=[0, 1],
    task_args={"sst2": {"data_dir": str(REPO.parent / "shared" / "data")}},
    run={"sizes": {"train_gt": 500, "train_w2s": 1000, "val": 200, "test": 800}},
)
quiet = lambda s: None  # noqa: E731


def timed(root: Path, **kw) -> float:
    start = time.perf_counter()
    result = run_sweep(CONFIG, root, echo=quiet, **kw)
    assert not result.failed, result.failed
    return time.perf_counter() - start


def kill_halfway(root: Path) -> tuple[int, int, int]:
    """Run the sweep as a subprocess, kill -9 it once half its cells are done, rerun:
    (cells finished before the kill, cells the rerun computed, finished cells it computed again)."""
    path = root.parent / "bench_sweep.yaml"
    path.write_text(yaml.safe_dump(CONFIG.model_dump(mode="json")))
    cmd = [sys.executable, "-m", "superalign", "sweep", str(path), "--store", str(root), "--workers", "2", "-q"]
    proc = subprocess.Popen(cmd, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    jobs = root / f"sweep-{CONFIG.hash()}" / "jobs"
    while len(list(jobs.glob("w2s-*.json"))) < 4 and proc.poll() is None:
        time.sleep(0.05)
    os.kill(proc.pid, signal.SIGKILL)  # the driver: its workers exit when it is gone
    proc.wait()
    finished = {j.id for j in plan_sweep(CONFIG, root) if j.done and j.kind == "cell"}
    again = run_sweep(CONFIG, root, workers=2, echo=quiet)
    computed = {i for i, s in again.states.items() if i.startswith("w2s-")}
    return len(finished), len(computed), len(finished & computed)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--keep", type=Path, help="keep the stores under this folder")
    args = parser.parse_args()
    base = args.keep or Path(tempfile.mkdtemp(prefix="bench-sweep-"))
    cells = sum(j.kind == "cell" for j in plan_sweep(CONFIG, base / "plan"))
    timed(base / "warmup", workers=2)  # the encoder cache: every text once per model
    rows = []
    one = timed(base / "local-1x2", workers=1, threads=2)
    two = timed(base / "local-2x1", workers=2, threads=1)
    rows += [(f"{cells}-cell sweep, 1 local worker x 2 threads (s)", f"{one:.1f}", "-")]
    rows += [("2 local workers x 1 thread (s)", f"{two:.1f}", f"speed-up {one / two:.2f}x (2 cores)")]
    import ray

    start = time.perf_counter()
    ray.init(num_cpus=2, include_dashboard=False, logging_level="ERROR", log_to_driver=False)
    init = time.perf_counter() - start
    ray1 = timed(base / "ray-1", workers=1, threads=2, ray="auto")
    ray2 = timed(base / "ray-2", workers=2, threads=1, ray="auto")
    ray.shutdown()
    rows += [("ray.init, local instance with 2 CPUs (s)", f"{init:.1f}", "-")]
    rows += [("Ray, 1 worker x 2 threads (s)", f"{ray1:.1f}", "-")]
    rows += [("Ray, 2 workers x 1 thread (s)", f"{ray2:.1f}", f"speed-up {ray1 / ray2:.2f}x")]
    warm = timed(base / "local-2x1", workers=2)
    rows += [("warm rerun (s)", f"{warm:.2f}", "-"), ("warm / cold (2 local workers)", f"{warm / two:.1%}", "<= 5%")]
    finished, computed, again = kill_halfway(base / "killed")
    rows += [("cells finished before kill -9", str(finished), f"of {cells}")]
    rows += [("cells the rerun computed", str(computed), f"{cells - finished} (the rest)")]
    rows += [("finished cells computed again", str(again), "0")]
    print_measures(rows)


if __name__ == "__main__":
    main()
