"""The deterministic policy: multi-path probes, then the route the evidence favours, then its follow-up.

Per part of the question (all parts advance together, each round's calls in parallel):

1. **probe** — document search, table linking (and the table list), symbol search; a pasted stack trace
   goes straight to the traceback tool and a literal SELECT to the SQL tool.
2. **decide** — score each source's answer (:mod:`~toolmesh.agents.planner.routing`). A symbol the part
   names and the index has settles it for the code path at once; otherwise the SQL path is taken as far
   as a translation (describe the linked tables, look the question's literal words up among their values,
   translate), so its score is how much of the question the SQL accounts for.
3. **follow through** — run the SQL, or fetch the definition / callers / callees / references.

A part no source answers well is marked unanswerable with the reason; two strong readings too close to
call (docs or table; invoices or order lines) make a specific clarifying question with the candidates.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Callable, Mapping
from typing import Any

from toolmesh.agents.capabilities import CAPABILITIES, Choice, find
from toolmesh.agents.catalog import Catalog
from toolmesh.agents.evidence import is_empty_output
from toolmesh.agents.planner.loop import Call, PartWork, Work
from toolmesh.agents.planner.routing import (
    ROUTE_LABELS,
    code_score,
    docs_hits,
    docs_score,
    pick_route,
    symbol_hits,
)
from toolmesh.agents.question import code_words, content_terms, coverage
from toolmesh.agents.text2sql import (
    Translation,
    local_hits,
    named_rows,
    parse_probe,
    probe_sql,
    schema_from_outputs,
    translate,
)
from toolmesh.protocols.glossary import Glossary

__all__ = ["DeterministicPolicy"]

_CODE_ASKS = {
    "callers": "callers",
    "callees": "callees",
    "references": "references",
    "definition": "definition",
}
_MAX_DESCRIBE = 10
_SMALL_SCHEMA = 10


class DeterministicPolicy:
    name = "deterministic"

    def __init__(self, catalog: Catalog, *, glossary: Glossary | None = None) -> None:
        self.catalog = catalog
        self.glossary = glossary
        self._tools: dict[str, Choice | None] = {}

    def tool(self, capability: str) -> Choice | None:
        if capability not in self._tools:
            self._tools[capability] = find(self.catalog, capability)
        return self._tools[capability]

    def call(
        self, pw: PartWork, capability: str, purpose: str, value: Any = None, **extra: Any
    ) -> Call | None:
        choice = self.tool(capability)
        return Call.of(choice, pw.index, purpose, value, **extra) if choice is not None else None

    # --- the rounds -----------------------------------------------------------------------------

    async def next_round(self, work: Work) -> tuple[list[Call], str] | None:
        calls: list[Call] = []
        why: list[str] = []
        for pw in work.parts:
            if pw.status != "open":
                continue
            made = self.advance(work, pw)
            calls += made
            if made:
                why.append(f"part {pw.index + 1}: {pw.stage}")
        if not calls:
            return None
        return calls, "; ".join(why)

    def advance(self, work: Work, pw: PartWork) -> list[Call]:
        """Move ``pw`` on as far as the results allow; the calls it needs next (empty when done)."""
        for _ in range(6):
            step: Callable[[Work, PartWork], list[Call] | None] = getattr(self, f"_at_{pw.stage}")
            calls = step(work, pw)
            if calls is None:
                continue  # the stage changed without needing a call
            if not calls and pw.status == "open":
                pw.status, pw.reason = "unanswerable", pw.reason or "no tool can look this up"
            return calls
        return []

    def query_text(self, pw: PartWork) -> str:
        """What to search the documents for: the quoted phrases and the content words (not the words that
        shape the question or name the source), after the glossary's rewrites."""
        part = pw.part
        text = part.text
        if self.glossary is not None:
            text, _ = self.glossary.rewrite(text)
        words = [w for w in re.findall(r"[^\W_]+", text) if content_terms(w)]
        query = " ".join(
            [*part.quoted, *(w for w in words if not any(w.lower() in q.lower() for q in part.quoted))]
        )
        return query or text

    def _at_start(self, work: Work, pw: PartWork) -> list[Call] | None:
        part = pw.part
        if part.traceback:
            call = self.call(pw, "traceback", "trace", part.text)
            pw.route, pw.stage = "trace", "done_when_answered"
            return [call] if call else []
        if part.sql:
            call = self.call(pw, "run_sql", "query", part.sql)
            pw.route, pw.stage, pw.sql = "sql", "queried", part.sql
            return [call] if call else []
        if not (part.terms or part.identifiers or part.quoted or part.paths):
            return self._vague(pw)  # "what about it?" with nothing to go back to
        calls = [
            self.call(pw, "search_documents", "probe:docs", self.query_text(pw)),
            self.call(pw, "link_tables", "probe:sql", part.text, limit=8),
            self.call(pw, "list_tables", "probe:tables"),
        ]
        for symbol in self._symbol_queries(pw):
            calls.append(self.call(pw, "find_symbol", "probe:code", symbol))
        calls.append(self._generic_call(pw, {c.tool for c in calls if c is not None}))
        pw.stage = "probed"
        return [c for c in calls if c is not None]

    def _generic_call(self, pw: PartWork, taken: set[str]) -> Call | None:
        """The read-only tool whose own metadata best matches the part, when it is none of the tools the
        capabilities chose and its required arguments can be filled from the part (any MCP server)."""
        quoted = " ".join(pw.part.quoted)
        terms = tuple(t for t in pw.part.terms if t not in set(content_terms(quoted)))
        for hit in self.catalog.search(pw.part.text, k=5):
            tool = hit.tool
            if tool.name in taken or tool.name in self._chosen_names() or not tool.required():
                continue  # a tool that takes no input cannot answer this question in particular
            match = coverage(terms, tool.document()) if terms else 0.0
            if match < 0.5 or match * len(terms) < 2:
                return None
            arguments = _fill(tool, pw)
            if arguments is None:
                continue
            pw.memory["tool_match"] = match
            return Call(
                part=pw.index,
                purpose="probe:tool",
                server=tool.server.name,
                tool=tool.name,
                arguments=arguments,
            )
        return None

    def _chosen_names(self) -> set[str]:
        return {c.tool.name for name in CAPABILITIES if (c := self.tool(name)) is not None}

    def _symbol_queries(self, pw: PartWork) -> list[str]:
        """Names to look up in the code: the identifiers the part names, else (for a question about code in
        plain words) its most specific words, alone and joined as an identifier would be."""
        part = pw.part
        if part.identifiers:
            return list(part.identifiers[:2])
        if part.lang == "zh":
            return []
        words = [
            w
            for w in part.words
            if content_terms(w) and len(w) > 2 and not set(content_terms(w)) & code_words()
        ]
        if not words:
            return []
        longest = sorted(words, key=len, reverse=True)[:2]
        if not set(part.terms) & code_words():
            return longest[:1]
        joined = [f"{a}_{b}" for a, b in itertools.pairwise(words)][:2]
        # "which function puts reserved units back into stock": what it does, matched against docstrings
        described = [" ".join(words)] if len(words) >= 2 else []
        return list(dict.fromkeys([*described, *longest, *joined]))[:5]

    def _at_probed(self, work: Work, pw: PartWork) -> list[Call] | None:
        docs = pw.last(work, "probe:docs")
        pw.scores["docs"] = docs_score(pw.part, docs.structured) if docs and docs.status == "ok" else 0.0
        if docs is not None and _names_collection(pw.part.text, docs.structured):
            pw.memory["named_source"] = "docs"  # "what does the handbook say": the collection's own name
        found = [
            h
            for _, r in pw.results(work, "probe:code")
            if r.status == "ok"
            for h in symbol_hits(r.structured)
        ]
        score, symbol = code_score(pw.part, {"hits": found}) if found else (0.0, None)
        pw.scores["code"] = score
        if symbol:
            pw.memory["symbol"] = symbol
        if score >= 1.0 and pw.part.identifiers:
            return self._follow_code(pw)  # a symbol the part names (`refund_order`) exists: that settles it
        generic = pw.last(work, "probe:tool")
        if generic is not None:
            useful = generic.status == "ok" and not is_empty_output(generic)
            pw.scores["tool"] = float(pw.memory.get("tool_match", 0.0)) if useful else 0.0
            if not useful:
                pw.reason = (
                    f"{generic.server_name}.{generic.tool} failed: {generic.error}"
                    if generic.error
                    else pw.reason
                )
        linked = pw.last(work, "probe:sql")
        names = self._tables_to_describe(work, pw)
        if linked is None or linked.status != "ok" or not names:
            pw.stage = "decide"
            return None
        calls = [self.call(pw, "describe_table", "describe:table", name) for name in names]
        if "dialect" not in work.shared:
            calls.append(self.call(pw, "connections", "describe:connections"))
        pw.stage = "described"
        return [c for c in calls if c is not None]

    def _tables_to_describe(self, work: Work, pw: PartWork) -> list[str]:
        linked = pw.last(work, "probe:sql")
        listed = pw.last(work, "probe:tables")
        structured = linked.structured if linked and linked.status == "ok" else None
        names: list[str] = []
        if isinstance(structured, Mapping):
            names += [
                str(t["name"])
                for t in structured.get("tables") or []
                if isinstance(t, Mapping) and t.get("name")
            ][:6]
            for path in structured.get("join_paths") or []:
                if isinstance(path, Mapping):
                    names += [str(t) for t in path.get("tables") or []]
        listed_names = (
            [
                str(t.get("name"))
                for t in (listed.structured or {}).get("tables", [])
                if isinstance(t, Mapping) and t.get("name")
            ]
            if listed and listed.status == "ok" and isinstance(listed.structured, Mapping)
            else []
        )
        if 0 < len(listed_names) <= _SMALL_SCHEMA:
            names += listed_names
        return list(dict.fromkeys(names))[:_MAX_DESCRIBE]

    def _schema(self, work: Work, pw: PartWork) -> Any:
        described = [r.structured for _, r in pw.results(work, "describe:table") if r.status == "ok"]
        linked = pw.last(work, "probe:sql")
        connections = pw.last(work, "describe:connections")
        if connections is not None and connections.status == "ok":
            work.shared["dialect"] = _dialect(connections.structured)
        return schema_from_outputs(
            described, linked=linked.structured if linked else None, dialect=work.shared.get("dialect")
        )

    def _at_described(self, work: Work, pw: PartWork) -> list[Call] | None:
        schema = self._schema(work, pw)
        pw.memory["schema_tables"] = sorted(schema.tables)
        probe = probe_sql(pw.part, schema)
        pw.stage = "valued"
        if probe is None:
            return None
        call = self.call(pw, "run_sql", "values", probe)
        return [call] if call else None

    def _at_valued(self, work: Work, pw: PartWork) -> list[Call] | None:
        schema = self._schema(work, pw)
        hits = local_hits(pw.part, schema)
        probed = pw.last(work, "values")
        if probed is not None and probed.status == "ok" and isinstance(probed.structured, Mapping):
            hits += parse_probe(pw.part, probed.structured.get("rows") or [])
        earlier = [str(c) for c in pw.memory.get("prior_columns", [])]
        translation = translate(pw.part, schema, hits, earlier)
        pw.translation = translation
        pw.scores["sql"] = _sql_score(pw, translation)
        if translation.frame is not None and "rows_checked" not in pw.memory:
            listing = named_rows(translation.frame, schema, pw.part.text)
            if listing is not None:  # "the Smart Lamp": make sure the name picks one row before answering
                pw.memory["rows_checked"] = listing[1]
                call = self.call(pw, "run_sql", "rows", listing[0])
                return [call] if call else None
        if self._several_rows(work, pw):
            return []
        named = pw.part.analytic.table
        if (
            named in schema.tables
            and pw.part.ask in {"explain", "list", "lookup"}
            and not hits
            and not pw.part.analytic.conditions
        ):
            pw.scores["schema"] = 0.95  # "describe the orders table": its description is the answer
            pw.memory["table"] = named
            pw.memory.setdefault("named_source", "schema")
        pw.stage = "decide"
        return None

    def _several_rows(self, work: Work, pw: PartWork) -> bool:
        """When the name the part uses picks several rows: a question listing them (True)."""
        rows = pw.last(work, "rows")
        if rows is None or rows.status != "ok" or not isinstance(rows.structured, Mapping):
            return False
        found = [r for r in rows.structured.get("rows") or [] if isinstance(r, list)]
        if len(found) <= 1:
            return False
        shown = [str(c) for c in pw.memory.get("rows_checked", [])]
        labels = [", ".join(f"{c} {v}" for c, v in zip(shown, r, strict=False)) for r in found]
        pw.status = "clarify"
        pw.options = [{"route": "sql", "kind": "row", "label": label} for label in labels]
        pw.clarify = (
            f"For {pw.part.text!r}: {len(found)}{'+' if len(found) >= 6 else ''} rows match — "
            + "; ".join(labels[:5])
            + ". Which one do you mean?"
        )
        return True

    def _at_decide(self, work: Work, pw: PartWork) -> list[Call] | None:
        scores = dict(pw.scores)
        prior = pw.memory.get("prior_route")
        if isinstance(prior, str) and prior in scores and scores[prior] >= 0.4:
            scores[prior] += 0.2  # a follow-up stays on the source of the turn it follows
        named = pw.memory.get("named_source")
        if isinstance(named, str) and scores.get(named, 0.0) >= 0.4:
            scores[named] += 0.3  # the question names this source (by its metadata: a collection, a table)
        route, close = pick_route(pw.part, scores)
        forced = pw.memory.get("forced_route")
        if isinstance(forced, str) and forced in scores:
            route, close = forced, []  # the caller chose, or review sent the part to another source
        translation = pw.translation
        if close and "sql" in close and (translation is None or translation.confidence < 0.75):
            close = []  # SQL that leaves a quarter of the question unexplained is no rival worth asking about
        if route is None:
            if len(pw.part.terms) <= 1 and not (pw.part.identifiers or pw.part.quoted):
                return self._vague(pw)  # "help": one word that nothing matches is a question to ask back
            pw.status = "unanswerable"
            pw.reason = _unanswerable_reason(pw)
            return []
        if close:
            pw.status = "clarify"
            pw.options = [{"route": r, "label": ROUTE_LABELS.get(r, r)} for r in close]
            pw.clarify = _route_question(pw, close)
            return []
        pw.route = route  # type: ignore[assignment]
        if route == "sql" and translation is not None and translation.sql:
            if translation.ambiguity:
                pw.status = "clarify"
                pw.options = [{"route": "sql", "label": c} for c in translation.ambiguity]
                pw.clarify = (
                    f"For {pw.part.text!r}: which should I use — "
                    + " or ".join(f"`{c}`" for c in translation.ambiguity)
                    + "? Reply with one of them."
                )
                return []
            pw.sql = translation.sql
            call = self.call(pw, "run_sql", "query", translation.sql)
            pw.stage = "queried"
            return [call] if call else []
        if route == "code":
            return self._follow_code(pw)
        if route == "schema":
            pw.status, pw.stage = "answered", "done"  # the describe result of that table is the answer
            return []
        if route == "docs":
            return self._read_passages(work, pw)
        pw.status = "answered"  # a matching tool: the probe's result is the answer
        pw.stage = "done"
        return []

    def _read_passages(self, work: Work, pw: PartWork) -> list[Call]:
        """The whole text of the best hits (search results carry snippets), to answer from."""
        docs = pw.last(work, "probe:docs")
        hits = docs_hits(docs.structured) if docs is not None else []
        ids = [h.get("id") for h in hits[:3] if isinstance(h.get("id"), int)]
        calls = [c for c in (self.call(pw, "read_passage", "read", i) for i in ids) if c is not None]
        pw.stage = "reading" if calls else "done"
        if not calls:
            pw.status = "answered"
        return calls

    def _at_reading(self, work: Work, pw: PartWork) -> list[Call] | None:
        pw.status, pw.stage = "answered", "done"  # the probe's hits stand for any passage that failed
        return []

    def _vague(self, pw: PartWork) -> list[Call]:
        pw.status = "clarify"
        pw.options = [{"kind": "vague", "label": pw.part.text}]
        pw.clarify = (
            f"I could not tell what to look up in {pw.part.text!r}. What should I look for — a phrase in "
            f"{_sources(self.catalog)}?"
        )
        return []

    def _follow_code(self, pw: PartWork) -> list[Call]:
        pw.route = "code"
        symbol = pw.memory.get("symbol") or (pw.part.identifiers[0] if pw.part.identifiers else None)
        capability = _CODE_ASKS.get(pw.part.ask, "definition")
        call = self.call(pw, capability, f"code:{capability}", symbol)
        if call is None and capability != "definition":
            call = self.call(pw, "definition", "code:definition", symbol)
        pw.stage = "coded"
        return [call] if call else []

    def _at_coded(self, work: Work, pw: PartWork) -> list[Call] | None:
        result = pw.last(work, "code")
        if result is not None and result.status == "ok":
            pw.status, pw.stage = "answered", "done"
            return []
        pw.reason = f"the code lookup failed: {result.error if result else 'no result'}"
        return self._fallback(pw)

    def _at_queried(self, work: Work, pw: PartWork) -> list[Call] | None:
        result = pw.last(work, "query")
        if result is not None and result.status == "ok":
            pw.status, pw.stage = "answered", "done"
            return []
        pw.reason = f"the SQL failed: {result.error if result else 'no result'}"
        return self._fallback(pw)

    def _at_done_when_answered(self, work: Work, pw: PartWork) -> list[Call] | None:
        result = next((r for _, r in reversed(pw.results(work))), None)
        if result is not None and result.status == "ok":
            pw.status, pw.stage = "answered", "done"
        else:
            pw.status, pw.reason = (
                "unanswerable",
                f"the lookup failed: {result.error if result else 'no result'}",
            )
        return []

    def _at_done(self, work: Work, pw: PartWork) -> list[Call] | None:
        return []

    def _fallback(self, pw: PartWork) -> list[Call]:
        if pw.scores.get("docs", 0.0) >= 0.5 and pw.route != "docs":
            pw.route, pw.status, pw.stage = "docs", "answered", "done"
            return []
        pw.status = "unanswerable"
        return []


