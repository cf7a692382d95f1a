"""Direct preference optimization of a causal LM on (prompt, chosen, rejected) triples with TRL's
`DPOTrainer` (Rafailov et al. 2023).

As with `sft`, the fitted model is saved as a safetensors folder with a ``superalign.json`` record
of what it was trained on, and a folder whose record matches is reused. With LoRA (the default on
CPU) the reference model is the frozen base under the adapters (TRL disables them to score it), so
no second copy of the model is held; the adapters are merged into the saved weights.
"""

from __future__ import annotations

import copy
import logging
import tempfile
from collections.abc import Callable
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

from ..data import fingerprint
from ..errors import ModelError
from .sft import _load_for_training, _matches, _publish, quiet_trl

log = logging.getLogger(__name__)


class DPOSettings(BaseModel):
    """How a policy is trained on preference pairs (``dpo.*`` in a config)."""

    model_config = ConfigDict(extra="forbid")
    epochs: float = Field(1.0, gt=0)
    max_steps: int | None = Field(None, ge=1, description="optimizer steps (overrides epochs when set)")
    batch_size: int = Field(8, ge=1)
    lr: float = Field(5e-5, gt=0)
    beta: float = Field(0.1, gt=0, description="strength of the KL anchor to the reference model")
    max_length: int = Field(128, ge=8, description="tokens per prompt + response (longer ones are truncated)")
    lora: bool = Field(True, description="train LoRA adapters (peft), merged into the saved weights")
    lora_r: int = Field(16, ge=1)
    device: str = Field("auto", description="auto (cuda when present), cpu or cuda")


def _check(prompts: list[str], chosen: list[str], rejected: list[str]) -> None:
    if not prompts or not len(prompts) == len(chosen) == len(rejected):
        raise ModelError(
            f"DPO needs one chosen and one rejected response per prompt (>= 1); got {len(prompts)} prompts, "
            f"{len(chosen)} chosen, {len(rejected)} rejected"
        )


def _train(
    source: str,
    pairs: tuple[list[str], list[str], list[str]],
    settings: DPOSettings,
    seed: int,
    scheduler: str = "linear",
    callbacks: list | None = None,
):
    """(trainer, train result) of one TRL DPO run of `source` on (prompts, chosen, rejected)."""
    from datasets import Dataset
    from transformers import PrinterCallback
    from trl import DPOConfig, DPOTrainer

    model, tok, cpu = _load_for_training(source, settings)
    peft_config = None
    if settings.lora:
        from peft import LoraConfig

        peft_config = LoraConfig(
            r=settings.lora_r, lora_alpha=2 * settings.lora_r, target_modules="all-linear", task_type="CAUSAL_LM"
        )
    with tempfile.TemporaryDirectory() as tmp, quiet_trl():
        args = DPOConfig(
            output_dir=tmp,
            num_train_epochs=settings.epochs,
            max_steps=settings.max_steps or -1,
            per_device_train_batch_size=settings.batch_size,
            learning_rate=settings.lr,
            lr_scheduler_type=scheduler,
            beta=settings.beta,
            max_length=settings.max_length,
            seed=seed,
            data_seed=seed,
            use_cpu=cpu,
            report_to=[],
            save_strategy="no",
            logging_strategy="no",
            disable_tqdm=True,
            bf16=False,
            dataloader_num_workers=0,
        )
        prompts, chosen, rejected = pairs
        data = Dataset.from_dict({"prompt": list(prompts), "chosen": list(chosen), "rejected": list(rejected)})
        trainer = DPOTrainer(
            model=model,
            args=args,
            train_dataset=data,
            processing_class=tok,
            peft_config=peft_config,
            callbacks=callbacks,
        )
        trainer.remove_callback(PrinterCallback)
        return trainer, trainer.train()


def dpo(
    source: str,
    prompts: list[str],
    chosen: list[str],
    rejected: list[str],
    settings: DPOSettings,
    seed: int,
    out: Path,
) -> Path:
    """Train causal LM folder `source` to prefer `chosen` over `rejected` for each prompt; the model is
    saved to `out` (reused when `out` already holds a model trained on exactly this)."""
    _check(prompts, chosen, rejected)
    key = fingerprint("dpo", source, settings.model_dump(exclude={"device"}), seed, prompts, chosen, rejected)
    if _matches(out, key):
        return out
    trainer, result = _train(source, (prompts, chosen, rejected), settings, seed)
    model = trainer.model.merge_and_unload() if settings.lora else trainer.model
    meta = {"source": source, "pairs": len(prompts), "train_loss": float(result.training_loss), "seed": seed}
    log.info("DPO of %s on %d pairs: loss %.3f", source, len(prompts), result.training_loss)
    return _publish(model.to("cpu"), trainer.processing_class, out, key, meta)


def dpo_checkpoints(
    source: str,
    prompts: list[str],
    chosen: list[str],
    rejected: list[str],
    settings: DPOSettings,
    seed: int,
    steps: list[int],
    out_for: Callable[[str], Path],
) -> dict[int, Path]:
    """The policy after each step count of `steps`, from one DPO run at a constant learning rate to
    the largest (`settings.max_steps` is ignored). With a constant rate and the seeded data order,
    the policy at step s is the one an s-step run makes, so each is keyed, cached and reused as that
    run; `out_for(key)` names its folder."""
    _check(prompts, chosen, rejected)
    runs = {s: settings.model_copy(update={"max_steps": s}).model_dump(exclude={"device"}) for s in steps}
    keys = {s: fingerprint("dpo-constant", source, runs[s], seed, prompts, chosen, rejected) for s in steps}
    outs = {s: out_for(keys[s]) for s in steps}
    todo = sorted(s for s in set(steps) if not _matches(outs[s], keys[s]))
    if not todo:
        return outs
    from transformers import TrainerCallback

    snapshots: dict[int, dict] = {}

    class Snapshot(TrainerCallback):
        def on_step_end(self, args, state, control, model=None, **kwargs):
            if state.global_step in todo:  # LoRA: the adapters only; else every weight
                snapshots[state.global_step] = {
                    k: v.detach().clone() for k, v in model.state_dict().items() if not settings.lora or "lora_" in k
                }

    last = settings.model_copy(update={"max_steps": todo[-1]})
    trainer, _ = _train(source, (prompts, chosen, rejected), last, seed, "constant", [Snapshot()])
    for s in todo:
        trainer.model.load_state_dict(snapshots.pop(s), strict=False)
        model = copy.deepcopy(trainer.model).merge_and_unload() if settings.lora else trainer.model
        meta = {"source": source, "pairs": len(prompts), "steps": s, "scheduler": "constant", "seed": seed}
        _publish(model.to("cpu"), trainer.processing_class, outs[s], keys[s], meta)
    log.info("DPO of %s on %d pairs: checkpoints at steps %s", source, len(prompts), todo)
    return outs
