"""The answer: one grounded section per part of the question, every statement cited as ``[n]``.

:func:`write_brief` is the deterministic answer, written from the evidence alone: for a document part the
sentences of the best passages that cover the question, for a SQL part the computed value in a sentence
that says what was computed, with the SQL and the rows, for a code part the definition, callers or callees
with their locations, for a stack trace each frame mapped to its code. Parts that nothing answered are
listed with the reason — never answered with something else.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from toolmesh.agents.approvals import is_unapproved
from toolmesh.agents.evidence import Evidence, extract_evidence
from toolmesh.agents.executor.results import StepResult
from toolmesh.agents.planner.loop import Call, PartWork, Work
from toolmesh.agents.question import analyse, analyse_part, coverage, focus_terms, terms_of
from toolmesh.agents.reviewer.checks import ReviewPart, find_injections, redact_injections
from toolmesh.agents.reviewer.relevance import docs_problems
from toolmesh.agents.text2sql import Frame
from toolmesh.protocols.text import split_sentences

_PASSAGE_CHARS = 600

__all__ = ["Draft", "answer_steps", "describe_frame", "given_work", "write_brief"]


@dataclass(slots=True)
class Draft:
    text: str
    parts: list[ReviewPart]
    results: list[StepResult]
    evidence: list[Evidence] = field(default_factory=list)


def answer_steps(work: Work, pw: PartWork) -> list[StepResult]:
    """The results a part's answer stands on (the final lookup, not the probes that led to it)."""
    if pw.route == "docs":
        read = [r for _, r in pw.results(work, "read") if r.status == "ok"]
        if read:
            return read
    purposes = {
        "docs": ("probe:docs",),
        "sql": ("query",),
        "code": ("code",),
        "trace": ("trace",),
        "tool": ("probe:tool",),
    }.get(pw.route or "", ())
    if pw.route == "given":  # and the calls that were not approved: review must see what did not run
        return [r for _, r in pw.results(work) if r.status == "ok" or is_unapproved(r.status, r.error)]
    if pw.route == "schema":
        table = pw.memory.get("table")
        return [
            r
            for c, r in pw.results(work, "describe:table")
            if r.status == "ok" and table in c.arguments.values()
        ][:1]
    out = []
    for purpose in purposes:
        found = [r for _, r in pw.results(work, purpose) if r.status == "ok"]
        out += found[-1:]
    return out


def _best_sentences(
    terms: tuple[str, ...], text: str, headings: Sequence[str] = (), limit: int = 2
) -> list[str]:
    text = text.replace("**", "")
    for heading in headings:  # the snippet repeats its headings; the citation names them
        text = re.sub(r"#{1,6}\s*" + re.escape(heading) + r"\s*", " ", text)
    text = re.sub(r"(?:^|\s)#{1,6}(?=\s)", " ", text)
    text = re.sub(r"\s+", " ", redact_injections(text)).strip()
    sentences = [text[a:b].strip() for a, b in split_sentences(text)] or [text]
    sentences = [s for s in sentences if len(s) > 3] or [text]
    if sum(len(s) + 1 for s in sentences) <= _PASSAGE_CHARS:
        return sentences  # a short passage whole: its first sentence is often the answer its heading names
    scores = [coverage(terms, s) for s in sentences]
    best = max(range(len(sentences)), key=lambda i: (scores[i], -i))
    # The best sentence and what follows it (lists, conditions, amounts), within a passage's length.
    chosen = [best]
    room = _PASSAGE_CHARS - len(sentences[best])
    for i in range(best + 1, len(sentences)):
        if room <= 40:
            break
        if len(sentences[i]) > room:  # the rest of a long list, cut at a word
            sentences[i] = sentences[i][:room].rsplit(" ", 1)[0] + " …"
        chosen.append(i)
        room -= len(sentences[i])
    second = max((i for i in range(len(sentences)) if i not in chosen), key=lambda i: scores[i], default=None)
    if second is not None and scores[second] >= scores[best] and limit > 1:
        chosen.append(second)
    return [sentences[i] for i in sorted(chosen)]


def describe_frame(frame: Frame) -> str:
    """What a frame computes, in words ("count of orders where orders.status = 'cancelled'")."""
    if frame.aggregate == "count":
        what = (
            f"number of distinct {frame.distinct}"
            if frame.distinct
            else f"number of {frame.count_of or frame.base}"
        )
    elif frame.aggregate and frame.measure is not None:
        word = {"sum": "total", "avg": "average", "min": "minimum", "max": "maximum"}[frame.aggregate]
        factor = f"{frame.measure_factor} × " if frame.measure_factor is not None else ""
        what = f"{word} {factor}{frame.measure}"
    elif frame.order_by is not None:
        first = "highest" if frame.order != "asc" else "lowest"
        what = f"{frame.base} ranked by {frame.order_by} ({first} first)"
    else:
        what = f"{frame.base} rows"
    conditions = []
    dates: dict[str, list[str]] = {}
    for f in frame.filters:
        if f.kind == "date":
            dates.setdefault(str(f.column), []).append(f"{f.op} {f.value}")
        else:
            conditions.append(f"{f.column} {f.op} {json.dumps(f.value, ensure_ascii=False)}")
    conditions += [f"{col} {' and '.join(parts)}" for col, parts in dates.items()]
    if frame.group:
        what += " for each " + ", ".join(str(g) for g in frame.group)
    if frame.time_group is not None:
        what += f" per {frame.time_group[1]} of {frame.time_group[0]}"
    if conditions:
        what += " where " + " and ".join(conditions)
    if frame.having is not None:
        what += f", keeping groups with a count {frame.having[0]} {frame.having[1]:g}"
    return what


