"""Text search over the indexed files: ripgrep when it is on PATH, a Python fallback with the same results.

Both engines search exactly the files in the index (so .gitignore, excludes, secrets, binaries and huge files
are honoured the same way), line by line, and return matches sorted by (path, line). The fallback uses the
``regex`` module with a per-call timeout, so a catastrophic pattern cannot hang the server; ripgrep's engine
is linear-time and the subprocess is killed at the deadline. Every pattern is measured before it is compiled
(patterns.py): counted repeats that would expand past a bound are refused, since compiling is not
interruptible and its memory is not bounded by any timeout. Pages are cut from the sorted match list with
an opaque cursor that binds the page to its query.
"""

from __future__ import annotations

import base64
import fnmatch
import hashlib
import json
import os
import shutil
import stat
import subprocess
import time
from collections.abc import Sequence
from dataclasses import dataclass

import regex

from toolmesh.protocols.sandbox import SandboxError
from toolmesh.protocols.treewalk import TreeReader
from toolmesh.servers.code.errors import CodeInputError, CodeTimeout
from toolmesh.servers.code.models import SearchMatch, SearchResult
from toolmesh.servers.code.paths import Sandbox, is_binary
from toolmesh.servers.code.patterns import compile_pattern

__all__ = ["SearchRequest", "ripgrep_path", "run_search"]

_MAX_LINE_CHARS = 500
_RG_ARG_BYTES = 96 * 1024  # keep each ripgrep command line well under ARG_MAX


class _RipgrepRejected(Exception):
    """ripgrep could not compile the pattern (e.g. look-around); the Python engine takes over."""


def ripgrep_path() -> str | None:
    return shutil.which("rg")


@dataclass(frozen=True, slots=True)
class SearchRequest:
    pattern: str
    regex: bool = False
    ignore_case: bool = False
    path_glob: str | None = None
    context_lines: int = 0
    limit: int = 50
    cursor: str | None = None

    def key(self) -> str:
        raw = json.dumps([self.pattern, self.regex, self.ignore_case, self.path_glob, self.context_lines])
        return hashlib.sha256(raw.encode("utf-8")).hexdigest()[:16]


def _encode_cursor(key: str, offset: int) -> str:
    return base64.urlsafe_b64encode(json.dumps({"k": key, "o": offset}).encode()).decode().rstrip("=")


def _decode_cursor(cursor: str, key: str) -> int:
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        data = json.loads(base64.urlsafe_b64decode(padded.encode()))
        offset = int(data["o"])
        if data["k"] != key or offset < 0:
            raise ValueError("cursor mismatch")
    except (ValueError, KeyError, TypeError, json.JSONDecodeError) as exc:
        raise CodeInputError(
            "invalid cursor for this search", hint="Pass the next_cursor from the same search unchanged."
        ) from exc
    return offset


def _compile(request: SearchRequest) -> regex.Pattern[str]:
    source = request.pattern if request.regex else regex.escape(request.pattern)
    return compile_pattern(source, regex.IGNORECASE if request.ignore_case else 0)


def _python_search(
    sandbox: Sandbox, files: Sequence[str], compiled: regex.Pattern[str], cap: int, deadline: float
) -> tuple[list[tuple[str, int, str]], bool]:
    found: list[tuple[str, int, str]] = []
    # A whole-file pre-check skips files without a match; per-line anchors need MULTILINE for it, and
    # \A / \Z mean "start/end of line" to a line-oriented search, so such patterns skip the pre-check.
    anchored = any(token in compiled.pattern for token in ("\\A", "\\Z", "\\z"))
    precheck = None if anchored else regex.compile(compiled.pattern, compiled.flags | regex.MULTILINE)
    reader = TreeReader(sandbox)  # one descriptor chain for the whole scan; closed when it goes away
    for rel in files:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise CodeTimeout(
                "search took longer than its time budget", hint="Narrow the pattern or path_glob."
            )
        data = _read_indexed(reader, rel)
        if data is None:
            continue
        text = data.decode("utf-8", "replace")
        try:
            if precheck is not None and precheck.search(text, timeout=remaining) is None:
                continue
            lines = text.split("\n")
            if text.endswith("\n"):
                lines.pop()
            for number, raw in enumerate(lines, 1):
                line = raw[:-1] if raw.endswith("\r") else raw
                if compiled.search(line, timeout=max(deadline - time.monotonic(), 0.001)) is not None:
                    found.append((rel, number, line))
                    if len(found) >= cap:
                        return found, True
        except TimeoutError as exc:
            raise CodeTimeout(
                "the pattern took too long to match (catastrophic backtracking?)",
                hint="Simplify the regular expression, e.g. avoid nested quantifiers like (a+)+.",
            ) from exc
    return found, False


