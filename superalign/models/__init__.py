"""Models: encoders, classifiers and the named ladder."""

from .classifiers import Classifier, ProbeClassifier, ProbeConfig, ProfanityCheckClassifier, TfidfClassifier, split_pairs
from .encoders import CachedEncoder, Encoder, SentenceTransformerEncoder, StaticEncoder
from .ladder import MODELS, build_classifier, classifier_builder, encoder_for, model_key

__all__ = [
    "MODELS",
    "CachedEncoder",
    "Classifier",
    "Encoder",
    "ProbeClassifier",
    "ProbeConfig",
    "ProfanityCheckClassifier",
    "SentenceTransformerEncoder",
    "StaticEncoder",
    "TfidfClassifier",
    "build_classifier",
    "classifier_builder",
    "encoder_for",
    "model_key",
    "split_pairs",
]
