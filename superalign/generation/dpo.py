"""Direct preference optimization of a causal LM on (prompt, chosen, rejected) triples with TRL's
`DPOTrainer` (Rafailov et al. 2023).

As with `sft`, the fitted model is saved as a safetensors folder with a ``superalign.json`` record
of what it was trained on, and a folder whose record matches is reused. With LoRA (the default on
CPU) the reference model is the frozen base under the adapters (TRL disables them to score it), so
no second copy of the model is held; the adapters are merged into the saved weights.
"""

from __future__ import annotations

import logging
import tempfile
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

from ..data import fingerprint
from ..errors import ModelError
from .sft import _load, _matches, _publish

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
    if not prompts or not len(prompts) == len(chosen) == len(rejected):
        raise ModelError(
            f"DPO needs one chosen and one rejected response per prompt (>= 1); got {len(prompts)} prompts, "
            f"{len(chosen)} chosen, {len(rejected)} rejected"
        )
    key = fingerprint("dpo", source, settings.model_dump(exclude={"device"}), seed, prompts, chosen, rejected)
    if _matches(out, key):
        return out
    import torch
    from datasets import Dataset
    from transformers import PrinterCallback
    from trl import DPOConfig, DPOTrainer

    model, tok = _load(source)
    cpu = settings.device == "cpu" or (settings.device == "auto" and not torch.cuda.is_available())
    peft_config = None
    if settings.lora:
        from peft import LoraConfig

        peft_config = LoraConfig(
            r=settings.lora_r, lora_alpha=2 * settings.lora_r, target_modules="all-linear", task_type="CAUSAL_LM"
        )
    with tempfile.TemporaryDirectory() as tmp:
        args = DPOConfig(
            output_dir=tmp,
            num_train_epochs=settings.epochs,
            max_steps=settings.max_steps or -1,
            per_device_train_batch_size=settings.batch_size,
            learning_rate=settings.lr,
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
        data = Dataset.from_dict({"prompt": list(prompts), "chosen": list(chosen), "rejected": list(rejected)})
        trainer = DPOTrainer(model=model, args=args, train_dataset=data, processing_class=tok, peft_config=peft_config)
        trainer.remove_callback(PrinterCallback)
        result = trainer.train()
    model = trainer.model.merge_and_unload() if settings.lora else trainer.model
    meta = {"source": source, "pairs": len(prompts), "train_loss": float(result.training_loss), "seed": seed}
    log.info("DPO of %s on %d pairs: loss %.3f", source, len(prompts), result.training_loss)
    return _publish(model.to("cpu"), tok, out, key, meta)
