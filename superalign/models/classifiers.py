"""Classifiers: `fit(texts, soft_labels, loss)` and `predict_proba(texts)`.

- `ProbeClassifier`: a torch linear (or MLP) head on a frozen, cached encoder, trained with any
  registered loss.
- `TfidfClassifier`: scikit-learn TF-IDF + logistic regression, the classic weakest rung.
- `FinetuneClassifier` (``models/finetune.py``, configured by `FinetuneConfig` below): full or
  LoRA fine-tuning of a Hugging Face model with a classification head.

Every classifier takes an optional ``val=(texts, soft_labels)`` in `fit`: a validation set
labelled by the *same supervisor* as the training data, used (by fine-tuning) for early stopping.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Literal, Protocol, runtime_checkable

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, model_validator

from ..errors import ConfigError
from .encoders import Encoder

LossFn = Callable  # (logits, targets, step_frac) -> scalar tensor, see superalign.losses


@runtime_checkable
class Classifier(Protocol):
    key: str

    def fit(
        self, texts: Sequence[str], soft_labels: np.ndarray, loss: LossFn, loss_name: str = "xent",
        val: tuple[Sequence[str], np.ndarray] | None = None,
    ) -> Classifier: ...

    def predict_proba(self, texts: Sequence[str]) -> np.ndarray: ...


class ProbeConfig(BaseModel):
    """Training settings of a probe head on frozen features."""

    model_config = ConfigDict(extra="forbid")
    epochs: int = Field(30, ge=1)
    batch_size: int = Field(64, ge=1)
    lr: float = Field(1e-3, gt=0)
    weight_decay: float = Field(1e-2, ge=0)
    hidden: int = Field(0, ge=0, description="0 = linear probe; >0 = one hidden layer of this width")


class FinetuneConfig(BaseModel):
    """Training settings of Hugging Face fine-tuning (``mode: finetune``).

    ``batch_size`` is the number of examples per optimizer step; ``grad_accum`` splits each step
    into that many micro-batches (same optimization, less memory; a loss that uses batch
    statistics, like logconf's threshold, sees one micro-batch at a time).
    """

    model_config = ConfigDict(extra="forbid")
    lora: bool = Field(False, description="train LoRA adapters (peft) instead of all weights")
    lora_r: int = Field(8, ge=1)
    lora_alpha: float = Field(16.0, gt=0)
    lora_dropout: float = Field(0.0, ge=0, lt=1)
    lora_targets: list[str] | str = Field("all-linear", description="peft target_modules: 'all-linear' or module names")
    epochs: int = Field(3, ge=1)
    batch_size: int = Field(32, ge=1, description="examples per optimizer step")
    grad_accum: int = Field(1, ge=1, description="micro-batches per optimizer step")
    lr: float = Field(5e-5, gt=0)
    weight_decay: float = Field(0.01, ge=0)
    warmup_frac: float = Field(0.1, ge=0, le=1, description="linear warm-up share of the cosine schedule")
    max_grad_norm: float = Field(1.0, ge=0, description="0 = no clipping")
    max_length: int = Field(128, ge=2, description="tokens per input (longer inputs are truncated)")
    pooling: Literal["auto", "mean", "cls", "last"] = Field(
        "auto", description="auto: mean for encoders, the last non-pad token for causal LMs"
    )
    dropout: bool = Field(True, description="train with the model's dropout probabilities (false: all zero, as in the reference)")
    group_by_length: bool = Field(True, description="length-grouped batches (dynamic padding is always on)")
    gradient_checkpointing: bool = False
    early_stopping: bool = Field(True, description="stop on the val set labelled by the supervisor; keep the best weights")
    patience: int = Field(2, ge=1, description="evaluations without improvement before stopping")
    eval_every: int = Field(0, ge=0, description="optimizer steps between val evaluations; 0 = once per epoch")
    bf16: bool = Field(True, description="bf16 autocast on CUDA (ignored on CPU)")
    device: str = Field("auto", description="auto (cuda when present), cpu, cuda, cuda:1, ...")
    predict_batch_size: int = Field(128, ge=1)
    save_checkpoint: bool = Field(True, description="save the fitted weights (safetensors) under the store")

    @model_validator(mode="after")
    def _micro_batches(self) -> FinetuneConfig:
        if self.batch_size % self.grad_accum:
            raise ValueError(f"batch_size {self.batch_size} is not divisible by grad_accum {self.grad_accum}")
        return self

    def key(self) -> dict:
        """The settings that change what is learned (for cache keys): not device or bookkeeping."""
        return self.model_dump(exclude={"device", "predict_batch_size", "save_checkpoint"})


class ProbeClassifier:
    """A head on frozen features, trained by minibatch AdamW on soft labels.

    Features are standardised with statistics of the training inputs (no labels involved).
    """

    def __init__(self, encoder: Encoder, config: ProbeConfig | None = None, seed: int = 0):
        self.encoder = encoder
        self.config = config or ProbeConfig()
        self.seed = seed
        self.key = f"probe({encoder.key})"
        self._head = None

    def _features(self, texts: Sequence[str]) -> np.ndarray:
        x = self.encoder.encode(texts)
        return (x - self._mu) / self._sd

    def fit(
        self, texts: Sequence[str], soft_labels: np.ndarray, loss: LossFn, loss_name: str = "xent",
        val: tuple[Sequence[str], np.ndarray] | None = None,
    ) -> ProbeClassifier:
        """Train the head for a fixed schedule (``val`` is accepted and unused)."""
        import torch

        raw = self.encoder.encode(texts)
        self._mu, self._sd = raw.mean(0), raw.std(0) + 1e-6
        cfg = self.config
        g = torch.Generator().manual_seed(self.seed)
        torch.manual_seed(self.seed)
        x = torch.from_numpy((raw - self._mu) / self._sd)
        y = torch.as_tensor(soft_labels, dtype=torch.float32)
        d, k = x.shape[1], y.shape[1]
        head = (
            torch.nn.Linear(d, k)
            if cfg.hidden == 0
            else torch.nn.Sequential(torch.nn.Linear(d, cfg.hidden), torch.nn.GELU(), torch.nn.Linear(cfg.hidden, k))
        )
        opt = torch.optim.AdamW(head.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
        n = len(x)
        steps_per_epoch = max(1, -(-n // cfg.batch_size))
        total = cfg.epochs * steps_per_epoch
        step = 0
        for _ in range(cfg.epochs):
            perm = torch.randperm(n, generator=g)
            for i in range(0, n, cfg.batch_size):
                idx = perm[i : i + cfg.batch_size]
                out = loss(head(x[idx]), y[idx], step / total)
                opt.zero_grad()
                out.backward()
                opt.step()
                step += 1
        self._head = head.eval()
        return self

    def predict_proba(self, texts: Sequence[str]) -> np.ndarray:
        import torch

        if self._head is None:
            raise RuntimeError("predict_proba called before fit")
        with torch.no_grad():
            logits = self._head(torch.from_numpy(self._features(texts)))
            return torch.softmax(logits, -1).numpy().astype(np.float64)


class TfidfClassifier:
    """TF-IDF (word 1-2 grams) + logistic regression; soft labels via per-class sample weights.

    Weighting each example once per class by its soft label minimises exactly the soft
    cross-entropy, so `xent` and `hard` are supported; other losses need a torch head.
    """

    key = "tfidf"

    def __init__(self, seed: int = 0, max_features: int = 50000, C: float = 1.0):
        self.seed, self.max_features, self.C = seed, max_features, C
        self._vec = self._lr = None

    def fit(
        self, texts: Sequence[str], soft_labels: np.ndarray, loss: LossFn, loss_name: str = "xent",
        val: tuple[Sequence[str], np.ndarray] | None = None,
    ) -> TfidfClassifier:
        import scipy.sparse as sp
        from sklearn.feature_extraction.text import TfidfVectorizer
        from sklearn.linear_model import LogisticRegression

        if loss_name not in ("xent", "hard"):
            raise ConfigError(f"the tfidf model supports the losses xent and hard, not {loss_name!r}")
        y = np.asarray(soft_labels, dtype=np.float64)
        if loss_name == "hard":
            y = np.eye(y.shape[1])[y.argmax(1)]
        k = y.shape[1]
        self._vec = TfidfVectorizer(ngram_range=(1, 2), max_features=self.max_features, sublinear_tf=True)
        x = self._vec.fit_transform(list(texts))
        weights = y.T.reshape(-1)  # class 0 copies first, then class 1 copies
        keep = weights > 0
        self._lr = LogisticRegression(C=self.C, max_iter=1000, random_state=self.seed)
        self._lr.fit(sp.vstack([x] * k)[keep], np.repeat(np.arange(k), len(texts))[keep], sample_weight=weights[keep])
        return self

    def predict_proba(self, texts: Sequence[str]) -> np.ndarray:
        if self._lr is None:
            raise RuntimeError("predict_proba called before fit")
        return self._lr.predict_proba(self._vec.transform(list(texts)))
