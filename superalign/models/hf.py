"""Hugging Face backbones with a classification head: loading, pooling, padding and batching.

The pieces `FinetuneClassifier` (``models/finetune.py``) and the benchmark are built from:

- `SequenceClassifier`: any ``AutoModel`` backbone + a linear head on a pooled hidden state.
  Encoders (BERT, MiniLM, MPNet, ...) pool by the attention-masked mean (how sentence-transformers
  models were trained); causal LMs (GPT-2, Llama/SmolLM2, ...) pool the last *non-pad* token,
  found from the attention mask, so both left and right padding are right. (The reference code
  of Burns et al. 2023 finds it with ``input_ids != 0`` and passes no attention mask: wrong for
  GPT-2-style tokenizers, whose pad is not id 0 or is a real token.)
- `collate`: dynamic padding to the longest sequence of a batch.
- `length_grouped_batches`: shuffled batches of similar lengths (the megabatch scheme of
  Hugging Face's ``LengthGroupedSampler``), so little compute goes to padding.
- `pack`: a causal LM's batch as a few rows of several sequences each, position ids restarting at
  every sequence, so attention stays within each sequence and almost no compute goes to padding.
"""

from __future__ import annotations

import inspect
import logging
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

from ..errors import ModelError
from .settings import FinetuneConfig

log = logging.getLogger(__name__)


# ---------------------------------------------------------------------------------------- pooling
def last_token_index(mask: torch.Tensor) -> torch.Tensor:
    """Position of the last non-pad token of each row of a (batch, time) attention mask.

    ``T - 1 - argmax(flip(mask))``: the first 1 seen from the right. Right for right padding
    (``[1 1 1 0 0]`` -> 2), left padding (``[0 0 1 1 1]`` -> 4) and no padding.
    """
    t = mask.shape[1]
    return t - 1 - mask.flip(1).long().argmax(1)


