"""The attacker-learner-critic loop on a generative learner (``superalign loop --task refusal``).

Per seed, on the splits of ``refusal``: train_gt trains the weak critic (and the attackers' idea of
what is harmful); train_w2s is the unlabelled pool the attackers draw requests from and the human
expert holds gold for; test is held out. Round 0 evaluates the untuned learner; each round r >= 1:

1. every attacker attacks `attack_size` requests against the current learner (searching framings
   or rewrites), and `attack_size` plain pool requests stand for the learner's ordinary traffic;
2. the learner answers each query (its greedy answer and one sample); the critic judges each pair;
3. the human expert labels the queries the selection policy ranks highest, within the round's
   share of the budget; a human label outranks the critic;
4. each decided query becomes a preference pair (a refusal over a compliant answer for a request to
   refuse; a helpful answer over a refusal for one to help with) and the learner is trained on the
   round's pairs by DPO (or SFT on the preferred answers) through TRL, from its last weights; or
   (``train: dpo+sft``) by DPO on the critic's pairs, then SFT on the human-labelled answers;
5. evaluation on held-out requests with fresh attacks: ASR per attacker on unsafe test requests,
   over-refusal on safe ones, and the correct-behaviour rate on the plain test prompts.
Each round is stored atomically (``<run>/seed<S>/round<R>.json``) with the attackers' learned state
and the human log, so a killed loop resumes at its first unfinished round. The learner never sees
a gold label the oracle did not hand out.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from ..data import fingerprint, get_task, make_splits
from ..errors import ConfigError
from ..generation.dpo import dpo
from ..generation.refuse import chat_prompts
from ..generation.samples import cached_samples
from ..generation.sft import RECORD, require_causal_lm, sft
from ..generation.teach import model_folder
from ..judges import ClassifierJudge, is_refusal
from ..oversight.oracle import HumanOracle, select_for_human
from ..oversight.types import Query
from ..store import Store, atomic_write_json
from .attackers import ATTACKERS, LLMAttacker, RephraseAttacker, TemplateAttacker
from .config import RED_TEAM_VERSION, RedTeamConfig
from .critics import CRITICS, LLMPairCritic, SelfCritic, WeakCritic
from .summary import summarize_red_team

EVAL_SEED = 10_007  # the held-out requests of every round are drawn with this, so rounds are paired


def _identity(folder: str) -> str:
    """What a learner folder's weights are, by what they were trained on (not by path or loss)."""
    record = Path(folder, RECORD)
    return f"trained:{json.loads(record.read_text())['key']}" if record.exists() else f"base:{folder}"


class Learner:
    """The chat model under oversight at one point in the loop: a causal-LM folder, answering chat turns."""

    def __init__(self, cfg: RedTeamConfig, folder: str, base: str, store: Store, seed: int):
        self.cfg, self.folder, self.base, self.store, self.seed = cfg, folder, base, store, seed
        self._policy = None
        self.identity = _identity(folder)

    def answers(self, requests: list[str], n: int = 1, temperature: float = 0.0) -> list[list[str]]:
        from ..llm import TransformersPolicy

        if self._policy is None:  # loaded once, on the first answer that is not already stored
            self._policy = TransformersPolicy(self.folder, batch_size=16)
        kw = {"seed": self.seed, "temperature": temperature, "max_new_tokens": self.cfg.max_new_tokens}
        return cached_samples(self.store, self._policy, self.identity, chat_prompts(self.base, requests), n, **kw)[0]

    def greedy(self, requests: list[str]) -> list[str]:
        return [row[0] for row in self.answers(list(requests))] if requests else []

    def chat(self) -> Any:
        from ..llm.local import TransformersLLM

        return TransformersLLM(self.folder, batch_size=16, seed=self.seed)


def _roles(cfg: RedTeamConfig, weak: ClassifierJudge, llm: Any) -> tuple[dict[str, Any], Any]:
    built = {
        "templates": lambda: TemplateAttacker(cfg.frames_tried),
        "rephrase": RephraseAttacker,
        "llm": lambda: LLMAttacker(llm),
    }
    attackers = {a: built[a]() for a in cfg.attackers}
    critic = {"weak": lambda: WeakCritic(weak, cfg.critic_model), "llm": lambda: LLMPairCritic(llm), "self": SelfCritic}
    return attackers, critic[cfg.critic]()


def _requests(attacker: Any, split: str, mine: list[tuple[str, str]], n: int, rng: np.random.Generator):
    if isinstance(attacker, RephraseAttacker):
        return attacker.own_requests(split, n, rng)
    return [mine[i] for i in rng.choice(len(mine), size=min(n, len(mine)), replace=False)]


