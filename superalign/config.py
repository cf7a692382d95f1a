"""Configuration plumbing shared by every config class: YAML files, dotted ``key=value``
overrides, validation errors on one line, and content hashes.

The config classes live next to the code that uses them: `superalign.runconfig.RunConfig` (the
fields every run shares), `superalign.w2s.ExperimentConfig`, `superalign.oversight.LoopConfig`.
This module imports none of them.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

from .errors import ConfigError


def non_empty_unique(v: list) -> list:
    """Validator body: a list option must be non-empty and free of duplicates."""
    if not v:
        raise ValueError("must not be empty")
    if len(set(v)) != len(v):
        raise ValueError(f"has duplicates: {v}")
    return v


def content_hash(config: BaseModel, exclude: set[str] | None = None) -> str:
    """Short content hash of a resolved config (less the `exclude`d fields): a run's identity."""
    blob = json.dumps(config.model_dump(mode="json", exclude=exclude), sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()[:12]


def _parse_value(text: str) -> Any:
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError:
        return text


def apply_overrides(data: dict[str, Any], overrides: list[str]) -> dict[str, Any]:
    """Apply ``a.b.c=value`` overrides (values parsed as YAML: numbers, lists, booleans)."""
    for item in overrides:
        if "=" not in item:
            raise ConfigError(f"override {item!r} is not of the form key=value")
        key, value = item.split("=", 1)
        node = data
        parts = key.strip().split(".")
        for p in parts[:-1]:
            node = node.setdefault(p, {})
            if not isinstance(node, dict):
                raise ConfigError(f"override {item!r}: {p!r} is not a section")
        node[parts[-1]] = _parse_value(value)
    return data


def _merged(base: dict[str, Any], top: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for k, v in top.items():
        out[k] = _merged(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
    return out


def with_section_defaults(model: type[BaseModel], data: Any) -> Any:
    """`data` (a mapping about to validate as `model`) with every partial section laid over the
    values its field's default sets: ``sizes: {test: 128}`` keeps the other sizes a config's
    ``default_factory`` chose instead of falling back to the section class's own defaults. Only
    the values the default sets explicitly are laid under, so a section's unset fields stay unset."""
    if not isinstance(data, dict):
        return data
    out = dict(data)
    for name, field in model.model_fields.items():
        if isinstance(out.get(name), dict) and field.default_factory is not None:
            default = field.get_default(call_default_factory=True)
            if isinstance(default, BaseModel):
                out[name] = _merged(default.model_dump(exclude_unset=True), out[name])
    return out


def validation_message(e: ValidationError, what: str = "config") -> str:
    """The first error of a pydantic ValidationError as ``where: message`` on one line."""
    err = e.errors()[0]
    where = ".".join(str(x) for x in err["loc"]) or what
    return f"{where}: {err['msg']}"


C = TypeVar("C", bound=BaseModel)


def read_yaml(path: str | Path) -> dict[str, Any]:
    """The top-level mapping of a YAML file, or a one-line ConfigError."""
    p = Path(path)
    if not p.is_file():
        raise ConfigError(f"config file not found: {p}")
    try:
        loaded = yaml.safe_load(p.read_text())
    except yaml.YAMLError as e:
        raise ConfigError(f"{p}: invalid YAML: {str(e).splitlines()[0]}") from None
    if loaded is not None and not isinstance(loaded, dict):
        raise ConfigError(f"{p}: expected a mapping at the top level, got {type(loaded).__name__}")
    return loaded or {}


def load_config(model: type[C], path: str | Path | None = None, overrides: list[str] | None = None) -> C:
    """Defaults of `model`, then the YAML file, then overrides; a clear ConfigError on anything invalid."""
    data = read_yaml(path) if path is not None else {}
    data = apply_overrides(data, overrides or [])
    try:
        return model.model_validate(data)
    except ValidationError as e:
        raise ConfigError(f"invalid config: {validation_message(e)}") from None


def describe_fields(model: type[BaseModel]) -> list[str]:
    """One line per field of `model`: ``name=default (type in range)`` (range from ge/gt/le/lt)."""
    out = []
    for name, f in model.model_fields.items():
        bounds = {b: getattr(m, b) for m in f.metadata for b in ("ge", "gt", "le", "lt") if hasattr(m, b)}
        lo = f"[{bounds['ge']}" if "ge" in bounds else f"({bounds['gt']}" if "gt" in bounds else None
        hi = f"{bounds['le']}]" if "le" in bounds else f"{bounds['lt']})" if "lt" in bounds else None
        rng = "" if lo is None and hi is None else f" in {lo or '(-inf'}, {hi or 'inf)'}"
        kind = f.annotation.__name__ if isinstance(f.annotation, type) else str(f.annotation).replace("typing.", "")
        default = f.get_default(call_default_factory=True)
        out.append(f"{name}={default!r} ({kind}{rng})")
    return out
