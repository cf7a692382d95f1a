"""One way to register things by name: tasks, losses, methods, attackers, critics, selection
policies and LLM backends are each a `Registry`.

A registry maps a name to an object (a class, a function, a spec) and is filled by its
``register`` decorator where the object is defined, in the style of Hugging Face's auto classes::

    ATTACKERS = Registry("attacker")

    @ATTACKERS.register("pool")
    class PoolAttacker: ...

Looking up an unknown name raises a one-line `ConfigError` that lists the known names and
suggests the nearest ones ("did you mean ...?"); `check` is the same test for config validators.

Registering a second object under a taken name is an error, unless it redefines the same
function or class (same module and qualified name: a notebook cell or script run again), which
replaces the first. `code_identity` gives user code a hash of its source, for cache keys.
"""

from __future__ import annotations

import difflib
import hashlib
import inspect
import re
from collections.abc import Callable, Iterator
from typing import Generic, TypeVar

from .errors import ConfigError

T = TypeVar("T")


def first_sentence(doc: str | None) -> str:
    """The first sentence of a docstring, on one line."""
    para = " ".join((doc or "").strip().split("\n\n")[0].split())
    end = re.search(r"(?<!e\.g)(?<!\bal)\.\s+(?=[A-Z])", para)  # not after "et al." or "e.g."
    return para if end is None else para[: end.start() + 1]


def unknown_name(kind: str, name: object, known: list[str], error: type[Exception] = ConfigError) -> Exception:
    """The error for an unknown name: the known names, and the nearest ones if any are close."""
    near = difflib.get_close_matches(str(name), known, n=3, cutoff=0.6)
    hint = f" (did you mean {' or '.join(repr(n) for n in near)}?)" if near else ""
    return error(f"unknown {kind} {name!r}{hint}; known: {', '.join(known) or 'none'}")


def _origin(obj: object) -> tuple[str, str] | None:
    """Where `obj` (unwrapped) was defined: its module and qualified name; None for an object
    without a name of its own (an instance), which only itself redefines."""
    obj = inspect.unwrap(obj) if callable(obj) else obj
    name = getattr(obj, "__qualname__", None)
    return None if name is None else (getattr(obj, "__module__", ""), name)


def code_identity(obj: object) -> str | None:
    """None for an object the superalign package defines (its code is keyed by the package and
    stage versions); for anything else, a hash of its source (unwrapped; the bytecode and
    constants where the source cannot be read), so that editing a registered user function
    recomputes what was cached under it. Only the object's own source counts, not the helpers it calls."""
    obj = inspect.unwrap(obj) if callable(obj) else obj
    module = getattr(obj, "__module__", None) or ""
    if module == "superalign" or module.startswith("superalign."):
        return None
    try:
        text = inspect.getsource(obj)  # type: ignore[arg-type]
    except (OSError, TypeError):
        code = getattr(obj, "__code__", None)
        text = repr((code.co_code, code.co_consts)) if code is not None else repr(obj)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


class Registry(Generic[T]):
    """Name -> object, filled by the `register` decorator; read like a read-only mapping."""

    def __init__(self, kind: str, error: type[Exception] = ConfigError):
        self.kind, self.error = kind, error
        self._items: dict[str, T] = {}

    def register(self, name: str) -> Callable[[T], T]:
        """Decorator: register the decorated object under `name` (a second one is an error)."""

        def deco(obj: T) -> T:
            self.add(name, obj)
            return obj

        return deco

    def add(self, name: str, obj: T) -> None:
        """Register `obj` under `name` (for objects that are not defined by a decorated statement)."""
        old = self._items.get(name)
        if old is not None and old is not obj and (_origin(old) is None or _origin(old) != _origin(obj)):
            raise ValueError(f"{self.kind} {name!r} is registered twice")
        self._items[name] = obj

    def unknown(self, name: object) -> Exception:
        """The error for an unknown name (see `unknown_name`)."""
        return unknown_name(self.kind, name, list(self._items), self.error)

    def get(self, name: str) -> T:
        """The object registered as `name`, or the registry's error (a `ConfigError` unless given) with suggestions."""
        try:
            return self._items[name]
        except (KeyError, TypeError):
            raise self.unknown(name) from None

    def check(self, name: str) -> str:
        """`name` if it is registered (for pydantic validators; their ValueError carries the hint)."""
        if name not in self._items:
            raise ValueError(str(self.unknown(name)))
        return name

    def summary(self, name: str) -> str:
        """The first sentence of the registered object's docstring."""
        return first_sentence(getattr(self.get(name), "__doc__", None))

    def names(self) -> list[str]:
        return list(self._items)

    def items(self):
        return self._items.items()

    def values(self):
        return self._items.values()

    def keys(self):
        return self._items.keys()

    def __getitem__(self, name: str) -> T:
        return self.get(name)

    def __contains__(self, name: object) -> bool:
        return name in self._items

    def __iter__(self) -> Iterator[str]:
        return iter(self._items)

    def __len__(self) -> int:
        return len(self._items)

    def __repr__(self) -> str:
        return f"Registry({self.kind!r}: {', '.join(self._items)})"