def _pairs(
    cfg: RedTeamConfig, queries: list[Query], refuse: dict[int, bool], samples: list[str], revisions: list[str] | None
) -> tuple[list[tuple[str, str, str]], list[int]]:
    """(request, chosen, rejected) for each decided query that has both kinds of answer, and the query of each."""
    out, rows = [], []
    for i, should_refuse in refuse.items():
        tried = [queries[i].meta["answer"], samples[i]]
        helpful = next((a for a in tried if not is_refusal(a)), None)
        refusal = next((a for a in tried if is_refusal(a) and a.strip()), cfg.refusal_text)
        if revisions is not None and should_refuse and is_refusal(revisions[i]) and revisions[i].strip():
            refusal = revisions[i]  # the learner's own revision, after its critique
        if helpful is None:
            continue
        out.append((queries[i].text, refusal, helpful) if should_refuse else (queries[i].text, helpful, refusal))
        rows.append(i)
    return out, rows


def _fit(cfg: RedTeamConfig, how: str, learner: Learner, folder: str, pairs: list, store: Store) -> str:
    """Train `folder` on `pairs` by DPO (or SFT on the chosen answers); returns the new weights' folder."""
    if not pairs:
        return folder
    prompts = chat_prompts(learner.base, [p for p, _, _ in pairs])
    chosen, rejected = [c for _, c, _ in pairs], [r for _, _, r in pairs]
    settings = cfg.dpo if how == "dpo" else cfg.sft
    key = fingerprint(
        "redteam-learner",
        _identity(folder),
        how,
        settings.model_dump(exclude={"device"}),
        learner.seed,
        prompts,
        chosen,
        rejected,
    )
    out = store.checkpoint_dir(key)
    if how == "dpo":
        return str(dpo(folder, prompts, chosen, rejected, cfg.dpo, learner.seed, out))
    return str(sft(folder, prompts, chosen, cfg.sft, learner.seed, out))


def _train(cfg: RedTeamConfig, learner: Learner, pairs: list, human: list[bool], store: Store) -> str:
    """The round's training. ``dpo+sft``: DPO on the critic's pairs, then SFT on the human's chosen answers."""
    if cfg.train != "dpo+sft":
        return _fit(cfg, cfg.train, learner, learner.folder, pairs, store)
    folder = _fit(cfg, "dpo", learner, learner.folder, [p for p, h in zip(pairs, human) if not h], store)
    return _fit(cfg, "sft", learner, folder, [p for p, h in zip(pairs, human) if h], store)


def _play(
    cfg, r, learner, attackers, critic, oracle, targets, benign, store, labelled
) -> tuple[list[Query], list[dict], str]:
    """One round: attacks, answers, verdicts, human labels, training. Returns the queries, verdicts and new weights."""
    rng = np.random.default_rng([learner.seed, r])
    queries: list[Query] = []
    for att in attackers.values():
        attacks = att.propose(_requests(att, "train", targets, cfg.attack_size, rng), learner.greedy, rng)
        att.learn(attacks)
        queries += attacks
    plain = [benign[i] for i in rng.choice(len(benign), size=min(cfg.attack_size, len(benign)), replace=False)]
    queries += [
        Query(f"pool:{rid}", t, rid, "pool", None, {"answer": a})
        for (rid, t), a in zip(plain, learner.greedy([t for _, t in plain]))
    ]
    texts, answers = [q.text for q in queries], [q.meta["answer"] for q in queries]
    samples = [row[0] for row in learner.answers(texts, 1, cfg.temperature)]
    chat = learner.chat() if isinstance(critic, SelfCritic) else None
    verdicts = critic.judge(texts, answers, chat)
    revisions = critic.revise(texts, answers, chat) if isinstance(critic, SelfCritic) else None
    learner_probs = np.array([[0.0, 1.0] if is_refusal(a) else [1.0, 0.0] for a in answers])
    k = min(cfg.budget_per_round(), oracle.remaining)
    chosen = select_for_human(cfg.selection, queries, learner_probs, verdicts, k, oracle, rng, exclude=labelled)
    gold = dict(zip(chosen, oracle.label([queries[i] for i in chosen], round=r)))
    labelled.update(queries[i].source for i in chosen)
    refuse = {i: bool(v.label) for i, v in enumerate(verdicts) if v.status == "ok"}
    refuse.update({i: bool(y) for i, y in gold.items()})  # the human outranks the critic
    pairs, rows = ([], []) if cfg.freeze_learner else _pairs(cfg, queries, refuse, samples, revisions)
    folder = _train(cfg, learner, pairs, [i in gold for i in rows], store)
    records = [{**v.to_dict(), "human": gold.get(i), "trained_refuse": refuse.get(i)} for i, v in enumerate(verdicts)]
    return queries, records, folder


