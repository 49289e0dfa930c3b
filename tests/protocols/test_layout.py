"""The namespace layout: one distribution, four slices, no stray toolmesh/__init__.py."""

from __future__ import annotations

import ast
import importlib
from pathlib import Path

import toolmesh

ROOT = Path(__file__).resolve().parents[2]
SLICES = ("protocols", "servers", "agents", "registry")


def test_namespace_spans_the_four_slices() -> None:
    folders = {Path(p).resolve() for p in toolmesh.__path__}
    assert folders == {ROOT / s / "toolmesh" for s in SLICES}


def test_no_stray_namespace_init() -> None:
    assert not any((ROOT / s / "toolmesh" / "__init__.py").exists() for s in SLICES)


def test_each_slice_imports() -> None:
    for s in SLICES:
        module = importlib.import_module(f"toolmesh.{s}")
        assert Path(module.__file__ or "").resolve().is_relative_to(ROOT / s)


def test_protocols_imports_no_other_slice() -> None:
    offenders = []
    for path in (ROOT / "protocols").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            offenders += [
                f"{path.relative_to(ROOT)} imports {n}"
                for n in names
                if n.split(".")[:2]
                in (["toolmesh", "servers"], ["toolmesh", "agents"], ["toolmesh", "registry"])
            ]
    assert offenders == []
