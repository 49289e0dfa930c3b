"""Definition accuracy against gold derived independently: Python's ``ast`` over a real installed package.

For every class and function name defined exactly once in the package, ``find_symbol(name)``'s first hit
must be that definition (same file, same ``def``/``class`` line). The default run uses ``rich`` (about 100
files, already installed); the slow run uses Django (about 900 files).
"""

from __future__ import annotations

import ast
import importlib.util
from collections import Counter
from pathlib import Path

import pytest

from toolmesh.servers.code import lookup
from toolmesh.servers.code.service import CodeService
from toolmesh.servers.code.settings import CodeSettings


def ast_gold(root: Path) -> dict[str, tuple[str, int, str]]:
    """name -> (relative path, line, qualified name) for class/function names defined exactly once."""
    found: list[tuple[str, str, int, str]] = []
    for path in sorted(root.rglob("*.py")):
        if "__pycache__" in path.parts:
            continue
        rel = path.relative_to(root).as_posix()
        try:
            tree = ast.parse(path.read_bytes())
        except SyntaxError:
            continue

        def visit(node: ast.AST, prefix: str, rel: str = rel) -> None:
            for child in ast.iter_child_nodes(node):
                if isinstance(child, ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
                    qual = f"{prefix}{child.name}"
                    found.append((child.name, rel, child.lineno, qual))
                    visit(child, qual + ".")
                else:
                    visit(child, prefix)

        visit(tree, "")
    counts = Counter(name for name, *_ in found)
    return {name: (rel, line, qual) for name, rel, line, qual in found if counts[name] == 1}


def recall_at_1(service: CodeService, gold: dict[str, tuple[str, int, str]]) -> tuple[float, list[str]]:
    misses = []
    for name, (rel, line, _qual) in gold.items():
        hits = lookup.find_symbol(service.index, name, limit=1).hits
        if not hits or (hits[0].path, hits[0].line) != (rel, line):
            misses.append(name)
    return 1 - len(misses) / len(gold), misses


def _package_root(name: str) -> Path:
    spec = importlib.util.find_spec(name)
    if spec is None or spec.origin is None:
        pytest.skip(f"{name} is not installed")
    return Path(spec.origin).parent


def _check(package: str, tmp_path: Path, minimum: int) -> None:
    root = _package_root(package)
    gold = ast_gold(root)
    assert len(gold) >= minimum
    service = CodeService(
        CodeSettings(root=root, index_path=tmp_path / "gold.sqlite", index_references=False)
    )
    service.refresh_now()
    recall, misses = recall_at_1(service, gold)
    assert recall >= 0.99, f"recall@1 {recall:.4f}; first misses: {misses[:20]}"

    # Qualified names agree with ast's nesting too.
    qual_hits = 0
    for name, (rel, line, qual) in list(gold.items())[:300]:
        hit = lookup.find_symbol(service.index, qual, limit=1).hits
        qual_hits += bool(hit) and (hit[0].qualname, hit[0].path, hit[0].line) == (qual, rel, line)
        assert name
    assert qual_hits / min(300, len(gold)) >= 0.99


def test_definitions_match_ast_gold_rich(tmp_path: Path) -> None:
    _check("rich", tmp_path, minimum=500)


@pytest.mark.slow
def test_definitions_match_ast_gold_django(tmp_path: Path) -> None:
    _check("django", tmp_path, minimum=3000)
