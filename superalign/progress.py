"""A rich progress bar over a known number of steps, or a no-op when disabled."""

from __future__ import annotations

from collections.abc import Callable


class progress_bar:  # noqa: N801  (used like a function: ``with progress_bar(on, n) as tick``)
    """``with progress_bar(enabled, total) as tick: tick("step name")`` advances a transient bar."""

    def __init__(self, enabled: bool, total: int):
        self.enabled, self.total = enabled, total

    def __enter__(self) -> Callable[[str], None]:
        if not self.enabled:
            return lambda _: None
        from rich.progress import Progress

        self._p = Progress(transient=True)
        self._p.start()
        task = self._p.add_task("stages", total=self.total)
        return lambda desc: self._p.update(task, advance=1, description=desc)

    def __exit__(self, *exc: object) -> None:
        if self.enabled:
            self._p.stop()
