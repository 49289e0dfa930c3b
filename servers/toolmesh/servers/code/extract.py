"""Turning one source file into symbols, identifier occurrences and call edges with tree-sitter."""

from __future__ import annotations

import bisect
import re
from dataclasses import dataclass, field

import tree_sitter as ts

from toolmesh.servers.code.languages import Grammar

__all__ = ["CALLER_KINDS", "Call", "ParsedFile", "Symbol", "extract"]

_MAX_SIGNATURE = 240
_MAX_DOC = 1200
_WS = re.compile(r"\s+")
_XML_DOC_TAGS = re.compile(r"</?(?:summary|remarks|returns|value)>")
_COMMENT_MARKS = re.compile(r"^\s*(?:/\*\*?|\*/|\*(?!/)|///?|//!|#!?|--)\s?")
# Kinds whose body is code a call can sit in (the "caller" of a call edge).
CALLER_KINDS = frozenset({"function", "method", "constructor", "macro"})
_NOT_EMITTED = frozenset({"impl"})


@dataclass(slots=True)
class Symbol:
    """A definition: kind, name, qualified name, 1-based line span, signature line and doc comment."""

    name: str
    qualname: str
    kind: str
    start_line: int
    end_line: int
    start_col: int
    signature: str
    doc: str
    parent: int | None = None  # index into ParsedFile.symbols
    start_byte: int = 0
    end_byte: int = 0


@dataclass(frozen=True, slots=True)
class Call:
    """A name-based call edge: the innermost enclosing definition (index) calls ``name`` at ``line``."""

    caller: int | None
    name: str
    line: int


@dataclass(slots=True)
class ParsedFile:
    symbols: list[Symbol] = field(default_factory=list)
    refs: list[tuple[str, int, int]] = field(default_factory=list)  # (name, line, col)
    calls: list[Call] = field(default_factory=list)


def _signature(data: bytes, node: ts.Node) -> str:
    body = node.child_by_field_name("body")
    end = body.start_byte if body is not None and body.start_byte > node.start_byte else node.end_byte
    line_end = data.find(b"\n", node.start_byte, end)
    if body is None and line_end >= 0:
        end = line_end
    text = data[node.start_byte : min(end, node.start_byte + 4 * _MAX_SIGNATURE)].decode("utf-8", "replace")
    kept: list[str] = []
    for line in text.splitlines():
        if kept and line.lstrip().startswith(("#", "//", "/*")):
            break
        kept.append(line)
    text = _WS.sub(" ", " ".join(kept)).strip().rstrip("{:").rstrip()
    return text[:_MAX_SIGNATURE]


def _clean_comment(text: str) -> str:
    lines = []
    for raw in text.splitlines():
        line = _COMMENT_MARKS.sub("", raw).rstrip()
        if line.endswith("*/"):
            line = line[:-2].rstrip()
        lines.append(line)
    return "\n".join(lines).strip()


def _python_doc(data: bytes, node: ts.Node) -> str:
    body = node.child_by_field_name("body")
    if body is None or body.named_child_count == 0:
        return ""
    first = body.named_children[0]
    if first.type != "expression_statement" or first.named_child_count == 0:
        return ""
    string = first.named_children[0]
    if string.type != "string":
        return ""
    parts = [c for c in string.named_children if c.type == "string_content"]
    raw = b"".join(data[c.start_byte : c.end_byte] for c in parts).decode("utf-8", "replace")
    return _dedent_doc(raw)[:_MAX_DOC]


def _dedent_doc(raw: str) -> str:
    lines = raw.expandtabs().splitlines()
    if not lines:
        return ""
    indents = [len(line) - len(line.lstrip()) for line in lines[1:] if line.strip()]
    margin = min(indents) if indents else 0
    return "\n".join([lines[0].strip(), *(line[margin:].rstrip() for line in lines[1:])]).strip()


