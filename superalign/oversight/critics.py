"""Critics: verdicts (label, confidence, explanation) on query-response pairs.

- `WeakCritic`: one or several weak supervisors (ladder models such as ``tfidf`` and ``static``)
  trained on a small ground-truth split, their probabilities averaged (the weak supervisor of
  Burns et al. 2023 as a critic). Explanations name the most influential n-grams (TF-IDF) and
  the nearest labelled training examples (embedding probes).
- `LLMCritic`: prompts a chat LLM for a JSON verdict and critique (in the spirit of
  Saunders et al. 2022, "Self-critiquing models for assisting human evaluators"), asking for
  structured output (`verdict_schema`) where the server supports it, parses the answer robustly
  either way (first valid JSON object, schema check), re-asks on a bad answer, and returns an
  explicit "unparseable" verdict when retries run out.

Each is registered in `CRITICS` and built for a loop seed by ``from_context(RoleContext)``.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from ..data import one_hot
from ..llm.base import LLM, Message
from ..models import Classifier, ModelFactory, ProbeClassifier, TfidfClassifier
from ..registry import Registry
from .types import OversightError, Query, RoleContext, Verdict

log = logging.getLogger(__name__)

CRITICS: Registry[type] = Registry("critic")


def _short(text: str, n: int = 60) -> str:
    return text if len(text) <= n else text[: n - 3] + "..."


@CRITICS.register("weak")
class WeakCritic:
    """An ensemble of weak classifiers fit on ground truth; verdict = their mean probability."""

    def __init__(self, members: dict[str, Classifier], label_names: Sequence[str] = ("0", "1")):
        if not members:
            raise OversightError("a weak critic needs at least one model")
        self.members = members
        self.label_names = list(label_names)
        self.key = "weak(" + "+".join(f"{n}:{m.key}" for n, m in members.items()) + ")"
        self._train: tuple[list[str], np.ndarray] | None = None
        self._feats: dict[str, np.ndarray] = {}
        self._cache: dict[str, np.ndarray] = {}
        self._why: dict[str, str] = {}

    @classmethod
    def from_context(cls, ctx: RoleContext) -> WeakCritic:
        """The config's `critic_models` as probes (or TF-IDF), fit on the ground truth of train_gt."""
        from ..losses import get_loss

        members = {m: ModelFactory(m, ctx.cfg.probe)(ctx.seed) for m in ctx.cfg.critic_models}
        return cls(members, ctx.label_names).fit(ctx.train_gt.texts, ctx.train_gt.labels, get_loss("xent"))

    def fit(self, texts: Sequence[str], labels: np.ndarray, loss: Callable) -> WeakCritic:
        """Fit every member on gold `labels` (integer classes) of `texts`."""
        onehot = one_hot(labels, len(self.label_names))
        for m in self.members.values():
            m.fit(list(texts), onehot, loss, loss_name="xent")
        self._train = (list(texts), np.asarray(labels))
        self._cache.clear()
        self._why.clear()
        self._feats.clear()
        return self

    def predict_proba(self, texts: Sequence[str]) -> np.ndarray:
        if self._train is None:
            raise OversightError("the weak critic must be fit before it judges")
        missing = list(dict.fromkeys(t for t in texts if t not in self._cache))
        if missing:
            probs = np.mean([m.predict_proba(missing) for m in self.members.values()], axis=0)
            self._cache.update(zip(missing, probs))
        return np.stack([self._cache[t] for t in texts]) if texts else np.zeros((0, len(self.label_names)))

    def _nearest(self, name: str, model: ProbeClassifier, texts: list[str]) -> tuple[np.ndarray, np.ndarray]:
        if name not in self._feats:
            x = model.encoder.encode(self._train[0])
            self._feats[name] = x / (np.linalg.norm(x, axis=1, keepdims=True) + 1e-9)
        q = model.encoder.encode(texts)
        sims = (q / (np.linalg.norm(q, axis=1, keepdims=True) + 1e-9)) @ self._feats[name].T
        j = sims.argmax(1)
        return j, sims[np.arange(len(texts)), j]

    def explain(self, texts: Sequence[str], labels: Sequence[int]) -> list[str]:
        """Per text: the n-grams that drove a TF-IDF member, the nearest labelled example of a probe."""
        texts = list(texts)
        parts: list[list[str]] = [[] for _ in texts]
        for name, m in self.members.items():
            if isinstance(m, TfidfClassifier):
                for i, (t, y) in enumerate(zip(texts, labels)):
                    feats = m.top_features(t, int(y))
                    if feats:
                        parts[i].append(f"{name}: " + ", ".join(f"'{f}' ({c:+.2f})" for f, c in feats))
            elif isinstance(m, ProbeClassifier) and texts:
                j, sim = self._nearest(name, m, texts)
                for i in range(len(texts)):
                    tt, yy = self._train[0][j[i]], self.label_names[int(self._train[1][j[i]])]
                    parts[i].append(f"{name}: nearest labelled '{_short(tt)}' ({yy}, cos {sim[i]:.2f})")
        return ["; ".join(p) for p in parts]

    def judge(self, items: Sequence[Query], responses: Sequence[int] | None = None) -> list[Verdict]:
        texts = [q.text for q in items]
        probs = self.predict_proba(texts)
        new = [i for i, t in enumerate(texts) if t not in self._why]
        if new:
            self._why.update(zip([texts[i] for i in new], self.explain([texts[i] for i in new], probs[new].argmax(1))))
        out = []
        for i, p in enumerate(probs):
            note = self._why[texts[i]]
            if responses is not None:
                agree = "agrees with" if int(responses[i]) == int(p.argmax()) else "disagrees with"
                note = f"{agree} the learner ({self.label_names[int(responses[i])]}); {note}"
            out.append(Verdict.from_probs(p, note))
        return out


