"""Supervised fine-tuning of a causal LM on (prompt, completion) pairs with TRL's `SFTTrainer`,
and the weak teacher made by cutting a causal LM to its first decoder layers.

The loss is on completion tokens only (TRL's prompt-completion format). The fitted model is saved
as a safetensors folder (`save_pretrained`) with a ``superalign.json`` recording what it was
trained on; a folder whose record matches is reused instead of training again.
"""

from __future__ import annotations

import contextlib
import functools
import json
import logging
import shutil
import tempfile
import warnings
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from ..data import fingerprint
from ..errors import ModelError

log = logging.getLogger(__name__)

RECORD = "superalign.json"


class SFTSettings(BaseModel):
    """How a policy is fine-tuned (``sft.*`` in a generation config)."""

    model_config = ConfigDict(extra="forbid")
    epochs: float = Field(2.0, gt=0)
    batch_size: int = Field(8, ge=1)
    lr: float = Field(5e-5, gt=0)
    max_length: int = Field(64, ge=8, description="tokens per prompt + completion (longer ones are truncated)")
    lora: bool = Field(False, description="train LoRA adapters (peft), merged into the saved weights")
    lora_r: int = Field(16, ge=1)
    device: str = Field("auto", description="auto (cuda when present), cpu or cuda")


@functools.lru_cache(maxsize=16)
def require_causal_lm(folder: str) -> str:
    """`folder` if it holds a causal LM that can end its text (a ``...ForCausalLM`` / ``...LMHeadModel``
    architecture and a tokenizer with an EOS token), else a one-line ModelError: checked before a run
    spends anything on it, once per process and folder (a failed check is not remembered)."""
    from transformers import AutoConfig, AutoTokenizer

    try:
        arch = (AutoConfig.from_pretrained(folder).architectures or ["?"])[0]
        eos = AutoTokenizer.from_pretrained(folder).eos_token
    except (OSError, ValueError) as e:
        raise ModelError(f"cannot load causal LM {folder!r}: {str(e).splitlines()[0]}") from None
    if not arch.endswith(("ForCausalLM", "LMHeadModel")):
        raise ModelError(f"{folder!r} is not a causal LM (its architecture is {arch}); a policy must generate text")
    if eos is None:
        raise ModelError(
            f"causal LM {folder!r} has no EOS token in its tokenizer: fine-tuning needs one to end answers"
        )
    return folder


def _load(folder: str):
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    try:
        tok = AutoTokenizer.from_pretrained(folder)
        model = AutoModelForCausalLM.from_pretrained(folder, dtype=torch.float32)
    except (OSError, ValueError) as e:
        raise ModelError(f"cannot load causal LM {folder!r}: {str(e).splitlines()[0]}") from None
    if tok.pad_token is None:
        tok.pad_token = tok.eos_token
    return model, tok


def _load_for_training(source: str, settings: BaseModel) -> tuple[Any, Any, bool]:
    """`_load`, and whether training runs on the CPU, for SFT or DPO ``settings`` (``device``,
    ``lora``). Weights trained in place on the CPU (not LoRA) are copied out of the checkpoint's
    copy-on-write map (`models.hf.private_weights`)."""
    import torch

    model, tok = _load(source)
    cpu = settings.device == "cpu" or (settings.device == "auto" and not torch.cuda.is_available())
    if cpu and not settings.lora:
        from ..models.hf import private_weights

        private_weights(model)
    return model, tok, cpu


@contextlib.contextmanager
def quiet_trl():
    """TRL's trainers call transformers 5's deprecated ``gradient_checkpointing*`` names; silence
    those FutureWarnings (only those) so a run's output stays readable."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=r".*gradient_checkpointing", category=FutureWarning)
        yield


def _matches(folder: Path, key: str) -> bool:
    record = folder / RECORD
    return record.exists() and json.loads(record.read_text()).get("key") == key


def _publish(model, tok, out: Path, key: str, meta: dict) -> Path:
    """Save `model` to `out` atomically (a staging folder renamed into place), with its record."""
    out.parent.mkdir(parents=True, exist_ok=True)
    model.config.use_cache = True  # trainers turn it off; the saved model is for generation
    if model.generation_config is not None:
        model.generation_config.use_cache = True
    staging = Path(tempfile.mkdtemp(dir=out.parent, prefix=f".{out.name}-"))
    model.save_pretrained(staging)
    tok.save_pretrained(staging)
    (staging / RECORD).write_text(json.dumps({"key": key, **meta}, indent=1))
    if out.exists():
        shutil.rmtree(out)
    staging.rename(out)
    return out


def truncated(source: str, layers: int, out_root: Path) -> Path:
    """`source` cut to its first `layers` decoder layers (embeddings and head kept): a weaker LM of
    the same family and tokenizer, made once under `out_root`."""
    key = fingerprint("truncated", source, layers)
    out = out_root / f"{Path(source).name}-{layers}layers-{key[:8]}"
    if _matches(out, key):
        return out
    model, tok = _load(source)
    body = model.get_decoder()
    if not 1 <= layers < len(body.layers):
        raise ModelError(f"cannot cut {source!r} to {layers} layers: it has {len(body.layers)}")
    body.layers = body.layers[:layers]
    model.config.num_hidden_layers = layers
    if getattr(model.config, "layer_types", None):
        model.config.layer_types = model.config.layer_types[:layers]
    return _publish(model, tok, out, key, {"source": source, "layers": layers})


def sft(source: str, prompts: list[str], completions: list[str], settings: SFTSettings, seed: int, out: Path) -> Path:
    """Fine-tune causal LM folder `source` on (prompt, completion) pairs; the model is saved to `out`
    (reused when `out` already holds a model trained on exactly this)."""
    if not prompts or len(prompts) != len(completions):
        raise ModelError(f"SFT needs as many completions as prompts (>= 1), got {len(prompts)} and {len(completions)}")
    key = fingerprint("sft", source, settings.model_dump(exclude={"device"}), seed, prompts, completions)
    if _matches(out, key):
        return out
    from datasets import Dataset
    from transformers import PrinterCallback
    from trl import SFTConfig, SFTTrainer

    model, tok, cpu = _load_for_training(source, settings)
    peft_config = None
    if settings.lora:
        from peft import LoraConfig

        peft_config = LoraConfig(
            r=settings.lora_r, lora_alpha=2 * settings.lora_r, target_modules="all-linear", task_type="CAUSAL_LM"
        )
    with tempfile.TemporaryDirectory() as tmp, quiet_trl():
        args = SFTConfig(
            output_dir=tmp,
            num_train_epochs=settings.epochs,
            per_device_train_batch_size=settings.batch_size,
            learning_rate=settings.lr,
            max_length=settings.max_length,
            seed=seed,
            data_seed=seed,
            use_cpu=cpu,
            report_to=[],
            save_strategy="no",
            logging_strategy="no",
            disable_tqdm=True,
            completion_only_loss=True,
            bf16=False,
            dataloader_num_workers=0,
        )
        data = Dataset.from_dict({"prompt": list(prompts), "completion": list(completions)})
        trainer = SFTTrainer(model=model, args=args, train_dataset=data, processing_class=tok, peft_config=peft_config)
        trainer.remove_callback(PrinterCallback)  # no metrics dict printed to stdout: we log the loss
        result = trainer.train()
    model = trainer.model.merge_and_unload() if settings.lora else trainer.model
    meta = {"source": source, "examples": len(prompts), "train_loss": float(result.training_loss), "seed": seed}
    log.info("SFT of %s on %d pairs: loss %.3f", source, len(prompts), result.training_loss)
    return _publish(model.to("cpu"), tok, out, key, meta)
