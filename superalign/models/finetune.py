"""Fine-tuning a Hugging Face model under any W2S loss: the strong student of Burns et al. 2023.

`FinetuneClassifier` implements the `Classifier` protocol. ``fit`` trains a `SequenceClassifier`
(``models/hf.py``: backbone + head on the mean or last non-pad token) on soft labels with
any registered loss, which receives ``step_frac`` exactly as for probes:

- AdamW (no weight decay on biases and norms), cosine schedule with linear warm-up
  (``transformers.get_cosine_schedule_with_warmup``), gradient clipping, gradient accumulation;
- dynamic padding and length-grouped batches, and for causal LMs batches packed into rows of
  several sequences (``hf.pack``); pre-tokenized inputs; inference in length order;
- full fine-tuning or LoRA (peft); gradient checkpointing; bf16 autocast on CUDA (and, opt-in, on CPU);
- early stopping on a validation set labelled by the *supervisor* (for a W2S student these are
  weak-model labels: the student never sees ground truth, not even for model selection), keeping
  the best weights;
- the fitted trainable weights are saved as safetensors (+ ``meta.json`` with what they were fit
  on and the training history) in ``checkpoint_dir``; a later ``fit`` with the same directory
  loads them instead of training again, after checking that the model, loss, settings, seed and
  training data are the same (a mismatch is a `ModelError` naming what differs).
"""

from __future__ import annotations

import json
import logging
import math
import shutil
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..data import fingerprint
from ..errors import ModelError
from ..losses import soft_xent
from .hf import (
    collate,
    length_grouped_batches,
    load_classifier,
    pack,
    random_batches,
    resolve_device,
    sorted_batches,
    tokenize,
)
from .settings import FinetuneConfig
from .training import LossFn, mixed_loss, weighted_draw

log = logging.getLogger(__name__)

WEIGHTS, META = "weights.safetensors", "meta.json"


class EarlyStopping:
    """Keeps the best weights by (val accuracy, -val loss) and says when ``patience``
    evaluations in a row brought no improvement."""

    def __init__(self, patience: int):
        self.patience, self.bad = patience, 0
        self.best: tuple[float, float] | None = None
        self.best_step: int | None = None
        self.state: dict[str, torch.Tensor] | None = None

    def update(self, step: int, acc: float, loss: float, params: dict[str, torch.nn.Parameter]) -> None:
        if self.best is None or (acc, -loss) > self.best:
            self.best, self.best_step, self.bad = (acc, -loss), step, 0
            self.state = {n: p.detach().to("cpu", copy=True) for n, p in params.items()}
        else:
            self.bad += 1

    @property
    def stop(self) -> bool:
        return self.bad >= self.patience

    def restore(self, step: int, params: dict[str, torch.nn.Parameter]) -> None:
        """Roll back to the best weights if later steps did not improve on them."""
        if self.state is not None and self.best_step != step:
            with torch.no_grad():
                for n, p in params.items():
                    p.copy_(self.state[n])