def _ripgrep_search(
    rg: str, sandbox: Sandbox, files: Sequence[str], request: SearchRequest, cap: int, deadline: float
) -> tuple[list[tuple[str, int, str]], bool]:
    base = [
        rg,
        "--no-config",
        "--no-heading",
        "--with-filename",
        "--line-number",
        "--null",
        "--color",
        "never",
        "--no-messages",
        "--text",
        "--no-ignore",
        "--hidden",
        "--no-follow",
        "--crlf",
        # Bound what rg writes to the pipe: no file can contribute more than the whole cap, and a huge
        # line (minified code) is cut to a preview.
        "--max-count",
        str(cap),
        "--max-columns",
        "4096",
        "--max-columns-preview",
    ]
    if request.ignore_case:
        base.append("--ignore-case")
    if not request.regex:
        base.append("--fixed-strings")
    base += ["--regexp", request.pattern]
    found: list[tuple[str, int, str]] = []
    truncated = False
    chunks: list[list[str]] = []
    current: list[str] = []
    size = 0
    for rel in files:
        if size + len(rel) + 1 > _RG_ARG_BYTES and current:
            chunks.append(current)
            current, size = [], 0
        current.append(rel)
        size += len(rel) + 1
    if current:
        chunks.append(current)
    for chunk in chunks:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise CodeTimeout(
                "search took longer than its time budget", hint="Narrow the pattern or path_glob."
            )
        proc = subprocess.Popen(  # noqa: S603 - fixed argv, no shell
            [*base, "--", *chunk], cwd=sandbox.root, stdout=subprocess.PIPE, stderr=subprocess.PIPE
        )
        try:
            out, err = proc.communicate(timeout=remaining)
        except subprocess.TimeoutExpired as exc:
            proc.kill()
            proc.communicate()
            raise CodeTimeout("search took longer than its time budget", hint="Narrow the pattern.") from exc
        if proc.returncode == 2 and not out:
            # ripgrep's engine rejects some Python syntax (look-around, backreferences): fall back.
            raise _RipgrepRejected(err.decode("utf-8", "replace").strip())
        for raw in out.split(b"\n"):
            if not raw:
                continue
            path_b, _, rest = raw.partition(b"\x00")
            number_b, _, line_b = rest.partition(b":")
            try:
                number = int(number_b)
            except ValueError:
                continue
            found.append((os.fsdecode(path_b), number, line_b.decode("utf-8", "replace").rstrip("\r")))
        if len(found) >= cap:
            truncated = True
            break
    found.sort(key=lambda m: (m[0], m[1]))
    if len(found) > cap:
        found, truncated = found[:cap], True
    return found, truncated


