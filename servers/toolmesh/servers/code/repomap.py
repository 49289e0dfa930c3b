"""The repo map: files with their most important symbols, fitted to a token budget.

Importance of a symbol is how many other files mention its name (from the identifier index), weighted by
kind; private names and test files count less. Files are taken best-first until the budget is spent, then
shown in path order so the map reads like a tree.
"""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass

from toolmesh.servers.code.index import Index
from toolmesh.servers.code.models import RepoMapResult

__all__ = ["estimate_tokens", "reference_counts", "repo_map"]

_KIND_WEIGHT = {
    "class": 3.0,
    "interface": 2.6,
    "struct": 2.6,
    "trait": 2.6,
    "enum": 2.0,
    "record": 2.2,
    "type": 1.6,
    "function": 2.2,
    "method": 1.2,
    "constructor": 0.6,
    "module": 1.5,
    "namespace": 0.8,
    "macro": 1.2,
    "constant": 0.8,
    "property": 0.6,
    "field": 0.4,
    "variable": 0.5,
    "union": 1.5,
}
_MAX_TOP = 8
_MAX_MEMBERS = 4


def estimate_tokens(text: str) -> int:
    """A model-agnostic estimate: about four characters per token."""
    return math.ceil(len(text) / 4)


def reference_counts(index: Index) -> dict[str, int]:
    """For each identifier, the number of distinct files that mention it."""
    rows = index.reader().execute("SELECT name, COUNT(*) FROM refs GROUP BY name")
    return {str(name): int(count) for name, count in rows}


@dataclass(slots=True)
class _Sym:
    id: int
    name: str
    kind: str
    line: int
    signature: str
    parent: int | None
    score: float


def _is_test(path: str) -> bool:
    lowered = path.lower()
    return "test" in lowered or "/spec/" in lowered


def repo_map(index: Index, rel_dir: str, max_tokens: int, counts: dict[str, int]) -> RepoMapResult:
    conn = index.reader()
    prefix = f"{rel_dir}/" if rel_dir else ""
    files = {
        int(fid): str(path)
        for fid, path in conn.execute(
            "SELECT id, path FROM files WHERE status = 'ok' AND substr(path, 1, ?) = ? ORDER BY path",
            (len(prefix), prefix),
        )
    }
    by_file: dict[int, list[_Sym]] = defaultdict(list)
    rows = conn.execute(
        "SELECT s.id, s.file_id, s.name, s.kind, s.start_line, s.signature, s.parent_id, p.parent_id "
        "FROM symbols s JOIN files f ON f.id = s.file_id LEFT JOIN symbols p ON p.id = s.parent_id "
        "WHERE f.status = 'ok' AND substr(f.path, 1, ?) = ? AND (s.parent_id IS NULL OR p.parent_id IS NULL)",
        (len(prefix), prefix),
    )
    for sid, fid, name, kind, line, signature, parent, _grandparent in rows:
        name = str(name)
        score = math.log1p(counts.get(name, 0)) * _KIND_WEIGHT.get(str(kind), 0.5)
        if name.startswith("_") and not name.startswith("__"):
            score *= 0.3
        by_file[int(fid)].append(
            _Sym(
                int(sid),
                name,
                str(kind),
                int(line),
                str(signature),
                None if parent is None else int(parent),
                score,
            )
        )
    file_scores: dict[int, float] = {}
    for fid, path in files.items():
        top = sorted((s.score for s in by_file.get(fid, [])), reverse=True)[:5]
        score = sum(top) + 0.1 / (1 + path.count("/"))
        file_scores[fid] = score * (0.3 if _is_test(path) else 1.0)
    order = sorted(files, key=lambda fid: (-file_scores[fid], files[fid]))
    blocks: dict[int, str] = {}
    used = 0
    budget = max_tokens
    truncated = False
    for fid in order:
        block = _render(files[fid], by_file.get(fid, []))
        cost = estimate_tokens(block) + 1
        if used + cost > budget:
            bare = files[fid]
            bare_cost = estimate_tokens(bare) + 1
            truncated = True
            if used + bare_cost > budget:
                continue
            block, cost = bare, bare_cost
        blocks[fid] = block
        used += cost
    text = "\n".join(blocks[fid] for fid in sorted(blocks, key=lambda f: files[f]))
    shown = len(blocks)
    if shown < len(files):
        truncated = True
        text += f"\n… {len(files) - shown} more files (raise max_tokens or pass a sub-directory path)"
    return RepoMapResult(
        path=rel_dir or ".",
        map=text,
        files_shown=shown,
        files_total=len(files),
        estimated_tokens=estimate_tokens(text),
        truncated=truncated,
    )


def _render(path: str, symbols: list[_Sym]) -> str:
    top = [s for s in symbols if s.parent is None]
    members: dict[int, list[_Sym]] = defaultdict(list)
    for s in symbols:
        if s.parent is not None:
            members[s.parent].append(s)
    chosen = sorted(sorted(top, key=lambda s: -s.score)[:_MAX_TOP], key=lambda s: s.line)
    lines = [path]
    for sym in chosen:
        lines.append(f"  {sym.line}: {sym.signature or sym.kind + ' ' + sym.name}")
        kids = [
            k for k in members.get(sym.id, []) if k.kind not in ("field", "variable", "constant", "property")
        ]
        for kid in sorted(sorted(kids, key=lambda s: -s.score)[:_MAX_MEMBERS], key=lambda s: s.line):
            lines.append(f"    {kid.line}: {kid.signature or kid.kind + ' ' + kid.name}")
        hidden = len(kids) - min(len(kids), _MAX_MEMBERS)
        if hidden > 0:
            lines.append(f"    … {hidden} more")
    return "\n".join(lines)
