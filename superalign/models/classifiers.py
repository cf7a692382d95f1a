"""Classifiers: `fit(inputs, soft_labels, loss)` and `predict_proba(inputs)`.

- `ProbeClassifier`: a torch linear (or MLP) head on a frozen, cached encoder, trained with any
  registered loss.
- `TfidfClassifier`: scikit-learn TF-IDF + logistic regression, the classic weakest rung.
- `ProfanityCheckClassifier`: the pretrained `alt-profanity-check` scorer, an off-the-shelf
  weak supervisor that nobody trains in the run.

Inputs are texts, or pairs ``(A, B)`` of texts (preference tasks, label 1 = A preferred). On
pairs the trainable classifiers learn a scalar reward r(x) and output the logits
``[0, r(A) - r(B)]``, so that softmax gives P(A > B) = sigmoid(r(A) - r(B)) (Bradley & Terry
1952; the reward-model loss of Christiano et al. 2017 and Ouyang et al. 2022) and every 2-class
loss applies unchanged.
- `FinetuneClassifier` (``models/finetune.py``, configured by `FinetuneConfig` in
  ``models/settings.py``): full or LoRA fine-tuning of a Hugging Face model with a classification head.

Every classifier takes an optional ``val=(texts, soft_labels)`` in `fit`: a validation set
labelled by the *same supervisor* as the training data, used (by fine-tuning) for early stopping.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, runtime_checkable

import numpy as np

from ..data import one_hot
from ..errors import ConfigError, ModelError
from .encoders import Encoder
from .settings import ProbeConfig
from .training import HeadAdamW, LossFn, mixed_loss, single_thread, weighted_draw


def split_pairs(inputs: Sequence) -> tuple[list[str], list[str]] | None:
    """``(A texts, B texts)`` when the inputs are pairs, None when they are texts; mixing is an error."""
    is_pair = [isinstance(x, (tuple, list)) for x in inputs]
    if not any(is_pair):
        return None
    if not all(is_pair) or any(len(x) != 2 for x in inputs):
        raise ConfigError("inputs must be all texts or all (A, B) pairs of texts")
    return [str(a) for a, _ in inputs], [str(b) for _, b in inputs]


@runtime_checkable
class Classifier(Protocol):
    """Fits soft labels (n, k) on inputs (texts, or (A, B) pairs) and predicts (n, k) probabilities."""

    key: str

    def fit(
        self,
        texts: Sequence,
        soft_labels: np.ndarray,
        loss: LossFn,
        loss_name: str = "xent",
        val: tuple[Sequence, np.ndarray] | None = None,
    ) -> Classifier: ...

    def predict_proba(self, texts: Sequence) -> np.ndarray: ...


class ProbeClassifier:
    """A head on frozen features, trained by minibatch AdamW on soft labels.

    Features are standardised with statistics of the training inputs (no labels involved).
    On pair inputs both texts go through the (cached) encoder, and the head is a scalar
    reward r(x) shared by the two sides (`heads.PairwiseHead`).
    """

    def __init__(self, encoder: Encoder, config: ProbeConfig | None = None, seed: int = 0):
        self.encoder = encoder
        self.config = config or ProbeConfig()
        self.seed = seed
        self.key = f"probe({encoder.key})"
        self._head = None
        self._pairs = False

    def _encode(self, inputs: Sequence) -> np.ndarray:
        """(n, d) features of texts, or (n, 2, d) of pairs (one batched encoder call either way)."""
        pairs = split_pairs(inputs)
        if pairs is None:
            return self.encoder.encode(list(inputs))
        a, b = pairs
        x = self.encoder.encode(a + b)
        return np.stack([x[: len(a)], x[len(a) :]], axis=1)

    def _features(self, inputs: Sequence) -> np.ndarray:
        x = self._encode(inputs)
        if (x.ndim == 3) != self._pairs:
            trained, got = ("pairs" if p else "texts" for p in (self._pairs, x.ndim == 3))
            raise ConfigError(f"this probe was trained on {trained}; got {got}")
        return (x - self._mu) / self._sd

    def fit(
        self,
        texts: Sequence,
        soft_labels: np.ndarray,
        loss: LossFn,
        loss_name: str = "xent",
        val: tuple[Sequence, np.ndarray] | None = None,
        sample_weight: np.ndarray | None = None,
        gold_mask: np.ndarray | None = None,
    ) -> ProbeClassifier:
        """Train the head for a fixed schedule (``val`` is accepted and unused). Optional, for the
        oversight learner (`superalign.oversight`):

        - ``sample_weight``: minibatches are drawn with replacement with probability proportional
          to the weight, an unbiased estimate of the weighted loss that works with every
          registered loss (batch-level losses such as ``logconf`` included);
        - ``gold_mask``: rows that are ground truth (e.g. human labels) are trained with plain
          cross-entropy instead of ``loss``, so a W2S loss never mixes a gold label with the
          student's own beliefs. Each part counts in proportion to its rows in the batch.
        Without them the training is exactly the plain (uniform, one-loss) procedure.
        """
        import torch

        raw = self._encode(texts)
        self._pairs = raw.ndim == 3
        flat = raw.reshape(-1, raw.shape[-1])
        self._mu, self._sd = flat.mean(0), flat.std(0) + 1e-6
        cfg = self.config
        g = torch.Generator().manual_seed(self.seed)
        torch.manual_seed(self.seed)
        x = torch.from_numpy((raw - self._mu) / self._sd)
        y = torch.as_tensor(soft_labels, dtype=torch.float32)
        d, k = x.shape[-1], y.shape[1]
        if self._pairs and k != 2:
            raise ConfigError(f"pair inputs need 2-class targets (A preferred or not), got {k} classes")
        out_dim = 1 if self._pairs else k
        head = (
            torch.nn.Linear(d, out_dim)
            if cfg.hidden == 0
            else torch.nn.Sequential(
                torch.nn.Linear(d, cfg.hidden), torch.nn.GELU(), torch.nn.Linear(cfg.hidden, out_dim)
            )
        )
        if self._pairs:
            from .heads import PairwiseHead  # torch, imported only when a model is trained

            head = PairwiseHead(head)
        # fused: one kernel per step instead of a dozen small ops (a third off a probe step; same
        # update to float rounding), called without Optimizer.step's bookkeeping (a quarter more)
        opt = HeadAdamW(head.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
        n = len(x)
        draw = weighted_draw(sample_weight, n)
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
            perm = (
                torch.randperm(n, generator=g)
                if draw is None
                else torch.multinomial(draw, n, replacement=True, generator=g)
            )
            # one gather per epoch (index_select: half the time of x[perm]), then each minibatch
            # is a view: the same rows in the same order as indexing per step, ~10% off a probe step
            xe, ye = x.index_select(0, perm), y.index_select(0, perm)
            ge = None if gold is None else gold.index_select(0, perm)
            for i in range(0, n, cfg.batch_size):
                batch = slice(i, i + cfg.batch_size)
                if ge is None:
                    out = loss(head(xe[batch]), ye[batch], step / total)
                else:
                    out = mixed_loss(loss, head(xe[batch]), ye[batch], ge[batch], step / total)
                opt.zero_grad()
                out.backward()
                opt.step()
                step += 1

    def predict_proba(self, texts: Sequence) -> np.ndarray:
        import torch

        if self._head is None:
            raise RuntimeError("predict_proba called before fit")
        feats = self._features(texts)
        with torch.no_grad(), single_thread():
            logits = self._head(torch.from_numpy(feats))
            return torch.softmax(logits, -1).numpy().astype(np.float64)


class TfidfClassifier:
    """TF-IDF (word 1-2 grams) + logistic regression; soft labels via per-class sample weights.

    Weighting each example once per class by its soft label minimises exactly the soft
    cross-entropy, so `xent` and `hard` are supported; other losses need a torch head.
    On pairs it is a linear Bradley-Terry reward model: P(A > B) = sigmoid(w . (phi(A) - phi(B)))
    with phi the TF-IDF vector (logistic regression on differences, no intercept).
    """

    key = "tfidf"

    def __init__(self, seed: int = 0, max_features: int = 50000, C: float = 1.0):
        self.seed, self.max_features, self.C = seed, max_features, C
        self._vec = self._lr = None
        self._pairs = False

    def _design(self, inputs: Sequence, fit: bool = False):
        pairs = split_pairs(inputs)
        if fit:
            self._pairs = pairs is not None
            self._vec.fit([t for side in pairs for t in side] if pairs else list(inputs))
        elif (pairs is not None) != self._pairs:
            raise ConfigError(f"this tfidf model was trained on {'pairs' if self._pairs else 'texts'}")
        if pairs is None:
            return self._vec.transform(list(inputs))
        return self._vec.transform(pairs[0]) - self._vec.transform(pairs[1])

    def fit(
        self,
        texts: Sequence,
        soft_labels: np.ndarray,
        loss: LossFn,
        loss_name: str = "xent",
        val: tuple[Sequence, np.ndarray] | None = None,
    ) -> TfidfClassifier:
        import scipy.sparse as sp
        from sklearn.feature_extraction.text import TfidfVectorizer
        from sklearn.linear_model import LogisticRegression

        if loss_name not in ("xent", "hard"):
            raise ConfigError(f"the tfidf model supports the losses xent and hard, not {loss_name!r}")
        y = np.asarray(soft_labels, dtype=np.float64)
        if loss_name == "hard":
            y = one_hot(y.argmax(1), y.shape[1]).astype(np.float64)
        k = y.shape[1]
        self._vec = TfidfVectorizer(ngram_range=(1, 2), max_features=self.max_features, sublinear_tf=True)
        x = self._design(texts, fit=True)
        weights = y.T.reshape(-1)  # class 0 copies first, then class 1 copies
        keep = weights > 0
        self._lr = LogisticRegression(C=self.C, max_iter=1000, random_state=self.seed, fit_intercept=not self._pairs)
        self._lr.fit(sp.vstack([x] * k)[keep], np.repeat(np.arange(k), len(texts))[keep], sample_weight=weights[keep])
        return self

    def predict_proba(self, texts: Sequence) -> np.ndarray:
        if self._lr is None:
            raise RuntimeError("predict_proba called before fit")
        return self._lr.predict_proba(self._design(texts))

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


class ProfanityCheckClassifier:
    """The pretrained offensive-language scorer of ``alt-profanity-check`` (a TF-IDF + linear SVM
    trained by its authors on tweets and Wikipedia comments, including the Davidson et al. data),
    as an off-the-shelf weak supervisor: P(class 1) = ``predict_prob(text)``.

    ``fit`` does nothing: the model is used as shipped, and never sees ``train_gt``. Class 1 must
    mean "offensive" for its scores to make sense (e.g. ``toxicity``). Texts only, not pairs.
    """

    def __init__(self, seed: int = 0):
        from importlib.metadata import PackageNotFoundError, version

        try:
            self.key = f"profanity_check@{version('alt-profanity-check')}"
        except PackageNotFoundError:
            raise ModelError("profanity_check needs the package: pip install alt-profanity-check==1.9.1") from None

    def fit(
        self,
        texts: Sequence,
        soft_labels: np.ndarray,
        loss: LossFn,
        loss_name: str = "xent",
        val: tuple[Sequence, np.ndarray] | None = None,
    ) -> ProfanityCheckClassifier:
        self._check(texts)
        return self  # pretrained: nothing to fit

    def _check(self, texts: Sequence) -> None:
        if split_pairs(texts) is not None:
            raise ConfigError("profanity_check scores single texts; this task has (A, B) pair inputs")

    def predict_proba(self, texts: Sequence) -> np.ndarray:
        from profanity_check import predict_prob

        self._check(texts)
        p = np.asarray(predict_prob(list(texts)), dtype=np.float64) if len(texts) else np.zeros(0)
        return np.stack([1.0 - p, p], axis=1)
