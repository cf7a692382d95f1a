"""Reward modelling on preference pairs: Anthropic HH-RLHF harmless-base (Bai et al. 2022,
"Training a Helpful and Harmless Assistant with RLHF"), the W2S paper's reward-modelling task.

Inputs are *pairs* ``(A, B)`` of the same conversation ending in two different final assistant
responses; label 1 means A is preferred. The reference W2S code shows one transcript at a time
(chosen -> 1, rejected -> 0), which every model answers at chance; here both responses are
presented, and a reward head scores each (`ProbeClassifier` on pair inputs, Bradley-Terry).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar

import numpy as np

from .base import Dataset, SplitSizes, register_task
from .prep import balanced_flags, clip
from .sources import HubSource, LocalFiles, SourcedTask, require_columns

if TYPE_CHECKING:  # annotations only: pandas is imported where a table is read
    import pandas as pd

_TURN = "\n\nAssistant:"


def split_transcript(transcript: str) -> tuple[str, str]:
    """(conversation up to and including the last "Assistant:", that final response)."""
    i = transcript.rfind(_TURN)
    if i < 0:
        return "", transcript.strip()
    return transcript[: i + len(_TURN)], transcript[i + len(_TURN) :].strip()


@register_task("preference")
@dataclass
class PreferenceTask(SourcedTask):
    """Pair (A, B) of responses to one conversation -> 1 if A is the more harmless one.

    Each side is ``"{conversation tail}\\n\\nAssistant: {response}"``: the conversation keeps
    its last ``prompt_chars`` characters (the latest turns), the response its first
    ``response_chars``, so both fit a 256-token encoder and the two sides differ where the
    data differs. Which of chosen / rejected is A is a seeded, exactly balanced coin, so labels
    are balanced and the order carries no signal. Exact duplicate pairs, and pairs whose two
    sides are identical after truncation, are dropped. Metric: pairwise accuracy.
    """

    seed: int = 0
    prompt_chars: int = 400
    response_chars: int = 600

    name: ClassVar[str] = "preference"
    kind: ClassVar[str] = "preference"
    metric: ClassVar[str] = "pairwise_accuracy"
    label_names: ClassVar[tuple[str, str]] = ("B is better", "A is better")
    description: ClassVar[str] = (
        "reward modelling: (response A, response B) -> A more harmless? (Anthropic HH-RLHF harmless-base test)"
    )
    local: ClassVar[LocalFiles] = LocalFiles(("hh_rlhf/harmless-base_test.jsonl.gz",))
    hub: ClassVar[HubSource] = HubSource("Anthropic/hh-rlhf", split="test", kwargs={"data_dir": "harmless-base"})
    default_sizes: ClassVar[SplitSizes] = SplitSizes(train_gt=500, train_w2s=1000, val=100, test=700)  # 2,312 pairs

    def side(self, transcript: str) -> str:
        prompt, response = split_transcript(str(transcript))
        context = clip(prompt[: -len(_TURN)] if prompt else "", self.prompt_chars, keep="tail")
        return f"{context}\n\nAssistant: {clip(response, self.response_chars)}".strip()

    def build(self, table: pd.DataFrame) -> Dataset:
        require_columns(self.name, table, ("chosen", "rejected"))
        pairs = list(dict.fromkeys((self.side(c), self.side(r)) for c, r in zip(table["chosen"], table["rejected"])))
        pairs = [(c, r) for c, r in pairs if c != r]
        a_chosen = balanced_flags(len(pairs), self.seed)
        inputs = [(c, r) if first else (r, c) for (c, r), first in zip(pairs, a_chosen)]
        return Dataset(inputs, a_chosen.astype(np.int64))
