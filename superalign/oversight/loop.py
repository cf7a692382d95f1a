"""The attacker-learner-critic loop with a budgeted human expert, measured round by round.

One seed, on disjoint splits (`make_splits`):
  train_gt   ground truth the weak critic is fit on (a weak critic's only gold)
  train_w2s  the unlabelled pool; its gold is held by the `HumanOracle` (budgeted) and trains
             the gold ceiling, and is never handed to the learner otherwise
  val        fresh attacks after each round measure attack success (never trained on)
  test       held-out gold: learner accuracy, and PGR relative to the critic-only floor

Two baselines are fit once per seed: the critic-only floor, naive W2S (Burns et al. 2023's
naive fine-tuning: the strong model trained with plain cross-entropy on the critic's labels of
the whole pool), and the gold ceiling (the strong model on the pool's gold labels). PGR is
(learner - floor) / (ceiling - floor). Round 0 trains the learner on the critic's labels of the
whole pool with the loop's loss and critic-confidence weights (W2S before any attack or human).
Each round r = 1..R then runs: attack (every attacker proposes queries against the current
learner) -> the learner answers -> the critic judges the query-response pairs -> a
selection policy picks the queries a human should label and the oracle answers them within its
budget -> the learner refits on all feedback -> evaluation. Every finished round is written
atomically under ``<store>/loop-<rounds key>/seed<s>/round_<r>.{json,npz}`` (the key hashes the
config less the seed list, so a run with more seeds reuses finished ones); a rerun replays
finished rounds from disk (the learner is refit on the replayed feedback only when a new round
must be computed), so a killed loop resumes at its first unfinished round.
"""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..config import LoopConfig
from ..data import Dataset, Splits, fingerprint, get_task, make_splits
from ..losses import get_loss
from ..metrics import PGRAnalysis, ece, evaluate
from ..store import Store, atomic_write_bytes, atomic_write_json
from ..w2s.runner import ModelFactory, one_hot
from .attackers import GenerativeAttacker, PerturbationAttacker, PoolAttacker
from .critics import LLMCritic, WeakCritic
from .learner import ClassifierLearner, FeedbackLedger
from .oracle import POLICIES, HumanOracle, select_for_human
from .types import Attacker, Critic, OversightError, Query, Verdict

log = logging.getLogger(__name__)

_DEFAULT_LABEL_NAMES = {"sentiment": ["negative", "positive"]}


def label_names_for(cfg: LoopConfig, task: Any) -> list[str]:
    if cfg.label_names:
        if len(cfg.label_names) != 2:
            raise OversightError(f"label_names must name the 2 classes, got {cfg.label_names}")
        return list(cfg.label_names)
    names = getattr(task, "label_names", None) or _DEFAULT_LABEL_NAMES.get(cfg.task)
    return list(names) if names else ["class 0", "class 1"]


def build_critic(cfg: LoopConfig, seed: int, label_names: Sequence[str], task_description: str, llm: Any = None) -> Critic:
    """The configured critic (a weak critic still has to be `fit` on train_gt)."""
    if cfg.critic == "weak":
        return WeakCritic({m: ModelFactory(m, cfg.probe)(seed) for m in cfg.critic_models}, label_names)
    return LLMCritic(llm if llm is not None else _llm(cfg), label_names, task_description)


def _llm(cfg: LoopConfig) -> Any:
    from ..llm import get_llm

    return get_llm(cfg.llm)


def build_attackers(cfg: LoopConfig, critic: Critic, label_names: Sequence[str], task_description: str, llm: Any = None) -> list[Attacker]:
    out: list[Attacker] = []
    for name in cfg.attackers:
        if name == "pool":
            out.append(PoolAttacker(critic, cfg.pool_mode))
        elif name == "perturb":
            p = cfg.perturb
            out.append(PerturbationAttacker(p.max_edits, p.max_words, p.n_char, p.max_queries))
        else:
            out.append(GenerativeAttacker(llm if llm is not None else _llm(cfg), label_names, task_description))
    return out


