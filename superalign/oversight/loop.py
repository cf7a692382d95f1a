"""The attacker-learner-critic loop with a budgeted human expert, measured round by round.

One seed, on disjoint splits (`make_splits`):
  train_gt   ground truth the weak critic is fit on (a weak critic's only gold)
  train_w2s  the unlabelled pool; its gold is held by the `HumanOracle` (budgeted) and trains
             the gold ceiling, and is never handed to the learner otherwise
  val        fresh attacks after each round measure attack success (never trained on)
  test       held-out gold: learner accuracy, and PGR relative to the critic-only floor

Two baselines are fit once per seed: naive W2S (Burns et al. 2023's naive fine-tuning: the strong
model trained with plain cross-entropy on the critic's labels of the whole pool; the PGR floor)
and the gold ceiling (the strong model on the pool's gold labels). PGR is
(learner - floor) / (ceiling - floor). Round 0 trains the learner on the critic's labels of the
whole pool with the loop's loss and critic-confidence weights (W2S before any attack or human).
Each round r = 1..R then runs: attack (every attacker proposes queries against the current
learner) -> the learner answers -> the critic judges the query-response pairs -> a
selection policy picks the queries a human should label and the oracle answers them within its
budget -> the learner refits on all feedback -> evaluation. Every finished round is written
atomically under ``<store>/loop-<rounds key>/seed<s>/round_<r>.{json,npz}`` (the key hashes the
config less the seed list, so a run with more seeds reuses finished ones); a rerun replays
finished rounds from disk (`LoopState.replay`; the learner is refit on the replayed feedback only
when a new round must be computed), so a killed loop resumes at its first unfinished round.
Attackers, critics and selection policies are looked up by name in their registries.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..data import Dataset, Splits, fingerprint, get_task, make_splits, one_hot, task_metric
from ..losses import get_loss
from ..models import ModelFactory
from ..store import Store, atomic_write_json
from .attackers import ATTACKERS
from .config import LoopConfig
from .critics import CRITICS
from .learner import ClassifierLearner, FeedbackLedger
from .oracle import HumanOracle, select_for_human
from .rounds import LoopState, RoundFiles, edit_source, teach_critic
from .summary import RoundData, round_metrics, summarize_loop
from .types import Attacker, AttackProbe, Critic, OversightError, Query, RoleContext, TrainableCritic, Verdict


def uses_llm(cfg: LoopConfig) -> bool:
    """Whether a role of the loop (its critic or an attacker) prompts an LLM."""
    roles = [CRITICS.get(cfg.critic), *(ATTACKERS.get(a) for a in cfg.attackers)]
    return any(getattr(r, "uses_llm", False) for r in roles)


def label_names_for(cfg: LoopConfig, task: Any) -> list[str]:
    """The class names LLM prompts use: the config's, else the task's; an LLM role on a task that
    names no classes is an error (a prompt about "class 0" and "class 1" tells the LLM nothing)."""
    if cfg.label_names:
        if len(cfg.label_names) != 2:
            raise OversightError(f"label_names must name the 2 classes, got {cfg.label_names}")
        return list(cfg.label_names)
    names = getattr(task, "label_names", None)
    if names:
        return list(names)
    if uses_llm(cfg):
        raise OversightError(
            f"task {cfg.task!r} names no classes for the LLM prompts: set label_names=[NAME_OF_0,NAME_OF_1]"
        )
    return ["class 0", "class 1"]


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


@dataclass
class SeedWorld:
    """The fixed parts of one seed's loop: its config, splits and roles, the pool, the attack probe."""

    cfg: LoopConfig
    seed: int
    splits: Splits
    critic: Critic
    attackers: list[Attacker]
    learner: ClassifierLearner
    pool: list[Query]
    pool_gold: dict[str, int]  # evaluation only (critic accuracy on queries); the oracle holds its own copy
    critic_test: np.ndarray  # the critic's test probabilities before any human label
    probe: AttackProbe
    k: int  # classes

    @property
    def teach(self) -> bool:
        """Whether human labels refit the critic (a trainable critic, and `critic_learns`)."""
        return self.cfg.critic_learns and isinstance(self.critic, TrainableCritic)


def _baselines(
    strong: ModelFactory, seed: int, store: Store, pool_verdicts: Sequence[Verdict], w2s: Dataset, test: Dataset, k: int
) -> tuple[np.ndarray, np.ndarray]:
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
        lambda: {
            "test": strong(seed).fit(w2s.texts, one_hot(w2s.labels, k), get_loss("xent")).predict_proba(test.texts)
        },
    )["test"]
    return naive, ceiling


def _human_share(cfg: LoopConfig, r: int) -> int:
    """Labels the oracle may have spent by the end of round r (spread evenly; leftovers carry over)."""
    return cfg.human_budget * r // max(1, cfg.rounds)


