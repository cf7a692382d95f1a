"""Safety: is a prompt a harmful request? The safety prompts of the W2S-beyond-accuracy pilot
study (Ye et al. 2024, "Weak-to-Strong Generalization beyond Accuracy: a Pilot Study in
Safety, Toxicity, and Legal Reasoning", github.com/yeruimeng/WTS)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar

from .base import Dataset, register_task
from .prep import clip, majority_dedup
from .sources import HubSource, LocalFiles, SourcedTask, require_columns

if TYPE_CHECKING:  # annotations only: pandas is imported where a table is read
    import pandas as pd

# The study ships the CSV in its code repository only (no hub dataset); the `csv` builder of
# `datasets` reads it from the pinned commit.
_WTS_CSV = "https://raw.githubusercontent.com/yeruimeng/WTS/c909377793e53081b9161a94f8d381a18d07bb49/safety.csv"


@register_task("safety")
@dataclass
class SafetyTask(SourcedTask):
    """Prompt -> 1 unsafe (a harmful request) / 0 safe.

    The source labels ``is_safe`` True/False (the study's code maps True to 1; we make *unsafe*
    the positive class, like toxic / wrong / relevant elsewhere: accuracy and PGR are unchanged).
    The labels are noisy and prompts repeat (473 distinct prompts have 2+ copies once surrounding
    whitespace is stripped, 181 of them with conflicting labels): copies are collapsed to one row
    *before* splitting, labelled by majority, and the 137 ties are dropped (10,753 prompts remain).
    """

    max_chars: int = 1000  # prompts are at most ~300 characters; the cap only guards odd inputs

    name: ClassVar[str] = "safety"
    label_names: ClassVar[tuple[str, str]] = ("safe", "unsafe")
    description: ClassVar[str] = (
        "prompt -> unsafe / safe (WTS pilot study safety prompts; duplicates merged by majority)"
    )
    local: ClassVar[LocalFiles] = LocalFiles(("wts_safety/safety.csv",))
    hub: ClassVar[HubSource] = HubSource("csv", split="train", kwargs={"data_files": _WTS_CSV})

    def build(self, table: pd.DataFrame) -> Dataset:
        require_columns(self.name, table, ("prompt", "is_safe"))
        table = table[table["prompt"].notna()]
        unsafe = [int(str(v).strip().lower() not in ("true", "1")) for v in table["is_safe"]]
        return majority_dedup([clip(str(p), self.max_chars) for p in table["prompt"]], unsafe)