def _comment_doc(data: bytes, node: ts.Node, wrappers: frozenset[str]) -> str:
    while node.parent is not None and node.parent.type in wrappers:
        node = node.parent
    comments: list[ts.Node] = []
    row = node.start_point.row
    prev = node.prev_sibling
    if prev is None and node.parent is not None and node.parent.type == "body_statement":
        prev = node.parent.prev_sibling  # Ruby: a comment before the first statement of a body
    while prev is not None:
        if prev.type in ("attribute_item", "decorator", "annotation", "marker_annotation"):
            row = prev.start_point.row
            prev = prev.prev_sibling
            continue
        if "comment" not in prev.type or prev.end_point.row < row - 1:
            break
        comments.append(prev)
        row = prev.start_point.row
        prev = prev.prev_sibling
    if not comments:
        return ""
    comments.reverse()
    text = "\n".join(data[c.start_byte : c.end_byte].decode("utf-8", "replace") for c in comments)
    return _XML_DOC_TAGS.sub("", _clean_comment(text)).strip()[:_MAX_DOC]


def _text(data: bytes, node: ts.Node) -> str:
    return data[node.start_byte : node.end_byte].decode("utf-8", "replace")


def extract(grammar: Grammar, data: bytes, *, references: bool = True) -> ParsedFile:
    """Symbols (with nesting and qualified names), identifier occurrences and call edges of one file."""
    tree = grammar.parser().parse(data)
    queries = grammar.queries()
    root = tree.root_node
    spec = grammar.spec
    out = ParsedFile()

    # 1. Definitions, one per node (the first pattern in the query wins when several match it).
    found: dict[tuple[int, int, str], tuple[int, str, ts.Node, ts.Node, ts.Node | None]] = {}
    for pattern, caps in ts.QueryCursor(queries.definitions).matches(root):
        def_key = next((k for k in caps if k.startswith("def.")), None)
        if def_key is None or "name" not in caps:
            continue
        node = caps[def_key][0]
        key = (node.start_byte, node.end_byte, node.type)
        scope = caps["scope"][0] if "scope" in caps else None
        if key not in found or pattern < found[key][0]:
            found[key] = (pattern, def_key[4:], node, caps["name"][0], scope)
    ordered = sorted(found.values(), key=lambda item: (item[2].start_byte, -item[2].end_byte))

    all_defs: list[Symbol] = []
    stack: list[int] = []
    for _pattern, kind, node, name_node, scope in ordered:
        while stack and all_defs[stack[-1]].end_byte <= node.start_byte:
            stack.pop()
        parent = stack[-1] if stack else None
        name = _text(data, name_node)
        if "::" in name:  # Ruby `class A::B`, C# `namespace A.B` keep the last part as the name
            name = name.rsplit("::", 1)[-1]
        if parent is not None:
            parent_sym = all_defs[parent]
            qualname = f"{parent_sym.qualname}.{name}"
            if kind == "function" and parent_sym.kind in spec.containers:
                kind = "method"
        else:
            qualname = name
        if scope is not None:
            scoped = f"{_text(data, scope)}.{name}"
            qualname = f"{all_defs[parent].qualname}.{scoped}" if parent is not None else scoped
        if spec.name == "python" and kind in ("class", "function", "method"):
            doc = _python_doc(data, node)
        else:
            doc = _comment_doc(data, node, spec.wrappers)
        all_defs.append(
            Symbol(
                name=name,
                qualname=qualname,
                kind=kind,
                start_line=node.start_point.row + 1,
                end_line=node.end_point.row + 1,
                start_col=node.start_point.column,
                signature=_signature(data, node),
                doc=doc,
                parent=parent,
                start_byte=node.start_byte,
                end_byte=node.end_byte,
            )
        )
        stack.append(len(all_defs) - 1)

    # Drop scope-only entries (Rust impl blocks), re-pointing parents at the nearest emitted ancestor.
    index_map: dict[int, int] = {}
    for i, sym in enumerate(all_defs):
        parent = sym.parent
        while parent is not None and parent not in index_map:
            parent = all_defs[parent].parent
        if sym.kind in _NOT_EMITTED:
            continue
        sym.parent = index_map.get(parent) if parent is not None else None
        index_map[i] = len(out.symbols)
        out.symbols.append(sym)

    # 2. Calls, each attributed to the innermost enclosing callable definition.
    # captures() lists nodes in no particular order: sort by position so the index content is deterministic.
    starts = [s.start_byte for s in out.symbols]
    call_nodes = sorted(ts.QueryCursor(queries.calls).captures(root).get("call", []), key=_start_byte)
    for node in call_nodes:
        caller = _enclosing(out.symbols, starts, node.start_byte)
        name = _text(data, node)
        if "\\" in name:
            name = name.rsplit("\\", 1)[-1]
        out.calls.append(Call(caller, name, node.start_point.row + 1))

    # 3. Identifier occurrences: identifier-shaped tokens outside comments and string literals (their spans
    # come from the syntax tree). Scanning the text with a regular expression is several times faster than
    # materialising a tree-sitter node per identifier, and gives the same positions.
    if references:
        literals = ts.QueryCursor(queries.literals).captures(root)
        out.refs = _identifier_tokens(data, literals, strip_dollar=spec.name == "php")
    return out


