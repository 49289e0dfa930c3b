"""The Qdrant store: dense + sparse (BM25-style, IDF computed by Qdrant) vectors and server-side fusion.

Works against a Qdrant server or cluster (``url``), an on-disk local store (``path``) or memory
(``:memory:``), all through qdrant-client. Each docs collection is one Qdrant collection
(``toolmesh_docs__NAME``) with a named dense vector and a named sparse vector; collection settings and
document records (hash, text) live as payload-only points in ``toolmesh_docs__meta``, so stateless server
replicas share everything through Qdrant.

Sparse vectors carry BM25 term weights (k1=1.2, b=0.75, against the collection's nominal chunk length);
Qdrant's IDF modifier supplies the inverse document frequency at query time.
"""

from __future__ import annotations

import fnmatch
import functools
import hashlib
import json
import threading
import time
import uuid
import zlib
from base64 import b64decode, b64encode
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from toolmesh.servers.docs.errors import DocsUnavailable
from toolmesh.servers.docs.stores.base import (
    ChunkRecord,
    CollectionConfig,
    CollectionInfo,
    DocumentRecord,
    NewChunk,
    SearchFilter,
    Vector,
)

if TYPE_CHECKING:
    from toolmesh.servers.docs.settings import DocsSettings

__all__ = ["QdrantStore", "chunk_point_id", "term_index"]

_PREFIX = "toolmesh_docs__"
_META = _PREFIX + "meta"
_NAMESPACE = uuid.UUID("0b7a4f7e-55c4-4c57-9d0a-2d3f3c1f6a11")
_K1 = 1.2
_B = 0.75


def term_index(term: str) -> int:
    """A stable sparse-vector index for a term (31-bit hash)."""
    return (
        int.from_bytes(hashlib.blake2b(term.encode("utf-8"), digest_size=4).digest(), "little") & 0x7FFFFFFF
    )


def chunk_point_id(collection: str, path: str, ord_: int, sha256: str) -> int:
    """A stable 53-bit chunk id (safe as a JSON number everywhere)."""
    digest = hashlib.blake2b(f"{collection}\0{path}\0{ord_}\0{sha256}".encode(), digest_size=8).digest()
    return (int.from_bytes(digest, "little") & ((1 << 53) - 1)) or 1


def _local_client(path: Path) -> Any:
    """qdrant-client's embedded store in ``path``; one process at a time may hold it."""
    from qdrant_client import QdrantClient

    try:
        return QdrantClient(path=str(path))
    except RuntimeError as exc:
        if "already accessed" not in str(exc):
            raise
        raise DocsUnavailable(
            f"the local Qdrant folder {path} is in use by another process (a running docs server?); "
            "qdrant-client's local mode lets one process open it at a time",
            hint="Stop that process first, or index through the running server's `index` tool, or run a "
            "Qdrant server and set TOOLMESH_DOCS_QDRANT_URL so any number of processes share the index.",
        ) from None


def _meta_id(*parts: str) -> str:
    return str(uuid.uuid5(_NAMESPACE, "\0".join(parts)))


