"""Weak-to-strong experiments."""

from .runner import ExperimentResult, ModelFactory, SeedRun, run_experiment, run_seed, summarize

__all__ = ["ExperimentResult", "ModelFactory", "SeedRun", "run_experiment", "run_seed", "summarize"]
