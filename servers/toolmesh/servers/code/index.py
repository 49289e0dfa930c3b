"""The persistent, incremental index: one SQLite file per repository root.

A refresh walks the tree (stat only), drops files that disappeared, and re-reads only files whose size or
mtime changed; a file whose content hash is unchanged is not re-parsed. Writes go through one connection
owned by the refreshing thread; readers use their own connections (WAL), so lookups keep working while a
refresh runs.
"""

from __future__ import annotations

import hashlib
import itertools
import logging
import multiprocessing
import os
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from toolmesh.protocols.sandbox import SandboxError
from toolmesh.protocols.treewalk import TreeReader
from toolmesh.servers.code.errors import CodeConfigError
from toolmesh.servers.code.extract import extract
from toolmesh.servers.code.languages import grammar_for, language_of
from toolmesh.servers.code.paths import Sandbox, is_binary
from toolmesh.servers.code.walk import FileEntry, Walker

__all__ = ["SCHEMA_VERSION", "Index", "Progress", "RefreshStats"]

logger = logging.getLogger(__name__)

SCHEMA_VERSION = "5"
_BATCH_FILES = 400
_POOL_THRESHOLD = 300  # fewer changed files than this are parsed in-thread (process start-up costs ~0.3 s)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS files(
    id INTEGER PRIMARY KEY, path TEXT NOT NULL UNIQUE, language TEXT, size INTEGER NOT NULL,
    mtime_ns INTEGER NOT NULL, hash TEXT NOT NULL, lines INTEGER NOT NULL, status TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS symbols(
    id INTEGER PRIMARY KEY, file_id INTEGER NOT NULL, name TEXT NOT NULL, lname TEXT NOT NULL,
    qualname TEXT NOT NULL, kind TEXT NOT NULL, language TEXT NOT NULL, start_line INTEGER NOT NULL,
    end_line INTEGER NOT NULL, start_col INTEGER NOT NULL, signature TEXT NOT NULL, doc TEXT NOT NULL,
    parent_id INTEGER);
