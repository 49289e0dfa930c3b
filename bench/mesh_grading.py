"""Gold and grading for bench/mesh_quality.py: every gold is computed from the sample data itself.

- ``gold_sql`` (and ``gold_sql_alternatives``) run on the sample shop database; the answer must contain
  the cells of the first ``max_rows`` rows (of ``check_columns``, default all): numbers within rounding,
  text case-insensitively.
- ``gold_doc`` = {file, phrases}: the answer cites that handbook file and contains every phrase.
- ``gold_code`` = {symbol, file}: the answer gives ``file:LINE`` of the definition, LINE read with ``ast``.
- ``gold_callers`` = {symbol}: every function of the shop code that calls it (by ``ast``) is named.
- ``gold_trace`` = {file, function}: the answer names the function and the file of the innermost frame.
- ``expect = "unanswerable"``: the mesh must not claim an answer (task failed, or the part marked not
  answered); ``expect = "clarify"``: it must ask (input-required) — then ``reply`` resumes it and the gold
  applies to the resumed answer.
"""

from __future__ import annotations

import ast
import re
import sqlite3
from pathlib import Path
from typing import Any

_NUMBER = re.compile(r"-?\d[\d,]*(?:\.\d+)?")


def _numbers(text: str) -> list[float]:
    out = []
    for raw in _NUMBER.findall(text):
        try:
            out.append(float(raw.replace(",", "")))
        except ValueError:
            continue
    return out


def _has_value(answer: str, value: Any, numbers: list[float]) -> bool:
    if value is None:
        return True
    if isinstance(value, bool):
        value = int(value)
    if isinstance(value, int | float):
        target = float(value)
        tolerance = 1e-9 if target.is_integer() else max(0.006, abs(target) * 1e-4)  # 2-decimal rounding
        return any(abs(n - target) <= tolerance for n in numbers)
    text = " ".join(str(value).split()).lower()
    return text in " ".join(answer.split()).lower()


def sql_gold(db: Path, sql: str) -> tuple[list[str], list[tuple[Any, ...]]]:
    conn = sqlite3.connect(f"{db.as_uri()}?mode=ro", uri=True)
    try:
        cur = conn.execute(sql)
        columns = [d[0] for d in cur.description]
        return columns, cur.fetchall()
    finally:
        conn.close()


def check_sql(answer: str, db: Path, spec: dict[str, Any]) -> tuple[bool, str]:
    numbers = _numbers(answer)
    tried = [spec["gold_sql"], *spec.get("gold_sql_alternatives", [])]
    wanted = spec.get("check_columns") or []
    max_rows = int(spec.get("max_rows", 5))
    reasons = []
    for sql in tried:
        columns, rows = sql_gold(db, sql)
        idx = [columns.index(c) for c in wanted if c in columns] or list(range(len(columns)))
        missing = [row[i] for row in rows[:max_rows] for i in idx if not _has_value(answer, row[i], numbers)]
        if not missing:
            return True, "matches the gold rows"
        reasons.append(f"missing {missing[:4]}")
    return False, "; ".join(reasons)


def definition_line(root: Path, file: str, symbol: str) -> int | None:
    tree = ast.parse((root / file).read_text(encoding="utf-8"))
    name = symbol.split(".")[-1]
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef) and node.name == name:
            return node.lineno
        if isinstance(node, ast.Assign) and any(
            isinstance(t, ast.Name) and t.id == name for t in node.targets
        ):
            return node.lineno
    return None


def callers_of(root: Path, symbol: str) -> set[str]:
    """Functions (qualified by class for methods) anywhere under ``root`` that call ``symbol`` by name."""
    name = symbol.split(".")[-1]
    found: set[str] = set()
    for path in root.rglob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                continue
            for call in ast.walk(node):
                if isinstance(call, ast.Call):
                    func = call.func
                    called = (
                        func.id
                        if isinstance(func, ast.Name)
                        else func.attr
                        if isinstance(func, ast.Attribute)
                        else None
                    )
                    if called == name and node.name != name:
                        found.add(node.name)
    return found


def cites(answer: str, file: str) -> bool:
    return bool(re.search(rf"(?:^|[/\s(]){re.escape(file)}(?::\d|\b)", answer))


def grade(
    spec: dict[str, Any], answer: str, state: str, kind: str, *, db: Path, shop: Path
) -> tuple[bool, str]:
    """Whether the mesh's final answer is right for ``spec``, and why."""
    expect = spec.get("expect", "answer")
    if expect == "unanswerable":
        claimed = state == "completed" and kind == "answered"
        return (not claimed, "declined" if not claimed else "claimed an answer")
    if state != "completed":
        return False, f"ended {state}"
    checks: list[tuple[bool, str]] = []
    for part in spec.get("parts") or [spec]:
        if "gold_sql" in part:
            checks.append(check_sql(answer, db, part))
        if "gold_doc" in part:
            gold = part["gold_doc"]
            missing = [p for p in gold.get("phrases", []) if p.lower() not in answer.lower()]
            ok = cites(answer, gold["file"]) and not missing
            checks.append(
                (ok, "cites the passage" if ok else f"no citation of {gold['file']} or missing {missing}")
            )
        if "gold_code" in part:
            gold = part["gold_code"]
            line = definition_line(shop, gold["file"], gold["symbol"])
            ok = line is not None and f"{gold['file']}:{line}" in answer
            checks.append((ok, f"{gold['file']}:{line}" + (" given" if ok else " not given")))
        if "gold_callers" in part:
            names = callers_of(shop, part["gold_callers"]["symbol"])
            missing = sorted(n for n in names if n not in answer)
            checks.append((bool(names) and not missing, f"callers {sorted(names)}; missing {missing}"))
        if "gold_trace" in part:
            gold = part["gold_trace"]
            ok = gold["function"] in answer and cites(answer, gold["file"])
            checks.append((ok, "frame located" if ok else "frame not located"))
    if not checks:
        return False, "the question has no gold"
    return all(ok for ok, _ in checks), "; ".join(why for _, why in checks)