def _human_share(cfg: LoopConfig, r: int) -> int:
    """Labels the oracle may have spent by the end of round r (spread evenly; leftovers carry over)."""
    return cfg.human_budget * r // max(1, cfg.rounds)


@dataclass
class SeedLoop:
    """One seed's loop: per round (0 = floor) the metrics and test probabilities, plus the ceiling."""

    seed: int
    rounds: list[dict[str, Any]]
    test_probs: list[np.ndarray]
    naive_probs: np.ndarray
    ceiling_probs: np.ndarray
    critic_test_probs: np.ndarray
    test_labels: np.ndarray
    oracle_log: list[dict[str, Any]]
    computed: list[int] = field(default_factory=list)  # rounds computed now (not replayed)


class _Round:
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


def _edit_source(q: Query, by_id: dict[str, Query]) -> Query | None:
    """The pool item `q` is a label-preserving edit of (see `FeedbackLedger`), or None."""
    src = by_id.get(q.source) if q.source else None
    return src if src is not None and q.text != src.text else None


def _apply(ledger: FeedbackLedger, by_id: dict[str, Query], queries: Sequence[Query], verdicts: Sequence[Verdict],
           human: Sequence[dict[str, Any]], edit_target: str) -> None:
    """Add one round's critic verdicts and human labels to the ledger (compute and replay alike)."""
    for q, v in zip(queries, verdicts):
        src = _edit_source(q, by_id)
        if src is not None:
            if edit_target == "learner" and "label_before" in q.meta:
                ledger.add_edit(q.text, src.text, int(q.meta["label_before"]), float(q.meta.get("p_before", 1.0)))
            else:
                ledger.add_edit(q.text, src.text)
        else:
            ledger.add_critic(q.text, v)
    for h in human:
        src_text = by_id[h["source"]].text
        ledger.add_human(src_text, int(h["label"]))
        if h["text"] != src_text:
            ledger.add_human(h["text"], int(h["label"]))


def _attack(attackers: Sequence[Attacker], learner: ClassifierLearner, pool: list[Query], available: list[Query], n: int,
            rng: np.random.Generator) -> list[Query]:
    """Every attacker's `n` proposals against the current learner, de-duplicated in order: pool
    search and perturbation draw on the `available` (not yet proposed or labelled) pool items; the
    generative attacker takes the whole pool as examples."""
    queries, seen = [], set()
    for a in attackers:
        for q in a.propose(learner, pool if isinstance(a, GenerativeAttacker) else available, n, rng):
            if q.id not in seen:
                seen.add(q.id)
                queries.append(q)
    return queries


def _ask_human(cfg: LoopConfig, r: int, queries: Sequence[Query], lp: np.ndarray, verdicts: Sequence[Verdict],
               oracle: HumanOracle, by_id: dict[str, Query], labelled: set[str], rng: np.random.Generator) -> list[dict[str, Any]]:
    """Round r's human labels: the selection policy picks, among the queries a human may see (pool
    inputs; edits too with `label_edits`), up to the budget share of this round, and the oracle answers."""
    want = _human_share(cfg, r) - oracle.spent
    askable = [i for i, q in enumerate(queries) if cfg.label_edits or _edit_source(q, by_id) is None]
    chosen = [askable[i] for i in select_for_human(cfg.policy, [queries[i] for i in askable], lp[askable],
                                                   [verdicts[i] for i in askable], want, oracle, rng, exclude=labelled)]
    answers = oracle.label([queries[i] for i in chosen], round=r) if chosen else []
    return [{"id": queries[i].id, "source": queries[i].source, "text": queries[i].text, "label": y} for i, y in zip(chosen, answers)]


def _generative_eval(gen: GenerativeAttacker, file: Path, learner: ClassifierLearner, val_q: list[Query], n: int,
                     rng: np.random.Generator) -> list[Query]:
    """The fixed set of generated inputs that measures generative attack success every round,
    written once per seed so that every round, and a resumed run, is measured on the same set."""
    if file.exists():
        return [Query.from_dict(d) for d in json.loads(file.read_text())]
    queries = gen.propose(learner, val_q, n, rng)
    atomic_write_json(file, [q.to_dict() for q in queries])
    return queries