def _fill(tool: Any, pw: PartWork) -> dict[str, Any] | None:
    """Arguments for every required parameter of ``tool`` from the part (None when one cannot be filled):
    a quoted phrase, an identifier, or the part's own text for a free-text parameter."""
    part = pw.part
    arguments: dict[str, Any] = {}
    for name in tool.required():
        spec = tool.properties().get(name, {})
        if spec.get("type") not in {"string", None}:
            return None
        arguments[name] = (part.quoted or part.identifiers or (part.text,))[0]
    return arguments


def _names_collection(text: str, structured: Any) -> bool:
    """Whether ``text`` names the collection the document hits come from (e.g. "the handbook")."""
    words = set(re.findall(r"[^\W_]+", text.lower()))
    for hit in docs_hits(structured):
        citation = hit.get("citation") if isinstance(hit.get("citation"), Mapping) else {}
        name = str((citation or {}).get("collection") or "").lower()
        if name and set(re.findall(r"[^\W_]+", name)) <= words:
            return True
    return False


def _sources(catalog: Catalog) -> str:
    """The kinds of source the catalog can search, in words."""
    found = [
        label
        for capability, label in (
            ("search_documents", "the documents"),
            ("link_tables", "a table or value in the database"),
            ("find_symbol", "a function or class in the code"),
        )
        if find(catalog, capability) is not None
    ]
    return ", ".join(found[:-1]) + (" or " if len(found) > 1 else "") + found[-1] if found else "(no servers)"


