"""Sweeps: grids of W2S runs (tasks x model pairs x seeds, every method), oversight loops and
generation runs, planned against the store, run on local workers or a Ray cluster, resumable."""

from .config import SweepConfig
from .executors import LocalExecutor, RayExecutor, SweepError, default_threads
from .plan import Job, plan_sweep
from .runner import SweepResult, plan_lines, run_sweep

__all__ = [
    "Job",
    "LocalExecutor",
    "RayExecutor",
    "SweepConfig",
    "SweepError",
    "SweepResult",
    "default_threads",
    "plan_lines",
    "plan_sweep",
    "run_sweep",
]
