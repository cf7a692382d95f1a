"""Your own registered code, known to every command: modules or ``.py`` files named in
``SUPERALIGN_PLUGINS`` (or ``superalign --plugin FILE``) are imported before a command runs.

A loss, intervention, task, attacker or critic registered in your own file is then usable by name
from the CLI, configs and sweeps, as the built-in ones are::

    superalign --plugin examples/extend.py run --methods xent,sharpen
    SUPERALIGN_PLUGINS=my_methods.py,my_pkg.tasks superalign sweep sweep.yaml --workers 2

Entries are comma-separated; each is a path to a ``.py`` file (imported as the module
``superalign_plugin_<stem>``) or an importable module name. Sweep workers import them too: local
workers inherit the environment, Ray tasks get it in their runtime environment (on a cluster the
files must be at the same path on every node). Importing again re-registers (a redefinition, see
`superalign.registry`), so the same plugin may be loaded twice in one process.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import sys
from pathlib import Path

from .errors import ConfigError

ENV = "SUPERALIGN_PLUGINS"


def plugin_entries(spec: str | None = None) -> list[str]:
    """The entries of `spec` (default: ``$SUPERALIGN_PLUGINS``), in order, without blanks."""
    raw = os.environ.get(ENV, "") if spec is None else spec
    return [e.strip() for e in raw.split(",") if e.strip()]


_LOADED: set[str] = set()


def ensure_plugins() -> None:
    """Load the plugins of ``$SUPERALIGN_PLUGINS`` this process has not loaded yet (commands and
    sweep workers call it once per process; each job of a worker calls it again for free)."""
    for entry in plugin_entries():
        if entry not in _LOADED:
            _load(entry)
            _LOADED.add(entry)


def absolute(entries: list[str]) -> list[str]:
    """File entries made absolute (workers may run elsewhere, e.g. Ray's), module names as given."""
    return [str(Path(e).expanduser().resolve()) if _is_file(e) else e for e in entries]


def _is_file(entry: str) -> bool:
    return entry.endswith(".py") or os.sep in entry


def load_plugins(spec: str | None = None) -> list[str]:
    """Import every plugin of `spec` (default: ``$SUPERALIGN_PLUGINS``); returns their module names.
    A missing file or a failing import is a one-line `ConfigError` naming the plugin."""
    return [_load(entry) for entry in plugin_entries(spec)]


def _load(entry: str) -> str:
    try:
        if _is_file(entry):
            path = Path(entry).expanduser().resolve()
            if not path.is_file():
                raise ConfigError(f"plugin {entry!r}: no such file")
            name = f"superalign_plugin_{path.stem}"
            spec = importlib.util.spec_from_file_location(name, path)
            module = importlib.util.module_from_spec(spec)
            sys.modules[name] = module  # dataclasses and pickling look modules up by name
            try:
                spec.loader.exec_module(module)
            except BaseException:
                del sys.modules[name]
                raise
            return name
        if entry in sys.modules:
            importlib.reload(sys.modules[entry])
        else:
            importlib.import_module(entry)
        return entry
    except ConfigError:
        raise
    except Exception as e:  # the user's code failed to import: say which plugin and why, on one line
        first = str(e).splitlines()[0] if str(e) else ""
        raise ConfigError(f"plugin {entry!r} failed to import: {type(e).__name__}: {first}") from None
