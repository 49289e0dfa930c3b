"""What the planner needs from tools, found in the catalog by the tools' own metadata.

A :class:`Capability` is a kind of work ("search documents", "rank the tables a question needs", "run a
read-only SQL query", "find a function's callers") described in plain words, plus the role of the input
it needs. :func:`find` ranks the catalog's read-only tools by BM25 over their names, descriptions and
argument descriptions against that description, and keeps the best one that has an argument for the role.
Nothing here names a server or a tool: a user's own SQL or search server is found the same way.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from toolmesh.agents.catalog import Catalog, ToolInfo
from toolmesh.agents.question import content_terms, coverage

__all__ = ["CAPABILITIES", "Capability", "Choice", "argument_for", "find"]

_MIN_COVERAGE = 0.34
Role = Literal["text", "question", "sql", "table", "symbol", "traceback", "pattern", "path", "id", "none"]


@dataclass(frozen=True, slots=True)
class Capability:
    name: str
    description: str
    role: Role
    writes: bool = False  # found among write tools (remembering is the one write the planner makes)


@dataclass(frozen=True, slots=True)
class Choice:
    """A tool for a capability, and the argument that takes the capability's input (None: no input)."""

    tool: ToolInfo
    argument: str | None

    @property
    def key(self) -> str:
        return f"{self.tool.server.name}.{self.tool.name}"


CAPABILITIES: dict[str, Capability] = {
    c.name: c
    for c in (
        Capability("search_documents", "search documents ranked hits snippets citation passages", "text"),
        Capability("read_passage", "one chunk by id with its citation", "id"),
        Capability(
            "link_tables",
            "rank the tables and columns a natural-language question needs join paths",
            "question",
        ),
        Capability("describe_table", "table columns types keys indexes sample rows", "table"),
        Capability("run_sql", "run one read-only SELECT sql statement rows", "sql"),
        Capability("list_tables", "list tables and views row count", "none"),
        Capability("connections", "list the named database connections dialect", "none"),
        Capability("find_symbol", "find definitions by name symbol exact prefix fuzzy", "symbol"),
        Capability("definition", "the source of a definition with line numbers", "symbol"),
        Capability("callers", "call sites callers of a function or method", "symbol"),
        Capability("callees", "what a function or method calls callees", "symbol"),
        Capability("references", "every place the symbol name occurs references", "symbol"),
        Capability("traceback", "map each frame of a stack trace to its definition and code", "traceback"),
        Capability("search_text", "search file contents line by line text pattern", "pattern"),
        Capability("outline", "the symbols of one file outline", "path"),
        Capability("recall_memory", "recall memories remembered facts by meaning and words", "text"),
        Capability("remember", "store one memory remember refreshes duplicate", "text", writes=True),
    )
}

# Argument names that usually carry each role; a tool's own argument descriptions decide among them.
_NAMES: dict[Role, tuple[str, ...]] = {
    "text": ("query", "q", "text", "search", "terms", "keywords", "question"),
    "question": ("question", "q", "query", "text", "request", "prompt"),
    "sql": ("sql", "query", "statement"),
    "table": ("table", "table_name", "name"),
    "symbol": ("symbol", "name", "identifier", "qualname", "function", "query"),
    "traceback": ("traceback", "stack_trace", "stacktrace", "trace", "text"),
    "pattern": ("pattern", "regex", "query", "text"),
    "path": ("path", "file", "file_path", "filename"),
    "id": ("id", "chunk_id", "passage_id"),
    "none": (),
}
_ROLE_WORDS: dict[Role, str] = {
    "sql": r"\bsql\b|\bselect\b|statement",
    "traceback": r"stack|trace",
    "question": r"question|natural|english|chinese",
    "table": r"\btable",
}


def _kind(spec: Mapping[str, Any]) -> str | None:
    kind = spec.get("type")
    if kind is None and isinstance(spec.get("anyOf"), list):
        kinds = [s.get("type") for s in spec["anyOf"] if isinstance(s, Mapping)]
        kind = next((k for k in kinds if k and k != "null"), None)
    return kind if isinstance(kind, str) else None


def argument_for(tool: ToolInfo, role: Role) -> str | None:
    """The argument of ``tool`` that takes input of ``role`` (None when it has none)."""
    props = tool.properties()
    kinds = {"integer", "number"} if role == "id" else {"string", None}
    names = [n for n in _NAMES[role] if n in props and _kind(props[n]) in kinds]
    pattern = _ROLE_WORDS.get(role)
    if pattern is not None:
        described = [
            n
            for n, spec in props.items()
            if _kind(spec) in {"string", None}
            and re.search(pattern, f"{n} {spec.get('description') or ''}", re.IGNORECASE)
        ]
        tool_text = f"{tool.name} {tool.description}"
        if not described and not re.search(pattern, tool_text, re.IGNORECASE):
            return None
        names = [n for n in names if n in described] or names if described else names
    required = tool.required()
    if required and not any(r in names for r in required):
        return None  # it needs some other input first
    return names[0] if names else None


def find(catalog: Catalog, name: str) -> Choice | None:
    """The catalog's best tool for capability ``name`` (None when no tool offers it): a read-only one,
    except for a capability that writes."""
    capability = CAPABILITIES[name]
    hits = catalog.search(capability.description, k=len(catalog.tools) or 1, read_only=not capability.writes)
    if not hits:
        return None
    best = hits[0].score
    for hit in hits:
        if hit.score < best * 0.5:
            break
        if capability.writes and (hit.tool.destructive or hit.tool.read_only):
            continue  # the one write the planner makes adds; it never deletes or overwrites
        if coverage(content_terms(capability.description), hit.tool.document()) < _MIN_COVERAGE:
            continue  # ranked first among unrelated tools is not enough: it must be about this work
        if capability.role == "none":
            if not hit.tool.required():
                return Choice(hit.tool, None)
            continue
        argument = argument_for(hit.tool, capability.role)
        if argument is not None:
            return Choice(hit.tool, argument)
    return None