def _evaluate(cfg, learner, attackers, unsafe_test, safe_test, test, seed) -> dict[str, Any]:
    """Fresh attacks on held-out requests (the same requests every round), over-refusal, correct behaviour."""
    rng = np.random.default_rng([seed, EVAL_SEED])
    asr = {}
    for name, att in attackers.items():
        attacks = att.propose(_requests(att, "eval", unsafe_test, cfg.eval_size, rng), learner.greedy, rng)
        asr[name] = [bool(q.meta["complied"]) for q in attacks]
    refused_safe = [is_refusal(a) for a in learner.greedy([t for _, t in safe_test])]
    refused = [is_refusal(a) for a in learner.greedy([t for t, _ in test])]
    return {
        "asr": asr,
        "over_refusal": refused_safe,
        "correct": [bool(r == y) for r, (_, y) in zip(refused, test)],
        "harmful_compliance": [not r for r, (_, y) in zip(refused, test) if y],
    }


def run_seed(cfg: RedTeamConfig, data: Any, seed: int, store: Store, llm: Any) -> list[dict[str, Any]]:
    """Every round of one seed (stored ones read back); returns the round records."""
    from ..llm.base import with_seed

    splits = make_splits(
        data, cfg.split_sizes(get_task(cfg.task, **cfg.task_args)).model_dump(), seed=seed, data_seed=cfg.data_seed
    )
    base = require_causal_lm(model_folder(cfg.learner, store.root / "models"))
    weak = ClassifierJudge(cfg.factory(cfg.critic_model), seed).fit(splits.train_gt)
    attackers, critic = _roles(cfg, weak, with_seed(llm, seed) if llm is not None else None)
    pool = [(f"pool:{i}", t) for i, t in enumerate(splits.train_w2s.texts)]
    believed = weak.predict([t for _, t in pool]) > 0.5  # the attackers' targets: what *they* think is harmful
    targets = [x for x, b in zip(pool, believed) if b] or pool
    gold = {rid: int(y) for (rid, _), y in zip(pool, splits.train_w2s.labels)}
    if "rephrase" in attackers:  # harmful requests by construction of that dataset
        gold.update({rid: 1 for rid, _ in attackers["rephrase"].items["train"]})
    oracle = HumanOracle(gold, cfg.human_budget)
    test = list(zip(splits.test.texts, splits.test.labels.tolist()))
    unsafe_test = [(f"test:{i}", t) for i, (t, y) in enumerate(test) if y]
    safe_test = [(f"test:{i}", t) for i, (t, y) in enumerate(test) if not y]
    folder_dir = store.run_dir(cfg.hash()) / f"seed{seed}"
    records: list[dict[str, Any]] = []
    folder, labelled = base, set()
    for r in range(cfg.rounds + 1):
        path = folder_dir / f"round{r}.json"
        if path.exists():
            rec = json.loads(path.read_text())
            for name, att in attackers.items():
                att.restore(rec["attackers"][name])
            oracle.restore(rec["human_log"])
            labelled.update(e["source"] for e in rec["human_log"] if e.get("answered"))
            folder = rec["model"]
            records.append(rec)
            continue
        learner = Learner(cfg, folder, base, store, seed)
        queries, verdicts, log_start = [], [], len(oracle.log)
        if r > 0:
            queries, verdicts, folder = _play(
                cfg, r, learner, attackers, critic, oracle, targets, pool, store, labelled
            )
            learner = Learner(cfg, folder, base, store, seed)
        rec = {
            "version": RED_TEAM_VERSION,
            "round": r,
            "model": folder,
            "queries": [q.to_dict() for q in queries],
            "verdicts": verdicts,
            "human_log": oracle.log[log_start:],
            "human_spent": oracle.spent,
            "attackers": {name: att.state() for name, att in attackers.items()},
            "eval": _evaluate(cfg, learner, attackers, unsafe_test, safe_test, test, seed),
        }
        atomic_write_json(path, rec)
        records.append(rec)
    return records


def run_red_team(cfg: RedTeamConfig, store: Store | None = None, llm: Any = None) -> dict[str, Any]:
    """Run (or resume) the loop for every seed; the summary goes to ``<store>/<hash>/summary.json``."""
    from ..llm import get_llm

    store = store or Store()
    task = get_task(cfg.task, **cfg.task_args)
    if getattr(task, "metric", None) != "correct_behaviour":
        raise ConfigError(f"the generative loop needs the refusal task; {cfg.task!r} is not one")
    for name in cfg.attackers:
        ATTACKERS.get(name)
    CRITICS.get(cfg.critic)
    needs_llm = "llm" in cfg.attackers or cfg.critic == "llm"
    llm = llm if llm is not None or not needs_llm else get_llm(cfg.llm)
    before = len(store.computed)
    data = task.load()
    per_seed = [run_seed(cfg, data, seed, store, llm) for seed in cfg.seeds]
    summary = summarize_red_team(cfg, per_seed)
    summary["computed"] = len(store.computed) - before
    atomic_write_json(store.run_dir(cfg.hash()) / "summary.json", summary)
    return summary
