"""Weak-to-strong experiments: the config, the methods, the cached stages and the runner."""

from . import coherence, elicit, ensembles, filtering, specialists  # noqa: F401  (modules of label interventions: they register into METHODS)
from .config import ExperimentConfig
from .methods import METHODS, MethodContext, Supervisor, get_method, method_names, register_method
from .runner import ExperimentResult, SeedRun, run_experiment, run_seed, summarize
from .stages import StageKeys, check_methods

__all__ = [
    "METHODS",
    "ExperimentConfig",
    "ExperimentResult",
    "MethodContext",
    "SeedRun",
    "StageKeys",
    "Supervisor",
    "check_methods",
    "get_method",
    "method_names",
    "register_method",
    "run_experiment",
    "run_seed",
    "summarize",
]