def run_search(
    sandbox: Sandbox,
    files: Sequence[str],
    request: SearchRequest,
    *,
    max_matches: int,
    timeout: float,
    max_pattern_length: int,
    use_ripgrep: bool = True,
) -> SearchResult:
    """One page of matches of ``request`` over ``files`` (repository-relative paths, already vetted)."""
    if not request.pattern:
        raise CodeInputError("pattern is empty")
    if len(request.pattern) > max_pattern_length:
        raise CodeInputError(f"pattern is longer than {max_pattern_length} characters")
    if "\x00" in request.pattern:
        raise CodeInputError("pattern contains a NUL byte")
    key = request.key()
    offset = _decode_cursor(request.cursor, key) if request.cursor else 0
    deadline = time.monotonic() + timeout  # compiling counts against the time budget too
    compiled = _compile(request)  # validates the pattern (syntax, expanded size) for both engines
    if request.path_glob:
        files = [f for f in files if fnmatch.fnmatchcase(f, request.path_glob)]
    files = _still_plain(sandbox, sorted(files))
    rg = ripgrep_path() if use_ripgrep else None
    found: list[tuple[str, int, str]] | None = None
    engine = "python"
    if rg is not None:
        try:
            found, truncated = _ripgrep_search(rg, sandbox, files, request, max_matches, deadline)
            found = _verified(sandbox, found)
            engine = "ripgrep"
        except _RipgrepRejected:
            found = None
    if found is None:
        found, truncated = _python_search(sandbox, files, compiled, max_matches, deadline)
    page = found[offset : offset + request.limit]
    matches = [SearchMatch(path=p, line=n, text=t[:_MAX_LINE_CHARS]) for p, n, t in page]
    if request.context_lines and matches:
        _add_context(sandbox, matches, request.context_lines)
    next_offset = offset + len(page)
    return SearchResult(
        pattern=request.pattern,
        matches=matches,
        next_cursor=_encode_cursor(key, next_offset) if next_offset < len(found) else None,
        total_collected=len(found),
        truncated=truncated,
        engine=engine,
    )


def _read_indexed(reader: TreeReader, rel: str) -> bytes | None:
    """An indexed file read through the sandbox (no link followed anywhere on its path), or None."""
    try:
        data = reader.read(rel).data
    except (SandboxError, OSError):  # swapped for a link, a FIFO, a hard link, or gone since indexing
        return None
    return None if is_binary(data) else data


def _still_plain(sandbox: Sandbox, files: list[str]) -> list[str]:
    """Drop files that stopped being plain files (or whose directories became links) since they were indexed.

    ``fstatat`` through the sandbox's descriptor chain; it narrows what ripgrep is handed, and
    :func:`_verified` closes the race that remains while ripgrep runs.
    """
    kept = []
    with TreeReader(sandbox) as reader:
        for rel in files:
            try:
                info = reader.lstat(rel)
            except (SandboxError, OSError):
                continue
            if stat.S_ISREG(info.st_mode) and (info.st_nlink == 1 or sandbox.allow_hardlinks):
                kept.append(rel)
    return kept


_RG_PREVIEW = " [... omitted end of long line]"


def _verified(sandbox: Sandbox, found: list[tuple[str, int, str]]) -> list[tuple[str, int, str]]:
    """ripgrep's matches re-read through the sandbox: a line is kept only if the file, opened from the root
    without following links, has that very line, and the text returned is the sandbox's copy.

    ripgrep opens the paths it is given through the kernel, which follows a directory or file swapped for a
    symlink after :func:`_still_plain`; such a match (outside content) does not survive this check.
    """
    kept: list[tuple[str, int, str]] = []
    lines: list[str] = []
    current: str | None = None
    with TreeReader(sandbox) as reader:
        for rel, number, text in found:
            if rel != current:
                current = rel
                data = _read_indexed(reader, rel)
                lines = [] if data is None else data.decode("utf-8", "replace").split("\n")
            if not 0 < number <= len(lines):
                continue
            line = lines[number - 1].rstrip("\r")
            preview = text.endswith(_RG_PREVIEW)  # a long line ripgrep cut short
            if line.startswith(text[: -len(_RG_PREVIEW)]) if preview else line == text:
                kept.append((rel, number, line))
    return kept


def _add_context(sandbox: Sandbox, matches: list[SearchMatch], context: int) -> None:
    cache: dict[str, list[str]] = {}
    reader = TreeReader(sandbox)  # closed when it goes away
    for match in matches:
        if match.path not in cache:
            data = _read_indexed(reader, match.path)  # changed since the search: no context
            cache[match.path] = [] if data is None else data.decode("utf-8", "replace").splitlines()
        lines = cache[match.path]
        i = match.line - 1
        match.before = [line[:_MAX_LINE_CHARS] for line in lines[max(0, i - context) : i]]
        match.after = [line[:_MAX_LINE_CHARS] for line in lines[i + 1 : i + 1 + context]]
