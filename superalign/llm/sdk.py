"""The official `openai` client with the caller's back-off schedule.

A module of its own so that `superalign.llm` imports `openai` (~0.4 s) only when a server is used.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import openai


class Client(openai.OpenAI):
    """`openai.OpenAI` that asks `wait(retry_after)` for the seconds to wait before each retry.

    The SDK's back-off is fixed (module constants: 0.5 s doubling up to 8 s, with jitter) and has no
    public setting. `_calculate_retry_timeout` is the one method the SDK consults for that wait, so
    it is the only override: which failures are retried (timeouts, connection errors, HTTP
    408/409/429/5xx, ``x-should-retry``) and the parsing of ``Retry-After`` stay the SDK's.
    Build a new client rather than calling ``with_options`` (the copy would not get `wait`).
    """

    def __init__(self, *, wait: Callable[[float | None], float], **kwargs: Any):
        self._superalign_wait = wait
        super().__init__(**kwargs)

    def _calculate_retry_timeout(self, remaining_retries: int, options: Any, response_headers: Any = None) -> float:
        return self._superalign_wait(self._parse_retry_after_header(response_headers))