# --- LLM critic --------------------------------------------------------------------------------

_SYSTEM = "You are a careful annotator. You judge texts for a classification task and answer only with JSON."
_PROMPT = (
    "Task: {task}\n"
    "Possible labels: {labels}.\n"
    'Text: "{text}"\n'
    "{response}"
    "Decide the correct label for the text. Answer with one JSON object and nothing else, like\n"
    '{{"label": "{example}", "confidence": 0.8, "explanation": "one short sentence"}}\n'
    "where confidence (0 to 1) is how sure you are of your label."
)
_RETRY = (
    "That answer could not be used: {problem}. Reply again with only one JSON object with the keys "
    '"label" (one of {labels}), "confidence" (a number from 0 to 1) and "explanation" (a string).'
)


def _json_objects(raw: str) -> list[Any]:
    """Every JSON value that starts at a '{' in `raw` (code fences and chatter around it ignored)."""
    dec, out, i = json.JSONDecoder(), [], raw.find("{")
    while i != -1:
        try:
            obj, end = dec.raw_decode(raw, i)
            out.append(obj)
            i = raw.find("{", end)
        except ValueError:
            i = raw.find("{", i + 1)
    return out


def _confidence(v: Any) -> float | None:
    if isinstance(v, bool):
        return None
    if isinstance(v, str):
        s = v.strip().rstrip("%")
        try:
            x = float(s)
        except ValueError:
            return None
        x = x / 100 if v.strip().endswith("%") else x
    elif isinstance(v, (int, float)):
        x = float(v)
    else:
        return None
    if 1 < x <= 100:  # "85" meaning 85%
        x /= 100
    return x if 0 <= x <= 1 else None


def verdict_schema(label_names: Sequence[str]) -> dict[str, Any]:
    """The verdict's JSON schema, for servers with structured output (strict: every key required,
    no others); `parse_verdict` stays the robust reader for servers without it."""
    return {
        "type": "object",
        "properties": {
            "label": {"type": "string", "enum": list(label_names)},
            "confidence": {"type": "number", "minimum": 0, "maximum": 1},
            "explanation": {"type": "string"},
        },
        "required": ["label", "confidence", "explanation"],
        "additionalProperties": False,
    }


