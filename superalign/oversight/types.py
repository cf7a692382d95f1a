"""The roles of the attacker-learner-critic loop and the records they exchange.

An *attacker* proposes queries that expose the learner's weaknesses; a *critic* judges each
query with a `Verdict` (label, confidence, explanation); a *human oracle* answers a budgeted
few with gold labels; the *learner* refits on all of that `Feedback`. Every role is a small
protocol so that new attackers, critics or learners drop in (design: scalable oversight as in
Irving et al. 2018 "AI safety via debate" and Saunders et al. 2022 "Self-critiquing models",
measured with the weak-to-strong PGR of Burns et al. 2023).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, Protocol, runtime_checkable

import numpy as np

from ..errors import SuperalignError

if TYPE_CHECKING:
    from ..data import Dataset
    from ..llm.base import LLM
    from .config import LoopConfig


class OversightError(SuperalignError):
    """A misconfigured loop or a role used outside its contract."""


@dataclass(frozen=True)
class Query:
    """An input put to the learner.

    `source` is the id of the unlabelled-pool item the query was made from (the item itself for
    pool search; the original for a meaning-preserving edit), or None for text written from
    scratch (generative attacks). A human can only be asked about queries with a `source`:
    edits are built to preserve the label, so the source's gold answers for them.
    `intended` is the class a generative attacker asked for (None otherwise).
    """

    id: str
    text: str
    source: str | None
    attacker: str
    intended: int | None = None
    meta: dict[str, Any] = field(default_factory=dict, compare=False, hash=False)

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "text": self.text,
            "source": self.source,
            "attacker": self.attacker,
            "intended": self.intended,
            "meta": self.meta,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Query:
        return cls(d["id"], d["text"], d["source"], d["attacker"], d.get("intended"), d.get("meta", {}))


@dataclass(frozen=True)
class Verdict:
    """A critic's judgement of one query: `probs` over classes, its confidence and why.

    `status` is "ok" or "unparseable" (an LLM whose answer could not be read after retries);
    an unparseable verdict has `label` None, uniform `probs` and confidence 0.
    """

    label: int | None
    confidence: float
    explanation: str
    probs: tuple[float, ...]
    status: Literal["ok", "unparseable"] = "ok"

    @classmethod
    def from_probs(cls, p: np.ndarray, explanation: str = "") -> Verdict:
        p = np.asarray(p, dtype=np.float64)
        return cls(int(p.argmax()), float(p.max()), explanation, tuple(float(x) for x in p))

    @classmethod
    def unparseable(cls, k: int, raw: str) -> Verdict:
        return cls(None, 0.0, f"unparseable: {raw[:200]}", tuple([1.0 / k] * k), "unparseable")

    def to_dict(self) -> dict[str, Any]:
        return {
            "label": self.label,
            "confidence": self.confidence,
            "explanation": self.explanation,
            "probs": list(self.probs),
            "status": self.status,
        }


@dataclass
class Feedback:
    """What the learner trains on: texts, soft targets, weights and which rows are human gold,
    plus the (edit, source) text pairs of the adversarial edits found so far."""

    texts: list[str]
    targets: np.ndarray  # (n, k) soft labels
    weights: np.ndarray  # (n,) sample weights
    gold: np.ndarray  # (n,) bool: a human's label (trained as ground truth)
    edits: list[tuple[str, str]] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.texts)


@runtime_checkable
class Learner(Protocol):
    """The strong model under oversight."""

    key: str

    def predict_proba(self, texts: Sequence[str]) -> np.ndarray: ...

    def update(self, feedback: Feedback) -> None: ...


@dataclass
class RoleContext:
    """What a registered attacker or critic is built from (``from_context``) for one loop seed.

    ``llm`` is made on first use (one model shared by the roles and seeds of a run) and samples
    with this seed; ``critic`` is set once the critic is built, for the attackers that consult it.
    """

    cfg: LoopConfig
    seed: int
    label_names: list[str]
    task_description: str
    train_gt: Dataset
    make_llm: Callable[[], LLM]
    critic: Critic | None = None

    @property
    def llm(self) -> LLM:
        from ..llm import with_seed

        return with_seed(self.make_llm(), self.seed)


@dataclass
class AttackProbe:
    """The fixed val-split material on which every round's fresh attacks are measured.

    ``queries`` and ``gold``: the val items and their gold labels (evaluation only, never trained
    on); ``sample``: a fixed sample of val indices (``n`` of them); ``rng`` and ``folder``: what an
    attacker's one-off `prepare` may draw from and store its fixed inputs in.
    """

    queries: list[Query]
    gold: np.ndarray
    sample: np.ndarray
    n: int
    rng: np.random.Generator
    folder: Path

    def gold_by_id(self) -> dict[str, int]:
        return {q.id: int(y) for q, y in zip(self.queries, self.gold)}


@runtime_checkable
class Attacker(Protocol):
    """Proposes `n` queries meant to make `learner` err, drawing on `pool` (unlabelled items), and
    measures its own success against the learner on the val probe (`BaseAttacker` has defaults
    for ``consumes_pool`` and ``prepare``)."""

    name: str
    consumes_pool: bool

    def prepare(self, probe: AttackProbe) -> None: ...

    def propose(self, learner: Learner, pool: Sequence[Query], n: int, rng: np.random.Generator) -> list[Query]: ...

    def success(self, learner: Learner, probe: AttackProbe, rng: np.random.Generator) -> dict[str, float]: ...


@runtime_checkable
class Critic(Protocol):
    """Judges query-response pairs: `responses` (optional) are the learner's labels for `items`;
    the verdict is the critic's own label for each query. `key` identifies the critic."""

    key: str

    def judge(self, items: Sequence[Query], responses: Sequence[int] | None = None) -> list[Verdict]: ...


@runtime_checkable
class TrainableCritic(Critic, Protocol):
    """A critic that can be refit on gold labels (the loop teaches it the human labels)."""

    def fit(self, texts: Sequence[str], labels: np.ndarray, loss: Callable) -> TrainableCritic: ...

    def predict_proba(self, texts: Sequence[str]) -> np.ndarray: ...
