"""A local llama.cpp OpenAI-compatible server for a GGUF model (``llama-cpp-python[server]``).

`serve_gguf` starts ``python -m llama_cpp.server`` on 127.0.0.1 at a free port, waits until it
answers ``/v1/models`` and yields its base URL; the server stops when the block ends. Tests and
`bench/generation.py --llama-server` use it; vLLM or any other server is pointed at by URL instead.
"""

from __future__ import annotations

import contextlib
import importlib.util
import logging
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

from .base import LLMError

logger = logging.getLogger(__name__)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def serve_gguf(gguf: Path, alias: str = "smollm2", n_ctx: int = 2048, start_timeout: float = 120) -> Iterator[str]:
    """Serve `gguf` as model `alias`; yields ``http://127.0.0.1:PORT/v1``. LLMError if it cannot start."""
    if importlib.util.find_spec("llama_cpp") is None:
        raise LLMError('llama-cpp-python is not installed (pip install "llama-cpp-python[server]")')
    port = _free_port()
    cmd = [sys.executable, "-m", "llama_cpp.server", "--model", str(gguf), "--host", "127.0.0.1"]
    cmd += ["--port", str(port), "--n_ctx", str(n_ctx), "--model_alias", alias]
    with tempfile.TemporaryFile() as log:  # not a pipe: llama.cpp's load log would fill it and block the server
        proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT)
        base = f"http://127.0.0.1:{port}/v1"
        try:
            deadline = time.time() + start_timeout
            while True:
                try:
                    urllib.request.urlopen(f"{base}/models", timeout=2).read()
                    break
                except OSError:
                    if proc.poll() is not None or time.time() > deadline:
                        log.seek(0)
                        tail = log.read()[-300:].decode(errors="replace").strip().splitlines()
                        raise LLMError(f"llama.cpp server did not start: {tail[-1] if tail else 'no output'}") from None
                    time.sleep(0.5)
            yield base
        finally:
            if proc.poll() is not None:  # it died while serving (a crash): say how, with its last words
                log.seek(0)
                tail = log.read()[-600:].decode(errors="replace").strip()
                logger.error(
                    "llama.cpp server %s exited with status %s while serving:\n%s", base, proc.returncode, tail
                )
            proc.terminate()
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
