"""The commands that run experiments: ``run`` (W2S, and setting A on a generation task),
``loop`` (the attacker-learner-critic loop) and ``best-of-n`` (setting B)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from ..errors import ConfigError
from ..summaries import console, print_loop_summary, print_summary
from . import (
    ConfigOpt,
    QuietOpt,
    SeedsOpt,
    StoreOpt,
    TaskOpt,
    _out_opt,
    _overrides,
    _quiet_libraries,
    _set_opt,
    _write_out,
    app,
)


def _generation_task(config: Path | None, overrides: list[str]) -> str | None:
    """The metric of the run's task (from the overrides, else the config file) if it is a registered
    generation task, else None."""
    from ..config import apply_overrides, read_yaml
    from ..data import generation_metric

    data = apply_overrides(read_yaml(config) if config is not None else {}, list(overrides))
    return generation_metric(data.get("task", "sentiment"))


@app.command()
def run(
    config: ConfigOpt = None,
    task: TaskOpt = None,
    text_col: Annotated[str | None, typer.Option(help="text column of a file/hub task")] = None,
    label_col: Annotated[str | None, typer.Option(help="label column of a file/hub task (two values)")] = None,
    data_dir: Annotated[
        str | None,
        typer.Option(
            help="local data root (or the task's folder/file) for a registered task; "
            "default $SUPERALIGN_DATA, else the hub"
        ),
    ] = None,
    weak: Annotated[str | None, typer.Option(help="weak model: ladder name, local folder or hub id")] = None,
    strong: Annotated[str | None, typer.Option(help="strong model: ladder name, local folder or hub id")] = None,
    methods: Annotated[
        str | None,
        typer.Option(
            help="comma-separated W2S methods (losses, label interventions), e.g. xent,logconf,knn_relabel, or all"
        ),
    ] = None,
    chain: Annotated[
        str | None,
        typer.Option(help="bootstrapping chain weak,...,strong, e.g. tfidf,static,minilm (sets --weak/--strong)"),
    ] = None,
    seeds: SeedsOpt = None,
    mode: Annotated[
        str | None,
        typer.Option(help="probe (head on frozen features) or finetune (full/LoRA fine-tuning of Hugging Face models)"),
    ] = None,
    set_: Annotated[list[str] | None, _set_opt("sizes.test=500 or method_params.logconf.alpha_max=0.75")] = None,
    store: StoreOpt = Path("runs"),
    out: Annotated[Path | None, _out_opt("summary.json")] = None,
    quiet: QuietOpt = False,
) -> None:
    """Run one weak-to-strong experiment and print weak, ceiling and per-method accuracy and PGR [95% CI].

    With no options: task sentiment, weak static, strong minilm, methods xent,logconf, seeds 0,1,2.
    `superalign methods` lists the methods and their hyper-parameters.
    --mode finetune fine-tunes the Hugging Face models (minilm, mpnet, smollm2, folders, hub ids);
    fine-tuning settings are under finetune.* (e.g. --set finetune.lora=true --set finetune.epochs=2).
    A rerun of the same config is served from the store's cache.
    Hyper-parameters can be chosen on val with weak labels only (never gold):
    --set 'tune.grid.logconf.alpha_max=[0.25,0.5,1]' (criterion tune.criterion: weak_acc,
    confident_weak_acc, knn_weak_acc; auto by default); each candidate is printed with its test score.
    A generation task (e.g. --task sentiment_continuation) runs setting A of generative W2S: a weak
    teacher LM's continuations fine-tune a strong student LM (defaults: weak smollm2@8, healed first by
    LM training on unlabelled pool text, heal.enabled=false skips it; strong smollm2; one seed, ~15 min
    on 2 CPU cores; settings under sft.*), scored by a gold judge. --task refusal: a weak prompt classifier (default
    static) decides which train prompts the strong chat model is fine-tuned to refuse; scored by the
    prompts' labels and the refusal detector (harmful compliance and over-refusal, apart).
    """
    from ..store import Store
    from ..w2s import ExperimentConfig, run_experiment

    overrides = _overrides(
        set_,
        {
            "task": task,
            "weak": weak,
            "strong": strong,
            "mode": mode,
            "task_args.text_col": text_col,
            "task_args.label_col": label_col,
            "task_args.data_dir": data_dir,
        },
        {"methods": methods, "seeds": seeds, "chain": chain},
    )
    generation = _generation_task(config, overrides)
    if generation is not None:
        from ..generation import RefuseConfig, TeachConfig, run_refuse, run_teach
        from ..summaries import print_refuse, print_teach

        _quiet_libraries()
        if generation == "correct_behaviour":
            summary = run_refuse(RefuseConfig.load(config, overrides), Store(store))
            print_refuse(summary, cached=not summary["computed"])
        else:
            summary = run_teach(TeachConfig.load(config, overrides), Store(store))
            print_teach(summary, cached=not summary["computed"])
        _write_out(out, "summary.json", summary)
        return
    cfg = ExperimentConfig.load(config, overrides)
    show_progress = not quiet and sys.stderr.isatty()
    if not show_progress:
        _quiet_libraries()
    result = run_experiment(cfg, Store(store), progress=show_progress)
    print_summary(result.summary, cached=not result.computed)
    _write_out(out, "summary.json", result.summary)


@app.command()
def loop(
    config: ConfigOpt = None,
    task: TaskOpt = None,
    rounds: Annotated[int | None, typer.Option(help="attack-judge-label-update rounds after round 0")] = None,
    human_budget: Annotated[int | None, typer.Option(help="gold labels the human oracle may give in all")] = None,
    attacker: Annotated[
        str | None, typer.Option(help="comma-separated registered attackers: pool, perturb, generative")
    ] = None,
    critic: Annotated[
        str | None, typer.Option(help="registered critic: weak (weak ladder models fit on train_gt) or llm")
    ] = None,
    critic_models: Annotated[str | None, typer.Option(help="weak critic models, e.g. tfidf,static")] = None,
    learner: Annotated[str | None, typer.Option(help="the strong learner: ladder name, local folder or hub id")] = None,
    llm: Annotated[
        str | None, typer.Option(help="LLM for llm critic / generative attacker: local[:PATH] or openai[:MODEL]")
    ] = None,
    seeds: SeedsOpt = None,
    set_: Annotated[list[str] | None, _set_opt("attack_size=20 or policy=random")] = None,
    store: StoreOpt = Path("runs"),
    out: Annotated[Path | None, _out_opt("loop_summary.json")] = None,
    quiet: QuietOpt = False,
) -> None:
    """Run the attacker-learner-critic loop with a budgeted human oracle; print each round and a summary.

    Example: superalign loop --task sentiment --rounds 5 --human-budget 50 --attacker pool,perturb --critic weak.
    On --task refusal the learner is a chat LLM (default smollm2), red-teamed by --attacker
    templates,rephrase,llm, judged by --critic weak|llm|self, refined by DPO (settings under dpo.*),
    on one seed unless --seeds says more (3 rounds take ~30 min per seed on 2 CPU cores).
    Finished rounds are stored under STORE/loop-<key>/seed<s>/ and a rerun (or a run with more seeds)
    resumes after them.
    """
    from ..oversight import LoopConfig, run_loop
    from ..store import Store

    scalars = {"task": task, "rounds": rounds, "human_budget": human_budget, "critic": critic, "learner": learner}
    if _generation_task(config, _overrides(set_, {"task": task}, {})) == "correct_behaviour":
        if critic_models is not None and "," in critic_models:
            raise ConfigError("the generative loop's weak critic is one prompt classifier: --critic-models NAME")
        _red_team(
            config,
            _overrides(
                set_, {**scalars, "critic_model": critic_models, "llm": llm}, {"attackers": attacker, "seeds": seeds}
            ),
            store,
            out,
            quiet,
        )
        return
    overrides = _overrides(
        set_,
        {
            "task": task,
            "rounds": rounds,
            "human_budget": human_budget,
            "critic": critic,
            "learner": learner,
            "llm": llm,
        },
        {"attackers": attacker, "critic_models": critic_models, "seeds": seeds},
    )
    cfg = LoopConfig.load(config, overrides)
    _quiet_libraries()

    def line(seed: int, r: int, m: dict) -> None:
        if quiet:
            return
        attack = ", ".join(f"{k} {v['success']:.2f}" for k, v in m["attack"].items())
        cq = m.get("critic_on_queries")
        console.print(
            f"seed {seed} round {r}: acc {m['acc']:.3f}  attack success: {attack}  "
            + (f"critic acc on queries {cq['acc']:.2f} (n={cq['n']})  " if cq else "")
            + f"human {m['human_spent']}/{m['human_budget']}"
        )

    result = run_loop(cfg, Store(store), on_round=line)
    print_loop_summary(result.summary, cached=not result.computed)
    _write_out(out, "loop_summary.json", result.summary)


def _red_team(config: Path | None, overrides: list[str], store: Path, out: Path | None, quiet: bool) -> None:
    """``superalign loop`` on the refusal task: the attacker-learner-critic loop on a chat learner."""
    from ..redteam import RedTeamConfig, run_red_team
    from ..store import Store
    from ..summaries import print_red_team

    _quiet_libraries()
    summary = run_red_team(RedTeamConfig.load(config, overrides), Store(store))
    print_red_team(summary, cached=not summary["computed"])
    _write_out(out, "loop_summary.json", summary)


@app.command("best-of-n")
def best_of_n_cmd(
    config: ConfigOpt = None,
    task: Annotated[str | None, typer.Option(help="a registered generation task")] = None,
    weak: Annotated[str | None, typer.Option(help="the weak reward model: a ladder model fit on train_gt")] = None,
    judge: Annotated[str | None, typer.Option(help="the gold judge's model, fit on the task's judge split")] = None,
    policy: Annotated[
        str | None, typer.Option(help="the policy: local[:smollm2|PATH|HUB_ID] or openai[:MODEL]")
    ] = None,
    ns: Annotated[str | None, typer.Option(help="comma-separated best-of-n sizes, e.g. 1,2,4,8,16")] = None,
    seeds: SeedsOpt = None,
    set_: Annotated[list[str] | None, _set_opt("sizes.test=128 or max_new_tokens=32")] = None,
    store: StoreOpt = Path("runs"),
    out: Annotated[Path | None, _out_opt("summary.json")] = None,
) -> None:
    """Generative W2S, setting B: best-of-n under a weak reward model vs under the gold judge; PGR per n.

    A policy samples n continuations per test prompt; each scorer picks its favourite; the gold judge
    scores both picks. Prints PGR per n [95% CI], the weak RM's view of its own pick, and fluency.

    Example: superalign best-of-n --task sentiment_continuation --weak static --judge minilm --ns 1,2,4,8,16
    """
    from ..generation import BestOfNConfig, run_best_of_n
    from ..store import Store
    from ..summaries import print_best_of_n

    overrides = _overrides(
        set_, {"task": task, "weak": weak, "judge": judge, "policy": policy}, {"ns": ns, "seeds": seeds}
    )
    cfg = BestOfNConfig.load(config, overrides)
    _quiet_libraries()
    result = run_best_of_n(cfg, Store(store))
    print_best_of_n(result.summary, cached=not result.computed)
    _write_out(out, "summary.json", result.summary)
