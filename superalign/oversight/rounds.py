"""What the loop's rounds accumulate, and the files a finished round leaves.

`LoopState` is rebuilt identically whether a round is replayed from disk or computed: both go
through `LoopState.absorb`. `RoundFiles` writes a finished round atomically (the JSON record
last, so it marks completion).
"""

from __future__ import annotations

import io
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..data import Dataset
from ..store import atomic_write_bytes, atomic_write_json
from .learner import FeedbackLedger
from .oracle import HumanOracle
from .types import Query, TrainableCritic, Verdict


class RoundFiles:
    """Files of one finished round: the JSON record is written last and marks completion."""

    def __init__(self, folder: Path, r: int):
        self.json, self.npz = folder / f"round_{r}.json", folder / f"round_{r}.npz"

    def done(self) -> bool:
        return self.json.exists() and self.npz.exists()

    def load(self) -> tuple[dict[str, Any], np.ndarray]:
        with np.load(self.npz) as z:
            probs = z["test_probs"]
        return json.loads(self.json.read_text()), probs

    def save(self, record: dict[str, Any], test_probs: np.ndarray) -> None:
        buf = io.BytesIO()
        np.savez(buf, test_probs=test_probs)
        atomic_write_bytes(self.npz, buf.getvalue())
        atomic_write_json(self.json, record)


def edit_source(q: Query, by_id: dict[str, Query]) -> Query | None:
    """The pool item `q` is a label-preserving edit of (see `FeedbackLedger`), or None."""
    src = by_id.get(q.source) if q.source else None
    return src if src is not None and q.text != src.text else None


@dataclass
class LoopState:
    """One seed's loop so far: the feedback ledger, the oracle's spending, which pool items were
    proposed or labelled, the human labels in order, and every finished round's metrics."""

    ledger: FeedbackLedger
    oracle: HumanOracle
    by_id: dict[str, Query]  # the pool, by query id
    edit_target: str
    proposed: set[str] = field(default_factory=set)  # pool items already proposed (never proposed twice)
    labelled: set[str] = field(default_factory=set)  # pool items a human has labelled
    human_gold: list[tuple[str, int]] = field(default_factory=list)  # (pool text, gold label), in order
    stale: bool = False  # replayed human labels the critic has not been refit on yet
    trained_upto: int = -1  # the last round whose feedback the learner was fit on
    rounds: list[dict[str, Any]] = field(default_factory=list)
    test_probs: list[np.ndarray] = field(default_factory=list)
    computed: list[int] = field(default_factory=list)  # rounds computed now (not replayed)

    def absorb(self, queries: Sequence[Query], verdicts: Sequence[Verdict], human: Sequence[dict[str, Any]]) -> None:
        """Take in one round's critic verdicts and human labels (computed and replayed rounds alike)."""
        for q, v in zip(queries, verdicts):
            src = edit_source(q, self.by_id)
            if src is None:
                self.ledger.add_critic(q.text, v)
            elif self.edit_target == "learner" and "label_before" in q.meta:
                self.ledger.add_edit(q.text, src.text, int(q.meta["label_before"]), float(q.meta.get("p_before", 1.0)))
            else:
                self.ledger.add_edit(q.text, src.text)
        for h in human:
            src_text = self.by_id[h["source"]].text
            self.ledger.add_human(src_text, int(h["label"]))
            if h["text"] != src_text:
                self.ledger.add_human(h["text"], int(h["label"]))
        self.proposed.update(q.id for q in queries if q.id in self.by_id)
        self.labelled.update(h["source"] for h in human)
        self.human_gold.extend((self.by_id[h["source"]].text, int(h["label"])) for h in human)

    def replay(self, files: RoundFiles, teach: bool) -> None:
        """Take in a finished round from disk (the learner is refit only when a round is computed)."""
        rec, probs = files.load()
        queries = [Query.from_dict(d["query"]) for d in rec["queries"]]
        verdicts = [Verdict(**{**d["verdict"], "probs": tuple(d["verdict"]["probs"])}) for d in rec["queries"]]
        self.absorb(queries, verdicts, rec["human"])
        self.oracle.restore(rec["oracle_log"])
        self.stale |= teach and bool(rec["human"])
        self.rounds.append(rec["metrics"])
        self.test_probs.append(probs)


def teach_critic(
    critic: TrainableCritic, gt: Dataset, human: Sequence[tuple[str, int]], ledger: FeedbackLedger
) -> None:
    """Refit the critic on train_gt plus the human labels so far, then re-judge every text the
    ledger holds a critic label for: the budgeted human improves the overseer, not only the learner
    (the weak supervisor is retrained on the extra gold, as active learning would)."""
    from ..losses import get_loss

    labels = np.r_[gt.labels, [y for _, y in human]].astype(np.int64)
    critic.fit(list(gt.texts) + [t for t, _ in human], labels, get_loss("xent"))
    held = ledger.texts("critic")
    for t, v in zip(held, critic.judge([Query(f"ledger:{i}", t, None, "ledger") for i, t in enumerate(held)])):
        ledger.add_critic(t, v)