def _attack(world: SeedWorld, state: LoopState, rng: np.random.Generator) -> list[Query]:
    """Every attacker's proposals against the current learner, de-duplicated in order: attackers
    that consume the pool draw on the items not yet proposed or labelled; the others (generative)
    take the whole pool as examples."""
    available = [q for q in world.pool if q.id not in state.proposed and q.id not in state.labelled]
    queries, seen = [], set()
    for a in world.attackers:
        for q in a.propose(world.learner, available if a.consumes_pool else world.pool, world.cfg.attack_size, rng):
            if q.id not in seen:
                seen.add(q.id)
                queries.append(q)
    return queries


def _ask_human(world: SeedWorld, state: LoopState, data: RoundData, rng: np.random.Generator) -> list[dict[str, Any]]:
    """Round r's human labels: the selection policy picks, among the queries a human may see (pool
    inputs; edits too with `label_edits`), up to the budget share of this round, and the oracle answers."""
    cfg, queries, oracle = world.cfg, data.queries, state.oracle
    want = _human_share(cfg, data.r) - oracle.spent
    askable = [i for i, q in enumerate(queries) if cfg.label_edits or edit_source(q, state.by_id) is None]
    picked = select_for_human(
        cfg.policy,
        [queries[i] for i in askable],
        data.learner_probs[askable],
        [data.verdicts[i] for i in askable],
        want,
        oracle,
        rng,
        exclude=state.labelled,
    )
    chosen = [askable[i] for i in picked]
    answers = oracle.label([queries[i] for i in chosen], round=data.r) if chosen else []
    return [
        {"id": queries[i].id, "source": queries[i].source, "text": queries[i].text, "label": y}
        for i, y in zip(chosen, answers)
    ]


def _compute_round(world: SeedWorld, state: LoopState, r: int, files: RoundFiles) -> None:
    """Run round r (attack, judge, ask, refit, evaluate) and write it to `files`."""
    cfg, learner, critic, test = world.cfg, world.learner, world.critic, world.splits.test
    if state.stale:
        teach_critic(critic, world.splits.train_gt, state.human_gold, state.ledger)
        state.stale = False
    rng = np.random.default_rng([cfg.data_seed, world.seed, r])
    data, log_start = RoundData(r), len(state.oracle.log)
    if r > 0:
        if state.trained_upto != r - 1:
            learner.update(state.ledger.feedback())
        data.queries = _attack(world, state, rng)
        texts = [q.text for q in data.queries]
        data.learner_probs = learner.predict_proba(texts) if texts else np.zeros((0, world.k))
        data.verdicts = critic.judge(data.queries, data.learner_probs.argmax(1)) if data.queries else []
        data.human = _ask_human(world, state, data, rng)
        state.absorb(data.queries, data.verdicts, data.human)
        if world.teach and data.human:
            teach_critic(critic, world.splits.train_gt, state.human_gold, state.ledger)
    learner.update(state.ledger.feedback())
    state.trained_upto = r
    probs = learner.predict_proba(test.texts)
    critic_now = critic.predict_proba(test.texts) if world.teach and state.human_gold else world.critic_test
    metrics = round_metrics(data, state, probs, test.labels, critic_now, world.pool_gold)
    eval_rng = np.random.default_rng([cfg.data_seed, world.seed, r, 1])
    metrics["attack"] = {a.name: a.success(learner, world.probe, eval_rng) for a in world.attackers}
    lp = data.learner_probs
    record = {
        "round": r,
        "seed": world.seed,
        "metrics": metrics,
        "human": data.human,
        "oracle_log": state.oracle.log[log_start:],
        "queries": [
            {"query": q.to_dict(), "verdict": v.to_dict(), "learner_probs": [float(x) for x in lp[i]]}
            for i, (q, v) in enumerate(zip(data.queries, data.verdicts))
        ]
        if r > 0
        else [],
    }
    files.save(record, probs)
    state.rounds.append(metrics)
    state.test_probs.append(probs)
    state.computed.append(r)