class QdrantStore:
    """Store over qdrant-client (server, cluster, local path or memory)."""

    def __init__(self, client: Any, *, location: str = ":memory:", remote: bool = False) -> None:
        from qdrant_client import models

        self._m = models
        self._lock = threading.RLock()
        self._client = client
        self.location = location
        self._remote = (
            remote  # payload indexes only matter on a Qdrant server (local mode warns and ignores them)
        )
        if not self._client.collection_exists(_META):
            self._client.create_collection(_META, vectors_config={})
        self._meta_cache: dict[str, CollectionConfig] = {}

    @classmethod
    def from_settings(cls, settings: DocsSettings) -> QdrantStore:
        try:
            from qdrant_client import QdrantClient
        except ImportError as exc:
            raise DocsUnavailable(
                "the Qdrant store needs qdrant-client", hint="pip install 'toolmesh[docs-qdrant]'"
            ) from exc
        if settings.qdrant_url:
            client = QdrantClient(
                url=settings.qdrant_url,
                api_key=settings.qdrant_api_key.get_secret_value() if settings.qdrant_api_key else None,
            )
            return cls(client, location=settings.qdrant_url, remote=True)
        if settings.qdrant_path:
            settings.qdrant_path.mkdir(parents=True, exist_ok=True)
            return cls(_local_client(settings.qdrant_path), location=str(settings.qdrant_path))
        return cls(QdrantClient(location=":memory:"))

    @classmethod
    def in_memory(cls) -> QdrantStore:
        from qdrant_client import QdrantClient

        return cls(QdrantClient(location=":memory:"))

    @property
    def backend(self) -> str:
        return "qdrant"

    def close(self) -> None:
        self._client.close()

    # --- collections ---------------------------------------------------------------------------------------

    def _points_name(self, name: str) -> str:
        return _PREFIX + name

    def _create_points_collection(self, config: CollectionConfig) -> None:
        m = self._m
        name = self._points_name(config.name)
        if self._client.collection_exists(name):
            return
        vectors = {"dense": m.VectorParams(size=config.dim, distance=m.Distance.COSINE)} if config.dim else {}
        self._client.create_collection(
            name,
            vectors_config=vectors,
            sparse_vectors_config={"bm25": m.SparseVectorParams(modifier=m.Modifier.IDF)},
        )
        if not self._remote:
            return
        for field, schema in (
            ("path", m.PayloadSchemaType.KEYWORD),
            ("kind", m.PayloadSchemaType.KEYWORD),
            ("page", m.PayloadSchemaType.INTEGER),
            ("ord", m.PayloadSchemaType.INTEGER),
        ):
            self._client.create_payload_index(name, field, field_schema=schema)

    def _write_config(self, config: CollectionConfig) -> None:
        m = self._m
        payload = {
            "type": "collection",
            "name": config.name,
            "config": json.dumps(asdict(config)),
            "updated_at": time.time(),
        }
        self._client.upsert(_META, [m.PointStruct(id=_meta_id("c", config.name), vector={}, payload=payload)])
        self._meta_cache[config.name] = config

    def ensure_collection(self, config: CollectionConfig) -> CollectionConfig:
        existing = self._config(config.name)
        if existing is not None:
            return existing
        self._create_points_collection(config)
        self._write_config(config)
        return config

    def update_collection(self, config: CollectionConfig) -> None:
        old = self._config(config.name)
        if (
            old is not None and old.dim != config.dim
        ):  # the vector size changed: rebuild the points collection
            self._client.delete_collection(self._points_name(config.name))
            for doc in self.document_states(config.name):
                self._client.delete(_META, points_selector=[_meta_id("d", config.name, doc)])
        self._create_points_collection(config)
        self._write_config(config)

    def _config(self, name: str) -> CollectionConfig | None:
        if name in self._meta_cache:
            return self._meta_cache[name]
        records = self._client.retrieve(_META, [_meta_id("c", name)], with_payload=True)
        if not records:
            return None
        config = CollectionConfig(**json.loads(records[0].payload["config"]))
        self._meta_cache[name] = config
        return config

    def _meta_filter(self, **match: str) -> Any:
        m = self._m
        return m.Filter(must=[m.FieldCondition(key=k, match=m.MatchValue(value=v)) for k, v in match.items()])

    def _info(self, payload: dict[str, Any]) -> CollectionInfo:
        config = CollectionConfig(**json.loads(payload["config"]))
        docs = self._client.count(
            _META, count_filter=self._meta_filter(type="document", collection=config.name)
        ).count
        points = self._points_name(config.name)
        chunks = self._client.count(points).count if self._client.collection_exists(points) else 0
        return CollectionInfo(config, docs, chunks, chunks if config.dim else 0, float(payload["updated_at"]))

    def get_collection(self, name: str) -> CollectionInfo | None:
        records = self._client.retrieve(_META, [_meta_id("c", name)], with_payload=True)
        return self._info(records[0].payload) if records else None

    def list_collections(self) -> list[CollectionInfo]:
        records = self._scroll_meta(type="collection")
        return sorted((self._info(r.payload) for r in records), key=lambda i: i.config.name)

    def drop_collection(self, name: str) -> None:
        points = self._points_name(name)
        if self._client.collection_exists(points):
            self._client.delete_collection(points)
        self._client.delete(
            _META,
            points_selector=self._m.FilterSelector(
                filter=self._meta_filter(type="document", collection=name)
            ),
        )
        self._client.delete(_META, points_selector=[_meta_id("c", name)])
        self._meta_cache.pop(name, None)

    # --- documents -----------------------------------------------------------------------------------------

    def _scroll_meta(self, **match: str) -> list[Any]:
        out: list[Any] = []
        offset = None
        while True:
            records, offset = self._client.scroll(
                _META, scroll_filter=self._meta_filter(**match), limit=1000, offset=offset, with_payload=True
            )
            out.extend(records)
            if offset is None:
                return out

    def document_states(self, collection: str) -> dict[str, tuple[str, int, float]]:
        return {
            r.payload["path"]: (r.payload["sha256"], r.payload["size"], r.payload["mtime"])
            for r in self._scroll_meta(type="document", collection=collection)
        }

    def touch_document(self, collection: str, path: str, mtime: float) -> None:
        self._client.set_payload(_META, payload={"mtime": mtime}, points=[_meta_id("d", collection, path)])

    def _delete_points(self, collection: str, path: str) -> None:
        m = self._m
        name = self._points_name(collection)
        if self._client.collection_exists(name):
            self._client.delete(
                name,
                points_selector=m.FilterSelector(
                    filter=m.Filter(must=[m.FieldCondition(key="path", match=m.MatchValue(value=path))])
                ),
            )

    def _sparse(self, terms: str, nominal_length: float) -> Any:
        counts = Counter(terms.split())
        length = sum(counts.values()) or 1
        norm = _K1 * (1 - _B + _B * length / max(nominal_length, 1.0))
        weights: dict[int, float] = {}
        for term, tf in counts.items():
            index = term_index(term)
            weights[index] = weights.get(index, 0.0) + tf * (_K1 + 1) / (tf + norm)
        return self._m.SparseVector(indices=list(weights), values=list(weights.values()))

    def replace_document(
        self, doc: DocumentRecord, chunks: Sequence[NewChunk], vectors: Vector | None
    ) -> list[int]:
        m = self._m
        config = self._config(doc.collection) or CollectionConfig(doc.collection)
        self._delete_points(doc.collection, doc.path)
        ids: list[int] = []
        points = []
        for i, chunk in enumerate(chunks):
            point_id = chunk_point_id(doc.collection, doc.path, chunk.ord, doc.sha256)
            ids.append(point_id)
            vector: dict[str, Any] = {"bm25": self._sparse(chunk.terms, config.tokens * 0.6)}
            if vectors is not None and config.dim:
                vector["dense"] = vectors[i].astype(np.float32).tolist()
            points.append(
                m.PointStruct(
                    id=point_id,
                    vector=vector,
                    payload={
                        "collection": doc.collection,
                        "path": doc.path,
                        "kind": doc.kind,
                        "ord": chunk.ord,
                        "text": chunk.text,
                        "heading": list(chunk.heading_path),
                        "line_start": chunk.line_start,
                        "line_end": chunk.line_end,
                        "char_start": chunk.char_start,
                        "char_end": chunk.char_end,
                        "page": chunk.page,
                        "file_lines": list(chunk.file_lines) if chunk.file_lines else None,
                        "location": chunk.location,
                    },
                )
            )
        for lo in range(0, len(points), 256):
            self._client.upsert(self._points_name(doc.collection), points[lo : lo + 256])
        text = b64encode(zlib.compress(doc.text.encode("utf-8"))).decode("ascii")
        self._client.upsert(
            _META,
            [
                m.PointStruct(
                    id=_meta_id("d", doc.collection, doc.path),
                    vector={},
                    payload={
                        "type": "document",
                        "collection": doc.collection,
                        "path": doc.path,
                        "kind": doc.kind,
                        "sha256": doc.sha256,
                        "size": doc.size,
                        "mtime": doc.mtime,
                        "text": text,
                        "chunks": len(chunks),
                        "indexed_at": time.time(),
                    },
                )
            ],
        )
        self._write_config(config)
        return ids

    def delete_document(self, collection: str, path: str) -> bool:
        key = _meta_id("d", collection, path)
        existed = bool(self._client.retrieve(_META, [key]))
        self._delete_points(collection, path)
        self._client.delete(_META, points_selector=[key])
        return existed

    def _document(self, payload: dict[str, Any]) -> DocumentRecord:
        return DocumentRecord(
            collection=payload["collection"],
            path=payload["path"],
            kind=payload["kind"],
            sha256=payload["sha256"],
            size=payload["size"],
            mtime=payload["mtime"],
            text=zlib.decompress(b64decode(payload["text"])).decode("utf-8"),
            chunks=payload["chunks"],
            indexed_at=payload["indexed_at"],
        )

    def get_document(self, collection: str, path: str) -> DocumentRecord | None:
        records = self._client.retrieve(_META, [_meta_id("d", collection, path)], with_payload=True)
        return self._document(records[0].payload) if records else None

    def find_documents(self, path: str) -> list[DocumentRecord]:
        return [self._document(r.payload) for r in self._scroll_meta(type="document", path=path)]

    # --- search --------------------------------------------------------------------------------------------

    def _filter(self, collection: str, filt: SearchFilter) -> tuple[Any, bool]:
        """(Qdrant filter, impossible) for one collection; a glob becomes the exact list of matching paths."""
        m = self._m
        must: list[Any] = []
        if filt.path_glob:
            paths = [p for p in self.document_states(collection) if fnmatch.fnmatchcase(p, filt.path_glob)]
            if not paths:
                return None, True
            must.append(m.FieldCondition(key="path", match=m.MatchAny(any=paths)))
        if filt.kinds:
            must.append(m.FieldCondition(key="kind", match=m.MatchAny(any=list(filt.kinds))))
        if filt.pages is not None:
            must.append(m.FieldCondition(key="page", range=m.Range(gte=filt.pages[0], lte=filt.pages[1])))
        return (m.Filter(must=must) if must else None), False

    def _names(self, filt: SearchFilter) -> list[str]:
        return list(filt.collections) or [c.config.name for c in self.list_collections()]

    def _query(self, filt: SearchFilter, limit: int, **query: Any) -> list[tuple[int, float]]:
        results: list[tuple[int, float]] = []
        fetch = limit * 4 if filt.heading_contains else limit
        for name in self._names(filt):
            points_name = self._points_name(name)
            if not self._client.collection_exists(points_name):
                continue
            qfilter, impossible = self._filter(name, filt)
            if impossible:
                continue
            if "prefetch" in query:
                for prefetch in query["prefetch"]:
                    prefetch.filter = qfilter
            response = self._client.query_points(
                points_name,
                query_filter=qfilter,
                limit=fetch,
                with_payload=bool(filt.heading_contains),
                **query,
            )
            for point in response.points:
                if filt.heading_contains:
                    needle = filt.heading_contains.casefold()
                    if not any(needle in h.casefold() for h in point.payload.get("heading", [])):
                        continue
                results.append((int(point.id), float(point.score)))
        results.sort(key=lambda x: -x[1])
        return results[:limit]

    def bm25(self, query: str, filt: SearchFilter, limit: int) -> list[tuple[int, float]]:
        terms = [t for t in query.split() if t]
        if not terms:
            return []
        indices = sorted({term_index(t) for t in terms})
        sparse = self._m.SparseVector(indices=indices, values=[1.0] * len(indices))
        return self._query(filt, limit, query=sparse, using="bm25")

    def dense(self, vector: Vector, filt: SearchFilter, limit: int) -> list[tuple[int, float]]:
        names = [
            n for n in self._names(filt) if (self._config(n) or CollectionConfig(n)).dim == vector.shape[0]
        ]
        if not names:
            return []
        sub = SearchFilter(tuple(names), filt.path_glob, filt.kinds, filt.heading_contains, filt.pages)
        return self._query(sub, limit, query=vector.astype(np.float32).tolist(), using="dense")

    def fused(
        self, query: str, vector: Vector, filt: SearchFilter, limit: int, *, rrf_k: int = 60
    ) -> list[tuple[int, float]]:
        """Server-side reciprocal rank fusion of the sparse and dense vectors (one Qdrant query), scored
        Σ 1 / (rrf_k + rank) with ranks from 1, as ``search.fuse_rrf`` scores it.

        Qdrant counts positions from 0 (score 1 / (k + position)), so it is asked for k = rrf_k + 1; left
        unset, its k is 2, which lets the top few ranks of either list decide everything.
        """
        m = self._m
        indices = sorted({term_index(t) for t in query.split() if t})
        prefetch = [m.Prefetch(query=vector.astype(np.float32).tolist(), using="dense", limit=limit)]
        if indices:
            sparse = m.SparseVector(indices=indices, values=[1.0] * len(indices))
            prefetch.append(m.Prefetch(query=sparse, using="bm25", limit=limit))
        return self._query(filt, limit, prefetch=prefetch, query=m.RrfQuery(rrf=m.Rrf(k=rrf_k + 1)))

    def _record(self, point: Any) -> ChunkRecord:
        p = point.payload
        return ChunkRecord(
            id=int(point.id),
            collection=p["collection"],
            path=p["path"],
            kind=p["kind"],
            ord=p["ord"],
            text=p["text"],
            heading_path=tuple(p["heading"]),
            line_start=p["line_start"],
            line_end=p["line_end"],
            char_start=p["char_start"],
            char_end=p["char_end"],
            page=p["page"],
            file_lines=tuple(p["file_lines"]) if p.get("file_lines") else None,
            location=p.get("location"),
        )

    def chunks(self, ids: Sequence[int]) -> dict[int, ChunkRecord]:
        out: dict[int, ChunkRecord] = {}
        wanted = list(dict.fromkeys(ids))
        for info in self.list_collections():
            missing = [i for i in wanted if i not in out]
            if not missing:
                break
            points_name = self._points_name(info.config.name)
            if not self._client.collection_exists(points_name):
                continue
            for point in self._client.retrieve(points_name, missing, with_payload=True):
                out[int(point.id)] = self._record(point)
        return out

    def neighbors(self, chunk: ChunkRecord, before: int, after: int) -> list[ChunkRecord]:
        m = self._m
        records, _ = self._client.scroll(
            self._points_name(chunk.collection),
            scroll_filter=m.Filter(
                must=[
                    m.FieldCondition(key="path", match=m.MatchValue(value=chunk.path)),
                    m.FieldCondition(key="ord", range=m.Range(gte=chunk.ord - before, lte=chunk.ord + after)),
                ]
            ),
            limit=before + after + 1,
            with_payload=True,
        )
        return sorted((self._record(r) for r in records), key=lambda c: c.ord)


def _locked(method: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(method)
    def wrapper(self: QdrantStore, *args: Any, **kwargs: Any) -> Any:
        with self._lock:
            return method(self, *args, **kwargs)

    return wrapper


# Tools run in worker threads and qdrant-client's local mode is not thread-safe: every public call is
# serialised (a remote Qdrant does its own concurrency control; the lock only orders this process's calls).
for _name in (
    "ensure_collection",
    "update_collection",
    "get_collection",
    "list_collections",
    "drop_collection",
    "document_states",
    "touch_document",
    "replace_document",
    "delete_document",
    "get_document",
    "find_documents",
    "bm25",
    "dense",
    "fused",
    "chunks",
    "neighbors",
    "close",
):
    setattr(QdrantStore, _name, _locked(getattr(QdrantStore, _name)))
