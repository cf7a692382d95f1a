"""Toxicity: is a tweet offensive or hateful? Davidson et al. 2017, "Automated Hate Speech
Detection and the Problem of Offensive Language" (github.com/t-davidson/hate-speech-and-offensive-language)."""

from __future__ import annotations

import html
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar

import numpy as np

from ..errors import DataError
from .base import Dataset, register_task
from .prep import clip, majority_dedup
from .sources import HubSource, LocalFiles, SourcedTask, require_columns

if TYPE_CHECKING:  # annotations only: pandas is imported where a table is read
    import pandas as pd


@register_task("toxicity")
@dataclass
class ToxicityTask(SourcedTask):
    """Tweet -> 1 toxic / 0 not.

    Binarisation: the CrowdFlower majority ``class`` is 0 hate speech, 1 offensive language,
    2 neither; toxic = hate speech or offensive (``class != 2``), as SOURCES.md and the WTS study
    treat toxicity. About 83% of tweets are toxic, so the primary metric is balanced accuracy.
    Text: HTML entities decoded (``&amp;`` -> ``&``), whitespace collapsed; handles and URLs kept.
    """

    max_chars: int = 1000  # tweets are at most ~750 characters

    name: ClassVar[str] = "toxicity"
    metric: ClassVar[str] = "balanced_accuracy"
    label_names: ClassVar[tuple[str, str]] = ("not toxic", "toxic")
    description: ClassVar[str] = "tweet -> toxic (hate or offensive) / not (Davidson et al. 2017, 3 classes binarised)"
    local: ClassVar[LocalFiles] = LocalFiles(("davidson_hate_speech/labeled_data.csv.gz",))
    hub: ClassVar[HubSource] = HubSource("tdavidson/hate_speech_offensive", split="train")

    def build(self, table: pd.DataFrame) -> Dataset:
        text_col, label_col = require_columns(self.name, table, ("tweet", "class"), ("tweet", "label"))
        table = table[table[text_col].notna()]
        cls = table[label_col].to_numpy()
        if not np.isin(cls, [0, 1, 2]).all():
            raise DataError(f"task {self.name!r}: column {label_col!r} must hold 0, 1 or 2")
        texts = [clip(re.sub(r"\s+", " ", html.unescape(str(t))), self.max_chars) for t in table[text_col]]
        return majority_dedup(texts, (cls != 2).astype(np.int64))