class FinetuneClassifier:
    """Fine-tunes ``source`` (a local Hugging Face folder or hub id) with a classification head.

    ``key`` identifies the weights of ``source`` (for cache keys); ``checkpoint_dir``, when
    given, is where the fitted weights are saved and, on a rerun, loaded from.
    """

    def __init__(
        self,
        source: str,
        key: str,
        config: FinetuneConfig | None = None,
        seed: int = 0,
        checkpoint_dir: Path | None = None,
    ):
        self.source, self.config, self.seed = source, config or FinetuneConfig(), seed
        self.key = f"finetune({key})"
        self.checkpoint_dir = Path(checkpoint_dir) if checkpoint_dir is not None else None
        self.device = resolve_device(self.config.device)
        self.history: list[dict[str, Any]] = []
        self.stats: dict[str, float] = {}
        self.loaded_from_checkpoint = False
        self._model = self._tokenizer = None

    # ------------------------------------------------------------------------------- plumbing
    def _autocast(self):
        cfg = self.config
        on = cfg.bf16 and (self.device.type == "cuda" or (self.device.type == "cpu" and cfg.cpu_bf16))
        return torch.autocast(device_type=self.device.type, dtype=torch.bfloat16, enabled=on)

    def _build(self, num_labels: int) -> None:
        self._tokenizer, model = load_classifier(self.source, self.config, num_labels, self.seed)
        self._model = model.to(self.device)
        self._pad = self._tokenizer.pad_token_id
        self._packed = self.config.packing and self._model.packable  # decided once per model

    def _trainable(self) -> dict[str, torch.nn.Parameter]:
        return {n: p for n, p in self._model.named_parameters() if p.requires_grad}

    def _tokens(self, texts: Sequence[str]) -> tuple[list[list[int]], np.ndarray]:
        ids = tokenize(self._tokenizer, texts, self.config.max_length)
        return ids, np.fromiter((len(x) for x in ids), dtype=np.int64, count=len(ids))

    def _forward(self, ids: list[list[int]], idx: np.ndarray) -> tuple[torch.Tensor, int]:
        """Logits of examples ``idx``, and the tokens computed (real + padding): packed into rows
        when the settings and the model allow it, else padded to the longest."""
        seqs = [ids[i] for i in idx]
        if self._packed:
            batch = pack(seqs, self._pad).to(self.device)
            with self._autocast():
                return self._model.forward_packed(batch), batch.input_ids.numel()
        x, m = collate(seqs, self._pad)
        with self._autocast():
            return self._model(x.to(self.device, non_blocking=True), m.to(self.device, non_blocking=True)), x.numel()

    @torch.inference_mode()
    def _logits(self, ids: list[list[int]], lengths: np.ndarray) -> torch.Tensor:
        """Float32 logits in input order; batches in length order (little padding)."""
        was_training = self._model.training
        self._model.eval()
        out = torch.empty(len(ids), self._model.head.out_features)
        for idx in sorted_batches(lengths, self.config.predict_batch_size):
            out[torch.from_numpy(idx)] = self._forward(ids, idx)[0].float().cpu()
        self._model.train(was_training)
        return out

    # ------------------------------------------------------------------------------- training
    def fit(
        self,
        texts: Sequence[str],
        soft_labels: np.ndarray,
        loss: LossFn,
        loss_name: str = "xent",
        val: tuple[Sequence[str], np.ndarray] | None = None,
        sample_weight: np.ndarray | None = None,
        gold_mask: np.ndarray | None = None,
    ) -> FinetuneClassifier:
        """Fine-tune on ``soft_labels`` (n, k) with ``loss``; early-stop on ``val`` when given.

        ``sample_weight`` and ``gold_mask`` mean what they mean for `ProbeClassifier.fit`: each
        epoch draws its examples with replacement in proportion to the weights, and gold rows
        train with plain cross-entropy instead of ``loss`` (the oversight learner uses both).
        """
        y = torch.as_tensor(np.asarray(soft_labels), dtype=torch.float32)
        if y.ndim != 2 or len(y) != len(texts) or len(texts) == 0:
            raise ModelError(
                f"fit needs (n, k) soft labels for n > 0 texts; got {tuple(y.shape)} for {len(texts)} texts"
            )
        draw = weighted_draw(sample_weight, len(texts))
        gold = None if gold_mask is None else torch.as_tensor(np.asarray(gold_mask, dtype=bool))
        if gold is not None and len(gold) != len(texts):
            raise ModelError(f"gold_mask has {len(gold)} entries for {len(texts)} examples")
        ident = self._identity(loss_name, texts, y, val, sample_weight, gold_mask)
        self._build(y.shape[1])
        if self._load_checkpoint(ident):
            return self
        cfg = self.config
        torch.manual_seed(self.seed)
        rng = np.random.default_rng(self.seed)
        ids, lengths = self._tokens(texts)
        val_data = None
        if val is not None and cfg.early_stopping and len(val[0]):
            v_ids, v_len = self._tokens(val[0])
            val_data = (v_ids, v_len, torch.as_tensor(np.asarray(val[1]), dtype=torch.float32))

        model = self._model
        model.train()  # dropout=False zeroed the dropout probabilities at load time
        params = self._trainable()
        decay = [p for p in params.values() if p.ndim >= 2]
        no_decay = [p for p in params.values() if p.ndim < 2]
        opt = torch.optim.AdamW(
            [{"params": decay, "weight_decay": cfg.weight_decay}, {"params": no_decay, "weight_decay": 0.0}],
            lr=cfg.lr,
            fused=self.device.type in ("cuda", "cpu"),
        )
        from transformers import get_cosine_schedule_with_warmup

        steps_per_epoch = math.ceil(len(ids) / cfg.batch_size)
        total = cfg.epochs * steps_per_epoch
        sched = get_cosine_schedule_with_warmup(opt, round(cfg.warmup_frac * total), total)
        eval_every = cfg.eval_every or steps_per_epoch
        micro = cfg.batch_size // cfg.grad_accum

        stopper = EarlyStopping(cfg.patience)
        step = n_examples = n_tokens = n_padded = 0
        eval_seconds = 0.0
        run_loss, run_n = torch.zeros((), device=self.device), 0
        t0 = time.perf_counter()
        for _epoch in range(cfg.epochs):
            drawn = np.arange(len(ids)) if draw is None else rng.choice(len(ids), len(ids), p=draw.numpy())
            if cfg.group_by_length:
                batches = [drawn[b] for b in length_grouped_batches(lengths[drawn], cfg.batch_size, rng)]
            else:
                batches = [drawn[b] for b in random_batches(len(ids), cfg.batch_size, rng)]
            for batch in batches:
                frac = step / total
                for j in range(0, len(batch), micro):
                    idx = batch[j : j + micro]
                    logits, computed = self._forward(ids, idx)
                    n_tokens += int(lengths[idx].sum())
                    n_padded += computed
                    targets = y[idx].to(self.device)
                    if gold is None:
                        out = loss(logits, targets, frac)
                    else:
                        out = mixed_loss(loss, logits, targets, gold[idx].to(self.device), frac)
                    out = out * (len(idx) / len(batch))
                    out.backward()
                    run_loss += out.detach() * len(batch)
                run_n += len(batch)
                n_examples += len(batch)
                if cfg.max_grad_norm > 0:
                    torch.nn.utils.clip_grad_norm_(decay + no_decay, cfg.max_grad_norm)
                opt.step()
                sched.step()
                opt.zero_grad(set_to_none=False)  # reuse the buffers: fresh ones page-fault every step
                step += 1
                if val_data is not None and (step % eval_every == 0 or step == total):
                    te = time.perf_counter()
                    acc, vloss = self._evaluate(*val_data)
                    eval_seconds += time.perf_counter() - te
                    self.history.append(
                        {"step": step, "train_loss": float(run_loss) / run_n, "val_acc": acc, "val_loss": vloss}
                    )
                    run_loss, run_n = torch.zeros((), device=self.device), 0
                    stopper.update(step, acc, vloss, params)
                    if stopper.stop:
                        break
            if stopper.stop:
                break
        elapsed = time.perf_counter() - t0
        stopper.restore(step, params)
        self.stats = {
            "steps": step,
            "total_steps": total,
            "train_seconds": elapsed,
            "eval_seconds": eval_seconds,
            "train_examples": n_examples,
            "train_tokens": n_tokens,
            "padded_tokens": n_padded,
            "stopped_early": step < total,
            "packed": self._packed,
            "best_step": stopper.best_step,
        }
        model.eval()
        self._save_checkpoint(ident)
        return self

    def _evaluate(self, ids: list[list[int]], lengths: np.ndarray, targets: torch.Tensor) -> tuple[float, float]:
        """Accuracy against the supervisor's argmax labels and soft cross-entropy to its labels."""
        logits = self._logits(ids, lengths)
        acc = float((logits.argmax(-1) == targets.argmax(-1)).float().mean())
        return acc, float(soft_xent(logits, targets))

    # ------------------------------------------------------------------------------ inference
    def predict_proba(self, texts: Sequence[str]) -> np.ndarray:
        if self._model is None:
            raise RuntimeError("predict_proba called before fit")
        if len(texts) == 0:
            return np.zeros((0, self._model.head.out_features))
        return torch.softmax(self._logits(*self._tokens(texts)), -1).numpy().astype(np.float64)

    # ---------------------------------------------------------------------------- checkpoints
    def _identity(
        self,
        loss_name: str,
        texts: Sequence[str],
        y: torch.Tensor,
        val: tuple[Sequence[str], np.ndarray] | None,
        sample_weight: np.ndarray | None,
        gold_mask: np.ndarray | None,
    ) -> dict[str, Any]:
        """What a checkpoint must have been fit on to be reused (as JSON values)."""
        data = fingerprint(
            list(texts),
            y.numpy(),
            [] if val is None else [list(val[0]), np.asarray(val[1], dtype=np.float32)],
            [] if sample_weight is None else np.asarray(sample_weight, dtype=np.float64),
            [] if gold_mask is None else np.asarray(gold_mask, dtype=bool),
        )
        ident = {"model": self.key, "loss": loss_name, "settings": self.config.key(), "seed": self.seed, "data": data}
        return json.loads(json.dumps(ident))

    def _load_checkpoint(self, ident: dict[str, Any]) -> bool:
        d = self.checkpoint_dir
        if d is None or not (d / META).exists() or not (d / WEIGHTS).exists():
            return False
        meta = json.loads((d / META).read_text())
        diffs = _differences(meta, ident)
        if diffs:
            raise ModelError(f"checkpoint {d} does not match this fit: {'; '.join(diffs)} (checkpoint vs now)")
        from safetensors.torch import load_file

        state = load_file(d / WEIGHTS)
        trainable = self._trainable()
        if set(state) != set(trainable):
            raise ModelError(f"checkpoint {d} does not match the model's trainable weights (LoRA vs full?)")
        with torch.no_grad():
            for n, p in trainable.items():
                p.copy_(state[n])
        self.history, self.stats = meta.get("history", []), meta.get("stats", {})
        self.loaded_from_checkpoint = True
        self._model.eval()
        return True

    def _save_checkpoint(self, ident: dict[str, Any]) -> None:
        d = self.checkpoint_dir
        if d is None or not self.config.save_checkpoint:
            return
        from safetensors import SafetensorError
        from safetensors.torch import save_file

        tmp = None
        try:
            d.parent.mkdir(parents=True, exist_ok=True)
            tmp = Path(tempfile.mkdtemp(dir=d.parent, prefix=f".{d.name}."))
            state = {n: p.detach().cpu().contiguous() for n, p in self._trainable().items()}
            save_file(state, tmp / WEIGHTS)
            meta = {
                **ident,
                "source": self.source,
                "config": self.config.model_dump(mode="json"),
                "history": self.history,
                "stats": self.stats,
            }
            (tmp / META).write_text(json.dumps(meta, indent=2) + "\n")
            if d.exists():
                shutil.rmtree(d)
            tmp.rename(d)
        except BaseException as e:
            if tmp is not None:
                shutil.rmtree(tmp, ignore_errors=True)
            if isinstance(e, (OSError, SafetensorError)):  # a full disk, say: one line, not a traceback
                raise ModelError(f"cannot save checkpoint {d}: {getattr(e, 'strerror', None) or e}") from None
            raise


def _differences(saved: dict[str, Any], want: dict[str, Any]) -> list[str]:
    """What differs between a checkpoint's recorded identity and the fit asked for, one phrase each."""
    out = []
    for name, now in want.items():
        then = saved.get(name)
        if then == now:
            continue
        if name == "settings" and isinstance(then, dict):
            out.append(
                "settings "
                + ", ".join(
                    f"{k} {then.get(k)!r} vs {now.get(k)!r}" for k in sorted({*then, *now}) if then.get(k) != now.get(k)
                )
            )
        elif name == "data":
            out.append("training data")
        else:
            out.append(f"{name} {then!r} vs {now!r}")
    return out
