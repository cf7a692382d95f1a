"""Generation tasks: a prompt to continue, gold demonstrations, and a disjoint split for the gold judge.

A generation task's `load()` returns its experiment examples as a `Dataset` (the human text and
its gold label), so it splits like any task; `prompt_and_continuation(text)` cuts a text into the
prompt a policy continues and the human continuation (the gold demonstration of a positive text);
`judge_data()` returns examples that are disjoint from every prompt and demonstration, for
training the gold judge that scores generations and never supervises anything.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import ClassVar

from ..errors import DataError
from .base import Dataset, register_task
from .sentiment import SentimentTask


def _in_judge_split(text: str, share: float) -> bool:
    """A fixed, content-based assignment of a text to the judge split (no seed can move it)."""
    h = int.from_bytes(hashlib.blake2b(text.encode(), digest_size=8).digest(), "big")
    return h / 2**64 < share


@register_task("sentiment_continuation")
@dataclass
class SentimentContinuationTask:
    """Continue the first words of a movie-review sentence positively: the IMDb-positive task of
    Ziegler et al. 2019 and of the DPO paper (Rafailov et al. 2023), on the human-rated VADER movie
    sentences (Hutto & Gilbert 2014).

    A prompt is the first `prompt_words` words of a sentence; a positively rated sentence's
    remaining words are a gold demonstration. Label 1 = the sentence's mean rating is positive.
    A `judge_share` of the sentences (chosen by a hash of the text, so never a prompt or a
    demonstration) trains the gold judge. Sentences shorter than ``prompt_words + min_continuation``
    words are dropped. Metric: the gold judge's mean P(positive) of the generations.
    """

    prompt_words: int = 4
    min_continuation: int = 3
    judge_share: float = 0.3
    min_abs_rating: float = 0.5
    path: str | None = None
    name: str = "sentiment_continuation"
    kind: str = "generation"
    metric: str = "judge_score"
    label_names: ClassVar[tuple[str, str]] = ("negative", "positive")
    description: str = (
        "continue the first words of a human-rated movie-review sentence positively (Ziegler et al. 2019); "
        "judged by a sentiment classifier trained on disjoint human ratings"
    )

    def __post_init__(self) -> None:
        if self.prompt_words < 1 or self.min_continuation < 1 or not 0 < self.judge_share < 1:
            raise DataError(
                "sentiment_continuation needs prompt_words >= 1, min_continuation >= 1, 0 < judge_share < 1"
            )

    @property
    def location(self) -> str:
        return SentimentTask(path=self.path).location

    def _sentences(self, judge: bool) -> Dataset:
        data = SentimentTask(min_abs_rating=self.min_abs_rating, path=self.path).load()
        long = self.prompt_words + self.min_continuation
        keep = [
            i
            for i, t in enumerate(data.texts)
            if len(t.split()) >= long and _in_judge_split(t, self.judge_share) == judge
        ]
        if not keep:
            raise DataError(f"{self.name}: no sentence has {long} words or more")
        return data.subset(keep)

    def load(self) -> Dataset:
        """The experiment sentences (never the judge's)."""
        return self._sentences(judge=False)

    def judge_data(self) -> Dataset:
        """Sentences and gold labels for the gold judge, disjoint from every `load()` sentence."""
        return self._sentences(judge=True)

    def prompt_and_continuation(self, text: str) -> tuple[str, str]:
        """The prompt (first `prompt_words` words) and the human continuation (with its leading space)."""
        words = text.split()
        return " ".join(words[: self.prompt_words]), " " + " ".join(words[self.prompt_words :])