def last_token_pool(hidden: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    return hidden[torch.arange(hidden.shape[0], device=hidden.device), last_token_index(mask)]


def first_token_pool(hidden: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """The first non-pad token (BERT's [CLS] under right padding)."""
    return hidden[torch.arange(hidden.shape[0], device=hidden.device), mask.long().argmax(1)]


def mean_pool(hidden: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    m = mask.unsqueeze(-1).to(hidden.dtype)
    return (hidden * m).sum(1) / m.sum(1).clamp_min(1.0)


POOLERS = {"last": last_token_pool, "cls": first_token_pool, "mean": mean_pool}


def is_causal_lm(config: Any) -> bool:
    """Whether a transformers config describes a decoder-only (causal) language model."""
    archs = getattr(config, "architectures", None) or []
    if any(a.endswith(("ForCausalLM", "LMHeadModel")) for a in archs):
        return True
    from transformers.models.auto.modeling_auto import (
        MODEL_FOR_CAUSAL_LM_MAPPING_NAMES,
        MODEL_FOR_MASKED_LM_MAPPING_NAMES,
    )

    mt = getattr(config, "model_type", "")
    return mt in MODEL_FOR_CAUSAL_LM_MAPPING_NAMES and mt not in MODEL_FOR_MASKED_LM_MAPPING_NAMES


# ------------------------------------------------------------------------------------------ model
class SequenceClassifier(nn.Module):
    """A backbone (``AutoModel``, optionally wrapped by peft) + a linear head on a pooled state.

    The head starts at zero, as in Burns et al.'s reference (the untrained model is uniform), and
    always runs in float32, also under bf16 autocast, so every loss sees float32 logits.
    """

    def __init__(self, backbone: nn.Module, hidden_size: int, num_labels: int, pooling: str, causal: bool):
        super().__init__()
        self.backbone = backbone
        self.head = nn.Linear(hidden_size, num_labels)
        nn.init.zeros_(self.head.weight)
        nn.init.zeros_(self.head.bias)
        self.pool = POOLERS[pooling]
        self.pooling, self.causal = pooling, causal
        params = inspect.signature(backbone.forward).parameters
        # Causal LMs get explicit positions, so a left-padded row is positioned like an unpadded one.
        # (Encoders keep their own: RoBERTa/MPNet positions start after the pad id.)
        self._extra = {"use_cache": False} if "use_cache" in params else {}
        self._positions = causal and "position_ids" in params

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        kwargs = dict(self._extra)
        if self._positions:
            kwargs["position_ids"] = (attention_mask.long().cumsum(-1) - 1).clamp_min(0)
        hidden = self.backbone(input_ids=input_ids, attention_mask=attention_mask, **kwargs).last_hidden_state
        return self._head(self.pool(hidden, attention_mask))

    def forward_packed(self, batch: PackedBatch) -> torch.Tensor:
        """Logits of the sequences of a `pack`-ed batch, in the order they were given."""
        hidden = self.backbone(
            input_ids=batch.input_ids, position_ids=batch.position_ids, **self._extra
        ).last_hidden_state
        return self._head(hidden[batch.row, batch.end])

    def _head(self, pooled: torch.Tensor) -> torch.Tensor:
        with torch.autocast(device_type=pooled.device.type, enabled=False):
            return self.head(pooled.float())

    @property
    def packable(self) -> bool:
        """Whether `forward_packed` computes what `forward` does: a causal LM pooled at its last
        token whose attention masks come from transformers' ``masking_utils``, which keeps the
        sequences of a packed row apart when position ids restart (transformers >= 4.53)."""
        if not (self._positions and self.pooling == "last"):
            return False
        base = self.backbone.get_base_model() if hasattr(self.backbone, "get_base_model") else self.backbone
        module = sys.modules.get(type(base).__module__)
        return hasattr(module, "create_causal_mask") and base.config._attn_implementation in ("sdpa", "eager")


def no_dropout(config: Any) -> dict[str, float]:
    """Config overrides that zero every dropout probability (``hidden_dropout_prob``,
    ``attention_dropout``, GPT-2's ``*_pdrop``, ...), so training can stay in train mode (which
    gradient checkpointing needs) without dropout, as in the reference (Burns et al. 2023)."""
    return {
        k: 0.0 for k, v in config.to_dict().items() if isinstance(v, float) and ("dropout" in k or k.endswith("pdrop"))
    }


def resolve_device(spec: str) -> torch.device:
    if spec == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    dev = torch.device(spec)
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ModelError(f"device {spec!r} requested but CUDA is not available")
    return dev


def load_classifier(source: str, cfg: FinetuneConfig, num_labels: int, seed: int):
    """Tokenizer and a fresh `SequenceClassifier` for a local model folder or a hub id.

    Full fine-tuning trains every weight; with ``cfg.lora`` the backbone is frozen and peft LoRA
    adapters (Hu et al. 2021) are added to ``cfg.lora_targets``; the head is always trained.
    """
    from transformers import AutoConfig, AutoModel, AutoTokenizer

    try:
        hf_config = AutoConfig.from_pretrained(source)
        tokenizer = AutoTokenizer.from_pretrained(source)
        backbone = AutoModel.from_pretrained(
            source, dtype=torch.float32, **({} if cfg.dropout else no_dropout(hf_config))
        )
    except (OSError, ValueError, KeyError) as e:
        raise ModelError(
            f"cannot load Hugging Face model {source!r}: {str(e).splitlines()[0] if str(e) else type(e).__name__}"
        ) from None
    causal = is_causal_lm(hf_config)
    pooling = cfg.pooling if cfg.pooling != "auto" else ("last" if causal else "mean")
    if tokenizer.pad_token_id is None:  # GPT-2 style: any id works, the attention mask hides it
        tokenizer.pad_token = tokenizer.eos_token or tokenizer.unk_token
    if cfg.gradient_checkpointing:
        if not getattr(backbone, "supports_gradient_checkpointing", False):
            raise ModelError(f"{source}: this architecture does not support gradient checkpointing")
        kwargs = {"use_reentrant": False}
        if hasattr(backbone, "activation_checkpointing_enable"):  # transformers >= 5 name
            backbone.activation_checkpointing_enable(activation_checkpointing_kwargs=kwargs)
        else:
            backbone.gradient_checkpointing_enable(gradient_checkpointing_kwargs=kwargs)
    if not cfg.lora and resolve_device(cfg.device).type == "cpu":  # .to(cuda) copies anyway
        private_weights(backbone)
    hidden = backbone.config.hidden_size
    torch.manual_seed(seed)
    model = SequenceClassifier(backbone, hidden, num_labels, pooling, causal)
    if cfg.lora:
        from peft import LoraConfig, get_peft_model

        lora = LoraConfig(
            r=cfg.lora_r,
            lora_alpha=cfg.lora_alpha,
            lora_dropout=cfg.lora_dropout,
            target_modules=cfg.lora_targets,
            bias="none",
        )
        try:
            model.backbone = get_peft_model(backbone, lora)
        except ValueError as e:
            raise ModelError(f"LoRA on {source}: {str(e).splitlines()[0]}") from None
    return tokenizer, model


def private_weights(module: nn.Module) -> None:
    """Copy ``module``'s parameters out of the memory-mapped checkpoint they were loaded from.

    transformers maps safetensors files copy-on-write, so the first optimizer step that writes
    every weight page-faults on each 4 KB page; with fused AdamW on 2 CPU threads that cost
    SmolLM2-135M 1.9 s, against 0.2 s for this copy (`bench/finetune.py`, issue 19). Only for
    weights that train on the CPU: moving a model to a GPU copies it anyway.
    """
    with torch.no_grad():
        for p in module.parameters():
            p.data = p.data.clone()


# ------------------------------------------------------------------------------ padding, batching
def tokenize(tokenizer: Any, texts: Sequence[str], max_length: int) -> list[list[int]]:
    """Token ids per text, truncated, unpadded; an empty text becomes one pad token."""
    ids = tokenizer(list(texts), truncation=True, max_length=max_length)["input_ids"]
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
    return [x if len(x) else [pad] for x in ids]


def collate(seqs: Sequence[Sequence[int]], pad_id: int, side: str = "right") -> tuple[torch.Tensor, torch.Tensor]:
    """Pad a batch to its longest sequence: (input_ids, attention_mask), int64."""
    t = max(len(s) for s in seqs)
    ids = np.full((len(seqs), t), pad_id, dtype=np.int64)
    mask = np.zeros((len(seqs), t), dtype=np.int64)
    for i, s in enumerate(seqs):
        if side == "right":
            ids[i, : len(s)], mask[i, : len(s)] = s, 1
        else:
            ids[i, t - len(s) :], mask[i, t - len(s) :] = s, 1
    return torch.from_numpy(ids), torch.from_numpy(mask)


@dataclass
class PackedBatch:
    """Sequences packed into rows: ``input_ids`` and ``position_ids`` are (rows, row length);
    sequence i's last token is at ``[row[i], end[i]]``."""

    input_ids: torch.Tensor
    position_ids: torch.Tensor
    row: torch.Tensor
    end: torch.Tensor

    def to(self, device: torch.device) -> PackedBatch:
        return PackedBatch(*(t.to(device, non_blocking=True) for t in vars(self).values()))


def _first_fit(lengths: list[int], cap: int) -> tuple[np.ndarray, np.ndarray, int, int]:
    """First fit by decreasing length into rows of ``cap`` tokens: each sequence's row and start,
    the number of rows and the longest row."""
    used: list[int] = []  # tokens per row
    row, start = np.zeros(len(lengths), dtype=np.int64), np.zeros(len(lengths), dtype=np.int64)
    for i in sorted(range(len(lengths)), key=lambda i: -lengths[i]):
        r = next((r for r, u in enumerate(used) if u + lengths[i] <= cap), len(used))
        if r == len(used):
            used.append(0)
        row[i], start[i] = r, used[r]
        used[r] += lengths[i]
    return row, start, len(used), max(used)


def pack(seqs: Sequence[Sequence[int]], pad_id: int, row_tokens: int = 128) -> PackedBatch:
    """Pack sequences into rows, first fit by decreasing length (Krell et al. 2021, "Efficient
    sequence packing without cross-contamination"), with the row length between the longest
    sequence and ``row_tokens`` that computes the fewest tokens (then the shortest rows).

    Position ids restart at 0 with every sequence, and each pad token at the end of a row is a
    segment of its own (position 0), so a model whose causal mask separates segments
    (`SequenceClassifier.packable`) sees each sequence exactly as it would alone.
    """
    lengths = [len(s) for s in seqs]
    longest = max(lengths)
    caps = range(longest, max(row_tokens, longest) + 1, max(1, longest // 8))
    row, start, rows, width = min((_first_fit(lengths, c) for c in caps), key=lambda f: (f[2] * f[3], f[3]))
    ids = np.full((rows, width), pad_id, dtype=np.int64)
    pos = np.zeros_like(ids)
    for i, s in enumerate(seqs):
        ids[row[i], start[i] : start[i] + len(s)] = s
        pos[row[i], start[i] : start[i] + len(s)] = np.arange(len(s))
    end = start + np.asarray(lengths, dtype=np.int64) - 1
    return PackedBatch(*(torch.from_numpy(a) for a in (ids, pos, row, end)))


def length_grouped_batches(
    lengths: np.ndarray, batch_size: int, rng: np.random.Generator, megabatch: int = 50
) -> list[np.ndarray]:
    """Random batches of similar length: shuffle, cut into megabatches of ``megabatch`` batches,
    sort each by length, split into batches, shuffle the batch order (the longest batch first,
    so an out-of-memory error shows at the first step)."""
    perm = rng.permutation(len(lengths))
    size = megabatch * batch_size
    batches = []
    for i in range(0, len(perm), size):
        mb = perm[i : i + size]
        mb = mb[np.argsort(-lengths[mb], kind="stable")]
        batches += [mb[j : j + batch_size] for j in range(0, len(mb), batch_size)]
    order = rng.permutation(len(batches))
    longest = int(np.argmax([lengths[b].max() for b in batches]))
    order = np.concatenate([[longest], order[order != longest]])
    return [batches[i] for i in order]


def random_batches(n: int, batch_size: int, rng: np.random.Generator) -> list[np.ndarray]:
    perm = rng.permutation(n)
    return [perm[i : i + batch_size] for i in range(0, n, batch_size)]


def sorted_batches(lengths: np.ndarray, batch_size: int) -> list[np.ndarray]:
    """Inference batches in order of length (results are put back in input order by the caller)."""
    order = np.argsort(-lengths, kind="stable")
    return [order[i : i + batch_size] for i in range(0, len(order), batch_size)]