def _baselines(strong: ModelFactory, seed: int, store: Store, pool_verdicts: Sequence[Verdict],
               w2s: Dataset, test: Dataset, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Test probabilities of naive W2S (xent on the critic's parseable labels of the pool) and of
    the gold ceiling (xent on the pool's gold), each a cached store stage."""
    common = (strong.settings, seed, test.texts)
    judged = [(t, v.probs) for t, v in zip(w2s.texts, pool_verdicts) if v.status == "ok"]
    naive_x, naive_y = [t for t, _ in judged], np.array([p for _, p in judged], dtype=np.float32).reshape(-1, k)
    naive = store.stage(
        fingerprint("loop-naive", strong.key, common, naive_x, naive_y),
        lambda: {"test": strong(seed).fit(naive_x, naive_y, get_loss("xent")).predict_proba(test.texts)},
    )["test"]
    ceiling = store.stage(
        fingerprint("loop-ceiling", strong.key, common, w2s.texts, w2s.labels),
        lambda: {"test": strong(seed).fit(w2s.texts, one_hot(w2s.labels, k), get_loss("xent")).predict_proba(test.texts)},
    )["test"]
    return naive, ceiling


def _teach_critic(critic: WeakCritic, gt: Dataset, human: Sequence[tuple[str, int]], ledger: FeedbackLedger) -> None:
    """Refit the weak critic on train_gt plus the human labels so far, then re-judge every text the
    ledger holds a critic label for: the budgeted human improves the overseer, not only the learner
    (the weak supervisor is retrained on the extra gold, as active learning would)."""
    critic.fit(list(gt.texts) + [t for t, _ in human], np.r_[gt.labels, [y for _, y in human]].astype(np.int64), get_loss("xent"))
    held = ledger.texts("critic")
    for t, v in zip(held, critic.judge([Query(f"ledger:{i}", t, None, "ledger") for i, t in enumerate(held)])):
        ledger.add_critic(t, v)


def _attack_eval(learner: ClassifierLearner, attackers: Sequence[Attacker], val_q: list[Query], val_gold: np.ndarray,
                 perturb_ix: np.ndarray, gen_eval: list[Query], n: int, rng: np.random.Generator) -> dict[str, dict[str, float]]:
    """Fresh attacks on the val split against the current learner: success = the learner errs.

    pool: share of the `n` most suspicious val items the learner gets wrong; perturb: share of
    a fixed sample of correctly classified val items whose edits flip the learner to a wrong
    label (TextAttack's attack success rate); generative: share of a fixed set of generated
    inputs the learner labels differently from the class the attacker asked for.
    """
    gold = {q.id: int(y) for q, y in zip(val_q, val_gold)}
    out: dict[str, dict[str, float]] = {}
    for a in attackers:
        if isinstance(a, PoolAttacker):
            qs = a.propose(learner, val_q, n, rng)
            pred = learner.predict_proba([q.text for q in qs]).argmax(1)
            wrong = int(sum(p != gold[q.id] for p, q in zip(pred, qs)))
            out[a.name] = {"success": wrong / max(1, len(qs)), "n": len(qs)}
        elif isinstance(a, PerturbationAttacker):
            texts = [val_q[i].text for i in perturb_ix]
            right = learner.predict_proba(texts).argmax(1) == val_gold[perturb_ix]
            flips = sum(a.attack(learner, t).flipped for t, ok in zip(texts, right) if ok)
            out[a.name] = {"success": flips / max(1, int(right.sum())), "n": int(right.sum())}
        elif isinstance(a, GenerativeAttacker):
            pred = learner.predict_proba([q.text for q in gen_eval]).argmax(1) if gen_eval else np.zeros(0, int)
            miss = int(sum(p != q.intended for p, q in zip(pred, gen_eval)))
            out[a.name] = {"success": miss / max(1, len(gen_eval)), "n": len(gen_eval)}
    return out


def run_seed_loop(
    cfg: LoopConfig, splits: Splits, seed: int, store: Store, *, label_names: Sequence[str] = ("class 0", "class 1"),
    task_description: str = "", llm: Any = None, on_round: Callable[[int, dict[str, Any]], None] = lambda r, m: None,
) -> SeedLoop:
    """Run (or resume) the loop for one seed; see the module docstring."""
    gt, w2s, val, test = splits.train_gt, splits.train_w2s, splits.val, splits.test
    folder = store.run_dir(f"loop-{cfg.rounds_key()}") / f"seed{seed}"
    k = len(label_names)
    strong = ModelFactory(cfg.learner, cfg.probe, cfg.finetune if cfg.mode == "finetune" else None, cfg.spelling)
    critic = build_critic(cfg, seed, label_names, task_description, llm)
    if isinstance(critic, WeakCritic):
        critic.fit(gt.texts, gt.labels, get_loss("xent"))
    attackers = build_attackers(cfg, critic, label_names, task_description, llm)
    pool = [Query(f"pool:{i}", t, f"pool:{i}", "pool") for i, t in enumerate(w2s.texts)]
    by_id = {q.id: q for q in pool}
    pool_gold = {q.id: int(y) for q, y in zip(pool, w2s.labels)}  # evaluation only (critic accuracy)
    oracle = HumanOracle(pool_gold, cfg.human_budget)
    ledger = FeedbackLedger(k, cfg.weighting, cfg.human_weight)
    pool_verdicts = critic.judge(pool)
    for q, v in zip(pool, pool_verdicts):
        ledger.add_critic(q.text, v)
    learner = ClassifierLearner(strong, strong.key, cfg.loss, cfg.loss_params, seed, cfg.canonicalize)

    naive, ceiling = _baselines(strong, seed, store, pool_verdicts, w2s, test, k)
    critic_test = np.array([v.probs for v in critic.judge([Query(f"test:{i}", t, None, "test") for i, t in enumerate(test.texts)])])

    val_q = [Query(f"val:{i}", t, None, "val") for i, t in enumerate(val.texts)]
    eval_rng = np.random.default_rng([cfg.data_seed, seed, 10**6])
    perturb_ix = eval_rng.permutation(len(val_q))[: cfg.eval_size]
    gen = next((a for a in attackers if isinstance(a, GenerativeAttacker)), None)
    gen_eval = _generative_eval(gen, folder / "generative_eval.json", learner, val_q, cfg.eval_size, eval_rng) if gen else []

    rounds, test_probs, computed = [], [], []
    proposed: set[str] = set()  # pool items already proposed (never proposed twice)
    labelled: set[str] = set()  # pool items a human has labelled
    teach = cfg.critic_learns and isinstance(critic, WeakCritic)
    human_gold: list[tuple[str, int]] = []  # (pool text, gold label) the oracle gave, in order
    stale = False  # replayed human labels the critic has not been refit on yet
    trained_upto = -1

    def absorb(queries: Sequence[Query], verdicts: Sequence[Verdict], human: Sequence[dict[str, Any]]) -> None:
        """Take in one round's verdicts and human labels (computed and replayed rounds alike)."""
        _apply(ledger, by_id, queries, verdicts, human, cfg.edit_target)
        proposed.update(q.id for q in queries if q.attacker == "pool")
        labelled.update(h["source"] for h in human)
        human_gold.extend((by_id[h["source"]].text, int(h["label"])) for h in human)

    for r in range(cfg.rounds + 1):
        rf = _Round(folder, r)
        if rf.done():
            rec, probs = rf.load()
            queries = [Query.from_dict(d["query"]) for d in rec["queries"]]
            verdicts = [Verdict(**{**d["verdict"], "probs": tuple(d["verdict"]["probs"])}) for d in rec["queries"]]
            absorb(queries, verdicts, rec["human"])
            oracle.restore(rec["oracle_log"])
            stale |= teach and bool(rec["human"])
            rounds.append(rec["metrics"])
            test_probs.append(probs)
            continue
        if stale:
            _teach_critic(critic, gt, human_gold, ledger)
            stale = False
        rng = np.random.default_rng([cfg.data_seed, seed, r])
        queries, verdicts, human, log_start = [], [], [], len(oracle.log)
        if r > 0:
            if trained_upto != r - 1:
                learner.update(ledger.feedback())
            available = [q for q in pool if q.id not in proposed and q.id not in labelled]
            queries = _attack(attackers, learner, pool, available, cfg.attack_size, rng)
            lp = learner.predict_proba([q.text for q in queries]) if queries else np.zeros((0, k))
            verdicts = critic.judge(queries, lp.argmax(1)) if queries else []
            human = _ask_human(cfg, r, queries, lp, verdicts, oracle, by_id, labelled, rng)
            absorb(queries, verdicts, human)
            if teach and human:
                _teach_critic(critic, gt, human_gold, ledger)
        learner.update(ledger.feedback())
        trained_upto = r
        probs = learner.predict_proba(test.texts)
        critic_now = critic.predict_proba(test.texts) if teach and human_gold else critic_test
        metrics = _round_metrics(r, probs, test.labels, critic_now, queries, verdicts,
                                 lp if r > 0 else None, pool_gold, oracle, human, ledger)
        metrics["attack"] = _attack_eval(learner, attackers, val_q, val.labels, perturb_ix, gen_eval, cfg.eval_size,
                                         np.random.default_rng([cfg.data_seed, seed, r, 1]))
        record = {
            "round": r, "seed": seed, "metrics": metrics, "human": human, "oracle_log": oracle.log[log_start:],
            "queries": [{"query": q.to_dict(), "verdict": v.to_dict(), "learner_probs": [float(x) for x in lp[i]]}
                        for i, (q, v) in enumerate(zip(queries, verdicts))] if r > 0 else [],
        }
        rf.save(record, probs)
        rounds.append(metrics)
        test_probs.append(probs)
        computed.append(r)
        on_round(r, metrics)
    return SeedLoop(seed, rounds, test_probs, naive, ceiling, critic_test, test.labels, oracle.log, computed)


def _round_metrics(r: int, probs: np.ndarray, labels: np.ndarray, critic_test: np.ndarray, queries: Sequence[Query],
                   verdicts: Sequence[Verdict], lp: np.ndarray | None, pool_gold: dict[str, int], oracle: HumanOracle,
                   human: Sequence[dict[str, Any]], ledger: FeedbackLedger) -> dict[str, Any]:
    m: dict[str, Any] = {"round": r, **evaluate(probs, labels, critic_test)}
    m["agreement_with_critic"] = m.pop("agreement")
    m["critic_test_acc"] = float((critic_test.argmax(1) == labels).mean())  # the critic as it is now
    with_gold = [i for i, q in enumerate(queries) if q.source in pool_gold]
    if with_gold:
        y = np.array([pool_gold[queries[i].source] for i in with_gold])  # type: ignore[index]
        cp = np.array([verdicts[i].probs for i in with_gold])
        m["critic_on_queries"] = {"acc": float((cp.argmax(1) == y).mean()), "ece": ece(cp, y), "n": len(with_gold)}
        assert lp is not None
        m["learner_on_queries_acc"] = float((lp[with_gold].argmax(1) == y).mean())
    m["queries"] = {name: sum(q.attacker == name for q in queries) for name in sorted({q.attacker for q in queries})}
    m["unparseable"] = sum(v.status == "unparseable" for v in verdicts)
    m["human_new"], m["human_spent"], m["human_budget"] = len(human), oracle.spent, oracle.budget
    m["feedback"] = ledger.counts()
    return m


@dataclass
class LoopResult:
    config: LoopConfig
    summary: dict[str, Any]
    seeds: list[SeedLoop]

    @property
    def computed(self) -> list[tuple[int, int]]:
        return [(s.seed, r) for s in self.seeds for r in s.computed]


def summarize_loop(cfg: LoopConfig, seeds: Sequence[SeedLoop]) -> dict[str, Any]:
    """Accuracy, gain over naive W2S and PGR per round (floor = naive W2S on critic labels) with
    paired bootstrap CIs over seeds x test examples."""
    correct: dict[str, list[np.ndarray]] = {
        "weak": [s.naive_probs.argmax(1) == s.test_labels for s in seeds],
        "ceiling": [s.ceiling_probs.argmax(1) == s.test_labels for s in seeds],
        "critic": [s.critic_test_probs.argmax(1) == s.test_labels for s in seeds],
    }
    for r in range(cfg.rounds + 1):
        correct[f"round_{r}"] = [s.test_probs[r].argmax(1) == s.test_labels for s in seeds]
    pgr = PGRAnalysis(correct, n_boot=cfg.n_bootstrap, min_gap=cfg.min_gap, seed=cfg.data_seed)
    rounds = []
    for r in range(cfg.rounds + 1):
        per_seed = [s.rounds[r] for s in seeds]
        attack = {name: float(np.mean([m["attack"][name]["success"] for m in per_seed])) for name in per_seed[0]["attack"]}
        cq = [m["critic_on_queries"]["acc"] for m in per_seed if "critic_on_queries" in m]
        rounds.append({
            "round": r, "acc": pgr.acc(f"round_{r}").to_dict(), "pgr": pgr.pgr(f"round_{r}").to_dict(),
            "gain_vs_naive": pgr.diff(f"round_{r}", "weak").to_dict(), "gain_vs_round0": pgr.diff(f"round_{r}", "round_0").to_dict(),
            "attack_success": attack, "critic_acc_on_queries": float(np.mean(cq)) if cq else None,
            "human_spent": float(np.mean([m["human_spent"] for m in per_seed])),
            "critic_test_acc": float(np.mean([m["critic_test_acc"] for m in per_seed])),
            "ece": float(np.mean([m["ece"] for m in per_seed])),
        })
    critic_ece = float(np.mean([ece(s.critic_test_probs, s.test_labels) for s in seeds]))
    return {
        "task": cfg.task, "critic": cfg.critic if cfg.critic == "llm" else f"weak({'+'.join(cfg.critic_models)})",
        "learner": cfg.learner, "loss": cfg.loss, "attackers": list(cfg.attackers), "human_budget": cfg.human_budget,
        "policy": cfg.policy, "seeds": list(cfg.seeds), "config_hash": cfg.hash(),
        "critic_acc": pgr.acc("critic").to_dict(), "critic_ece": critic_ece,
        "floor_acc": pgr.acc("weak").to_dict(), "ceiling_acc": pgr.acc("ceiling").to_dict(), "gap": pgr.gap().to_dict(),
        "rounds": rounds,
    }


def run_loop(cfg: LoopConfig, store: Store | None = None, llm: Any = None,
             on_round: Callable[[int, int, dict[str, Any]], None] = lambda s, r, m: None) -> LoopResult:
    """Run (or resume) the loop for every seed and summarise it; results under loop-<rounds key>/."""
    get_loss(cfg.loss, **cfg.loss_params)  # fail fast on an unknown loss or parameter ...
    if cfg.policy not in POLICIES:  # ... or selection policy
        raise OversightError(f"unknown selection policy {cfg.policy!r}; known: {', '.join(POLICIES)}")
    store = store or Store()
    run_dir = store.run_dir(f"loop-{cfg.rounds_key()}")
    atomic_write_json(run_dir / "config.json", cfg.model_dump(mode="json", exclude={"seeds", "n_bootstrap", "min_gap"}))
    task = get_task(cfg.task, **cfg.task_args)
    data = task.load()
    names = label_names_for(cfg, task)
    if llm is None and (cfg.critic == "llm" or "generative" in cfg.attackers):
        llm = _llm(cfg)
    seeds = []
    for seed in cfg.seeds:
        splits = make_splits(data, cfg.sizes.model_dump(), seed=seed, data_seed=cfg.data_seed)
        seeds.append(run_seed_loop(cfg, splits, seed, store, label_names=names, task_description=task.description,
                                   llm=llm, on_round=lambda r, m, s=seed: on_round(s, r, m)))
    summary = summarize_loop(cfg, seeds)
    atomic_write_json(run_dir / f"summary-{cfg.hash()}.json", summary)
    return LoopResult(cfg, summary, seeds)
