"""Results store: content-addressed stage artifacts, run folders and a SQLite results table.

Layout under the store root (default ``./runs``)::

    cache/<stage key>.npz      predictions of one fitted model (weak, ceiling or student)
    checkpoints/<stage key>/   weights of a fine-tuned model (safetensors) and its training history
    <config hash>/config.json  the resolved config of a run
    <config hash>/summary.json its summary
    results.sqlite             one row per (run, seed, model) with its test metrics

Every file is written to a temporary name and renamed into place, so a killed run never
leaves a half-written artifact; a rerun finds finished stages and skips them.
"""

from __future__ import annotations

import json
import os
import sqlite3
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np

_SCHEMA = """
CREATE TABLE IF NOT EXISTS results (
  config_hash TEXT NOT NULL, task TEXT NOT NULL, seed INTEGER NOT NULL, role TEXT NOT NULL,
  model TEXT NOT NULL, method TEXT NOT NULL, stage_key TEXT NOT NULL,
  acc REAL, auroc REAL, ece REAL, agreement REAL, created REAL DEFAULT (julianday('now')),
  PRIMARY KEY (config_hash, seed, role, method)
)
"""


def atomic_write_bytes(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_write_json(path: Path, obj: Any) -> None:
    atomic_write_bytes(path, (json.dumps(obj, indent=2, sort_keys=True) + "\n").encode())


class Store:
    """Where runs, cached stage outputs and the results table live."""

    def __init__(self, root: str | Path = "runs"):
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)
        self.computed: list[str] = []  # stage keys computed (not served from cache) by this object
        self.seconds: dict[str, float] = {}  # wall seconds each of those stages took to compute
        self._check: Callable[[], None] | None = None  # see `check_before_compute`
        with self._db() as con:
            con.execute(_SCHEMA)

    def _db(self) -> sqlite3.Connection:
        con = sqlite3.connect(self.root / "results.sqlite", timeout=60)
        con.execute("PRAGMA journal_mode=WAL")
        return con

    @contextmanager
    def check_before_compute(self, check: Callable[[], None]) -> Iterator[None]:
        """Within the block, call `check` once, right before the first stage that must be computed:
        a fully cached run never pays for it (e.g. validating methods that load models)."""
        self._check = check
        try:
            yield
        finally:
            self._check = None

    def run_dir(self, config_hash: str) -> Path:
        return self.root / config_hash

    def checkpoint_dir(self, key: str) -> Path:
        """Where the fitted weights of stage `key` are kept (used by fine-tuned models)."""
        return self.root / "checkpoints" / key

    def stage(self, key: str, compute: Callable[[], dict[str, np.ndarray]]) -> dict[str, np.ndarray]:
        """Arrays of stage `key`, computed once and then read back from ``cache/<key>.npz``."""
        path = self.root / "cache" / f"{key}.npz"
        if path.exists():
            with np.load(path) as z:
                return {k: z[k] for k in z.files}
        if self._check is not None:
            check, self._check = self._check, None
            check()
        import io
        import time

        start = time.perf_counter()
        arrays = compute()
        self.seconds[key] = time.perf_counter() - start

        buf = io.BytesIO()
        np.savez(buf, **arrays)
        atomic_write_bytes(path, buf.getvalue())
        self.computed.append(key)
        return arrays

    def record(self, rows: list[dict[str, Any]]) -> None:
        cols = [
            "config_hash",
            "task",
            "seed",
            "role",
            "model",
            "method",
            "stage_key",
            "acc",
            "auroc",
            "ece",
            "agreement",
        ]
        with self._db() as con:
            con.executemany(
                f"INSERT OR REPLACE INTO results ({','.join(cols)}) VALUES ({','.join('?' * len(cols))})",
                [tuple(r.get(c) for c in cols) for r in rows],
            )

    def rows(self, config_hash: str | None = None) -> list[dict[str, Any]]:
        with self._db() as con:
            con.row_factory = sqlite3.Row
            q = (
                "SELECT * FROM results"
                + (" WHERE config_hash = ?" if config_hash else "")
                + " ORDER BY seed, role, method"
            )
            return [dict(r) for r in con.execute(q, (config_hash,) if config_hash else ())]