def _sql_score(pw: PartWork, translation: Translation) -> float:
    """The translation's confidence, shaded by what else the evidence says: the database holds the values
    or the row the question names (a strong sign), the question computes something (SQL's job), it asks
    for an explanation (rarely SQL's), or it is about code."""
    part, frame = pw.part, translation.frame
    if translation.sql is None or frame is None or translation.confidence <= 0:
        return 0.0
    score = translation.confidence
    computes = part.analytic.is_analytic or part.ask in {"count", "sum", "avg", "min", "max", "top"}
    if computes:
        score += 0.15
    elif part.ask == "explain":
        if frame.aggregate is not None or frame.group:
            return 0.0  # nothing asked to be computed: a computed answer is not a reading of the question
        score -= 0.3
    if any(f.kind in {"value", "id"} for f in frame.filters) or frame.absent:
        score += 0.2  # the question's own literals are in the database
    used = set(content_terms(" ".join(translation.accounted)))
    if (set(part.terms) & code_words()) - used:  # "the SKU code" names a column, "the code" the source
        score *= 0.5
    return max(0.0, score)


def _dialect(structured: Any) -> str:
    for item in (structured or {}).get("connections", []) if isinstance(structured, Mapping) else []:
        if isinstance(item, Mapping) and isinstance(item.get("dialect"), str):
            name = str(item["dialect"]).lower()
            return (
                "postgres"
                if "postgres" in name
                else "mysql"
                if ("mysql" in name or "maria" in name)
                else "sqlite"
            )
    return "sqlite"


def _unanswerable_reason(pw: PartWork) -> str:
    bits = []
    if "docs" in pw.scores:
        bits.append(f"the best document passage covers {pw.scores['docs']:.0%} of it")
    if pw.translation is not None:
        t = pw.translation
        bits.append(
            f"the database: {t.reason}"
            if t.reason
            else f"SQL would leave {', '.join(t.unresolved) or 'nothing'} unexplained"
        )
    if "code" in pw.scores:
        bits.append("no code symbol matches" if pw.scores["code"] < 0.5 else "the code match is weak")
    if pw.reason:
        bits.append(pw.reason)
    return "nothing answers it well: " + "; ".join(bits) if bits else "no registered tool can look this up"


def _route_question(pw: PartWork, routes: list[str]) -> str:
    labels = []
    for route in routes:
        if route == "sql" and pw.translation is not None and pw.translation.frame is not None:
            labels.append(f"the {pw.translation.frame.base} table")
        else:
            labels.append(ROUTE_LABELS.get(route, route))
    return f"For {pw.part.text!r}: should I answer from {' or from '.join(labels)}?"
