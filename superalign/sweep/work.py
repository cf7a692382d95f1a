"""What a worker does with one job: the functions every executor calls, in whatever process it runs.

`execute` never raises for a failing run: it returns the one-line error, so a bad cell is
reported and the sweep goes on; only a lost worker (killed, out of memory) reaches the executor.
"""

from __future__ import annotations

import os
import sys
import threading
import time
from pathlib import Path
from typing import Any

from ..errors import SuperalignError
from ..plugins import ensure_plugins

THREAD_VARS = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "NUMEXPR_NUM_THREADS")


def set_threads(n: int) -> None:
    """Use `n` compute threads in this process: the BLAS/OpenMP pools (read when torch is imported)
    and torch's own, if it is already loaded. Also silences progress bars of libraries."""
    for var in THREAD_VARS:
        os.environ[var] = str(n)
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    os.environ.setdefault("TQDM_DISABLE", "1")
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    if "torch" in sys.modules:
        sys.modules["torch"].set_num_threads(n)


def init_worker(threads: int, parent: int) -> None:
    """Start a local worker process: `threads` compute threads, and exit as soon as the sweep that
    started it (pid `parent`) is gone, e.g. killed with ``kill -9`` (its job's files are atomic)."""
    set_threads(threads)

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(0.5)
        os._exit(1)

    threading.Thread(target=watch, daemon=True, name="parent-watch").start()


def _threads() -> int:
    """The compute threads this process uses: torch's when it is loaded, else the OpenMP setting."""
    torch = sys.modules.get("torch")
    return torch.get_num_threads() if torch is not None else int(os.environ.get("OMP_NUM_THREADS", "0"))


def one_line(e: BaseException) -> str:
    """An exception as one line: a user error's own message, else its type and first line."""
    text = str(e).strip().splitlines()[0] if str(e).strip() else ""
    return text if isinstance(e, SuperalignError) else f"{type(e).__name__}: {text}".rstrip(": ")


def _encode(config: dict[str, Any]) -> int:
    """Encode every text of the task's pool with the model's cached encoder; returns the misses."""
    from ..data import get_task, make_splits
    from ..runconfig import RunConfig

    task = get_task(config["task"], **config["task_args"])
    splits = make_splits(task.load(), config["sizes"], seed=config["seed"], data_seed=config["data_seed"])
    texts = [t for s in (splits.train_gt, splits.train_w2s, splits.val, splits.test) for t in s.texts]
    encoder = RunConfig().factory(config["model"]).encoder
    encoder.encode([t for t in texts if isinstance(t, str)])
    return encoder.misses


def _run(run: str, config: dict[str, Any], root: Path) -> int:
    """Run (or resume) one run in the store at `root`; returns how many stages or rounds it computed."""
    from ..store import Store
    from .plan import build_config

    cfg, store = build_config(run, config), Store(root)
    if run == "w2s":
        from ..w2s import run_experiment

        return len(run_experiment(cfg, store).computed)
    if run == "loop":
        from ..oversight import run_loop

        return len(run_loop(cfg, store).computed)
    if run == "red_team":
        from ..redteam import run_red_team

        return int(run_red_team(cfg, store)["computed"])
    from ..generation import run_best_of_n, run_refuse, run_teach

    if run == "best_of_n":
        return len(run_best_of_n(cfg, store).computed)
    return int((run_refuse if run == "refuse" else run_teach)(cfg, store)["computed"])


def execute(kind: str, run: str, config: dict[str, Any], root: str, threads: int) -> dict[str, Any]:
    """Do one job; returns ``{"seconds", "computed"}`` or ``{"seconds", "error", "user_error"}``."""
    set_threads(threads)
    start = time.perf_counter()
    try:
        ensure_plugins()  # the user's registered code ($SUPERALIGN_PLUGINS), once per worker process
        computed = _encode(config) if kind == "encode" else _run(run, config, Path(root))
        return {"seconds": time.perf_counter() - start, "computed": computed, "pid": os.getpid(), "threads": _threads()}
    except Exception as e:  # a failing cell is reported, the sweep goes on
        return {
            "seconds": time.perf_counter() - start,
            "error": one_line(e),
            "user_error": isinstance(e, SuperalignError),
            "pid": os.getpid(),
        }
