"""Ethics: is a first-person action clearly morally wrong? ETHICS commonsense morality
(Hendrycks et al., ICLR 2021, "Aligning AI With Shared Human Values")."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar

from .base import Dataset, binarize_labels, register_task
from .prep import clip, majority_dedup
from .sources import HubSource, LocalFiles, SourcedTask, require_columns

if TYPE_CHECKING:  # annotations only: pandas is imported where a table is read
    import pandas as pd


@register_task("ethics")
@dataclass
class EthicsTask(SourcedTask):
    """Scenario -> 1 wrong / 0 not wrong (the dataset's own coding).

    Uses the commonsense test and hard-test sets (3,885 + 3,964 scenarios; on the hub the
    ``validation`` and ``test`` splits). About half are long Reddit AITA posts (up to ~5,400
    characters): they keep their first ``max_chars`` characters, where the situation is stated.
    """

    max_chars: int = 1000

    name: ClassVar[str] = "ethics"
    label_names: ClassVar[tuple[str, str]] = ("not wrong", "morally wrong")
    description: ClassVar[str] = "scenario -> morally wrong / not (ETHICS commonsense, test + hard test)"
    local: ClassVar[LocalFiles] = LocalFiles(
        ("ethics_commonsense/cm_test.csv.gz", "ethics_commonsense/cm_test_hard.csv.gz")
    )
    hub: ClassVar[HubSource] = HubSource("hendrycks/ethics", "commonsense", split="validation+test")

    def build(self, table: pd.DataFrame) -> Dataset:
        require_columns(self.name, table, ("input", "label"))
        table = table[table["input"].notna()]
        labels = binarize_labels(table["label"].tolist(), "label")
        return majority_dedup([clip(str(t), self.max_chars) for t in table["input"]], labels)
