"""No module of motiad imports another module's private (underscore) name: what
two modules share is public and documented where it lives (issue #16)."""

from __future__ import annotations

import ast
from pathlib import Path

SOURCE = Path(__file__).resolve().parents[1] / "src" / "motiad"


def test_no_module_imports_a_private_name() -> None:
    found = []
    for path in sorted(SOURCE.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.ImportFrom):
                found += [
                    f"{path.relative_to(SOURCE)}: from {'.' * node.level}{node.module or ''}"
                    f" import {alias.name}"
                    for alias in node.names
                    if alias.name.startswith("_") and not alias.name.startswith("__")
                ]
    assert found == []
