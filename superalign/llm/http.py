"""OpenAI-compatible servers (vLLM, Ollama, llama.cpp server, hosted APIs): the chat backend
`OpenAICompatibleLLM` and the completions policy `OpenAICompatiblePolicy`.

Both are an `OpenAIServer` (`.server`): configuration from arguments or ``SUPERALIGN_LLM_*`` /
``OPENAI_*`` variables, the official `openai` client with its retries, and the API key only ever in
the ``Authorization`` header.
"""

from __future__ import annotations

import functools
import logging
import re
from collections.abc import Sequence
from typing import Any

import numpy as np

from .base import LLM_BACKENDS, LLMError, Message, validate_messages
from .policy import POLICY_BACKENDS, check_pairs, check_sampling
from .server import Malformed, OpenAIServer, StatusError

log = logging.getLogger(__name__)


def _response_format(schema: dict) -> dict:
    name = re.sub(r"[^A-Za-z0-9_-]", "_", str(schema.get("title") or "answer"))[:64]
    return {"type": "json_schema", "json_schema": {"name": name, "schema": schema, "strict": True}}


def _rejects_response_format(e: StatusError) -> bool:
    """Whether the error is about ``response_format`` (llama.cpp's server answers HTTP 500 to a json_schema one)."""
    text = e.detail.lower()
    return (e.status in (400, 422) or e.status >= 500) and any(w in text for w in ("response_format", "json_schema"))


def _chat_content(answer: Any) -> str:
    try:
        content = answer.choices[0].message.content
    except (AttributeError, IndexError, TypeError):
        raise Malformed("not an OpenAI chat completion") from None
    if not isinstance(content, str):
        raise Malformed("message content is not a string")
    return content


@LLM_BACKENDS.register("openai")
class OpenAICompatibleLLM(OpenAIServer):
    """Chat completions from a server that speaks the OpenAI API.

    A `json_schema` is sent as a strict ``response_format``; a server that rejects
    ``response_format`` gets the plain request instead, from then on (`json_schema_supported`).
    """

    def __init__(
        self,
        model: str | None = None,
        base_url: str | None = None,
        api_key: str | None = None,
        timeout: float = 60.0,
        max_retries: int = 3,
        backoff: float = 0.5,
        max_backoff: float = 8.0,
        seed: int | None = 0,
    ):
        super().__init__(model, base_url, api_key, timeout, max_retries, backoff, max_backoff)
        self.seed = seed
        self.json_schema_supported = True  # False once the server has rejected response_format

    def chat(
        self,
        messages: Sequence[Message],
        max_tokens: int = 128,
        temperature: float = 0.0,
        json_schema: dict | None = None,
    ) -> str:
        params = {
            "model": self.model,
            "messages": validate_messages(messages),
            "max_tokens": max_tokens,
            "temperature": temperature,
        }
        if self.seed is not None:
            params["seed"] = self.seed
        if json_schema is None or not self.json_schema_supported:
            return self._request("chat/completions", params, _chat_content)
        try:
            return self._request(
                "chat/completions", {**params, "response_format": _response_format(json_schema)}, _chat_content
            )
        except StatusError as e:
            if not _rejects_response_format(e):
                raise
        log.info("LLM %s rejects response_format (structured output): plain requests from now on", self.base_url)
        self.json_schema_supported = False
        return self._request("chat/completions", params, _chat_content)

    def chat_many(
        self,
        conversations: Sequence[Sequence[Message]],
        max_tokens: int = 128,
        temperature: float = 0.0,
        json_schema: dict | None = None,
    ) -> list[str]:
        return [
            self.chat(c, max_tokens=max_tokens, temperature=temperature, json_schema=json_schema) for c in conversations
        ]