def _cell(value: Any) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _sql_section(pw: PartWork, item: Evidence) -> list[str]:
    rows = item.data.get("rows") or []
    columns = item.data.get("columns") or []
    lines: list[str] = []
    frame = pw.translation.frame if pw.translation is not None and pw.translation.sql == pw.sql else None
    label = describe_frame(frame) if frame is not None else "the query"
    if len(rows) == 1 and isinstance(rows[0], list) and len(rows[0]) == 1:
        lines.append(f"{label}: **{_cell(rows[0][0])}** [{item.n}]")
    elif len(rows) == 1 and isinstance(rows[0], list):
        row = ", ".join(f"{c} **{_cell(v)}**" for c, v in zip(columns, rows[0], strict=False))
        lines.append(f"{label}: {row} [{item.n}]")
    elif rows and isinstance(rows[0], list):
        head = ", ".join(f"{c} {_cell(v)}" for c, v in zip(columns, rows[0], strict=False))
        lines.append(f"{label}: {len(rows)} row(s); the first: {head} [{item.n}]")
    else:
        lines.append(f"{label}: no rows match [{item.n}]")
    if item.data.get("sql"):
        lines.append(f"SQL: `{item.data['sql']}`")
    lines += ["    " + line for line in item.text.splitlines()]
    return lines


def _code_line(item: Evidence) -> str:
    symbol = item.data.get("symbol")
    label = f"`{symbol}` at " if symbol else ""
    text = re.sub(r"\s+", " ", redact_injections(item.text)).strip()
    return f"{label}{item.source} [{item.n}]: {text[:200]}"


def _passage_score(pw: PartWork, item: Evidence) -> float:
    """How well a cited passage answers the part: its coverage (headings included), a quoted phrase in its
    heading above all, less for each reason review would reject it (no duration for "how long", not the
    year asked), the search's own order breaking ties."""
    headings = " ".join(str(h) for h in item.data.get("headings") or [])
    text = f"{headings} {item.text}"
    covered = 0.8 * coverage(focus_terms(pw.part), text) + 0.2 * coverage(pw.part.terms, text)
    # a heading naming the question's own words ("Bank transfer details" for "what bank details …")
    asked = set(terms_of(pw.part.text))
    titled = len(asked & set(terms_of(headings))) / len(asked) if asked else 0.0
    score = covered + 0.1 * titled - 0.01 * item.n - 0.5 * len(docs_problems(pw.part, text))
    if any(q.lower() in headings.lower() for q in pw.part.quoted):
        score += 1.0
    return score


def _citation_line(pw: PartWork, item: Evidence) -> str:
    headings = [str(h) for h in item.data.get("headings") or []]
    sentences = " ".join(_best_sentences(pw.part.terms, item.text, headings))
    where = item.source + (
        f" — {' › '.join(item.data.get('headings') or [])}" if item.data.get("headings") else ""
    )
    return f"- {sentences} [{item.n}] ({where})"


def _any_lines(pw: PartWork, items: Sequence[Evidence]) -> list[str]:
    """Evidence of any kind, each in its own form (a caller's own plan can return anything)."""
    lines: list[str] = []
    for item in items:
        if item.kind == "citation":
            lines.append(_citation_line(pw, item))
        elif item.kind == "rows":
            lines += [f"- {item.source} [{item.n}]:", *("    " + row for row in item.text.splitlines())]
        elif item.kind == "code":
            lines.append(f"- {_code_line(item)}")
        elif pw.route == "schema":
            lines += [
                f"- {item.source} [{item.n}]:",
                *("    " + row for row in redact_injections(item.text).splitlines()),
            ]
        else:
            flat = " ".join(redact_injections(item.text).split())
            lines.append(f"- {flat[:240]} [{item.n}] ({item.source})")
    return lines


