"""Classifiers: `fit(texts, soft_labels, loss)` and `predict_proba(texts)`.

- `ProbeClassifier`: a torch linear (or MLP) head on a frozen, cached encoder, trained with any
  registered loss.
- `TfidfClassifier`: scikit-learn TF-IDF + logistic regression, the classic weakest rung.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Protocol, runtime_checkable

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from ..errors import ConfigError
from .encoders import Encoder

LossFn = Callable  # (logits, targets, step_frac) -> scalar tensor, see superalign.losses


@runtime_checkable
class Classifier(Protocol):
    key: str

    def fit(self, texts: Sequence[str], soft_labels: np.ndarray, loss: LossFn, loss_name: str = "xent") -> Classifier: ...

    def predict_proba(self, texts: Sequence[str]) -> np.ndarray: ...


class ProbeConfig(BaseModel):
    """Training settings of a probe head on frozen features."""

    model_config = ConfigDict(extra="forbid")
    epochs: int = Field(30, ge=1)
    batch_size: int = Field(64, ge=1)
    lr: float = Field(1e-3, gt=0)
    weight_decay: float = Field(1e-2, ge=0)
    hidden: int = Field(0, ge=0, description="0 = linear probe; >0 = one hidden layer of this width")


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
        sample_weight: np.ndarray | None = None, gold_mask: np.ndarray | None = None,
    ) -> ProbeClassifier:
        """Train the head. Optional, for the oversight learner (`superalign.oversight`):

        - ``sample_weight``: minibatches are drawn with replacement with probability proportional
          to the weight, an unbiased estimate of the weighted loss that works with every
          registered loss (batch-level losses such as ``logconf`` included);
        - ``gold_mask``: rows that are ground truth (e.g. human labels) are trained with plain
          cross-entropy instead of ``loss``, so a W2S loss never mixes a gold label with the
          student's own beliefs. Each part counts in proportion to its rows in the batch.
        Without them the training is exactly the plain (uniform, one-loss) procedure.
        """
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
        draw = _weighted_draw(sample_weight, n)
        gold = None if gold_mask is None else torch.as_tensor(np.asarray(gold_mask, dtype=bool))
        if gold is not None and len(gold) != n:
            raise ValueError(f"gold_mask has {len(gold)} entries for {n} examples")
        steps_per_epoch = max(1, -(-n // cfg.batch_size))
        total = cfg.epochs * steps_per_epoch
        with single_thread():
            self._train(head, opt, x, y, loss, draw, gold, g, total)
        self._head = head.eval()
        return self

    def _train(self, head, opt, x, y, loss, draw, gold, g, total) -> None:
        import torch

        cfg, n, step = self.config, len(x), 0
        for _ in range(cfg.epochs):
            perm = torch.randperm(n, generator=g) if draw is None else torch.multinomial(draw, n, replacement=True, generator=g)
            for i in range(0, n, cfg.batch_size):
                idx = perm[i : i + cfg.batch_size]
                if gold is None:
                    out = loss(head(x[idx]), y[idx], step / total)
                else:
                    out = _mixed_loss(loss, head(x[idx]), y[idx], gold[idx], step / total)
                opt.zero_grad()
                out.backward()
                opt.step()
                step += 1

    def predict_proba(self, texts: Sequence[str]) -> np.ndarray:
        import torch

        if self._head is None:
            raise RuntimeError("predict_proba called before fit")
        feats = self._features(texts)
        with torch.no_grad(), single_thread():
            logits = self._head(torch.from_numpy(feats))
            return torch.softmax(logits, -1).numpy().astype(np.float64)


@contextmanager
def single_thread() -> Iterator[None]:
    """Run torch on one thread: a probe head's small matrices gain nothing from intra-op
    threads, and on a loaded 2-core machine the thread hand-offs made each step ~50x slower."""
    import torch

    n = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(n)


def _weighted_draw(sample_weight: np.ndarray | None, n: int):
    """Normalised sampling probabilities as a tensor, or None for uniform epochs."""
    import torch

    if sample_weight is None:
        return None
    w = np.asarray(sample_weight, dtype=np.float64)
    if w.shape != (n,) or not np.isfinite(w).all() or (w < 0).any() or w.sum() <= 0:
        raise ValueError(f"sample_weight must be {n} finite non-negative numbers with a positive sum")
    return torch.as_tensor(w / w.sum(), dtype=torch.float64)


def _mixed_loss(loss: LossFn, logits, targets, gold, step_frac: float):
    """`loss` on the weakly labelled rows, cross-entropy on the gold rows, weighted by row counts."""
    import torch.nn.functional as F

    n = len(logits)
    out = logits.new_zeros(())
    weak = ~gold
    if weak.any():
        out = out + loss(logits[weak], targets[weak], step_frac) * (weak.sum() / n)
    if gold.any():
        xent = -(targets[gold] * F.log_softmax(logits[gold], -1)).sum(-1).mean()
        out = out + xent * (gold.sum() / n)
    return out


class TfidfClassifier:
    """TF-IDF (word 1-2 grams) + logistic regression; soft labels via per-class sample weights.

    Weighting each example once per class by its soft label minimises exactly the soft
    cross-entropy, so `xent` and `hard` are supported; other losses need a torch head.
    """

    key = "tfidf"

    def __init__(self, seed: int = 0, max_features: int = 50000, C: float = 1.0):
        self.seed, self.max_features, self.C = seed, max_features, C
        self._vec = self._lr = None

    def fit(self, texts: Sequence[str], soft_labels: np.ndarray, loss: LossFn, loss_name: str = "xent") -> TfidfClassifier:
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

    def top_features(self, text: str, label: int, k: int = 3) -> list[tuple[str, float]]:
        """The `k` n-grams of `text` that push hardest towards `label` (tf-idf value x weight)."""
        if self._lr is None:
            raise RuntimeError("top_features called before fit")
        row = self._vec.transform([text]).tocoo()
        coef = self._lr.coef_[0] if self._lr.coef_.shape[0] == 1 else self._lr.coef_[label] - self._lr.coef_.mean(0)
        sign = (1 if label == 1 else -1) if self._lr.coef_.shape[0] == 1 else 1
        if getattr(self, "_names", None) is None or len(self._names) != len(coef):
            self._names = self._vec.get_feature_names_out()  # sorts the vocabulary: once per fit
        names = self._names
        contrib = sorted(((float(v * coef[j] * sign), str(names[j])) for j, v in zip(row.col, row.data)), reverse=True)
        return [(name, c) for c, name in contrib[:k] if c > 0]
