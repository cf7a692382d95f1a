"""Training settings of the models: a probe head on frozen features (`ProbeConfig`) and
Hugging Face fine-tuning (`FinetuneConfig`). Run configs embed them (``probe.*``, ``finetune.*``)."""

from __future__ import annotations

from typing import Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, model_serializer, model_validator


class _Settings(BaseModel):
    """Settings whose fields added after runs were cached (`added_later`) are left out of dumps
    while at their defaults, so every config and stage key without them keeps the hash it had."""

    model_config = ConfigDict(extra="forbid")
    added_later: ClassVar[tuple[str, ...]] = ()

    @model_serializer(mode="wrap")
    def _without_new_defaults(self, handler: Any) -> dict[str, Any]:
        data = handler(self)
        for name in self.added_later:
            if getattr(self, name) == type(self).model_fields[name].default:
                data.pop(name, None)
        return data


class ProbeConfig(_Settings):
    """Training settings of a probe head on frozen features."""

    added_later = ("encoder_bf16",)
    epochs: int = Field(30, ge=1)
    batch_size: int = Field(64, ge=1)
    lr: float = Field(1e-3, gt=0)
    weight_decay: float = Field(1e-2, ge=0)
    hidden: int = Field(0, ge=0, description="0 = linear probe; >0 = one hidden layer of this width")
    encoder_bf16: bool = Field(
        False,
        description="encode the frozen features under bf16 autocast (sentence-transformers models): about 2x "
        "faster on CPUs with native bf16 (AMX, avx512_bf16), much slower on CPUs without; features within "
        "cosine 0.9999 of float32, cached apart from them",
    )


class FinetuneConfig(_Settings):
    """Training settings of Hugging Face fine-tuning (``mode: finetune``).

    ``batch_size`` is the number of examples per optimizer step; ``grad_accum`` splits each step
    into that many micro-batches (same optimization, less memory; a loss that uses batch
    statistics, like logconf's threshold, sees one micro-batch at a time).
    """

    added_later = ("cpu_bf16", "packing")
    lora: bool = Field(False, description="train LoRA adapters (peft) instead of all weights")
    lora_r: int = Field(8, ge=1)
    lora_alpha: float = Field(16.0, gt=0)
    lora_dropout: float = Field(0.0, ge=0, lt=1)
    lora_targets: list[str] | str = Field("all-linear", description="peft target_modules: 'all-linear' or module names")
    epochs: int = Field(3, ge=1)
    batch_size: int = Field(32, ge=1, description="examples per optimizer step")
    grad_accum: int = Field(1, ge=1, description="micro-batches per optimizer step")
    lr: float = Field(5e-5, gt=0)
    weight_decay: float = Field(0.01, ge=0)
    warmup_frac: float = Field(0.1, ge=0, le=1, description="linear warm-up share of the cosine schedule")
    max_grad_norm: float = Field(1.0, ge=0, description="0 = no clipping")
    max_length: int = Field(128, ge=2, description="tokens per input (longer inputs are truncated)")
    pooling: Literal["auto", "mean", "cls", "last"] = Field(
        "auto", description="auto: mean for encoders, the last non-pad token for causal LMs"
    )
    dropout: bool = Field(
        True, description="train with the model's dropout probabilities (false: all zero, as in the reference)"
    )
    group_by_length: bool = Field(True, description="length-grouped batches (dynamic padding is always on)")
    packing: bool = Field(
        True,
        description="causal LMs: train on each batch packed into rows of several sequences (position ids "
        "restart per sequence, attention stays within it): the same computation with almost no padding",
    )
    gradient_checkpointing: bool = False
    early_stopping: bool = Field(
        True, description="stop on the val set labelled by the supervisor; keep the best weights"
    )
    patience: int = Field(2, ge=1, description="evaluations without improvement before stopping")
    eval_every: int = Field(0, ge=0, description="optimizer steps between val evaluations; 0 = once per epoch")
    bf16: bool = Field(True, description="bf16 autocast on CUDA (on CPU only with cpu_bf16)")
    cpu_bf16: bool = Field(
        False,
        description="bf16 autocast on CPU too: mixed precision (float32 weights and logits), about 2x faster "
        "training on CPUs with native bf16 (avx512_bf16, AMX); off keeps CPU runs in float32",
    )
    device: str = Field("auto", description="auto (cuda when present), cpu, cuda, cuda:1, ...")
    predict_batch_size: int = Field(128, ge=1)
    save_checkpoint: bool = Field(True, description="save the fitted weights (safetensors) under the store")

    @model_validator(mode="after")
    def _micro_batches(self) -> FinetuneConfig:
        if self.batch_size % self.grad_accum:
            raise ValueError(f"batch_size {self.batch_size} is not divisible by grad_accum {self.grad_accum}")
        return self

    def key(self) -> dict:
        """The settings that change what is learned (for cache keys): not device, bookkeeping, or
        `packing` (the same computation up to float rounding)."""
        return self.model_dump(exclude={"device", "predict_batch_size", "save_checkpoint", "packing"})


class LMPretrainConfig(BaseModel):
    """Generative fine-tuning (Burns et al. 2023, sec. 5.2.2): before W2S, the strong model trains
    with its own language-modelling objective (causal LM; masked LM for encoders) on the task's
    unlabelled inputs, then fine-tunes as usual (``mode: finetune``; ceiling and students alike)."""

    model_config = ConfigDict(extra="forbid")
    enabled: bool = Field(False, description="pretrain the strong model on the unlabelled train_w2s and test inputs")
    epochs: int = Field(1, ge=1, le=100)
    batch_size: int = Field(16, ge=1)
    lr: float = Field(5e-5, gt=0)
    warmup_frac: float = Field(0.1, ge=0, le=1)
    max_length: int = Field(128, ge=8)
    mlm_probability: float = Field(0.15, gt=0, lt=1, description="masked share of tokens (masked LM only)")
    max_texts: int = Field(0, ge=0, description="use at most this many texts (0 = all)")
    device: str = Field("auto", description="auto (cuda when present), cpu, cuda, ...")

    def key(self) -> dict:
        return self.model_dump(exclude={"device"})
