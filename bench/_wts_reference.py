"""openai/weak-to-strong's own training loop, imported from a checkout for `bench/finetune.py`.

Nothing of that repository is copied here: ``load(repo)`` puts a checkout given on the command
line (``git clone https://github.com/openai/weak-to-strong``) on ``sys.path`` and imports its
``weak_to_strong.train.train_model`` and ``weak_to_strong.eval.eval_model_acc`` with the shims
it needs under ``transformers`` 5:

- ``transformers.modeling_utils.load_sharded_checkpoint`` (removed in 5; only used to resume a
  sharded checkpoint, which the bench never does) is defined to raise;
- ``wandb`` and ``torch_optimizer`` are empty modules (its logger, configured here as its
  ``train_simple.py`` does, calls wandb only when ``WANDB_PROJECT`` is set, which is unset;
  ``torch_optimizer`` only backs ``optimizer_name="adafactor"``);
- ``TransformerWithHead`` reads ``lm.transformer`` (GPT-2 naming); Llama-architecture models
  (SmolLM2) call it ``lm.model``, so the causal LM it loads gets ``transformer = model``, and it
  loads in float32 (transformers 5 would otherwise keep the checkpoint's bf16).
"""

from __future__ import annotations

import contextlib
import io
import os
import sys
import types
from pathlib import Path
from typing import Any

import torch


def _install_shims() -> None:
    import transformers.modeling_utils as modeling_utils

    if not hasattr(modeling_utils, "load_sharded_checkpoint"):

        def load_sharded_checkpoint(*_args, **_kwargs):
            raise NotImplementedError("load_sharded_checkpoint was removed in transformers 5")

        modeling_utils.load_sharded_checkpoint = load_sharded_checkpoint
    for name in ("wandb", "torch_optimizer"):
        sys.modules.setdefault(name, types.ModuleType(name))


class _CausalLMWithTransformer:
    """Stands in for ``AutoModelForCausalLM`` inside ``weak_to_strong.model``."""

    @staticmethod
    def from_pretrained(name: str, **kwargs: Any):
        from transformers import AutoModelForCausalLM

        lm = AutoModelForCausalLM.from_pretrained(name, **{"dtype": torch.float32, **kwargs})
        if not hasattr(lm, "transformer"):
            lm.transformer = lm.model
        return lm


class Reference:
    """The reference's model class, training loop and evaluation, imported from ``repo``."""

    def __init__(self, repo: Path):
        repo = Path(repo).resolve()
        if not (repo / "weak_to_strong" / "train.py").is_file():
            print(
                f"error: {repo} is not a checkout of openai/weak-to-strong (no weak_to_strong/train.py)",
                file=sys.stderr,
            )
            raise SystemExit(2)
        _install_shims()
        sys.path.insert(0, str(repo))
        from weak_to_strong import eval as wts_eval
        from weak_to_strong import logger as wts_logger
        from weak_to_strong import loss as wts_loss
        from weak_to_strong import model as wts_model
        from weak_to_strong import train as wts_train

        wts_model.AutoModelForCausalLM = _CausalLMWithTransformer
        os.environ.pop("WANDB_PROJECT", None)
        wts_logger.configure()  # as its train_simple.py does: a logger that writes nowhere
        self._model_cls, self._train, self._eval = (
            wts_model.TransformerWithHead,
            wts_train.train_model,
            wts_eval.eval_model_acc,
        )
        self._xent = wts_loss.xent_loss()  # train_model's default is the class, not an instance

    def model(self, source: str):
        return self._model_cls.from_pretrained(source, num_labels=2)

    @staticmethod
    def dataset(ids: list[list[int]], soft_labels, texts: list[str]):
        import datasets

        rows = [
            {"input_ids": x, "soft_label": [float(v) for v in y], "txt": t} for x, y, t in zip(ids, soft_labels, texts)
        ]
        return datasets.Dataset.from_list(rows)

    def train(self, model, ds, **kwargs: Any) -> None:
        """``train_model`` under the reference's cross-entropy, its progress prints swallowed."""
        with contextlib.redirect_stdout(io.StringIO()):
            self._train(model, ds, **{"loss_fn": self._xent, **kwargs})

    def evaluate(self, model, ds, eval_batch_size: int):
        with contextlib.redirect_stdout(io.StringIO()):
            return self._eval(model, ds, eval_batch_size)