def _part_lines(work: Work, pw: PartWork, evidence: Sequence[Evidence], steps: set[str]) -> list[str]:
    mine = [e for e in evidence if e.step_id in steps]
    if pw.route == "docs":
        citations = sorted((e for e in mine if e.kind == "citation"), key=lambda e: -_passage_score(pw, e))
        # a second passage only when it covers the question about as well as the first
        first = coverage(pw.part.terms, citations[0].text) if citations else 0.0
        shown = citations[:1] + [e for e in citations[1:2] if coverage(pw.part.terms, e.text) >= 0.8 * first]
        cited = [_citation_line(pw, e) for e in shown]
        return cited or _any_lines(pw, mine[:2])
    if pw.route == "sql":
        rows = [e for e in mine if e.kind == "rows"]
        return _sql_section(pw, rows[0]) if rows else _any_lines(pw, mine[:1])
    if pw.route == "code":
        result = next((work.results[s] for s in steps if s in work.results), None)
        lines = []
        if pw.part.ask == "callers" and result is not None:
            names = _callers(result.structured)
            if names:
                lines.append(
                    f"`{_symbol_of(result)}` is called by " + ", ".join(f"`{n}`" for n in names) + ":"
                )
        return lines + [f"- {_code_line(e)}" for e in mine[:6]]
    if pw.route == "trace":
        result = next((work.results[s] for s in steps if s in work.results), None)
        lines = []
        error = (
            result.structured.get("error")
            if result is not None and isinstance(result.structured, Mapping)
            else None
        )
        if error:
            lines.append(f"The error: {error}")
        return lines + [f"- {_code_line(e)}" for e in mine[:8]]
    return _any_lines(pw, mine[:8])


def _callers(structured: Any) -> list[str]:
    if not isinstance(structured, Mapping):
        return []
    return list(
        dict.fromkeys(
            str(c.get("caller"))
            for c in structured.get("callers") or []
            if isinstance(c, Mapping) and c.get("caller")
        )
    )


def _symbol_of(result: StepResult) -> str:
    if isinstance(result.structured, Mapping) and isinstance(result.structured.get("symbol"), str):
        return str(result.structured["symbol"])
    return str(next(iter(result.arguments.values()), ""))


def given_work(goal: str, results: Sequence[StepResult]) -> Work:
    """A one-part work answered by ``results`` as they are (a caller's own plan)."""
    question = analyse(goal)
    pw = PartWork(index=0, part=question.parts[0] if question.parts else analyse_part(goal))
    pw.route, pw.status, pw.stage = "given", "answered", "done"
    work = Work(question=question, parts=[pw], rounds=1)
    for result in results:
        work.results[result.step_id] = result
        call = Call(
            part=0, purpose="given", server=result.server_name or result.skill or "", tool=result.tool or ""
        )
        pw.calls.append((call, result.step_id))
    if not any(r.status == "ok" for r in results):
        pw.status = "unanswerable"
        pw.reason = "; ".join(f"{r.step_id}: {r.error}" for r in results) or "no step ran"
    return work


def write_brief(work: Work) -> Draft:
    """The deterministic answer to ``work`` (see the module docs)."""
    chosen: list[StepResult] = []
    per_part: dict[int, set[str]] = {}
    per_step: dict[int, list[StepResult]] = {}
    for pw in work.parts:
        steps = answer_steps(work, pw) if pw.status == "answered" else []
        per_step[pw.index] = steps
        per_part[pw.index] = {r.step_id for r in steps}
        chosen += [r for r in steps if r not in chosen]
    memories = work.shared.get("memories") or []
    remembered = [r for _, r in work.parts[0].results(work, "memory:recall")] if work.parts else []
    chosen += [r for r in remembered if memories and r not in chosen]
    evidence = extract_evidence(chosen)
    many = len(work.parts) > 1
    lines: list[str] = []
    parts: list[ReviewPart] = []
    for pw in work.parts:
        if many:
            lines += ["", f"**{pw.index + 1}. {pw.asked or pw.part.text}**"]
        if pw.status == "answered":
            body = _part_lines(work, pw, evidence, per_part[pw.index])
            lines += body or ["- (the lookup returned nothing to quote)"]
            lines += [
                f"- Not answered: step {r.step_id} ({r.server_name}.{r.tool}) did not run — {r.error}."
                for r in per_step[pw.index]
                if is_unapproved(r.status, r.error)
            ]
        elif pw.status == "clarify":
            lines.append(f"- Needs a choice: {pw.clarify}")
        else:
            lines.append(f"- Not answered: {pw.reason or 'no source had this'}.")
        parts.append(
            ReviewPart(
                index=pw.index,
                text=pw.part.text,
                route=pw.route,
                status=pw.status,
                reason=pw.reason,
                step_ids=sorted(per_part[pw.index]),
                sql=pw.sql,
            )
        )
    cite = next((e.n for e in evidence if remembered and e.step_id == remembered[0].step_id), None)
    if memories and cite is not None:  # quoted as what was remembered, not as a finding of the sources
        lines += ["", "From memory (remembered earlier in this conversation):"]
        lines += [f"- {m.text} ({m.kind}, {m.at[:10]}) [{cite}]" for m in memories]
    flagged = [
        r.step_id for r in chosen if find_injections(f"{r.text}\n{json.dumps(r.structured, default=str)}")
    ]
    if flagged:
        lines += [
            "",
            "Caution: tool output contained instructions aimed at an AI agent; they were treated as data and "
            "not followed.",
        ]
    return Draft(text="\n".join(lines).strip(), parts=parts, results=chosen, evidence=evidence)
