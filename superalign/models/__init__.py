"""Models: encoders, classifiers and the named ladder."""

from .classifiers import Classifier, ProbeClassifier, ProbeConfig, TfidfClassifier
from .encoders import CachedEncoder, Encoder, SentenceTransformerEncoder, StaticEncoder
from .ladder import MODELS, build_classifier, encoder_for, model_key

__all__ = [
    "MODELS",
    "CachedEncoder",
    "Classifier",
    "Encoder",
    "ProbeClassifier",
    "ProbeConfig",
    "SentenceTransformerEncoder",
    "StaticEncoder",
    "TfidfClassifier",
    "build_classifier",
    "encoder_for",
    "model_key",
]
