"""One model on an OpenAI-compatible server, through the official `openai` client: configuration,
retries and key redaction, shared by the chat backend and the completions policy (`.http`).

Configuration comes from arguments or the environment: ``SUPERALIGN_LLM_BASE_URL`` (e.g.
``http://127.0.0.1:8000/v1``), ``SUPERALIGN_LLM_MODEL``, ``SUPERALIGN_LLM_API_KEY`` (each falls back
to ``OPENAI_BASE_URL`` / ``OPENAI_MODEL`` / ``OPENAI_API_KEY``). The `openai` client retries
timeouts, connection errors and HTTP 408/409/429/5xx; retry k waits ``min(max_backoff, backoff *
2**(k-1))`` seconds, or longer when the server's ``Retry-After`` asks for it (still capped at
``max_backoff``). A 200 answer that is not a usable completion is retried here, within the same
budget of ``max_retries + 1`` requests. Other HTTP errors fail at once. The API key is sent only in
the ``Authorization`` header (no header without a key): it is never part of ``repr``, ``key``, an
error message or a log record (any echo of it, e.g. in a server's error body or in the response
headers that httpcore2 logs at DEBUG, is redacted).
"""

from __future__ import annotations

import logging
import os
import time
import urllib.parse
from collections.abc import Callable
from typing import Any, Self, TypeVar

from .base import LLMError

log = logging.getLogger(__name__)

T = TypeVar("T")
_RETRY_STATUS = {408, 409, 429}  # and >= 500: what the openai client retries


def _env(*names: str) -> str | None:
    for n in names:
        v = os.environ.get(n)
        if v:
            return v
    return None


class _Redact(logging.Filter):
    """Puts *** for the API keys in use in the records of the loggers a request passes through.

    The SDK redacts the ``Authorization`` header and logs no bodies, but httpcore2 logs the
    response headers at DEBUG, and a server may echo the key anywhere.
    """

    loggers = (
        "openai._base_client",
        "openai._response",
        "httpx2",
        "httpcore2.connection",
        "httpcore2.http11",
        "httpcore2.http2",
        "httpcore2.proxy",
    )

    def __init__(self) -> None:
        super().__init__()
        self.keys: set[str] = set()

    def filter(self, record: logging.LogRecord) -> bool:
        text = record.getMessage()
        if any(k in text for k in self.keys):
            for k in self.keys:
                text = text.replace(k, "***")
            record.msg, record.args = text, None
        return True


_REDACT = _Redact()


class Malformed(Exception):
    """A 200 answer that is not a usable completion (retried)."""


class StatusError(LLMError):
    """The server's last answer was an HTTP error: refused at once (4xx other than 408/409/429) or
    still failing when the retries were spent. `detail` is its (redacted) body."""

    def __init__(self, message: str, status: int, detail: str):
        super().__init__(message)
        self.status, self.detail = status, detail


