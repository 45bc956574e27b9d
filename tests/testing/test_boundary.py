"""Shipped code never imports ``meshctl.testing``; test support stays out of the runtime."""

import ast
from pathlib import Path

import meshctl

PACKAGE = Path(meshctl.__file__).parent


def imports_of(tree: ast.Module) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            names.add(node.module)
    return names


def test_no_shipped_module_imports_the_test_support() -> None:
    offenders = [
        str(path.relative_to(PACKAGE))
        for path in PACKAGE.rglob("*.py")
        if "testing" not in path.relative_to(PACKAGE).parts[:1]
        and any(
            name == "meshctl.testing" or name.startswith("meshctl.testing.")
            for name in imports_of(ast.parse(path.read_text(encoding="utf-8")))
        )
    ]
    assert offenders == []
