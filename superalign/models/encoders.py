"""Frozen text encoders (texts -> feature matrix) and their disk cache.

Models load lazily: a run whose features are all cached never imports the model's library.
"""

from __future__ import annotations

import functools
import hashlib
import json
import logging
import os
import sqlite3
from collections.abc import Iterator, Sequence
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
    """Any sentence-transformers model: a local folder or a Hugging Face hub id. With ``bf16``, it
    encodes under bf16 autocast (float32 weights, bf16 matrix products), under its own cache key."""

    def __init__(self, source: str, key: str, batch_size: int = 64, device: str | None = None, bf16: bool = False):
        self.source, self.batch_size, self.device, self.bf16 = source, batch_size, device, bf16
        self.key = f"{key}+bf16" if bf16 else key
        self._model = None

    def with_bf16(self) -> SentenceTransformerEncoder:
        """The same model encoding under bf16 autocast (`ProbeConfig.encoder_bf16`)."""
        if self.bf16:
            return self
        return SentenceTransformerEncoder(self.source, self.key, self.batch_size, self.device, bf16=True)

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
        import torch

        model = self.model
        with torch.autocast(model.device.type, dtype=torch.bfloat16, enabled=self.bf16):
            return model.encode(
                list(texts),
                batch_size=self.batch_size,
                convert_to_numpy=True,
                show_progress_bar=len(texts) >= 512 and not os.environ.get("TQDM_DISABLE"),
            ).astype(np.float32)


class StaticEncoder:
    """Static embeddings in model2vec's folder format: the mean of a text's token vectors, no network."""

    light = True  # numpy and tokenizers only: `models.background` may run it beside a heavy encoder

    def __init__(self, source: str, key: str):
        self.source, self.key = source, key
        self._model = None

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        if self._model is None:
            self._model = _load_static(self.source)
        return self._model.encode(list(texts))


@functools.lru_cache(maxsize=4)
def _load_static(source: str) -> StaticVectors:
    """One load per process and folder (every `encoder_for` call builds a new encoder)."""
    try:
        return StaticVectors(Path(source))
    except (OSError, ValueError, KeyError) as e:
        raise ModelError(f"cannot load static model {source!r}: {str(e).splitlines()[0]}") from None


class StaticVectors:
    """A model2vec folder (``model.safetensors``, ``tokenizer.json``, ``config.json``) read with
    `safetensors` and `tokenizers`, encoding exactly as ``model2vec.StaticModel.encode`` does
    (tests/test_models.py compares them). We read the folder ourselves because model2vec's
    constructor deep-copies the tokenizer and sorts its 276k-token vocabulary: about 2 of the
    3 s it takes to load the bundled model, on every cold run, for nothing encoding needs.
    """

    def __init__(self, folder: Path):
        from safetensors.numpy import load_file
        from tokenizers import Tokenizer

        tensors = load_file(str(folder / "model.safetensors"))
        config = json.loads((folder / "config.json").read_text()) if (folder / "config.json").exists() else {}
        self.embedding = tensors["embeddings"]
        self.weights, self.mapping = tensors.get("weights"), tensors.get("mapping")  # vocabulary quantization
        self.normalize = bool(config.get("normalize", False))
        self.max_length = config.get("max_length", 512)
        self.tokenizer = Tokenizer.from_file(str(folder / "tokenizer.json"))
        self.tokenizer.no_padding()
        self.max_chars = None  # max_length None (or 0): no truncation at all
        if self.max_length:
            self.tokenizer.enable_truncation(self.max_length)
            # model2vec first cuts each text to max_length x the median token length, in characters
            self.max_chars = self.max_length * int(np.median([len(t) for t in self.tokenizer.get_vocab()]))
        self.unk_id = self._unk_id()

    def _unk_id(self) -> int | None:
        """The unknown token's id (model2vec drops it from every text); Unigram keeps it in its JSON."""
        model = self.tokenizer.model
        if hasattr(model, "unk_token"):
            return None if model.unk_token is None else self.tokenizer.token_to_id(model.unk_token)
        return json.loads(self.tokenizer.to_str())["model"].get("unk_id")

    def encode(self, texts: list[str]) -> np.ndarray:
        if self.max_chars:
            texts = [t[: self.max_chars] for t in texts]
        out = np.zeros((len(texts), self.embedding.shape[1]), dtype=np.float32)
        for i, enc in enumerate(self.tokenizer.encode_batch_fast(texts, add_special_tokens=False)):
            ids = [t for t in enc.ids if t != self.unk_id]
            if not ids:
                continue
            rows = self.embedding[ids if self.mapping is None else self.mapping[ids]]
            if self.weights is not None:
                rows = rows * self.weights[ids][:, None]
            out[i] = rows.mean(axis=0)
        if self.normalize:
            out /= np.linalg.norm(out, axis=1, keepdims=True) + 1e-32
        return out


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

    @staticmethod
    def _select(con: sqlite3.Connection, columns: str, hashes: list[bytes]) -> Iterator[tuple]:
        """The rows (`columns`) of the cached `hashes`, queried in chunks."""
        for i in range(0, len(hashes), 900):  # SQLite's bound-parameter limit
            chunk = hashes[i : i + 900]
            yield from con.execute(f"SELECT {columns} FROM emb WHERE h IN ({','.join('?' * len(chunk))})", chunk)

    def count_missing(self, texts: Sequence[str]) -> int:
        """How many distinct `texts` the cache does not hold yet (reads their hashes, not their vectors)."""
        unique = list(dict.fromkeys(_text_hash(t) for t in texts))
        con = self._connect()
        try:
            return len(unique) - sum(1 for _ in self._select(con, "h", unique))
        finally:
            con.close()

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        hashes = [_text_hash(t) for t in texts]
        unique = list(dict.fromkeys(hashes))
        con = self._connect()
        try:
            found = {h: np.frombuffer(v, dtype=np.float32) for h, v in self._select(con, "h, v", unique)}
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
