"""Frozen text encoders (texts -> feature matrix) and their disk cache.

Models load lazily: a run whose features are all cached never imports the model's library.
"""

from __future__ import annotations

import functools
import hashlib
import logging
import os
import sqlite3
from collections.abc import Sequence
from pathlib import Path
from typing import Protocol, runtime_checkable

import numpy as np

from ..errors import ModelError

log = logging.getLogger(__name__)


@runtime_checkable
class Encoder(Protocol):
    """Maps texts to a float32 (n, d) feature matrix. `key` identifies the weights exactly."""

    key: str

    def encode(self, texts: Sequence[str]) -> np.ndarray: ...


class SentenceTransformerEncoder:
    """Any sentence-transformers model: a local folder or a Hugging Face hub id."""

    def __init__(self, source: str, key: str, batch_size: int = 64, device: str | None = None):
        self.source, self.key, self.batch_size, self.device = source, key, batch_size, device
        self._model = None

    @property
    def model(self):
        if self._model is None:
            from sentence_transformers import SentenceTransformer

            try:
                self._model = SentenceTransformer(self.source, device=self.device)
            except (OSError, ValueError) as e:
                raise ModelError(
                    f"cannot load sentence-transformers model {self.source!r}: {str(e).splitlines()[0]}"
                ) from None
        return self._model

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        return self.model.encode(
            list(texts),
            batch_size=self.batch_size,
            convert_to_numpy=True,
            show_progress_bar=len(texts) >= 512 and not os.environ.get("TQDM_DISABLE"),
        ).astype(np.float32)


class StaticEncoder:
    """Static (model2vec-format) embeddings: mean of token vectors, no network."""

    def __init__(self, source: str, key: str):
        self.source, self.key = source, key
        self._model = None

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        if self._model is None:
            self._model = _load_static(self.source)
        return np.asarray(self._model.encode(list(texts)), dtype=np.float32)


@functools.lru_cache(maxsize=4)
def _load_static(source: str):
    """One load per process and folder: model2vec's loader takes seconds (tokenizer copies),
    far longer than encoding a batch, and every `encoder_for` call builds a new encoder."""
    from model2vec import StaticModel

    try:
        return StaticModel.from_pretrained(source)
    except (OSError, ValueError, FileNotFoundError) as e:
        raise ModelError(f"cannot load static model {source!r}: {str(e).splitlines()[0]}") from None


def _text_hash(text: str) -> bytes:
    return hashlib.blake2b(text.encode("utf-8"), digest_size=16).digest()


class CachedEncoder:
    """Wraps an encoder with an on-disk cache keyed by (encoder key, text hash).

    One SQLite file per encoder; each text is encoded once, ever. Misses are encoded in a single
    batched call, so throughput matches the raw encoder.
    """

    def __init__(self, inner: Encoder, cache_dir: Path):
        self.inner = inner
        self.key = inner.key
        cache_dir.mkdir(parents=True, exist_ok=True)
        self.path = cache_dir / f"{hashlib.sha256(inner.key.encode()).hexdigest()[:20]}.sqlite"
        self.hits = self.misses = 0

    def _connect(self) -> sqlite3.Connection:
        con = sqlite3.connect(self.path, timeout=60)
        con.execute("PRAGMA journal_mode=WAL")
        con.execute("CREATE TABLE IF NOT EXISTS emb (h BLOB PRIMARY KEY, v BLOB NOT NULL)")
        return con

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        hashes = [_text_hash(t) for t in texts]
        unique = list(dict.fromkeys(hashes))
        found: dict[bytes, np.ndarray] = {}
        con = self._connect()
        try:
            for i in range(0, len(unique), 900):  # SQLite's bound-parameter limit
                chunk = unique[i : i + 900]
                rows = con.execute(f"SELECT h, v FROM emb WHERE h IN ({','.join('?' * len(chunk))})", chunk)
                found.update((h, np.frombuffer(v, dtype=np.float32)) for h, v in rows)
            missing = [h for h in unique if h not in found]
            self.hits += len(unique) - len(missing)
            self.misses += len(missing)
            if missing:
                first = {h: t for h, t in zip(reversed(hashes), reversed(texts))}
                vecs = self.inner.encode([first[h] for h in missing])
                with con:
                    con.executemany(
                        "INSERT OR REPLACE INTO emb VALUES (?, ?)", [(h, v.tobytes()) for h, v in zip(missing, vecs)]
                    )
                found.update(zip(missing, vecs))
        finally:
            con.close()
        return np.stack([found[h] for h in hashes]) if hashes else np.zeros((0, 0), np.float32)
