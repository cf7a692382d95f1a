"""Results store: content-addressed stage artifacts, run folders and a SQLite results table.

Layout under the store root (default ``./runs``)::

    cache/<stage key>.npz      predictions of one fitted model (weak, ceiling or student)
    checkpoints/<stage key>/   weights of a fine-tuned model (safetensors) and its training history
    <config hash>/config.json  the resolved config of a run
    <config hash>/summary.json its summary
    results.sqlite             one row per (run, seed, model) with its test metrics

Every file is written to a temporary name and renamed into place, so a killed run never
leaves a half-written artifact; a rerun finds finished stages and skips them (an unreadable
one is recomputed). A root that cannot be written, a full disk or a key that is not a plain
name is a one-line `StoreError`.
"""

from __future__ import annotations

import io
import json
import logging
import os
import re
import sqlite3
import tempfile
import time
import zipfile
from collections.abc import Callable, Iterator
from contextlib import closing, contextmanager
from pathlib import Path
from typing import Any

import numpy as np

from .errors import SuperalignError

log = logging.getLogger(__name__)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS results (
  config_hash TEXT NOT NULL, task TEXT NOT NULL, seed INTEGER NOT NULL, role TEXT NOT NULL,
  model TEXT NOT NULL, method TEXT NOT NULL, stage_key TEXT NOT NULL,
  acc REAL, auroc REAL, ece REAL, agreement REAL, created REAL DEFAULT (julianday('now')),
  PRIMARY KEY (config_hash, seed, role, method)
)
"""
_COLUMNS = ["config_hash", "task", "seed", "role", "model", "method", "stage_key", "acc", "auroc", "ece", "agreement"]
_KEY = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]*")  # no separators, no dots: a key names one entry under the root


class StoreError(SuperalignError):
    """A store that cannot be created, written or read (permissions, full disk, bad key)."""


_UMASK = os.umask(0)
os.umask(_UMASK)


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write `data` to a temporary file beside `path`, fsync it and rename it into place (with the
    permissions of a plain new file, not the temporary file's owner-only ones)."""
    tmp = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
        os.fchmod(fd, 0o666 & ~_UMASK)
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException as e:
        if tmp is not None:
            Path(tmp).unlink(missing_ok=True)
        if isinstance(e, OSError):
            raise StoreError(f"cannot write {path}: {e.strerror or e}") from None
        raise


def atomic_write_json(path: Path, obj: Any) -> None:
    atomic_write_bytes(path, (json.dumps(obj, indent=2, sort_keys=True) + "\n").encode())


def _checked(key: str) -> str:
    if not isinstance(key, str) or not _KEY.fullmatch(key):
        raise StoreError(f"invalid store key {key!r}: letters, digits, '_' and '-' only")
    return key


class Store:
    """Where runs, cached stage outputs and the results table live."""

    def __init__(self, root: str | Path = "runs"):
        self.root = Path(root)
        self.computed: list[str] = []  # stage keys computed (not served from cache) by this object
        self.seconds: dict[str, float] = {}  # wall seconds each of those stages took to compute
        self._check: Callable[[], None] | None = None  # see `check_before_compute`
        try:
            self.root.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise StoreError(f"cannot create the store {self.root}: {e.strerror or e}") from None
        self._init_db()

    def _init_db(self, attempts: int = 40) -> None:
        """Create the results table in WAL mode (kept by the file). Switching a new file to WAL does
        not wait for SQLite's busy timeout, so two processes opening a new store at once retry it."""
        path = self.root / "results.sqlite"
        for attempt in range(attempts):
            try:
                with closing(sqlite3.connect(path, timeout=60)) as con:
                    if con.execute("PRAGMA journal_mode").fetchone()[0] != "wal":
                        con.execute("PRAGMA journal_mode=WAL")
                    with con:
                        con.execute(_SCHEMA)
                return
            except sqlite3.OperationalError as e:
                if "locked" not in str(e) or attempt == attempts - 1:
                    raise StoreError(f"results table {path}: {e}") from None
                time.sleep(min(1.0, 0.05 * (attempt + 1)))
            except sqlite3.Error as e:
                raise StoreError(f"results table {path}: {e}") from None

    @contextmanager
    def _db(self) -> Iterator[sqlite3.Connection]:
        """A connection to the results table (WAL mode, set up by `_init_db`), in one transaction,
        closed on exit."""
        path = self.root / "results.sqlite"
        try:
            with closing(sqlite3.connect(path, timeout=60)) as con:
                with con:
                    yield con
        except sqlite3.Error as e:
            raise StoreError(f"results table {path}: {e}") from None

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
        return self.root / _checked(config_hash)

    def checkpoint_dir(self, key: str) -> Path:
        """Where the fitted weights of stage `key` are kept (used by fine-tuned models)."""
        return self.root / "checkpoints" / _checked(key)

    def stage(self, key: str, compute: Callable[[], dict[str, np.ndarray]]) -> dict[str, np.ndarray]:
        """Arrays of stage `key`, computed once and then read back from ``cache/<key>.npz``."""
        path = self.root / "cache" / f"{_checked(key)}.npz"
        if path.exists():
            try:
                with np.load(path) as z:
                    return {k: z[k] for k in z.files}
            except (OSError, ValueError, EOFError, zipfile.BadZipFile) as e:
                log.warning("stage %s: unreadable cache file %s (%s); computing it again", key, path, e)
        if self._check is not None:
            check, self._check = self._check, None
            check()
        start = time.perf_counter()
        arrays = compute()
        self.seconds[key] = time.perf_counter() - start
        buf = io.BytesIO()
        np.savez(buf, **arrays)
        atomic_write_bytes(path, buf.getvalue())
        self.computed.append(key)
        return arrays

    def record(self, rows: list[dict[str, Any]]) -> None:
        """Insert (or replace) result rows, keyed by (config hash, seed, role, method), in one transaction."""
        with self._db() as con:
            con.executemany(
                f"INSERT OR REPLACE INTO results ({','.join(_COLUMNS)}) VALUES ({','.join('?' * len(_COLUMNS))})",
                [tuple(r.get(c) for c in _COLUMNS) for r in rows],
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