_TOKEN = re.compile(r"(?<![\w$])[A-Za-z_$][\w$]*", re.ASCII)
_BLANK = bytes(b if b == 10 else 32 for b in range(256))  # everything but newlines becomes a space


def _merged(nodes: list[ts.Node]) -> list[tuple[int, int]]:
    spans = sorted([(n.start_byte, n.end_byte) for n in nodes])
    merged: list[tuple[int, int]] = []
    for start, end in spans:
        if merged and start <= merged[-1][1]:
            if end > merged[-1][1]:
                merged[-1] = (merged[-1][0], end)
        else:
            merged.append((start, end))
    return merged


def _subtract(spans: list[tuple[int, int]], holes: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """``spans`` minus ``holes`` (both sorted and non-overlapping)."""
    out: list[tuple[int, int]] = []
    hi = 0
    for start, end in spans:
        while hi < len(holes) and holes[hi][1] <= start:
            hi += 1
        cursor = start
        k = hi
        while k < len(holes) and holes[k][0] < end:
            if holes[k][0] > cursor:
                out.append((cursor, holes[k][0]))
            cursor = max(cursor, holes[k][1])
            k += 1
        if cursor < end:
            out.append((cursor, end))
    return out


def _identifier_tokens(
    data: bytes, literals: dict[str, list[ts.Node]], *, strip_dollar: bool
) -> list[tuple[str, int, int]]:
    """(name, 1-based line, 0-based column) of every identifier-like token outside comments and strings.

    The skipped spans are blanked (newlines kept), then each line is scanned with one regular expression.
    """
    spans = _subtract(_merged(literals.get("skip", [])), _merged(literals.get("keep", [])))
    if spans:
        pieces: list[bytes] = []
        prev = 0
        for start, end in spans:
            pieces.append(data[prev:start])
            pieces.append(data[start:end].translate(_BLANK))
            prev = end
        pieces.append(data[prev:])
        data = b"".join(pieces)
    refs: list[tuple[str, int, int]] = []
    finditer = _TOKEN.finditer
    for number, line in enumerate(data.decode("utf-8", "replace").split("\n"), 1):
        if line:
            refs.extend([(m.group(), number, m.start()) for m in finditer(line)])
    if strip_dollar:  # PHP variables: `$name` refers to `name`
        refs = [
            (name.lstrip("$"), line, col + len(name) - len(name.lstrip("$")))
            for name, line, col in refs
            if name.lstrip("$")
        ]
    return refs


def _start_byte(node: ts.Node) -> int:
    return node.start_byte


def _enclosing(symbols: list[Symbol], starts: list[int], byte: int) -> int | None:
    """Index of the innermost callable symbol whose span contains ``byte`` (falls back to any symbol)."""
    i = bisect.bisect_right(starts, byte) - 1
    fallback: int | None = None
    candidate: int | None = i if i >= 0 else None
    while candidate is not None:
        sym = symbols[candidate]
        if sym.start_byte <= byte < sym.end_byte:
            if sym.kind in CALLER_KINDS:
                return candidate
            if fallback is None:
                fallback = candidate
            candidate = sym.parent
        else:
            # Not containing: climb to its parent chain, or to the previous sibling at a shallower depth.
            candidate = sym.parent
    return fallback
