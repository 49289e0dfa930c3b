"""Does the evidence answer the question asked? The reviewer's per-part relevance checks.

Each part of the goal is read with the same question analysis the planner uses, then held against the
evidence its answer cites:

- SQL: the statement computes what was asked (COUNT for "how many", SUM/AVG/MIN/MAX, ORDER BY … LIMIT for
  a ranking, GROUP BY for "per"/"by"), honours each year, number and negation the part names, and the
  rows have the shape asked for (one value for a count, at most N rows for a top N);
- documents: the cited passages contain most of the part's content terms (and every quoted phrase);
- code: the symbol the part names is in the code evidence; a callers question has callers;
- every answered part is cited in the answer; an answer whose citations point at evidence that does not
  cover the part is "fluent but irrelevant" and rejected.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence

from toolmesh.agents.evidence import Evidence
from toolmesh.agents.executor.engine import StepResult
from toolmesh.agents.question import Part, analyse_resolved, coverage, supported
from toolmesh.agents.reviewer.verdict import Issue, ReviewPart

__all__ = ["relevance_issues", "sql_problems"]

_CITE = re.compile(r"\[(\d{1,3})\]")
_AGGREGATES = {"count": "COUNT(", "sum": "SUM(", "avg": "AVG("}


def _literal_in(phrase: str, sql: str) -> bool:
    """Whether ``phrase`` is one of the SQL's string literals ("bank transfer" ~ 'bank_transfer')."""
    wanted = re.sub(r"[\s_-]+", " ", phrase.lower()).strip()
    return any(
        re.sub(r"[\s_-]+", " ", lit.lower()).strip() == wanted for lit in re.findall(r"'([^']*)'", sql)
    )


def sql_problems(part: Part, sql: str, rows: list[list[object]]) -> list[str]:
    """What keeps ``sql`` and its ``rows`` from answering ``part`` (empty when nothing does)."""
    problems: list[str] = []
    upper = sql.upper()
    a = part.analytic
    ask = part.ask
    accepted = (
        ("COUNT(", "SUM(") if ask == "count" else (_AGGREGATES.get(ask, "?"),)
    )  # "how many units": a sum
    if ask in _AGGREGATES and not any(f in upper for f in accepted) and "GROUP BY" not in upper:
        problems.append(f"it asks for a {ask}, and the SQL computes none")
    if ask in {"max", "min"} and not (f"{ask.upper()}(" in upper or "ORDER BY" in upper):
        problems.append(
            f"it asks for the {'highest' if ask == 'max' else 'lowest'} value, and the SQL ranks nothing"
        )
    if ask == "top" and ("ORDER BY" not in upper or "LIMIT" not in upper):
        problems.append("it asks for a ranking, and the SQL neither orders nor limits")
    grouped_by_value = a.group is not None and _literal_in(a.group, sql)  # "paid by paypal": a filter
    if (
        (a.group or a.time_group)
        and not grouped_by_value
        and "GROUP BY" not in upper
        and "ORDER BY" not in upper
    ):
        problems.append(f"it asks per {a.group or a.time_group}, and the SQL does not group")
    for date in a.dates:
        years = {y for y in re.findall(r"\d{4}", f"{date.start or ''} {date.end or ''}")}
        if years and not any(y in sql for y in years):
            problems.append(f"it names {date.label!r}, which the SQL does not filter on")
    for comparison in a.comparisons:
        if f"{comparison.value:g}" not in sql:
            problems.append(f"it compares with {comparison.value:g}, which the SQL does not")
    for _, number in a.ids:
        if str(number) not in sql:
            problems.append(f"it names {number}, which the SQL does not use")
    if a.negated and not re.search(r"!=|<>|\bNOT\b", upper):
        problems.append(f"it excludes {', '.join(a.negated)}, and the SQL excludes nothing")
    for quoted in part.quoted:
        if quoted.lower() not in sql.lower():
            problems.append(f"it names {quoted!r}, which the SQL does not use")
    if ask in {"count", "sum", "avg"} and not (a.group or a.time_group) and len(rows) > 1:
        problems.append(f"it asks for one {ask}, and {len(rows)} rows came back")
    if ask == "top" and a.limit and len(rows) > a.limit:
        problems.append(f"it asks for the top {a.limit}, and {len(rows)} rows came back")
    return problems


def _part_for(text: str, parts: Sequence[ReviewPart]) -> ReviewPart | None:
    return next((p for p in parts if p.text.strip() == text.strip()), None)


def relevance_issues(
    goal: str,
    answer: str,
    parts: Sequence[ReviewPart],
    results: Sequence[StepResult],
    evidence: Sequence[Evidence],
) -> list[Issue]:
    """Per-part relevance problems of ``answer`` (see the module docs); empty when every part is met."""
    if not parts:
        return []
    issues: list[Issue] = []
    cited = {int(n) for n in _CITE.findall(answer)}
    by_step: dict[str, list[Evidence]] = {}
    for item in evidence:
        by_step.setdefault(item.step_id, []).append(item)
    results_by_id = {r.step_id: r for r in results}
    for given in parts:
        label = f"{given.index + 1} ({given.text[:80]!r})"
        if given.status != "answered":
            issues.append(
                Issue(
                    code="unanswered",
                    severity="warning",
                    message=f"part {label} is not answered: {given.reason or given.status}",
                )
            )
            continue
        part = analyse_resolved(given.text)
        mine = [e for s in given.step_ids for e in by_step.get(s, [])]
        if not mine:
            issues.append(
                Issue(
                    code="not_addressed", severity="error", message=f"part {label} has no evidence behind it"
                )
            )
            continue
        shown = [e for e in mine if e.n in cited]
        if not shown:
            issues.append(
                Issue(
                    code="not_addressed",
                    severity="error",
                    message=f"part {label}: the answer cites none of its evidence "
                    f"({', '.join(f'[{e.n}]' for e in mine[:5])})",
                )
            )
            continue
        kinds = {e.kind for e in shown}
        problems: list[str] = []
        if "rows" in kinds:
            for item in [e for e in shown if e.kind == "rows"][:1]:
                sql = str(item.data.get("sql") or given.sql or "")
                rows = [r for r in item.data.get("rows") or [] if isinstance(r, list)]
                problems += [f"part {label}: {p}" for p in sql_problems(part, sql, rows)] if sql else []
        elif "citation" in kinds:
            terms = [t for t in part.terms if not t.isdigit()]
            text = " ".join(f"{' '.join(e.data.get('headings') or [])} {e.text}" for e in shown)
            if not supported(terms, text):
                missing = [t for t in terms if coverage([t], text) == 0]
                problems.append(
                    f"part {label}: the cited passages do not cover it (missing: {', '.join(missing[:6])})"
                )
            for quoted in part.quoted:
                if quoted.lower() not in text.lower():
                    problems.append(f"part {label}: no cited passage contains {quoted!r}")
        elif "code" in kinds:
            text = " ".join(f"{e.source} {e.text} {e.data.get('symbol') or ''}" for e in mine)
            for identifier in [] if part.traceback else part.identifiers:
                if identifier.split(".")[-1] not in text:
                    problems.append(f"part {label}: the code evidence does not show `{identifier}`")
            if part.ask == "callers":
                steps = [results_by_id[s] for s in given.step_ids if s in results_by_id]
                if not any(isinstance(r.structured, Mapping) and "callers" in r.structured for r in steps):
                    problems.append(f"part {label}: it asks who calls it, and the evidence lists no callers")
        issues += [Issue(code="wrong_shape", severity="error", message=m) for m in problems]
    return issues