-- One row per (file, identifier): its occurrences as "line:col" pairs (1-based line, 0-based column).
CREATE TABLE IF NOT EXISTS refs(name TEXT NOT NULL, file_id INTEGER NOT NULL, n INTEGER NOT NULL,
    positions TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS calls(file_id INTEGER NOT NULL, caller_id INTEGER, name TEXT NOT NULL,
    line INTEGER NOT NULL);
"""
# Secondary indexes: dropped during a bulk load and rebuilt after it (much faster than maintaining them).
_INDEXES = """
CREATE INDEX IF NOT EXISTS symbols_lname ON symbols(lname);
CREATE INDEX IF NOT EXISTS symbols_qualname ON symbols(qualname);
CREATE INDEX IF NOT EXISTS symbols_file ON symbols(file_id);
CREATE INDEX IF NOT EXISTS refs_name ON refs(name);
CREATE INDEX IF NOT EXISTS refs_file ON refs(file_id);
CREATE INDEX IF NOT EXISTS calls_name ON calls(name);
CREATE INDEX IF NOT EXISTS calls_caller ON calls(caller_id);
CREATE INDEX IF NOT EXISTS calls_file ON calls(file_id);
"""
_DROP_INDEXES = ";".join(f"DROP INDEX IF EXISTS {line.split()[5]}" for line in _INDEXES.strip().splitlines())
_BULK_THRESHOLD = 1000

Progress = Callable[[int, int, str], None]


@dataclass(slots=True)
class RefreshStats:
    """What one refresh did."""

    files: int = 0
    added: int = 0
    updated: int = 0
    removed: int = 0
    unchanged: int = 0
    skipped_binary: int = 0
    skipped_large: int = 0
    errors: int = 0
    # Every reason the walk passed a file or directory over: large, hardlink, special, deep, changed.
    skipped: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0
    languages: dict[str, int] = field(default_factory=dict)


def _connect(path: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(path, timeout=30.0, isolation_level=None, check_same_thread=False)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    conn.execute("PRAGMA temp_store=MEMORY")
    conn.execute("PRAGMA cache_size=-32000")
    return conn


class Index:
    """The index of one repository root, stored at ``db_path``."""

    def __init__(
        self,
        sandbox: Sandbox,
        db_path: Path,
        *,
        excludes: tuple[str, ...] = (),
        respect_gitignore: bool = True,
        max_files: int = 200_000,
        references: bool = True,
        allow_in_tree: bool = False,
    ) -> None:
        self.sandbox = sandbox
        self.db_path = Path(os.path.abspath(db_path))
        if not allow_in_tree and sandbox.contains(
            Path(os.path.realpath(self.db_path.parent)) / self.db_path.name
        ):
            raise CodeConfigError(
                f"the index file {str(db_path)!r} is inside the indexed tree",
                hint="Move it (TOOLMESH_CODE_INDEX_PATH) or set TOOLMESH_CODE_ALLOW_INDEX_IN_TREE=true.",
            )
        self.excludes = excludes
        self.respect_gitignore = respect_gitignore
        self.max_files = max_files
        self.references = references
        self._local = threading.local()
        self._write_lock = threading.Lock()
        self._names: tuple[int, list[str]] | None = None
        self.db_path.parent.mkdir(parents=True, exist_ok=True)
        with self._writer() as conn:
            self._ensure_schema(conn)

    # ----------------------------------------------------------------- connections
    def reader(self) -> sqlite3.Connection:
        """This thread's read connection."""
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            conn = _connect(self.db_path)
            conn.execute("PRAGMA query_only=ON")
            self._local.conn = conn
        return conn

    @contextmanager
    def _writer(self) -> Iterator[sqlite3.Connection]:
        with self._write_lock:
            conn = _connect(self.db_path)
            try:
                yield conn
            finally:
                conn.close()

    def _ensure_schema(self, conn: sqlite3.Connection) -> None:
        conn.executescript(_SCHEMA)
        conn.executescript(_INDEXES)
        row = conn.execute("SELECT value FROM meta WHERE key='schema'").fetchone()
        root_row = conn.execute("SELECT value FROM meta WHERE key='root'").fetchone()
        if (row is not None and row[0] != SCHEMA_VERSION) or (
            root_row is not None and root_row[0] != str(self.sandbox.root)
        ):
            logger.warning("index %s is stale (schema or root changed); rebuilding", self.db_path)
            conn.executescript(
                "DELETE FROM files; DELETE FROM symbols; DELETE FROM refs; DELETE FROM calls; "
                "DELETE FROM meta;"
            )
        conn.execute("INSERT OR REPLACE INTO meta VALUES ('schema', ?)", (SCHEMA_VERSION,))
        conn.execute("INSERT OR REPLACE INTO meta VALUES ('root', ?)", (str(self.sandbox.root),))

    def _own_files(self) -> frozenset[str]:
        """The index's own files, as repository-relative paths, when it lives inside the tree."""
        parent = Path(os.path.realpath(self.db_path.parent))
        if not self.sandbox.contains(parent):
            return frozenset()
        base = self.sandbox.relative(parent / self.db_path.name)
        return frozenset(base + suffix for suffix in ("", "-wal", "-shm", "-journal"))

    def meta(self, key: str) -> str | None:
        row = self.reader().execute("SELECT value FROM meta WHERE key=?", (key,)).fetchone()
        return None if row is None else str(row[0])

    def names(self) -> list[str]:
        """Sorted distinct lower-cased symbol names (cached until the index changes)."""
        generation = self.generation
        cached = self._names
        if cached is not None and cached[0] == generation:
            return cached[1]
        names = [
            str(r[0]) for r in self.reader().execute("SELECT DISTINCT lname FROM symbols ORDER BY lname")
        ]
        self._names = (generation, names)
        return names

    @property
    def generation(self) -> int:
        """Bumped (in the file, so other processes see it) by every refresh that changed something."""
        value = self.meta("generation")
        return 0 if value is None else int(value)

    @property
    def complete(self) -> bool:
        """Whether a full walk has finished at least once."""
        return self.meta("completed_at") is not None

    # ----------------------------------------------------------------- refresh
    def refresh(
        self, progress: Progress | None = None, *, force: bool = False, workers: int = 1
    ) -> RefreshStats:
        """Bring the index up to date with the tree; ``force`` re-parses every file.

        ``workers`` > 1 parses in that many processes when there are enough files to be worth it.
        """
        started = time.perf_counter()
        stats = RefreshStats()
        walker = Walker(
            self.sandbox, self.excludes, self.respect_gitignore, self.max_files, self._own_files()
        )
        entries: dict[str, FileEntry] = {entry.rel: entry for entry in walker}
        stats.files = len(entries)
        stats.skipped_large = walker.skipped_large
        stats.skipped = dict(walker.skipped)
        with self._writer() as conn:
            known = {
                row[0]: (row[1], row[2], row[3], row[4])
                for row in conn.execute("SELECT path, id, size, mtime_ns, hash FROM files")
            }
            gone = [known[path][0] for path in known if path not in entries]
            if gone:
                conn.execute("BEGIN")
                self._delete_files(conn, gone)
                conn.execute("COMMIT")
                stats.removed = len(gone)
            todo = [
                entry
                for rel, entry in entries.items()
                if force or rel not in known or known[rel][1] != entry.size or known[rel][2] != entry.mtime_ns
            ]
            stats.unchanged = len(entries) - len(todo)
            total = len(todo)
            if progress is not None:
                progress(0, total, f"{total} files to index")
            bulk = total >= _BULK_THRESHOLD and total * 2 >= len(known)
            if bulk:
                # Clear the rows of every file about to be re-read while the lookup indexes still exist,
                # then load without indexes and rebuild them at the end.
                conn.execute("BEGIN")
                self._clear_many(conn, [known[e.rel][0] for e in todo if e.rel in known])
                conn.execute("COMMIT")
                conn.executescript(_DROP_INDEXES)
            next_symbol_id = int(conn.execute("SELECT COALESCE(MAX(id), 0) FROM symbols").fetchone()[0]) + 1
            jobs = [
                (e.rel, self.references, None if (force or bulk or e.rel not in known) else known[e.rel][3])
                for e in todo
            ]
            done = 0
            with _parser_pool(self.sandbox, workers if total >= _POOL_THRESHOLD else 1) as run:
                results_iter = run(jobs)
                for start in range(0, total, _BATCH_FILES):
                    batch = todo[start : start + _BATCH_FILES]
                    results = list(itertools.islice(results_iter, len(batch)))
                    conn.execute("BEGIN")
                    try:
                        for entry, result in zip(batch, results, strict=True):
                            next_symbol_id = self._store(
                                conn, entry, known.get(entry.rel), result, stats, next_symbol_id, bulk
                            )
                        conn.execute("COMMIT")
                    except BaseException:
                        conn.execute("ROLLBACK")
                        raise
                    done += len(batch)
                    if progress is not None:
                        progress(done, total, batch[-1].rel)
            if bulk:
                if progress is not None:
                    progress(total, total, "building lookup indexes")
                conn.executescript(_INDEXES)
            conn.execute("INSERT OR REPLACE INTO meta VALUES ('completed_at', ?)", (f"{time.time():.3f}",))
            if stats.added or stats.updated or stats.removed:
                conn.execute(
                    "INSERT INTO meta VALUES ('generation', '1') "
                    "ON CONFLICT(key) DO UPDATE SET value = CAST(value AS INTEGER) + 1"
                )
        stats.seconds = time.perf_counter() - started
        return stats

    def _delete_files(self, conn: sqlite3.Connection, ids: list[int]) -> None:
        self._clear_many(conn, ids)
        conn.executemany("DELETE FROM files WHERE id=?", [(i,) for i in ids])

    @staticmethod
    def _clear_many(conn: sqlite3.Connection, ids: list[int]) -> None:
        params = [(i,) for i in ids]
        for table in ("symbols", "refs", "calls"):
            conn.executemany(f"DELETE FROM {table} WHERE file_id=?", params)  # noqa: S608 - fixed table names

    def _store(
        self,
        conn: sqlite3.Connection,
        entry: FileEntry,
        known: tuple[int, int, int, str] | None,
        result: _Parsed | None,
        stats: RefreshStats,
        next_id: int,
        cleared: bool,
    ) -> int:
        if result is None:  # vanished, or no longer a regular file
            if known is not None:
                self._delete_files(conn, [known[0]])
                stats.removed += 1
            return next_id
        digest, lines, binary, language, payload, error = result
        if payload is None and not binary and not error and known is not None and known[3] == digest:
            conn.execute(
                "UPDATE files SET size=?, mtime_ns=? WHERE id=?", (entry.size, entry.mtime_ns, known[0])
            )
            stats.unchanged += 1
            return next_id
        status = "binary" if binary else "ok"
        if known is not None:
            file_id = known[0]
            if not cleared:
                self._clear_many(conn, [file_id])
            conn.execute(
                "UPDATE files SET language=?, size=?, mtime_ns=?, hash=?, lines=?, status=? WHERE id=?",
                (language, entry.size, entry.mtime_ns, digest, lines, status, file_id),
            )
            stats.updated += 1
        else:
            cur = conn.execute(
                "INSERT INTO files(path, language, size, mtime_ns, hash, lines, status) "
                "VALUES (?,?,?,?,?,?,?)",
                (entry.rel, language, entry.size, entry.mtime_ns, digest, lines, status),
            )
            file_id = int(cur.lastrowid or 0)
            stats.added += 1
        if binary:
            stats.skipped_binary += 1
        if error:
            logger.warning("could not parse %s: %s", entry.rel, error)
            stats.errors += 1
        if payload is None or language is None:
            return next_id
        symbols, refs, calls = payload
        stats.languages[language] = stats.languages.get(language, 0) + 1
        base = next_id
        conn.executemany(
            "INSERT INTO symbols(id, file_id, name, lname, qualname, kind, language, start_line, end_line, "
            "start_col, signature, doc, parent_id) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)",
            [
                (
                    base + i,
                    file_id,
                    name,
                    name.lower(),
                    qual,
                    kind,
                    language,
                    sl,
                    el,
                    sc,
                    sig,
                    doc,
                    None if parent is None else base + parent,
                )
                for i, (name, qual, kind, sl, el, sc, sig, doc, parent) in enumerate(symbols)
            ],
        )
        if refs:
            conn.executemany(
                "INSERT INTO refs(name, file_id, n, positions) VALUES (?,?,?,?)",
                [(name, file_id, len(places), " ".join(places)) for name, places in refs.items()],
            )
        if calls:
            conn.executemany(
                "INSERT INTO calls(file_id, caller_id, name, line) VALUES (?,?,?,?)",
                [
                    (file_id, None if caller is None else base + caller, name, line)
                    for caller, name, line in calls
                ],
            )
        return base + len(symbols)


# (symbols, refs, calls) as plain tuples: cheap to pickle from a worker process.
_Payload = tuple[
    list[tuple[str, str, str, int, int, int, str, str, int | None]],
    dict[str, list[str]],
    list[tuple[int | None, str, int]],
]
# (hash, lines, binary, language, payload or None when unchanged/binary/unparsed, error text)
_Parsed = tuple[str, int, bool, str | None, _Payload | None, str]
_Job = tuple[str, bool, str | None]  # (path, store references, hash already indexed)
_WORKER_READER: TreeReader | None = None  # a worker process's reader (set by its initializer)


def _init_worker(root: str, max_bytes: int, serve_secrets: bool, allow_hardlinks: bool) -> None:
    global _WORKER_READER
    sandbox = Sandbox(
        root, serve_secrets=serve_secrets, max_file_bytes=max_bytes, allow_hardlinks=allow_hardlinks
    )
    _WORKER_READER = TreeReader(sandbox)


def _parse_in_worker(job: _Job) -> _Parsed | None:
    assert _WORKER_READER is not None
    return _parse_job(job, _WORKER_READER)


def _parse_job(job: _Job, reader: TreeReader) -> _Parsed | None:
    """Read, hash and (if changed) parse one file. Runs in the indexing thread or in a worker process.

    The read goes through the sandbox from the root, one ``openat`` per component (no link followed), and
    is checked on the descriptor, so a file or directory swapped for a symlink since the walk is not read.
    """
    rel, references, known_hash = job
    try:
        data = reader.read(rel).data
    except (SandboxError, OSError):  # vanished, changed type, became a link or a hard link
        return None
    digest = hashlib.blake2b(data, digest_size=16).hexdigest()
    lines = data.count(b"\n") + (1 if data and not data.endswith(b"\n") else 0)
    spec = language_of(rel)
    language = spec.name if spec else None
    if known_hash == digest:
        return digest, lines, False, language, None, ""
    if is_binary(data):
        return digest, lines, True, language, None, ""
    if spec is None:
        return digest, lines, False, None, None, ""
    try:
        parsed = extract(grammar_for(spec.name), data, references=references)
    except Exception as exc:  # a grammar crash must not stop the whole index
        return digest, lines, False, language, None, f"{type(exc).__name__}: {exc}"
    symbols = [
        (s.name, s.qualname, s.kind, s.start_line, s.end_line, s.start_col, s.signature, s.doc, s.parent)
        for s in parsed.symbols
    ]
    calls = [(c.caller, c.name, c.line) for c in parsed.calls]
    refs: dict[str, list[str]] = {}
    for name, line, col in parsed.refs:
        places = refs.get(name)
        if places is None:
            refs[name] = [f"{line}:{col}"]
        else:
            places.append(f"{line}:{col}")
    return digest, lines, False, language, (symbols, refs, calls), ""


@contextmanager
def _parser_pool(
    sandbox: Sandbox, workers: int
) -> Iterator[Callable[[list[_Job]], Iterator[_Parsed | None]]]:
    """Parse jobs lazily, in order: in this thread, or over a process pool when ``workers`` > 1."""
    if workers <= 1:
        with TreeReader(sandbox) as reader:
            yield lambda jobs: (_parse_job(job, reader) for job in jobs)
        return
    context = multiprocessing.get_context("spawn")  # never fork a process that runs threads
    args = (str(sandbox.root), sandbox.max_file_bytes, sandbox.serve_secrets, sandbox.allow_hardlinks)
    with ProcessPoolExecutor(
        max_workers=workers, mp_context=context, initializer=_init_worker, initargs=args
    ) as pool:
        yield lambda jobs: pool.map(_parse_in_worker, jobs, chunksize=8)
