"""An OpenAI-compatible chat client (vLLM, Ollama, llama.cpp server, hosted APIs).

Standard library only (`urllib`). Configuration comes from arguments or the environment:
``SUPERALIGN_LLM_BASE_URL`` (e.g. ``http://127.0.0.1:8000/v1``), ``SUPERALIGN_LLM_MODEL``,
``SUPERALIGN_LLM_API_KEY`` (each falls back to ``OPENAI_BASE_URL`` / ``OPENAI_MODEL`` /
``OPENAI_API_KEY``). Timeouts, connection errors, HTTP 408/409/425/429/5xx and malformed
answers are retried with exponential back-off (``Retry-After`` is honoured, capped); other HTTP
errors fail at once. The API key is sent only in the ``Authorization`` header: it is never
logged, never part of ``repr``, ``key`` or an error message (any echo of it is redacted).
"""

from __future__ import annotations

import http.client
import json
import logging
import os
import socket
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Sequence

from .base import LLMError, Message, validate_messages

log = logging.getLogger(__name__)

_RETRY_STATUS = {408, 409, 425, 429}


def _env(*names: str) -> str | None:
    for n in names:
        v = os.environ.get(n)
        if v:
            return v
    return None


class _Retryable(Exception):
    def __init__(self, reason: str, retry_after: float | None = None):
        super().__init__(reason)
        self.retry_after = retry_after


class OpenAICompatibleLLM:
    """Chat completions over HTTP from a server that speaks the OpenAI API."""

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
        url = (base_url or _env("SUPERALIGN_LLM_BASE_URL", "OPENAI_BASE_URL") or "").rstrip("/")
        if not url:
            raise LLMError("no LLM server given: set SUPERALIGN_LLM_BASE_URL (e.g. http://127.0.0.1:8000/v1)")
        parts = urllib.parse.urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise LLMError(f"LLM base URL must be http(s)://host[:port]/path, got {url!r}")
        if parts.username or parts.password:
            raise LLMError("do not put credentials in the LLM base URL; set SUPERALIGN_LLM_API_KEY instead")
        name = model or _env("SUPERALIGN_LLM_MODEL", "OPENAI_MODEL")
        if not name:
            raise LLMError("no LLM model given: pass openai:MODEL or set SUPERALIGN_LLM_MODEL")
        if timeout <= 0 or max_retries < 0 or backoff < 0:
            raise LLMError("timeout must be > 0, max_retries and backoff >= 0")
        self.base_url, self.model = url, name
        self._api_key = api_key or _env("SUPERALIGN_LLM_API_KEY", "OPENAI_API_KEY")
        self.timeout, self.max_retries, self.backoff, self.max_backoff, self.seed = timeout, max_retries, backoff, max_backoff, seed
        self.key = f"openai:{name}@{url}"
        self.attempts = 0  # HTTP requests sent, retries included

    def __repr__(self) -> str:
        return f"OpenAICompatibleLLM(model={self.model!r}, base_url={self.base_url!r}, api_key={'<set>' if self._api_key else None})"

    def _redact(self, text: str) -> str:
        return text.replace(self._api_key, "***") if self._api_key else text

    def chat(self, messages: Sequence[Message], max_tokens: int = 128, temperature: float = 0.0) -> str:
        payload = {"model": self.model, "messages": validate_messages(messages), "max_tokens": max_tokens, "temperature": temperature}
        if self.seed is not None:
            payload["seed"] = self.seed
        return self._post("/chat/completions", payload)

    def chat_many(self, conversations: Sequence[Sequence[Message]], max_tokens: int = 128, temperature: float = 0.0) -> list[str]:
        return [self.chat(c, max_tokens=max_tokens, temperature=temperature) for c in conversations]

    def _post(self, path: str, payload: dict) -> str:
        url = self.base_url + path
        body = json.dumps(payload).encode()
        headers = {"Content-Type": "application/json", "Accept": "application/json"}
        if self._api_key:
            headers["Authorization"] = f"Bearer {self._api_key}"
        last, retry_after = "no attempt", None
        for attempt in range(self.max_retries + 1):
            if attempt:
                wait = min(self.max_backoff, self.backoff * 2 ** (attempt - 1))
                if retry_after is not None:
                    wait = min(self.max_backoff, max(wait, retry_after))
                log.info("LLM %s: %s; retry %d/%d in %.2fs", url, last, attempt, self.max_retries, wait)
                time.sleep(wait)
            self.attempts += 1
            try:
                return self._once(url, body, headers)
            except _Retryable as e:
                last, retry_after = self._redact(str(e)), e.retry_after
        raise LLMError(f"LLM server {url}: no usable answer after {self.max_retries + 1} attempts; last: {last}")

    def _once(self, url: str, body: bytes, headers: dict[str, str]) -> str:
        req = urllib.request.Request(url, data=body, headers=headers, method="POST")
        try:
            with urllib.request.urlopen(req, timeout=self.timeout) as resp:
                raw = resp.read()
        except urllib.error.HTTPError as e:
            detail = self._redact(e.read(300).decode("utf-8", "replace").strip().replace("\n", " ")) if e.fp else ""
            if e.code in _RETRY_STATUS or e.code >= 500:
                ra = e.headers.get("Retry-After") if e.headers else None
                raise _Retryable(f"HTTP {e.code}", float(ra) if ra and ra.replace(".", "", 1).isdigit() else None) from None
            raise LLMError(f"LLM server {url}: HTTP {e.code} {e.reason}: {detail[:200]}") from None
        except (urllib.error.URLError, TimeoutError, socket.timeout, ConnectionError, http.client.HTTPException) as e:
            reason = getattr(e, "reason", e)
            raise _Retryable(f"{type(e).__name__}: {reason}") from None
        try:
            data = json.loads(raw)
            content = data["choices"][0]["message"]["content"]
        except (ValueError, KeyError, IndexError, TypeError):
            raise _Retryable(f"malformed answer ({len(raw)} bytes, not an OpenAI chat completion)") from None
        if not isinstance(content, str):
            raise _Retryable("malformed answer (message content is not a string)")
        return content