def parse_verdict(raw: str, label_names: Sequence[str]) -> Verdict | str:
    """A Verdict from an LLM answer, or a one-line reason why the answer is unusable.

    Schema: ``{"label": <one of label_names, or its index>, "confidence": <0..1, "85%" or 85
    accepted>, "explanation": <string, optional>}``; the first object that fits wins.
    """
    names = [n.lower() for n in label_names]
    objs = [o for o in _json_objects(raw) if isinstance(o, dict)]
    if not objs:
        return "no JSON object found"
    problem = "no object with the keys label and confidence"
    for o in objs:
        lab, conf = o.get("label"), _confidence(o.get("confidence"))
        if isinstance(lab, str) and lab.strip().lower() in names:
            y = names.index(lab.strip().lower())
        elif isinstance(lab, int) and not isinstance(lab, bool) and 0 <= lab < len(names):
            y = lab
        else:
            problem = f"label {lab!r} is not one of {list(label_names)}"
            continue
        if conf is None:
            problem = f"confidence {o.get('confidence')!r} is not a number between 0 and 1"
            continue
        k = len(names)
        c = max(conf, 1.0 / k)  # confidence in its own label; below chance it says nothing
        probs = np.full(k, (1 - c) / (k - 1))
        probs[y] = c
        expl = o.get("explanation", "")
        return Verdict(y, c, expl if isinstance(expl, str) else json.dumps(expl), tuple(float(p) for p in probs))
    return problem


@CRITICS.register("llm")
class LLMCritic:
    """Asks a chat LLM for a JSON verdict; re-asks up to `max_retries` times; else "unparseable"."""

    uses_llm = True

    def __init__(
        self,
        llm: LLM,
        label_names: Sequence[str],
        task: str,
        max_retries: int = 2,
        max_tokens: int = 96,
        show_response: bool = True,
    ):
        if len(label_names) < 2:
            raise OversightError("an LLM critic needs at least two label names")
        self.llm, self.label_names, self.task = llm, list(label_names), task
        self.max_retries, self.max_tokens, self.show_response = max_retries, max_tokens, show_response
        self.key = f"llm({llm.key})"
        self.schema = verdict_schema(self.label_names)
        self.calls = 0  # LLM chats sent, retries included
        self._cache: dict[tuple[str, int | None], Verdict] = {}

    @classmethod
    def from_context(cls, ctx: RoleContext) -> LLMCritic:
        return cls(ctx.llm, ctx.label_names, ctx.task_description)

    def _messages(self, text: str, response: int | None) -> list[Message]:
        shown = (
            f'A model labelled this text as "{self.label_names[response]}". Check it.\n'
            if response is not None and self.show_response
            else ""
        )
        user = _PROMPT.format(
            task=self.task, labels=", ".join(self.label_names), text=text, response=shown, example=self.label_names[-1]
        )
        return [{"role": "system", "content": _SYSTEM}, {"role": "user", "content": user}]

    def judge(self, items: Sequence[Query], responses: Sequence[int] | None = None) -> list[Verdict]:
        """Verdicts for `items` (each distinct text and shown response is asked once, then cached)."""
        keys = [
            (q.text, None if responses is None or not self.show_response else int(responses[i]))
            for i, q in enumerate(items)
        ]
        todo_keys = list(dict.fromkeys(k for k in keys if k not in self._cache))
        for k, v in zip(todo_keys, self._ask(todo_keys)):
            self._cache[k] = v
        return [self._cache[k] for k in keys]

    def _ask(self, keys: Sequence[tuple[str, int | None]]) -> list[Verdict]:
        convs = [self._messages(text, response) for text, response in keys]
        out: list[Verdict | None] = [None] * len(keys)
        last = [""] * len(keys)
        todo = list(range(len(keys)))
        for _ in range(self.max_retries + 1):
            if not todo:
                break
            answers = self.llm.chat_many([convs[i] for i in todo], max_tokens=self.max_tokens, json_schema=self.schema)
            self.calls += len(todo)
            failed = []
            for i, raw in zip(todo, answers):
                v = parse_verdict(raw, self.label_names)
                if isinstance(v, Verdict):
                    out[i] = v
                else:
                    last[i] = raw
                    convs[i] = [
                        *convs[i],
                        {"role": "assistant", "content": raw},
                        {"role": "user", "content": _RETRY.format(problem=v, labels=", ".join(self.label_names))},
                    ]
                    failed.append(i)
            todo = failed
        k = len(self.label_names)
        return [v if v is not None else Verdict.unparseable(k, last[i]) for i, v in enumerate(out)]
