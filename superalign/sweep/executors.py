"""Where a sweep's jobs run: local worker processes, or tasks on a Ray cluster.

Both have one small interface, used by the scheduler in `runner.py`: ``submit(job) -> handle``,
``wait(handles, timeout) -> [(handle, result)]`` (the finished ones, each a `work.execute`
result), ``close()``. Ray is the engine on a cluster (placement, retries of tasks whose worker
was lost); the scheduler only decides which job may start next (`plan.Job.claims`).
"""

from __future__ import annotations

import logging
import os
import socket
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor
from concurrent.futures import wait as wait_futures
from multiprocessing import get_context
from typing import Any

from ..errors import SuperalignError
from ..plugins import ENV as PLUGINS_ENV
from .plan import Job
from .work import execute, init_worker, one_line


class SweepError(SuperalignError):
    """A sweep that cannot run: no Ray cluster at the address, a grid that expands to nothing."""


def default_threads(workers: int) -> int:
    """Threads per worker so that workers x threads fills the machine's cores without oversubscribing."""
    return max(1, (os.cpu_count() or 1) // max(1, workers))


class LocalExecutor:
    """`workers` worker processes on this machine (spawned: no state shared with the driver), each
    with `threads` compute threads. A worker that dies fails only its own job (the pool is rebuilt);
    workers exit when the driver dies."""

    def __init__(self, root: str, workers: int = 1, threads: int | None = None):
        self.root, self.slots = root, workers
        self.threads = threads or default_threads(workers)
        self._pool: ProcessPoolExecutor | None = None

    def _get_pool(self) -> ProcessPoolExecutor:
        if self._pool is None:
            self._pool = ProcessPoolExecutor(
                self.slots,
                mp_context=get_context("spawn"),
                initializer=init_worker,
                initargs=(self.threads, os.getpid()),
            )
        return self._pool

    def submit(self, job: Job) -> Future:
        return self._get_pool().submit(execute, job.kind, job.run, job.config, self.root, self.threads)

    def wait(self, handles: list[Future], timeout: float) -> list[tuple[Future, dict[str, Any]]]:
        done, _ = wait_futures(handles, timeout=timeout, return_when=FIRST_COMPLETED)
        out = []
        for f in done:
            try:
                out.append((f, f.result()))
            except Exception as e:  # the worker process died (BrokenProcessPool): rebuild the pool
                out.append((f, {"seconds": 0.0, "error": f"worker lost: {one_line(e)}", "user_error": False}))
                if self._pool is not None:
                    self._pool.shutdown(wait=False, cancel_futures=True)
                    self._pool = None
        return out

    def close(self, wait: bool = True) -> None:
        """Stop the workers: after their jobs (`wait`), or at once (an interrupted sweep)."""
        if self._pool is not None:
            self._pool.shutdown(wait=wait, cancel_futures=True)
            self._pool = None


def _check_address(address: str) -> None:
    """A one-line SweepError unless something answers at ``host:port`` within 5 s."""
    host, _, port = address.removeprefix("ray://").rpartition(":")
    try:
        with socket.create_connection((host or "127.0.0.1", int(port)), timeout=5):
            return
    except (OSError, ValueError) as e:
        raise SweepError(f"no Ray cluster answers at {address}: {e.strerror or e}") from None


class RayExecutor:
    """Each job is a Ray task (``num_cpus=threads``, retried up to `retries` times when its worker is
    lost), at most `workers` in flight. `address`: ``auto`` (the cluster this machine is part of),
    ``HOST:PORT`` (a cluster's head), or ``local`` (start a Ray instance on this machine with
    workers x threads CPUs). Every node needs superalign installed and the store on a shared path."""

    def __init__(self, root: str, address: str, workers: int = 1, threads: int | None = None, retries: int = 3):
        import ray

        self.root, self.slots = root, workers
        self.threads = threads or default_threads(workers)
        quiet = dict(logging_level=logging.ERROR, log_to_driver=False, configure_logging=True)
        self._owns = not ray.is_initialized()
        if self._owns:  # else: a Ray instance this process already started (tests, notebooks)
            try:
                if address == "local":
                    ray.init(num_cpus=workers * self.threads, include_dashboard=False, **quiet)
                else:
                    if address != "auto":
                        _check_address(address)
                    ray.init(address=address, **quiet)
            except ConnectionError as e:
                raise SweepError(f"no Ray cluster at {address}: {one_line(e)}") from None
        plugins = os.environ.get(PLUGINS_ENV)  # the user's registered code, for the workers to import
        env = {"runtime_env": {"env_vars": {PLUGINS_ENV: plugins}}} if plugins else {}
        self._remote = ray.remote(execute).options(num_cpus=self.threads, max_retries=retries, **env)

    def submit(self, job: Job) -> Any:
        return self._remote.remote(job.kind, job.run, job.config, self.root, self.threads)

    def wait(self, handles: list[Any], timeout: float) -> list[tuple[Any, dict[str, Any]]]:
        import ray

        done, _ = ray.wait(handles, num_returns=1, timeout=timeout)
        out = []
        for ref in done:
            try:
                out.append((ref, ray.get(ref)))
            except Exception as e:  # lost past its retries, or the cluster went away
                out.append((ref, {"seconds": 0.0, "error": f"ray task lost: {one_line(e)}", "user_error": False}))
        return out

    def close(self, wait: bool = True) -> None:
        """Disconnect (and stop a Ray instance this executor started)."""
        import ray

        if self._owns and ray.is_initialized():
            ray.shutdown()
