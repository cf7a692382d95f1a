"""Fill a light encoder's feature cache in a second process while this one works on a heavy one.

A cold run spends its first seconds importing sentence-transformers and loading the strong model,
on one core; the weak model's pass over its texts (static embeddings: numpy and tokenizers, no
torch) fits on another. The child writes into the same SQLite cache. The caller's own `encode`
afterwards reads the features back, or encodes whatever the child did not write, so a child that
fails costs time, never a result.

The child runs as ``python -m superalign.models.background JOB`` (not `multiprocessing`, which
would re-import the user's ``__main__``). The job is JSON: the encoder's class (which must be
light), its ``source`` and ``key`` (a light encoder is built as ``cls(source=..., key=...)``), the
cache folder and the texts.
"""

from __future__ import annotations

import importlib
import json
import logging
import os
import subprocess
import sys
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from .encoders import CachedEncoder

log = logging.getLogger(__name__)

MIN_MISSES = 512  # below this, starting a Python process costs more than the pass it would take over


def worth_a_process(light: CachedEncoder, texts: Sequence[str]) -> bool:
    """Whether `light` may encode `texts` in a second process (while this one is busy with a long
    pass of its own): the encoder says it is light (``light = True``: no accelerator, little memory,
    built from its ``source`` and ``key``) and misses at least `MIN_MISSES` of the texts."""
    buildable = getattr(light.inner, "light", False) and hasattr(light.inner, "source")
    return buildable and light.count_missing(texts) >= MIN_MISSES


@contextmanager
def encoding_beside(light: CachedEncoder, texts: Sequence[str]) -> Iterator[None]:
    """Encode `texts` into `light`'s cache in a child process while the body runs; wait for it at
    the end of the body (kill it if the body raises). Encode with `light` afterwards as usual."""
    with tempfile.TemporaryDirectory(prefix="superalign-encode-") as tmp:
        job, errors = Path(tmp) / "job.json", Path(tmp) / "stderr.txt"
        inner = light.inner
        spec = {"class": [type(inner).__module__, type(inner).__qualname__], "source": inner.source, "key": inner.key}
        job.write_text(json.dumps({"encoder": spec, "cache": str(light.path.parent), "texts": list(texts)}))
        with errors.open("wb") as err:
            try:
                child = subprocess.Popen(
                    [sys.executable, "-P", "-m", __name__, str(job)],
                    env=_same_package_env(),
                    stdout=subprocess.DEVNULL,
                    stderr=err,
                )
            except OSError as e:  # no usable interpreter (an embedded Python): encode here instead
                log.info("cannot start a process to encode with %s (%s)", light.key, e)
                yield
                return
            try:
                yield
            except BaseException:
                child.kill()
                child.wait()
                raise
            if child.wait() != 0:
                last = (errors.read_text(errors="replace").strip().splitlines() or ["no message"])[-1]
                log.info("encoding with %s in a second process failed (%s); encoding here", light.key, last)


def _same_package_env() -> dict[str, str]:
    """The environment for the child, with this process's copy of superalign first on its path
    (and ``-P`` keeping the working directory off it): a checkout in the working directory must
    not write features under this code's keys."""
    root = str(Path(__file__).resolve().parents[2])
    return {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [root, os.environ.get("PYTHONPATH")]))}


def _fill(job: Path) -> None:
    """The child: build the job's light encoder and encode its texts into its cache folder."""
    work = json.loads(job.read_text())
    module, name = work["encoder"]["class"]
    cls = getattr(importlib.import_module(module), name)
    if not getattr(cls, "light", False):
        raise TypeError(f"{module}.{name} is not a light encoder")
    inner = cls(source=work["encoder"]["source"], key=work["encoder"]["key"])
    CachedEncoder(inner, Path(work["cache"])).encode(work["texts"])


if __name__ == "__main__":
    _fill(Path(sys.argv[1]))