def run_seed_loop(
    cfg: LoopConfig,
    splits: Splits,
    seed: int,
    store: Store,
    *,
    label_names: Sequence[str] = ("class 0", "class 1"),
    task_description: str = "",
    llm: Any = None,
    on_round: Callable[[int, dict[str, Any]], None] = lambda r, m: None,
    make_llm: Callable[[], Any] | None = None,
) -> SeedLoop:
    """Run (or resume) the loop for one seed; see the module docstring. The LLM of LLM roles is
    `llm`, else made by `make_llm`, else `get_llm(cfg.llm)`, on first use."""
    gt, w2s, val, test = splits.train_gt, splits.train_w2s, splits.val, splits.test
    folder = store.run_dir(f"loop-{cfg.rounds_key()}") / f"seed{seed}"
    k = len(label_names)
    strong = cfg.factory(cfg.learner, cfg.spelling)
    ctx = RoleContext(cfg, seed, list(label_names), task_description, gt, make_llm or _llm_maker(cfg, llm))
    ctx.critic = critic = CRITICS.get(cfg.critic).from_context(ctx)
    attackers = [ATTACKERS.get(name).from_context(ctx) for name in cfg.attackers]
    pool = [Query(f"pool:{i}", t, f"pool:{i}", "pool") for i, t in enumerate(w2s.texts)]
    pool_gold = {q.id: int(y) for q, y in zip(pool, w2s.labels)}
    state = LoopState(
        FeedbackLedger(k, cfg.weighting, cfg.human_weight),
        HumanOracle(pool_gold, cfg.human_budget),
        {q.id: q for q in pool},
        cfg.edit_target,
    )
    pool_verdicts = critic.judge(pool)
    for q, v in zip(pool, pool_verdicts):
        state.ledger.add_critic(q.text, v)
    learner = ClassifierLearner(strong, strong.key, cfg.loss, cfg.loss_params, seed, cfg.canonicalize)
    naive, ceiling = _baselines(strong, seed, store, pool_verdicts, w2s, test, k)
    critic_test = np.array(
        [v.probs for v in critic.judge([Query(f"test:{i}", t, None, "test") for i, t in enumerate(test.texts)])]
    )
    val_q = [Query(f"val:{i}", t, None, "val") for i, t in enumerate(val.texts)]
    eval_rng = np.random.default_rng([cfg.data_seed, seed, 10**6])
    probe = AttackProbe(
        val_q, val.labels, eval_rng.permutation(len(val_q))[: cfg.eval_size], cfg.eval_size, eval_rng, folder
    )
    for a in attackers:
        a.prepare(probe)
    world = SeedWorld(cfg, seed, splits, critic, attackers, learner, pool, pool_gold, critic_test, probe, k)
    for r in range(cfg.rounds + 1):
        files = RoundFiles(folder, r)
        if files.done():
            state.replay(files, world.teach)
            continue
        _compute_round(world, state, r, files)
        on_round(r, state.rounds[-1])
    return SeedLoop(
        seed, state.rounds, state.test_probs, naive, ceiling, critic_test, test.labels, state.oracle.log, state.computed
    )


def _llm_maker(cfg: LoopConfig, llm: Any = None) -> Callable[[], Any]:
    """`llm`, or the config's LLM made once on first use (shared by every role and seed of a run)."""
    from ..llm import get_llm

    return functools.cache(lambda: llm if llm is not None else get_llm(cfg.llm))


@dataclass
class LoopResult:
    config: LoopConfig
    summary: dict[str, Any]
    seeds: list[SeedLoop]

    @property
    def computed(self) -> list[tuple[int, int]]:
        return [(s.seed, r) for s in self.seeds for r in s.computed]


def run_loop(
    cfg: LoopConfig,
    store: Store | None = None,
    llm: Any = None,
    on_round: Callable[[int, int, dict[str, Any]], None] = lambda s, r, m: None,
) -> LoopResult:
    """Run (or resume) the loop for every seed and summarise it; results under loop-<rounds key>/."""
    get_loss(cfg.loss, **cfg.loss_params)  # fail fast on an unknown loss or parameter
    store = store or Store()
    run_dir = store.run_dir(f"loop-{cfg.rounds_key()}")
    atomic_write_json(run_dir / "config.json", cfg.model_dump(mode="json", exclude={"seeds", "n_bootstrap", "min_gap"}))
    task = get_task(cfg.task, **cfg.task_args)
    data = task.load()
    if task.kind == "generation":
        raise OversightError(f"task {cfg.task!r} is a generation task; the loop runs on classification tasks")
    names = label_names_for(cfg, task)
    sizes = cfg.split_sizes(task)
    make_llm = _llm_maker(cfg, llm)
    seeds = []
    for seed in cfg.seeds:
        splits = make_splits(data, sizes.model_dump(), seed=seed, data_seed=cfg.data_seed)
        seeds.append(
            run_seed_loop(
                cfg,
                splits,
                seed,
                store,
                label_names=names,
                task_description=task.description,
                make_llm=make_llm,
                on_round=lambda r, m, s=seed: on_round(s, r, m),
            )
        )
    summary = summarize_loop(cfg, seeds, metric=task_metric(task))
    atomic_write_json(run_dir / f"summary-{cfg.hash()}.json", summary)
    return LoopResult(cfg, summary, seeds)
