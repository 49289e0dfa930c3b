"""The code service: owns the sandbox and the index, keeps the index fresh, and answers the tools.

Nothing is read or written when the service is made, so building the server is instant. The first tool call
opens the index and starts a refresh in a background thread, waiting for it at most ``first_index_wait``
seconds (then answering from what is indexed so far). Later calls trigger a cheap incremental refresh (a stat
walk, re-parsing only changed files) at most every ``refresh_interval`` seconds.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import TypeVar

import anyio
import anyio.to_thread
from fastmcp.exceptions import ToolError

from toolmesh.protocols.errors import ToolmeshError
from toolmesh.servers.code.errors import CodeInputError, CodeTimeout
from toolmesh.servers.code.index import Index, Progress, RefreshStats
from toolmesh.servers.code.lookup import number_lines, symbols_by_ids
from toolmesh.servers.code.models import (
    FileText,
    Frame,
    IndexStatus,
    RepoMapResult,
    SearchResult,
    TracebackResult,
)
from toolmesh.servers.code.paths import Sandbox
from toolmesh.servers.code.repomap import reference_counts, repo_map
from toolmesh.servers.code.search import SearchRequest, ripgrep_path, run_search
from toolmesh.servers.code.settings import DEFAULT_EXCLUDES, CodeSettings
from toolmesh.servers.code.tracebacks import PathMatcher, parse_traceback

__all__ = ["CodeService"]

logger = logging.getLogger(__name__)
T = TypeVar("T")


class CodeService:
    """Everything the tools need, behind async methods that do their blocking work in threads."""

    def __init__(self, settings: CodeSettings) -> None:
        self.settings = settings
        self.sandbox = Sandbox.at(
            settings.root,
            serve_secrets=settings.serve_secrets,
            max_file_bytes=settings.max_file_bytes,
            allow_hardlinks=settings.allow_hardlinks,
            max_depth=settings.max_depth,
        )
        self._index: Index | None = None
        self._open_lock = threading.Lock()
        self._refresh_lock = threading.Lock()
        self._refreshing: threading.Thread | None = None
        self._refresh_done = threading.Event()
        self._last_refresh = 0.0
        self._last_error: BaseException | None = None
        self._cache_generation = -1
        self._files_cache: list[str] = []
        self._files_set: frozenset[str] = frozenset()
        self._counts_cache: dict[str, int] | None = None
        self.use_ripgrep = True
        self._waited_first = False
        self._watcher: threading.Thread | None = None
        self._stop_watching = threading.Event()

    # ----------------------------------------------------------------- index lifecycle
    @property
    def index(self) -> Index:
        with self._open_lock:
            if self._index is None:
                excludes = (
                    *(DEFAULT_EXCLUDES if self.settings.use_default_excludes else ()),
                    *self.settings.exclude,
                )
                self._index = Index(
                    self.sandbox,
                    self.settings.resolved_index_path(),
                    excludes=excludes,
                    respect_gitignore=self.settings.respect_gitignore,
                    max_files=self.settings.max_files,
                    references=self.settings.index_references,
                    allow_in_tree=self.settings.allow_index_in_tree,
                )
            return self._index

    def refresh_now(
        self, progress: Progress | None = None, *, force: bool = False, workers: int = 1
    ) -> RefreshStats:
        """Refresh in the calling thread (serialised with background refreshes)."""
        with self._refresh_lock:
            stats = self.index.refresh(progress, force=force, workers=workers)
            self._last_refresh = time.monotonic()
            return stats

    def _background_refresh(self) -> None:
        try:
            self.refresh_now()
            self._last_error = None
        except BaseException as exc:  # keep serving from the last good index
            logger.exception("background index refresh failed")
            self._last_error = exc
        finally:
            self._refresh_done.set()

    def _start_refresh(self) -> threading.Thread:
        with self._open_lock:
            thread = self._refreshing
            if thread is not None and thread.is_alive():
                return thread
            self._refresh_done.clear()
            thread = threading.Thread(
                target=self._background_refresh, name="toolmesh-code-index", daemon=True
            )
            self._refreshing = thread
            thread.start()
            return thread

    def wait_for_refresh(self, timeout: float | None = None) -> bool:
        """Block until the background refresh (if any) finishes; False on timeout."""
        thread = self._refreshing
        if thread is None:
            return True
        thread.join(timeout)
        return not thread.is_alive()

    @property
    def indexing(self) -> bool:
        thread = self._refreshing
        return thread is not None and thread.is_alive()

    def _start_watcher(self) -> None:
        with self._open_lock:
            if self._watcher is not None:
                return
            from toolmesh.servers.code.watch import watch_and_refresh

            self._watcher = threading.Thread(
                target=watch_and_refresh,
                args=(self,),
                kwargs={"stop": self._stop_watching},
                name="toolmesh-code-watch",
                daemon=True,
            )
            self._watcher.start()

    def close(self) -> None:
        """Stop the watcher thread, if any (background refreshes are daemon threads)."""
        self._stop_watching.set()
        if self._watcher is not None:
            self._watcher.join(5)

    async def ensure_fresh(self) -> None:
        """Start a refresh when due and wait for it (bounded); the index is opened on first use."""
        complete = await anyio.to_thread.run_sync(lambda: self.index.complete)  # opens the index on first use
        if self.settings.watch:
            self._start_watcher()
        due = time.monotonic() - self._last_refresh >= self.settings.refresh_interval
        if not due and complete:
            return
        self._start_refresh()
        # Only the first call waits long for a first index; later ones answer from what is indexed so far.
        first = not complete and not self._waited_first
        self._waited_first = True
        wait = self.settings.first_index_wait if first else self.settings.fresh_wait
        if wait > 0:
            await anyio.to_thread.run_sync(self._refresh_done.wait, wait)

    async def run(self, fn: Callable[[], T], *, time_limit: float | None = None) -> T:
        """Refresh if due, then run ``fn`` in a worker thread (given up on after ``time_limit`` seconds).

        A ToolmeshError becomes a FastMCP ToolError carrying the same text here, inside the tool: FastMCP logs
        other exceptions with a full (slow, noisy) traceback before any middleware sees them, and an expected
        refusal is not a crash.
        """
        try:
            await self.ensure_fresh()
            if time_limit is None:
                return await anyio.to_thread.run_sync(fn)
            try:
                with anyio.fail_after(time_limit):
                    # abandoned at the limit: the thread ends by itself (the regex engine's own timeout
                    # fires late under load, up to twice the budget, so the caller does not wait for it)
                    return await anyio.to_thread.run_sync(fn, abandon_on_cancel=True)
            except TimeoutError as exc:
                raise CodeTimeout(
                    f"the search took longer than its {self.settings.search_timeout:g} s time budget",
                    hint="Narrow the pattern or path_glob; avoid nested quantifiers like (a+)+.",
                ) from exc
        except ToolmeshError as exc:
            raise ToolError(str(exc)) from exc

    def _caches(self) -> None:
        index = self.index
        if index.generation != self._cache_generation or not self._files_cache:
            self._files_cache = [
                str(r[0])
                for r in index.reader().execute("SELECT path FROM files WHERE status = 'ok' ORDER BY path")
            ]
            self._files_set = frozenset(self._files_cache)
            self._counts_cache = None
            self._cache_generation = index.generation

    def indexed_files(self) -> list[str]:
        self._caches()
        return self._files_cache

    def counts(self) -> dict[str, int]:
        self._caches()
        if self._counts_cache is None:
            self._counts_cache = reference_counts(self.index)
        return self._counts_cache

    # ----------------------------------------------------------------- tool bodies (sync, in threads)
    def status(self) -> IndexStatus:
        index = self.index
        conn = index.reader()
        languages = {
            str(lang): int(n)
            for lang, n in conn.execute(
                "SELECT language, COUNT(*) FROM files WHERE language IS NOT NULL AND status='ok' "
                "GROUP BY language"
            )
        }
        completed = index.meta("completed_at")
        return IndexStatus(
            root=str(self.sandbox.root),
            index_path=str(index.db_path),
            files=int(conn.execute("SELECT COUNT(*) FROM files WHERE status='ok'").fetchone()[0]),
            languages=languages,
            symbols=int(conn.execute("SELECT COUNT(*) FROM symbols").fetchone()[0]),
            references=int(conn.execute("SELECT COALESCE(SUM(n), 0) FROM refs").fetchone()[0]),
            calls=int(conn.execute("SELECT COUNT(*) FROM calls").fetchone()[0]),
            complete=completed is not None,
            indexing=self.indexing,
            last_completed=None if completed is None else float(completed),
            ripgrep=ripgrep_path() is not None and self.use_ripgrep,
        )

    def read_file(self, path: str, start_line: int, end_line: int | None) -> FileText:
        if end_line is not None and end_line < start_line:
            raise CodeInputError(f"end_line {end_line} is before start_line {start_line}")
        data, rel = self.sandbox.read_bytes(path)
        lines = data.decode("utf-8", "replace").splitlines()
        total = len(lines)
        start = min(max(1, start_line), max(total, 1))
        last = total if end_line is None else min(end_line, total)
        truncated = False
        if last - start + 1 > self.settings.max_read_lines:
            last = start + self.settings.max_read_lines - 1
            truncated = True
        chosen = lines[start - 1 : last]
        text = number_lines(chosen, start) if chosen else ""
        if len(text) > self.settings.max_read_bytes:
            cut = text[: self.settings.max_read_bytes]
            text = cut[: cut.rfind("\n")] if "\n" in cut else cut
            last = start + text.count("\n")
            truncated = True
        return FileText(
            path=rel,
            start_line=start,
            end_line=max(last, start - 1),
            total_lines=total,
            text=text,
            truncated=truncated,
        )

    def search(self, request: SearchRequest) -> SearchResult:
        return run_search(
            self.sandbox,
            self.indexed_files(),
            request,
            max_matches=self.settings.max_search_matches,
            timeout=self.settings.search_timeout,
            max_pattern_length=self.settings.max_pattern_length,
            use_ripgrep=self.use_ripgrep,
        )

    def repo_map(self, path: str | None, max_tokens: int) -> RepoMapResult:
        _real, rel = self.sandbox.resolve_dir(path or ".")
        return repo_map(self.index, rel, max_tokens, self.counts())

    def locate_traceback(self, text: str, context: int = 2) -> TracebackResult:
        trace = parse_traceback(text)
        matcher = PathMatcher(self.indexed_files())
        conn = self.index.reader()
        frames: list[Frame] = []
        resolved = 0
        file_cache: dict[str, list[str]] = {}
        for parsed in trace.frames:
            rel = self._map_path(parsed.file, parsed.java_class, matcher)
            frame = Frame(
                raw=parsed.raw, file=parsed.file, line=parsed.line, function=parsed.function, path=rel
            )
            if rel is not None:
                row = conn.execute(
                    "SELECT s.id FROM symbols s JOIN files f ON f.id = s.file_id WHERE f.path = ? AND "
                    "s.start_line <= ? AND s.end_line >= ? AND s.kind NOT IN ('variable','field','constant') "
                    "ORDER BY s.end_line - s.start_line ASC LIMIT 1",
                    (rel, parsed.line, parsed.line),
                ).fetchone()
                if row is not None:
                    found = symbols_by_ids(self.index, [int(row[0])])
                    frame.symbol = found[0] if found else None
                if rel not in file_cache:
                    try:
                        data, _ = self.sandbox.read_bytes(rel)
                        file_cache[rel] = data.decode("utf-8", "replace").splitlines()
                    except Exception:  # refused or vanished: no snippet
                        file_cache[rel] = []
                lines = file_cache[rel]
                if 0 < parsed.line <= len(lines):
                    first = max(1, parsed.line - context)
                    chunk = lines[first - 1 : min(len(lines), parsed.line + context)]
                    frame.snippet = "\n".join(
                        f"{'>' if first + i == parsed.line else ' '} {first + i:>5}  {line}"
                        for i, line in enumerate(chunk)
                    )
                resolved += 1
            frames.append(frame)
        return TracebackResult(language=trace.language, error=trace.error, frames=frames, resolved=resolved)

    def _map_path(self, file: str, java_class: str | None, matcher: PathMatcher) -> str | None:
        if java_class is None and (file.startswith("/") or file[1:3] in (":\\", ":/")):
            try:
                _real, rel = self.sandbox.resolve(file)
            except Exception:  # outside the root, or refused: try the suffix match below
                rel = None
            else:
                self._caches()
                if rel in self._files_set:
                    return rel
        if file.startswith(("node:", "<", "internal/")):
            return None
        return matcher.match(file, java_class)
