"""The package keeps its layers: no module imports from above it or another's private names.

The layers, lowest first, as docs/architecture.md draws them; a module may
import from its own layer or any below. ``testing`` supports tests and may
import anything below the command; shipped code never imports it.
"""

from __future__ import annotations

import ast
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "meshctl"

LAYERS: dict[str, int] = {
    "errors": 0, "_version": 0, "config": 0, "proto": 0,
    "core": 1,
    "registry": 2, "transport": 2, "events": 2,
    "mesh": 3,
    "services": 4, "orchestrator": 4, "loadtest": 4, "tui": 4, "embedded": 4,
    "samples": 4, "catalog": 4,
    "testing": 5,
    "cli": 6,
    "__main__": 7, "__init__": 7,
}  # fmt: skip

# Violations (as reported) allowed for a stated reason. Keep it empty: move the thing down.
ALLOWED: set[str] = set()


def modules() -> Iterator[tuple[Path, str, ast.Module]]:
    for path in sorted(PACKAGE.rglob("*.py")):
        rel = path.relative_to(PACKAGE)
        if rel.parts[0] == "proto":  # generated code
            continue
        name = ".".join(("meshctl", *rel.with_suffix("").parts)).removesuffix(".__init__")
        yield rel, name, ast.parse(path.read_text(encoding="utf-8"))


def top_of(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def imported(node: ast.ImportFrom, module: str, is_package: bool) -> str | None:
    """The absolute name an ``import from`` refers to, or None when it is not meshctl's."""
    if node.level:
        base = module.split(".")
        base = base if is_package else base[:-1]
        base = base[: len(base) - node.level + 1]
        return ".".join([*base, *([node.module] if node.module else [])])
    if node.module and node.module.split(".")[0] == "meshctl":
        return node.module
    return None


def own_names(tree: ast.Module) -> set[str]:
    """Private names a module defines itself (it may use them on any object of its own)."""
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and isinstance(node.ctx, ast.Store):
            names.add(node.attr)
        elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            names.add(node.name)
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            names.add(node.target.id)
        elif isinstance(node, ast.Constant) and isinstance(node.value, str):
            names.add(node.value)  # __slots__ entries
    return names


def is_private(name: str) -> bool:
    return name.startswith("_") and not name.startswith("__") and name != "_version"


def violations() -> list[str]:
    found: list[str] = []
    for rel, module, tree in modules():
        layer = LAYERS.get(top_of(module))
        assert layer is not None, f"{rel}: add its top-level module to LAYERS"
        own = own_names(tree)
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom):
                target = imported(node, module, rel.name == "__init__.py")
                if target is None:
                    continue
                target_layer = LAYERS.get(top_of(target), 0)
                if target_layer > layer:
                    found.append(f"upward: {rel}:{node.lineno} imports {target}")
                found += [
                    f"private: {rel}:{node.lineno} imports {alias.name} from {target}"
                    for alias in node.names
                    if is_private(alias.name) and target != module
                ]
            elif isinstance(node, ast.Import):
                found += [
                    f"upward: {rel}:{node.lineno} imports {alias.name}"
                    for alias in node.names
                    if alias.name.startswith("meshctl.")
                    and LAYERS.get(top_of(alias.name), 0) > layer
                ]
            elif isinstance(node, ast.Attribute) and is_private(node.attr):
                owner = node.value
                mine = isinstance(owner, ast.Name) and owner.id in ("self", "cls")
                if not mine and node.attr not in own:
                    found.append(f"private: {rel}:{node.lineno} {ast.unparse(owner)}.{node.attr}")
    return found


def test_no_module_reaches_up_or_into_private_names():
    found = [v for v in violations() if v not in ALLOWED]
    assert found == [], "\n".join(found)


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("from meshctl.cli.app import app", "upward"),
        ("from meshctl.core.breaker import _TRANSITIONS", "private"),
        ("import meshctl.cli.app", "upward"),
        ("def f(r):\n    return r._fetch()", "private"),
    ],
)
def test_the_walk_sees_each_kind_of_reach(tmp_path, monkeypatch, source, expected):
    package = tmp_path / "meshctl" / "core"
    package.mkdir(parents=True)
    (package / "bad.py").write_text(source + "\n")
    monkeypatch.setattr(sys.modules[__name__], "PACKAGE", tmp_path / "meshctl")
    assert [v.split(":")[0] for v in violations()] == [expected]
