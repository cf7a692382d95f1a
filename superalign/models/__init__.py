"""Models: encoders, classifiers, their training settings, the named ladder and `ModelFactory`.

`FinetuneClassifier` lives in ``models.finetune`` (importing it imports torch).
"""

from .classifiers import Classifier, ProbeClassifier, ProfanityCheckClassifier, TfidfClassifier, split_pairs
from .encoders import CachedEncoder, Encoder, SentenceTransformerEncoder, StaticEncoder
from .factory import ModelFactory
from .ladder import MODELS, classifier_builder, encoder_for, hf_source, model_key
from .settings import FinetuneConfig, LMPretrainConfig, ProbeConfig
from .spelling import SpelledClassifier, SpellingNormalizer

__all__ = [
    "MODELS",
    "CachedEncoder",
    "Classifier",
    "Encoder",
    "FinetuneConfig",
    "LMPretrainConfig",
    "ModelFactory",
    "ProbeClassifier",
    "ProbeConfig",
    "ProfanityCheckClassifier",
    "SentenceTransformerEncoder",
    "SpelledClassifier",
    "SpellingNormalizer",
    "StaticEncoder",
    "TfidfClassifier",
    "classifier_builder",
    "encoder_for",
    "hf_source",
    "model_key",
    "split_pairs",
]
