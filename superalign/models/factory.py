"""`ModelFactory`: fresh classifiers of one ladder rung, under one training recipe.

W2S runs and oversight loops both build their models through it, so a rung is the same model
with the same cache identity wherever it is used.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

from .. import assets
from .classifiers import Classifier, ProbeClassifier
from .encoders import CachedEncoder
from .ladder import classifier_builder, encoder_for, hf_source
from .settings import FinetuneConfig, ProbeConfig
from .spelling import SpelledClassifier, SpellingNormalizer


class ModelFactory:
    """Builds fresh classifiers of one ladder rung.

    ``finetune`` None: a head on a shared (lazily loaded) cached encoder, or TF-IDF.
    ``finetune`` set: a `FinetuneClassifier` for Hugging Face models; tfidf and static, which
    have no transformer to fine-tune, keep their probe/TF-IDF classifier.
    ``key`` identifies the weights, ``settings`` the training recipe (both go into stage keys);
    ``uses_val`` says whether `fit` consumes a validation set (fine-tuning's early stopping).
    ``spelling`` (``corpus`` or ``english``, the lexicon of `SpellingNormalizer.for_lexicon`):
    every classifier reads its inputs through a word-recognition front-end (`SpelledClassifier`,
    fit on its own training texts).
    """

    def __init__(self, spec: str, probe: ProbeConfig, finetune: FinetuneConfig | None = None, spelling: str = "off"):
        self.spec, self.probe, self.finetune_config, self.spelling = spec, probe, finetune, spelling
        source = hf_source(spec) if finetune is not None else None
        self.finetune = source is not None
        self._build = None if self.finetune else classifier_builder(spec)  # tfidf, profanity_check
        self.encoder = None
        if self.finetune:
            self.source, self.key = source
            self.settings: Any = ("finetune", finetune.key())
        else:
            if self._build is None:
                inner = encoder_for(spec)
                if probe.encoder_bf16 and hasattr(inner, "with_bf16"):  # static vectors have no products to cast
                    inner = inner.with_bf16()
                self.encoder = CachedEncoder(inner, assets.home() / "features")
            self.key = self._build(0).key if self._build is not None else self.encoder.key
            self.settings = probe.model_dump()
        if spelling != "off":
            self.settings = (self.settings, f"spelling-{spelling}")
        self.uses_val = self.finetune and finetune.early_stopping

    def with_weights(self, source: str, key: str) -> ModelFactory:
        """The same rung and recipe with other starting weights (a fine-tunable model folder, e.g.
        after generative fine-tuning, `models.lmtune`), under weights key `key`."""
        if not self.finetune:
            raise ValueError(f"{self.spec!r} is not fine-tuned here: it has no weights to replace")
        other = copy.copy(self)
        other.source, other.key = source, key
        return other

    def __call__(self, seed: int, workdir: Path | None = None) -> Classifier:
        """A fresh classifier; ``workdir`` is where a fine-tuned model keeps its checkpoint."""
        clf = self._fresh(seed, workdir)
        return SpelledClassifier(clf, SpellingNormalizer.for_lexicon(self.spelling)) if self.spelling != "off" else clf

    def _fresh(self, seed: int, workdir: Path | None) -> Classifier:
        if self.finetune:
            from .finetune import FinetuneClassifier  # imports torch: only when a stage runs

            return FinetuneClassifier(self.source, self.key, self.finetune_config, seed=seed, checkpoint_dir=workdir)
        if self._build is not None:
            return self._build(seed)
        return ProbeClassifier(self.encoder, self.probe, seed=seed)
