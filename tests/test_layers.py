"""The package's layers: every import (lazy ones inside functions included) points down.

    cli, __main__                                   the app
    sweep | report                                  grids of runs (local workers, Ray); figures and HTML reports
    redteam                                         the attacker-learner-critic loop on a generative learner
    w2s | oversight | generation                    the protocols: siblings, none imports another
    runconfig | judges                              the fields every run config shares; judges of generations
    models                                          encoders, classifiers, fine-tuning, the ladder, ModelFactory
    data | losses | llm | summaries                 tasks, W2S losses, generative backends, summary tables
    registry config store metrics progress assets plugins   the core
    errors                                          the exceptions every layer raises

Run ``python tests/test_layers.py [PACKAGE_DIR]`` to print the import graph between top-level
modules, the violations (if any) and the longest module.
"""

from __future__ import annotations

import ast
import sys
from collections import defaultdict
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "superalign"
LAYERS = [
    {"errors", "__init__"},
    {"registry", "config", "store", "metrics", "progress", "assets", "plugins"},
    {"data", "losses", "llm", "summaries"},
    {"models"},
    {"runconfig", "judges"},
    {"w2s", "oversight", "generation"},
    {"redteam"},
    {"sweep", "report"},
    {"cli"},
    {"__main__"},
]
MAX_LINES = 400


def unit(path: Path, root: Path) -> str:
    """The top-level module or subpackage a file belongs to (``models``, ``config``, ...)."""
    return path.relative_to(root).parts[0].removesuffix(".py")


def imports(path: Path, root: Path) -> set[str]:
    """Top-level superalign units that `path` imports anywhere in its body."""
    tree = ast.parse(path.read_text())
    package = path.relative_to(root).parent.parts  # the file's package below superalign
    out = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # relative: resolve against the file's package
                base = list(package[: len(package) - node.level + 1])
                target = base + (node.module.split(".") if node.module else [])
                names = [
                    ".".join(["superalign", *target, a.name]) if not target else ".".join(["superalign", *target])
                    for a in node.names
                ]
            else:
                names = [node.module or ""]
        else:
            continue
        for n in names:
            parts = n.split(".")
            if parts[0] == "superalign" and len(parts) > 1:
                out.add(parts[1])
    return out


def graph(root: Path = PACKAGE) -> dict[str, set[str]]:
    """Edges between top-level units (self-imports left out)."""
    edges: dict[str, set[str]] = defaultdict(set)
    for path in sorted(root.rglob("*.py")):
        src = unit(path, root)
        edges[src] |= {u for u in imports(path, root) if u != src}
        edges.setdefault(src, set())
    return dict(edges)


def layer(u: str) -> int:
    return next(i for i, names in enumerate(LAYERS) if u in names)


def violations(edges: dict[str, set[str]]) -> list[str]:
    return [f"{a} -> {b}" for a, deps in sorted(edges.items()) for b in sorted(deps) if layer(b) >= layer(a)]


def longest(root: Path = PACKAGE) -> tuple[int, str]:
    return max((len(p.read_text().splitlines()), str(p.relative_to(root.parent))) for p in root.rglob("*.py"))


def test_every_unit_has_a_layer():
    assert all(any(u in names for names in LAYERS) for u in graph()), sorted(graph())


def test_imports_point_down_and_siblings_stay_apart():
    assert violations(graph()) == []


def test_no_module_is_over_the_line_limit():
    lines, path = longest()
    assert lines <= MAX_LINES, f"{path} has {lines} lines"


if __name__ == "__main__":
    root = Path(sys.argv[1]).resolve() if len(sys.argv) > 1 else PACKAGE
    edges = graph(root)
    for a in sorted(edges, key=lambda u: (-layer(u) if any(u in n for n in LAYERS) else 99, u)):
        print(f"{a:10s} -> {', '.join(sorted(edges[a])) or '-'}")
    known = {u for names in LAYERS for u in names}
    bad = [
        f"{a} -> {b}" for a, deps in edges.items() for b in deps if a in known and b in known and layer(b) >= layer(a)
    ]
    print("upward or sideways imports:", ", ".join(sorted(bad)) or "none")
    lines, path = longest(root)
    print(f"longest module: {lines} lines ({path})")
