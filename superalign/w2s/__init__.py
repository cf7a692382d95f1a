"""Weak-to-strong experiments."""

from .methods import METHODS, MethodContext, Supervisor, get_method, method_names, register_method
from .runner import ExperimentResult, ModelFactory, SeedRun, run_experiment, run_seed, summarize

__all__ = [
    "METHODS", "ExperimentResult", "MethodContext", "ModelFactory", "SeedRun", "Supervisor", "get_method", "method_names",
    "register_method", "run_experiment", "run_seed", "summarize",
]
