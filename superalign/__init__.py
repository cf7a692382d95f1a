"""superalign: weak-to-strong generalization and scalable oversight on real models and data."""

__version__ = "0.1.0"
