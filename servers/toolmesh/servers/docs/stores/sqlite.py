"""The default store: one SQLite file: FTS5 holds the analysed terms, float32 vectors are searched by exact
dot product.

Vectors of a collection are loaded into one numpy matrix on first dense search and kept until the database
changes (own writes, or another process's, seen through ``PRAGMA data_version``). ``path=":memory:"`` is the
in-memory implementation used by tests.
"""

from __future__ import annotations

import contextlib
import json
import sqlite3
import threading
import time
import zlib
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np

from toolmesh.servers.docs.bm25 import Bm25Index
from toolmesh.servers.docs.stores.base import (
    ChunkRecord,
    CollectionConfig,
    CollectionInfo,
    DocumentRecord,
    NewChunk,
    SearchFilter,
    Vector,
)

__all__ = ["SqliteStore"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS collections(name TEXT PRIMARY KEY, config TEXT NOT NULL, updated_at REAL NOT NULL);
CREATE TABLE IF NOT EXISTS documents(
    collection TEXT NOT NULL, path TEXT NOT NULL, kind TEXT NOT NULL, sha256 TEXT NOT NULL, size INTEGER NOT
    NULL,
    mtime REAL NOT NULL, text BLOB NOT NULL, chunks INTEGER NOT NULL, indexed_at REAL NOT NULL,
    PRIMARY KEY(collection, path));
CREATE TABLE IF NOT EXISTS chunks(
    id INTEGER PRIMARY KEY, collection TEXT NOT NULL, path TEXT NOT NULL, kind TEXT NOT NULL, ord INTEGER NOT
    NULL,
    text TEXT NOT NULL, heading TEXT NOT NULL, heading_text TEXT NOT NULL, line_start INTEGER NOT NULL,
    line_end INTEGER NOT NULL, char_start INTEGER NOT NULL, char_end INTEGER NOT NULL, page INTEGER,
    origin TEXT);
CREATE INDEX IF NOT EXISTS chunks_doc ON chunks(collection, path, ord);
CREATE VIRTUAL TABLE IF NOT EXISTS chunks_fts USING fts5(terms, tokenize='unicode61 remove_diacritics 0');
CREATE TABLE IF NOT EXISTS vectors(chunk_id INTEGER PRIMARY KEY, collection TEXT NOT NULL, vec BLOB NOT NULL);
CREATE INDEX IF NOT EXISTS vectors_collection ON vectors(collection);
"""

_CHUNK_COLUMNS = (
    "id, collection, path, kind, ord, text, heading, line_start, line_end, char_start, char_end, page, origin"
)


def _origin_json(chunk: NewChunk) -> str | None:
    """Where a converted chunk came from in its file, as JSON (None for text formats)."""
    if chunk.file_lines is None and chunk.location is None:
        return None
    return json.dumps({"lines": chunk.file_lines, "location": chunk.location}, ensure_ascii=False)


def _fts_query(terms: str) -> str:
    """An FTS5 query OR-ing each term as a quoted string: no user text is ever read as FTS5 syntax."""
    quoted = ['"' + t.replace('"', '""') + '"' for t in terms.split() if t]
    return " OR ".join(quoted)


def _chunk(row: Sequence[Any]) -> ChunkRecord:
    origin = json.loads(row[12]) if row[12] else None
    return ChunkRecord(
        id=row[0],
        collection=row[1],
        path=row[2],
        kind=row[3],
        ord=row[4],
        text=row[5],
        heading_path=tuple(json.loads(row[6])),
        line_start=row[7],
        line_end=row[8],
        char_start=row[9],
        char_end=row[10],
        page=row[11],
        file_lines=tuple(origin["lines"]) if origin and origin.get("lines") else None,
        location=origin.get("location") if origin else None,
    )


class SqliteStore:
    """SQLite + FTS5 + exact vector search; safe to share between threads."""

    def __init__(self, path: Path | str) -> None:
        self.path = str(path)
        if self.path != ":memory:":
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None, timeout=30.0)
        self._lock = threading.RLock()
        with self._lock:
            if self.path != ":memory:":
                self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.executescript(_SCHEMA)
            columns = {row[1] for row in self._db.execute("PRAGMA table_info(chunks)")}
            if "origin" not in columns:  # an index written before file lines of converted formats
                with contextlib.suppress(sqlite3.OperationalError):  # another process added it first
                    self._db.execute("ALTER TABLE chunks ADD COLUMN origin TEXT")
        self._matrices: dict[str, tuple[np.ndarray[Any, Any], Vector]] = {}
        self._seen_version = -1
        self._infos: list[CollectionInfo] | None = None
        self._bm25: dict[str, Bm25Index] = {}

    @property
    def backend(self) -> str:
        return "sqlite"

    def close(self) -> None:
        with self._lock:
            self._db.close()

    # --- collections ---------------------------------------------------------------------------------------

    def ensure_collection(self, config: CollectionConfig) -> CollectionConfig:
        with self._lock:
            row = self._db.execute("SELECT config FROM collections WHERE name = ?", (config.name,)).fetchone()
            if row is not None:
                return CollectionConfig(**json.loads(row[0]))
            self._db.execute(
                "INSERT INTO collections(name, config, updated_at) VALUES (?, ?, ?)",
                (config.name, json.dumps(asdict(config)), time.time()),
            )
            self._infos = None
            return config

    def update_collection(self, config: CollectionConfig) -> None:
        with self._lock:
            self._db.execute(
                "UPDATE collections SET config = ?, updated_at = ? WHERE name = ?",
                (json.dumps(asdict(config)), time.time(), config.name),
            )
            self._infos = None

    def _info(self, name: str, config_json: str, updated_at: float) -> CollectionInfo:
        docs, chunks = self._db.execute(
            "SELECT count(*), coalesce(sum(chunks), 0) FROM documents WHERE collection = ?", (name,)
        ).fetchone()
        (vectors,) = self._db.execute("SELECT count(*) FROM vectors WHERE collection = ?", (name,)).fetchone()
        return CollectionInfo(CollectionConfig(**json.loads(config_json)), docs, chunks, vectors, updated_at)

    def get_collection(self, name: str) -> CollectionInfo | None:
        return next((c for c in self.list_collections() if c.config.name == name), None)

    def list_collections(self) -> list[CollectionInfo]:
        with self._lock:
            self._check_version()
            if self._infos is None:
                rows = self._db.execute(
                    "SELECT name, config, updated_at FROM collections ORDER BY name"
                ).fetchall()
                self._infos = [self._info(*row) for row in rows]
            return list(self._infos)

    def _check_version(self) -> None:
        """Drop cached matrices and counts when another connection has committed."""
        (version,) = self._db.execute("PRAGMA data_version").fetchone()
        if version != self._seen_version:
            self._matrices.clear()
            self._bm25.clear()
            self._infos = None
            self._seen_version = version

    def drop_collection(self, name: str) -> None:
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                self._db.execute(
                    "DELETE FROM chunks_fts WHERE rowid IN (SELECT id FROM chunks WHERE collection = ?)",
                    (name,),
                )
                for table in ("chunks", "vectors", "documents"):
                    self._db.execute(f"DELETE FROM {table} WHERE collection = ?", (name,))  # noqa: S608
                self._db.execute("DELETE FROM collections WHERE name = ?", (name,))
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._matrices.pop(name, None)
            self._bm25.pop(name, None)
            self._infos = None

    # --- documents -----------------------------------------------------------------------------------------

    def document_states(self, collection: str) -> dict[str, tuple[str, int, float]]:
        with self._lock:
            rows = self._db.execute(
                "SELECT path, sha256, size, mtime FROM documents WHERE collection = ?", (collection,)
            ).fetchall()
        return {path: (sha, size, mtime) for path, sha, size, mtime in rows}

    def touch_document(self, collection: str, path: str, mtime: float) -> None:
        with self._lock:
            self._db.execute(
                "UPDATE documents SET mtime = ? WHERE collection = ? AND path = ?", (mtime, collection, path)
            )

    def _delete_chunks(self, collection: str, path: str) -> None:
        ids = [
            r[0]
            for r in self._db.execute(
                "SELECT id FROM chunks WHERE collection = ? AND path = ?", (collection, path)
            )
        ]
        if ids:
            self._db.executemany("DELETE FROM chunks_fts WHERE rowid = ?", [(i,) for i in ids])
            self._db.executemany("DELETE FROM vectors WHERE chunk_id = ?", [(i,) for i in ids])
            self._db.execute("DELETE FROM chunks WHERE collection = ? AND path = ?", (collection, path))

    def replace_document(
        self, doc: DocumentRecord, chunks: Sequence[NewChunk], vectors: Vector | None
    ) -> list[int]:
        now = time.time()
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                self._delete_chunks(doc.collection, doc.path)
                self._db.execute(
                    "INSERT OR REPLACE INTO documents VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (
                        doc.collection,
                        doc.path,
                        doc.kind,
                        doc.sha256,
                        doc.size,
                        doc.mtime,
                        zlib.compress(doc.text.encode("utf-8")),
                        len(chunks),
                        now,
                    ),
                )
                ids: list[int] = []
                for i, chunk in enumerate(chunks):
                    cursor = self._db.execute(
                        "INSERT INTO chunks(collection, path, kind, ord, text, heading, heading_text, "
                        "line_start, "
                        "line_end, char_start, char_end, page, origin) "
                        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                        (
                            doc.collection,
                            doc.path,
                            doc.kind,
                            chunk.ord,
                            chunk.text,
                            json.dumps(list(chunk.heading_path), ensure_ascii=False),
                            " > ".join(chunk.heading_path),
                            chunk.line_start,
                            chunk.line_end,
                            chunk.char_start,
                            chunk.char_end,
                            chunk.page,
                            _origin_json(chunk),
                        ),
                    )
                    chunk_id = int(cursor.lastrowid or 0)
                    ids.append(chunk_id)
                    self._db.execute(
                        "INSERT INTO chunks_fts(rowid, terms) VALUES (?, ?)", (chunk_id, chunk.terms)
                    )
                    if vectors is not None:
                        self._db.execute(
                            "INSERT INTO vectors(chunk_id, collection, vec) VALUES (?, ?, ?)",
                            (chunk_id, doc.collection, vectors[i].astype(np.float32).tobytes()),
                        )
                self._db.execute(
                    "UPDATE collections SET updated_at = ? WHERE name = ?", (now, doc.collection)
                )
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._matrices.pop(doc.collection, None)
            self._bm25.pop(doc.collection, None)
            self._infos = None
            return ids

    def delete_document(self, collection: str, path: str) -> bool:
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                self._delete_chunks(collection, path)
                deleted = self._db.execute(
                    "DELETE FROM documents WHERE collection = ? AND path = ?", (collection, path)
                ).rowcount
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._matrices.pop(collection, None)
            self._bm25.pop(collection, None)
            self._infos = None
            return deleted > 0

    def _document(self, row: Sequence[Any]) -> DocumentRecord:
        return DocumentRecord(
            collection=row[0],
            path=row[1],
            kind=row[2],
            sha256=row[3],
            size=row[4],
            mtime=row[5],
            text=zlib.decompress(row[6]).decode("utf-8"),
            chunks=row[7],
            indexed_at=row[8],
        )

    def get_document(self, collection: str, path: str) -> DocumentRecord | None:
        with self._lock:
            row = self._db.execute(
                "SELECT * FROM documents WHERE collection = ? AND path = ?", (collection, path)
            ).fetchone()
        return None if row is None else self._document(row)

    def find_documents(self, path: str) -> list[DocumentRecord]:
        with self._lock:
            rows = self._db.execute(
                "SELECT * FROM documents WHERE path = ? ORDER BY collection", (path,)
            ).fetchall()
        return [self._document(r) for r in rows]

    # --- search --------------------------------------------------------------------------------------------

    def _where(self, filt: SearchFilter, alias: str = "c") -> tuple[str, list[Any]]:
        clauses: list[str] = []
        params: list[Any] = []
        if filt.collections:
            clauses.append(f"{alias}.collection IN ({','.join('?' * len(filt.collections))})")
            params.extend(filt.collections)
        if filt.path_glob:
            clauses.append(f"{alias}.path GLOB ?")
            params.append(filt.path_glob)
        if filt.kinds:
            clauses.append(f"{alias}.kind IN ({','.join('?' * len(filt.kinds))})")
            params.extend(filt.kinds)
        if filt.heading_contains:
            clauses.append(f"instr(lower({alias}.heading_text), lower(?)) > 0")
            params.append(filt.heading_contains)
        if filt.pages is not None:
            clauses.append(f"{alias}.page BETWEEN ? AND ?")
            params.extend(filt.pages)
        return " AND ".join(clauses), params

    def _all_collections(self) -> list[str]:
        return [c.config.name for c in self.list_collections()]

    def bm25(self, query: str, filt: SearchFilter, limit: int) -> list[tuple[int, float]]:
        terms = [t for t in query.split() if t]
        if not terms:
            return []
        with self._lock:
            names = list(filt.collections) or self._all_collections()
            allowed = self._allowed(filt)
            results: list[tuple[int, float]] = []
            for name in names:
                results.extend(self._bm25_index(name).search(terms, limit, allowed))
        results.sort(key=lambda x: -x[1])
        return results[:limit]

    def fts_match(self, query: str, filt: SearchFilter, limit: int) -> list[tuple[int, float]]:
        """The same query ranked by FTS5's own bm25() (slower; kept for comparison and ad-hoc use)."""
        match = _fts_query(query)
        if not match:
            return []
        with self._lock:
            where, params = self._where(filt)
            rows = self._db.execute(
                "SELECT f.rowid, -f.rank FROM chunks_fts f JOIN chunks c ON c.id = f.rowid "  # noqa: S608
                f"WHERE chunks_fts MATCH ? {'AND ' + where if where else ''} ORDER BY f.rank LIMIT ?",
                (match, *params, limit),
            ).fetchall()
        return [(int(r[0]), float(r[1])) for r in rows]

    def _bm25_index(self, collection: str) -> Bm25Index:
        self._check_version()
        index = self._bm25.get(collection)
        if index is None:
            rows = self._db.execute(
                "SELECT c.id, f.terms FROM chunks c JOIN chunks_fts f ON f.rowid = c.id "
                "WHERE c.collection = ? "
                "ORDER BY c.id",
                (collection,),
            )
            index = Bm25Index.build((int(r[0]), str(r[1])) for r in rows)
            self._bm25[collection] = index
        return index

    def _allowed(self, filt: SearchFilter) -> np.ndarray[Any, Any] | None:
        if not (filt.path_glob or filt.kinds or filt.heading_contains or filt.pages is not None):
            return None
        where, params = self._where(filt)
        return np.fromiter(
            (r[0] for r in self._db.execute(f"SELECT c.id FROM chunks c WHERE {where}", params)),  # noqa: S608
            dtype=np.int64,
        )

    def _matrix(self, collection: str) -> tuple[np.ndarray[Any, Any], Vector]:
        self._check_version()
        cached = self._matrices.get(collection)
        if cached is None:
            rows = self._db.execute(
                "SELECT chunk_id, vec FROM vectors WHERE collection = ? ORDER BY chunk_id", (collection,)
            ).fetchall()
            ids = np.fromiter((r[0] for r in rows), dtype=np.int64, count=len(rows))
            if rows:
                matrix = np.frombuffer(b"".join(r[1] for r in rows), dtype=np.float32).reshape(len(rows), -1)
            else:
                matrix = np.zeros((0, 1), dtype=np.float32)
            cached = (ids, matrix)
            self._matrices[collection] = cached
        return cached

    def dense(self, vector: Vector, filt: SearchFilter, limit: int) -> list[tuple[int, float]]:
        with self._lock:
            names = list(filt.collections) or self._all_collections()
            allowed = self._allowed(filt)
            parts_ids: list[np.ndarray[Any, Any]] = []
            parts_scores: list[np.ndarray[Any, Any]] = []
            for name in names:
                ids, matrix = self._matrix(name)
                if len(ids) == 0 or matrix.shape[1] != vector.shape[0]:
                    continue
                scores = matrix @ vector
                if allowed is not None:
                    mask = np.isin(ids, allowed)
                    ids, scores = ids[mask], scores[mask]
                if len(ids) > limit:
                    top = np.argpartition(-scores, limit - 1)[:limit]
                    ids, scores = ids[top], scores[top]
                parts_ids.append(ids)
                parts_scores.append(scores)
        if not parts_ids:
            return []
        all_ids = np.concatenate(parts_ids)
        all_scores = np.concatenate(parts_scores)
        order = np.argsort(-all_scores, kind="stable")[:limit]
        return [(int(all_ids[i]), float(all_scores[i])) for i in order]

    def chunks(self, ids: Sequence[int]) -> dict[int, ChunkRecord]:
        out: dict[int, ChunkRecord] = {}
        with self._lock:
            for lo in range(0, len(ids), 500):
                batch = list(ids[lo : lo + 500])
                rows = self._db.execute(
                    f"SELECT {_CHUNK_COLUMNS} FROM chunks WHERE id IN ({','.join('?' * len(batch))})",  # noqa: S608
                    batch,
                ).fetchall()
                for row in rows:
                    out[row[0]] = _chunk(row)
        return out

    def neighbors(self, chunk: ChunkRecord, before: int, after: int) -> list[ChunkRecord]:
        with self._lock:
            rows = self._db.execute(
                f"SELECT {_CHUNK_COLUMNS} FROM chunks WHERE collection = ? AND path = ? "  # noqa: S608
                "AND ord BETWEEN ? AND ? ORDER BY ord",
                (chunk.collection, chunk.path, chunk.ord - before, chunk.ord + after),
            ).fetchall()
        return [_chunk(r) for r in rows]
