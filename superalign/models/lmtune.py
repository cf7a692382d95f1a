"""Generative fine-tuning of the strong model (Burns et al. 2023, sec. 5.2.2): before weak-to-strong
training, the strong model is trained with its own language-modelling objective on the task's
*unlabelled* inputs (the train_w2s and test texts; never a label), which the paper finds raises
both the ceiling and PGR. Causal LMs train on next-token prediction; encoders (BERT, MiniLM, MPNet)
on masked-token prediction (Devlin et al. 2019: ``mlm_probability`` of the tokens, 80% [MASK],
10% random, 10% kept), with the MLM head fresh when the checkpoint has none (sentence-transformers
folders). The result is saved as a Hugging Face folder that `FinetuneClassifier` loads as its
backbone (``ModelFactory.with_weights``). Written from the papers; no code taken.

Importing this module imports torch.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch

from ..errors import ModelError
from .hf import is_causal_lm, private_weights, resolve_device
from .settings import LMPretrainConfig

log = logging.getLogger(__name__)


def mask_tokens(
    ids: torch.Tensor, special: torch.Tensor, mask_id: int, vocab: int, p: float, gen: torch.Generator
) -> tuple[torch.Tensor, torch.Tensor]:
    """BERT's masking: choose `p` of the non-special tokens; of those 80% -> mask_id, 10% -> a
    random token, 10% unchanged. Returns (inputs, labels with -100 where nothing is predicted)."""
    chosen = (torch.rand(ids.shape, generator=gen) < p) & ~special
    labels = torch.where(chosen, ids, torch.full_like(ids, -100))
    r = torch.rand(ids.shape, generator=gen)
    inputs = ids.clone()
    inputs[chosen & (r < 0.8)] = mask_id
    rand = chosen & (r >= 0.8) & (r < 0.9)
    inputs[rand] = torch.randint(vocab, ids.shape, generator=gen)[rand]
    return inputs, labels


def lm_pretrain(source: str, texts: Sequence[str], out_dir: Path, cfg: LMPretrainConfig, seed: int = 0) -> Path:
    """Train model `source` (folder or hub id) with its LM objective on `texts`; save it to `out_dir`."""
    from transformers import AutoConfig, AutoModelForCausalLM, AutoModelForMaskedLM, AutoTokenizer

    try:
        hf_config = AutoConfig.from_pretrained(source)
        tok = AutoTokenizer.from_pretrained(source)
        causal = is_causal_lm(hf_config)
        model = (AutoModelForCausalLM if causal else AutoModelForMaskedLM).from_pretrained(source, dtype=torch.float32)
    except (OSError, ValueError, KeyError) as e:
        raise ModelError(f"cannot load {source!r} as a language model for generative fine-tuning: {e}") from None
    if tok.pad_token_id is None:
        tok.pad_token = tok.eos_token
    if not causal and tok.mask_token_id is None:
        raise ModelError(f"{source!r}: an encoder without a mask token cannot train a masked-LM objective")
    texts = [t for t in texts if t]
    rng = np.random.default_rng(seed)
    if cfg.max_texts and len(texts) > cfg.max_texts:
        texts = [texts[i] for i in sorted(rng.choice(len(texts), cfg.max_texts, replace=False))]
    enc = tok(list(texts), truncation=True, max_length=cfg.max_length)["input_ids"]
    device = resolve_device(cfg.device)
    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(seed)
    if device.type == "cpu":
        private_weights(model)
    model.to(device).train()
    steps = cfg.epochs * math.ceil(len(enc) / cfg.batch_size)
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=0.01)
    warm = max(1, round(cfg.warmup_frac * steps))
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: min((s + 1) / warm, max(0.0, (steps - s) / max(1, steps - warm)))
    )
    special_ids = torch.tensor(sorted(set(tok.all_special_ids)))
    losses = []
    for _ in range(cfg.epochs):
        for b in np.array_split(rng.permutation(len(enc)), math.ceil(len(enc) / cfg.batch_size)):
            rows = [enc[i] for i in b]
            width = max(len(r) for r in rows)
            ids = torch.full((len(rows), width), tok.pad_token_id, dtype=torch.long)
            mask = torch.zeros((len(rows), width), dtype=torch.long)
            for j, r in enumerate(rows):
                ids[j, : len(r)], mask[j, : len(r)] = torch.tensor(r), 1
            if causal:
                inputs, labels = ids, torch.where(mask.bool(), ids, torch.full_like(ids, -100))
            else:
                special = torch.isin(ids, special_ids) | ~mask.bool()
                inputs, labels = mask_tokens(ids, special, tok.mask_token_id, len(tok), cfg.mlm_probability, gen)
                if (labels == -100).all():
                    continue
            out = model(input_ids=inputs.to(device), attention_mask=mask.to(device), labels=labels.to(device))
            opt.zero_grad()
            out.loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            opt.step()
            sched.step()
            losses.append(float(out.loss.detach()))
    out_dir.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out_dir, safe_serialization=True)
    tok.save_pretrained(out_dir)
    log.info("LM pretraining of %s on %d texts: loss %.3f -> %.3f", source, len(enc), losses[0], losses[-1])
    return out_dir