class OpenAIServer:
    """One model on an OpenAI-compatible server: configuration, the `openai` client, retries, redaction.

    The shared base of the chat backend (`OpenAICompatibleLLM`) and the completions policy
    (`OpenAICompatiblePolicy`). `attempts` counts the HTTP requests sent, retries included.
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
        self.timeout, self.max_retries, self.backoff, self.max_backoff = timeout, max_retries, backoff, max_backoff
        self.key = f"openai:{name}@{url}"
        self.attempts = 0  # HTTP requests sent, retries included
        self._first = 0  # `attempts` when the current request began
        self._status: int | None = None  # HTTP status of the latest request's answer
        self._clients: dict[int, Any] = {}  # max_retries -> openai client, sharing one connection pool
        self._http: Any = None

    @classmethod
    def from_spec(cls, arg: str) -> Self:
        """The backend for spec ``openai:ARG``: ARG names the model (else ``SUPERALIGN_LLM_MODEL``)."""
        return cls(model=arg or None)

    def __repr__(self) -> str:
        key = "<set>" if self._api_key else None
        return f"{type(self).__name__}(model={self.model!r}, base_url={self.base_url!r}, api_key={key})"

    def _redact(self, text: str) -> str:
        return text.replace(self._api_key, "***") if self._api_key else text

    def _scrub(self, value: T) -> T:
        """A parsed answer with the key redacted from its text (a server or proxy may echo it back)."""
        if isinstance(value, str):
            return self._redact(value)  # type: ignore[return-value]
        if isinstance(value, list):
            return [self._redact(v) if isinstance(v, str) else v for v in value]  # type: ignore[return-value]
        return value

    def _client(self, max_retries: int) -> Any:
        """The openai client that retries `max_retries` times (one per retry budget, one connection pool)."""
        if max_retries not in self._clients:
            from .sdk import Client

            self._clients[max_retries] = Client(
                wait=self._wait,
                api_key=self._api_key or "unused",
                base_url=self.base_url,
                timeout=self.timeout,
                max_retries=max_retries,
                http_client=self._pool(),
            )
        return self._clients[max_retries]

    def _pool(self) -> Any:
        """The httpx2 client under the openai clients; its hooks count requests and note each answer's status."""
        if self._http is None:
            import openai

            if self._api_key:
                _REDACT.keys.add(self._api_key)
            for name in _REDACT.loggers:
                logging.getLogger(name).addFilter(_REDACT)
            self._http = openai.DefaultHttpxClient(event_hooks={"request": [self._sent], "response": [self._answered]})
        return self._http

    def _sent(self, request: Any) -> None:
        self.attempts += 1
        self._status = None

    def _answered(self, response: Any) -> None:
        self._status = response.status_code

    def _wait(self, retry_after: float | None, reason: str | None = None) -> float:
        """Seconds to wait before the next retry (logged with why)."""
        retry = self.attempts - self._first
        wait = min(self.max_backoff, self.backoff * 2 ** (retry - 1))
        if retry_after is not None and 0 < retry_after < float("inf"):
            wait = min(self.max_backoff, max(wait, retry_after))
        if reason is None:
            reason = f"HTTP {self._status}" if self._status is not None else "no answer (timeout or connection error)"
        log.info("LLM %s: %s; retry %d/%d in %.2fs", self.base_url, reason, retry, self.max_retries, wait)
        return wait

    def _request(self, endpoint: str, params: dict, parse: Callable[[Any], T]) -> T:
        """``parse(answer)`` for ``POST {base_url}/{endpoint}``; `parse` raises `Malformed` to retry."""
        import openai

        url = f"{self.base_url}/{endpoint}"
        auth = {} if self._api_key else {"extra_headers": {"Authorization": openai.omit}}
        self._first, budget, last = self.attempts, self.max_retries + 1, "no attempt"
        status: tuple[int, str] | None = None  # of the last answer, when it was a retried HTTP error
        while (sent := self.attempts - self._first) < budget:
            if sent:
                time.sleep(self._wait(None, last))
            client = self._client(budget - sent - 1)
            api = client.chat.completions if endpoint == "chat/completions" else client.completions
            try:
                answer = api.create(**params, **auth)
            except openai.APIStatusError as e:
                detail = self._redact(e.response.text.strip().replace("\n", " "))
                if e.status_code in _RETRY_STATUS or e.status_code >= 500:  # the client's retries are spent
                    last = f"HTTP {e.status_code}" + (f": {detail[:200]}" if detail else "")
                    status = e.status_code, detail
                    break
                raise StatusError(
                    f"LLM server {url}: HTTP {e.status_code} {e.response.reason_phrase}: {detail[:200]}",
                    e.status_code,
                    detail,
                ) from None
            except openai.APIConnectionError as e:  # timeouts included; the client's retries are spent
                cause = f" ({type(e.__cause__).__name__}: {e.__cause__})" if e.__cause__ else ""
                last = self._redact(f"{type(e).__name__}: {e}{cause}")
                break
            try:
                return self._scrub(parse(answer))
            except Malformed as e:
                last = f"malformed answer ({e})"
        message = f"LLM server {url}: no usable answer after {self.attempts - self._first} attempts; last: {last}"
        raise StatusError(message, *status) if status else LLMError(message)
