"""Models: encoders, classifiers and the named ladder.

`FinetuneClassifier` lives in ``models.finetune`` (importing it imports torch).
"""

from .classifiers import Classifier, FinetuneConfig, ProbeClassifier, ProbeConfig, ProfanityCheckClassifier, TfidfClassifier, split_pairs
from .encoders import CachedEncoder, Encoder, SentenceTransformerEncoder, StaticEncoder
from .spelling import SpelledClassifier, SpellingNormalizer
from .ladder import MODELS, build_classifier, classifier_builder, encoder_for, hf_source, model_key

__all__ = [
    "MODELS",
    "CachedEncoder",
    "Classifier",
    "Encoder",
    "FinetuneConfig",
    "ProbeClassifier",
    "ProbeConfig",
    "ProfanityCheckClassifier",
    "SentenceTransformerEncoder",
    "SpelledClassifier",
    "SpellingNormalizer",
    "StaticEncoder",
    "TfidfClassifier",
    "build_classifier",
    "classifier_builder",
    "encoder_for",
    "hf_source",
    "model_key",
    "split_pairs",
]