@POLICY_BACKENDS.register("openai")
class OpenAICompatiblePolicy(OpenAIServer):
    """A policy served by an OpenAI-compatible ``/v1/completions`` endpoint (vLLM, llama.cpp server).

    `sample` sends one request per prompt with ``n``, ``seed``, ``temperature``, ``top_p`` and
    ``max_tokens``; a server that ignores ``n`` (one choice back, as llama.cpp's) gets one request per
    continuation instead, with seeds ``seed, seed + 1, ...``, from then on (`n_supported`).
    `logprob` asks the server to echo ``prompt + continuation`` with its token logprobs (``echo=True,
    logprobs=1, max_tokens=1``, as lm-evaluation-harness does: llama.cpp reads ``max_tokens=0`` as no
    limit) and sums those of the tokens that start inside the continuation, so a continuation
    should start at a token boundary (e.g. with a space).
    """

    n_supported = True  # False once the server has answered n > 1 with one choice

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
        prompts = check_sampling(prompts, n, temperature, top_p, max_new_tokens)
        return [
            self._continue(
                {
                    "model": self.model,
                    "prompt": p,
                    "temperature": temperature,
                    "top_p": top_p,
                    "max_tokens": max_new_tokens,
                },
                n,
                seed,
            )
            for p in prompts
        ]

    def _continue(self, params: dict, n: int, seed: int) -> list[str]:
        texts: list[str] = []
        if self.n_supported or n == 1:
            texts = self._request("completions", {**params, "n": n, "seed": seed}, self._texts)
            if len(texts) == n:
                return texts
            if len(texts) > 1:
                raise LLMError(f"LLM server {self.base_url}: asked for n={n} completions, got {len(texts)}")
            log.info("LLM %s ignores n (one choice for n=%d): one request per completion from now on", self.base_url, n)
            self.n_supported = False
        return texts + [
            self._request("completions", {**params, "n": 1, "seed": seed + j}, self._texts)[0]
            for j in range(len(texts), n)
        ]

    def logprob(self, prompts: Sequence[str], continuations: Sequence[str]) -> np.ndarray:
        prompts, continuations = check_pairs(prompts, continuations)
        out = np.zeros(len(prompts))
        for i, (p, c) in enumerate(zip(prompts, continuations)):
            params = {
                "model": self.model,
                "prompt": p + c,
                "echo": True,
                "logprobs": 1,
                "max_tokens": 1,
                "temperature": 0.0,
            }
            out[i] = self._request("completions", params, functools.partial(self._score, prompt=p, text=p + c))
        return out

    def _texts(self, answer: Any) -> list[str]:
        try:
            texts = [c.text for c in answer.choices]
        except (AttributeError, TypeError):
            raise Malformed("not an OpenAI completion") from None
        if not texts or not all(isinstance(t, str) for t in texts):
            raise Malformed("no choices, or a choice whose text is not a string")
        return texts

    def _score(self, answer: Any, prompt: str, text: str) -> float:
        """The summed logprob of the echoed tokens of `text` that start after `prompt` (not the generated one)."""
        try:
            echoed, lp = answer.choices[0].text, answer.choices[0].logprobs
        except (AttributeError, IndexError, TypeError):
            raise Malformed("not an OpenAI completion") from None
        offsets, values, tokens = (getattr(lp, k, None) for k in ("text_offset", "token_logprobs", "tokens"))
        if not (
            isinstance(echoed, str)
            and echoed.startswith(text)
            and isinstance(offsets, list)
            and isinstance(values, list)
            and len(offsets) == len(values)
        ):
            raise LLMError(
                f"LLM server {self.base_url}: the answer has no prompt logprobs (echo=True, logprobs=1), "
                "so this server cannot score continuations"
            )
        shift = 0  # characters the tokens spell before the text (vLLM counts a BOS token's text)
        if isinstance(tokens, list) and all(isinstance(t, str) for t in tokens):
            shift = "".join(tokens).find(text)
            if shift < 0:
                raise LLMError(
                    f"LLM server {self.base_url}: its tokens do not spell the echoed text, so the "
                    "continuation's tokens cannot be told apart"
                )
        inside = [v for o, v in zip(offsets, values) if len(prompt) <= o - shift < len(text)]
        if not all(isinstance(v, (int, float)) for v in inside):
            raise LLMError(f"LLM server {self.base_url}: a continuation token has no logprob (is the prompt empty?)")
        return float(sum(inside))
