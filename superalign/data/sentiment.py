"""Human-rated sentiment sentences (Hutto & Gilbert, ICWSM 2014, shipped with vaderSentiment)."""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

import numpy as np

from .. import assets
from ..errors import ConfigError, DataError
from .base import Dataset, register_task

_SOURCES = {
    "movie": "movieReviewSnippets_GroundTruth.txt",
    "tweets": "tweets_GroundTruth.txt",
    "amazon": "amazonReviewSnippets_GroundTruth.txt",
    "nyt": "nytEditorialSnippets_GroundTruth.txt",
}


@register_task("sentiment")
@dataclass
class SentimentTask:
    """Movie-review snippets (10,605) rated by ~20 people each on -4..4; label = sign of the mean.

    Near-zero ratings are ambiguous (raters disagree on the sign), so sentences with
    ``|mean rating| < min_abs_rating`` (default 0.5) are dropped rather than forced into a class.
    ``source`` picks the movie (default), tweets, amazon or nyt sentences; ``path`` points at a
    folder holding the ``*_GroundTruth.txt`` files instead of the fetched asset.
    """

    source: str = "movie"
    min_abs_rating: float = 0.5
    path: str | None = None
    name: str = "sentiment"
    kind: str = "classification"
    label_names: ClassVar[tuple[str, str]] = ("negative", "positive")
    description: str = "human-rated movie-review sentences (VADER, Hutto & Gilbert 2014), label = sign of mean rating"

    @property
    def location(self) -> str:
        """Where `load` reads from (for `superalign tasks`)."""
        folder = Path(self.path) if self.path else assets.get("vader").path
        return str(folder / _SOURCES.get(self.source, "?"))

    def load(self) -> Dataset:
        if self.source not in _SOURCES:
            raise ConfigError(f"unknown sentiment source {self.source!r}; choose from {', '.join(_SOURCES)}")
        folder = Path(self.path) if self.path else assets.require("vader")
        file = folder / _SOURCES[self.source]
        if not file.exists():
            raise DataError(f"sentiment data file not found: {file}")
        texts, ratings = [], []
        with open(file, encoding="utf-8", newline="") as f:
            for row in csv.reader(f, delimiter="\t", quoting=csv.QUOTE_NONE):
                if len(row) < 3:
                    continue
                try:
                    rating = float(row[1])
                except ValueError:
                    raise DataError(f"{file}: bad rating {row[1]!r} for id {row[0]!r}") from None
                texts.append("\t".join(row[2:]).strip())
                ratings.append(rating)
        r = np.asarray(ratings)
        keep = np.abs(r) >= self.min_abs_rating
        if not keep.any():
            raise DataError(f"{file}: no sentence has |rating| >= {self.min_abs_rating}")
        return Dataset([t for t, k in zip(texts, keep) if k], (r[keep] > 0).astype(np.int64))
