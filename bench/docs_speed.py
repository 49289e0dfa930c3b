"""Speed of the docs server: indexing throughput and search latency at 10k and 100k chunks.

1. Indexing: SciFact abstracts through the real pipeline (extract → chunk → analyse → embed → SQLite),
   BM25-only and with the embedding model, next to the raw model's own throughput on the same chunk texts in
   the same run.
2. Search: ``DocsService.search`` end to end in-process (glossary, analysis, FTS5, query embedding, vector
   search, fusion, snippets) with the SciFact test queries, at 10k and 100k chunks, BM25-only and hybrid. The
   big stores are filled with sentence windows of SciFact text; their vectors are random unit vectors (search
   cost does not depend on vector values, and embedding 100k chunks would take hours on 2 cores); queries use
   the real model.

    python bench/docs_speed.py [--data ../shared/data] [--docs 400] [--sizes 10000,100000] [--write FILE]
        [--set cmrc --embedder multilingual --max-queries 600]   # Chinese, the packaged multilingual model
"""

from __future__ import annotations

import argparse
import importlib
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from toolmesh.protocols.text import Analyzer, split_sentences
from toolmesh.servers.docs.chunking import ChunkingConfig
from toolmesh.servers.docs.embedders import Embedder, resolve_embedder
from toolmesh.servers.docs.index import Indexer
from toolmesh.servers.docs.roots import Roots
from toolmesh.servers.docs.service import DocsService
from toolmesh.servers.docs.settings import DocsSettings
from toolmesh.servers.docs.stores.base import CollectionConfig, DocumentRecord, NewChunk, SearchFilter
from toolmesh.servers.docs.stores.sqlite import SqliteStore

sys.path.insert(0, str(Path(__file__).parent))
replace_section = importlib.import_module("bench_report").replace_section


def load(data: Path) -> tuple[list[tuple[str, str]], list[str]]:
    corpus = [json.loads(line) for line in (data / "corpus.jsonl").open(encoding="utf-8")]
    docs = [(d["_id"], f"# {d['title']}\n\n{d['text']}") for d in corpus]
    queries = {json.loads(line)["_id"]: json.loads(line)["text"] for line in (data / "queries.jsonl").open()}
    test_ids = [line.split("\t")[0] for line in (data / "qrels" / "test.tsv").open().read().splitlines()[1:]]
    return docs, [queries[q] for q in dict.fromkeys(test_ids)]


def indexing(docs: list[tuple[str, str]], embedder: Embedder | None) -> list[str]:
    rows: list[str] = []
    texts: list[str] = []
    models: list[tuple[str, Embedder | None]] = [("BM25 only", None)]
    if embedder is not None:
        models.append(("BM25 + embeddings", embedder))
    for label, model in models:
        store = SqliteStore(":memory:")

        def provider(m: Embedder | None = model) -> Embedder | None:
            return m

        indexer = Indexer(
            store,
            embedder=provider,
            roots=Roots([Path.cwd()]),
            defaults=ChunkingConfig("heading", 256, 0),
            embed_batch=256,
        )
        started = time.perf_counter()
        report = indexer.index_texts([(k, t, "markdown") for k, t in docs], "speed")
        seconds = time.perf_counter() - started
        rows.append(
            f"| pipeline, {label} | {report.chunks} | {seconds:.1f} | {report.chunks / seconds:.1f} |"
        )
        if not texts:  # exactly what the pipeline embeds: heading path + chunk text
            chunks = store.chunks(list(range(1, report.chunks + 1))).values()
            texts = [f"{' > '.join(c.heading_path)}\n{c.text}" if c.heading_path else c.text for c in chunks]
        store.close()
    if embedder is not None:
        started = time.perf_counter()
        embedder.embed(texts)
        seconds = time.perf_counter() - started
        rows.insert(
            1,
            f"| raw model ({embedder.name}), same chunk texts | {len(texts)} | {seconds:.1f} | "
            f"{len(texts) / seconds:.1f} |",
        )
    return rows


def fill(store: SqliteStore, docs: list[tuple[str, str]], size: int, dim: int) -> None:
    analyzer = Analyzer()
    sentences = [t[s:e] for _, t in docs for s, e in split_sentences(t.split("\n\n", 1)[-1])]
    rng = np.random.default_rng(7)
    config = CollectionConfig("speed", embedder="bench", dim=dim)
    store.ensure_collection(config)
    n = 0
    doc_no = 0
    while n < size:
        chunks: list[NewChunk] = []
        for ord_ in range(min(20, size - n)):
            start = (n * 3) % max(1, len(sentences) - 4)
            text = " ".join(sentences[start : start + 4])
            chunks.append(
                NewChunk(
                    ord_,
                    text,
                    ("bench",),
                    ord_ + 1,
                    ord_ + 1,
                    0,
                    len(text),
                    None,
                    " ".join(analyzer.terms(text)),
                )
            )
            n += 1
        vectors = rng.standard_normal((len(chunks), dim)).astype(np.float32)
        vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
        store.replace_document(
            DocumentRecord(
                "speed",
                f"/bench/doc{doc_no}.md",
                "markdown",
                str(doc_no),
                0,
                0.0,
                "\n".join(c.text for c in chunks),
            ),
            chunks,
            vectors,
        )
        doc_no += 1


def latencies(service: DocsService, queries: list[str], mode: str) -> tuple[float, float]:
    for i in range(5):  # warm-up with queries outside the measured set (query vectors are cached)
        service.search(f"warm-up query number {i} about cells", k=10, mode=mode)  # type: ignore[arg-type]
    times = []
    for q in queries:
        started = time.perf_counter()
        service.search(q, k=10, mode=mode)  # type: ignore[arg-type]
        times.append((time.perf_counter() - started) * 1000)
    times.sort()
    return statistics.median(times), times[min(len(times) - 1, int(len(times) * 0.99))]


def breakdown(store: SqliteStore, embedder: Embedder, queries: list[str]) -> tuple[float, float]:
    """p50 ms of the two costs inside a hybrid search: embedding the query, and the exact vector search."""
    embed_ms: list[float] = []
    dense_ms: list[float] = []
    for q in queries:
        started = time.perf_counter()
        vector = embedder.embed_query(q)
        embed_ms.append((time.perf_counter() - started) * 1000)
        started = time.perf_counter()
        store.dense(vector, SearchFilter(), 100)
        dense_ms.append((time.perf_counter() - started) * 1000)
    return statistics.median(embed_ms), statistics.median(dense_ms)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--data", type=Path, default=Path(__file__).resolve().parents[2] / "shared" / "data")
    parser.add_argument("--docs", type=int, default=400, help="abstracts for the indexing test")
    parser.add_argument("--sizes", default="10000,100000")
    parser.add_argument("--write", type=Path, default=None)
    parser.add_argument("--set", default="scifact", choices=["scifact", "cmrc"], help="corpus and queries")
    parser.add_argument("--embedder", default="auto", help="auto, multilingual, a hub name or a directory")
    parser.add_argument("--max-queries", type=int, default=0, help="time at most this many queries (0: all)")
    args = parser.parse_args()
    folder = args.data / {"scifact": "scifact", "cmrc": "cmrc2018"}[args.set]
    if not folder.is_dir():
        print(f"skipped: {folder} not found (pass --data)", file=sys.stderr)
        return
    docs, queries = load(folder)
    if args.max_queries:
        queries = queries[: args.max_queries]
    choice = resolve_embedder(args.embedder)
    embedder = choice.embedder
    print(choice.status, file=sys.stderr)

    index_rows = [
        "| indexing | chunks | seconds | chunks/s |",
        "|---|---:|---:|---:|",
        *indexing(docs[: args.docs], embedder),
    ]
    print("\n".join(index_rows))

    search_rows = [
        "| chunks | mode | p50 ms | p99 ms | of which (p50 ms) |",
        "|---:|---|---:|---:|---|",
    ]
    with tempfile.TemporaryDirectory() as tmp:
        for size in (int(s) for s in args.sizes.split(",")):
            path = Path(tmp) / f"speed{size}.sqlite"
            store = SqliteStore(path)
            started = time.perf_counter()
            fill(store, docs, size, embedder.dim if embedder else 384)
            print(f"filled {size} chunks in {time.perf_counter() - started:.0f}s", file=sys.stderr)
            settings = DocsSettings(roots=[Path(tmp)], index_path=path)
            bench_embedder = embedder
            if embedder is not None:  # make the collection's model name match so the dense path runs
                store.update_collection(CollectionConfig("speed", embedder=embedder.name, dim=embedder.dim))
            for mode in ("bm25", "hybrid"):
                if mode == "hybrid" and bench_embedder is None:
                    continue
                service = DocsService(
                    settings, store=store, embedder=bench_embedder if mode == "hybrid" else None
                )
                p50, p99 = latencies(service, queries, mode)
                parts = ""
                if mode == "hybrid" and bench_embedder is not None:
                    embed_p50, dense_p50 = breakdown(store, bench_embedder, queries)
                    parts = f"query embedding {embed_p50:.1f}, vector search {dense_p50:.1f}"
                search_rows.append(f"| {size:,} | {mode} | {p50:.1f} | {p99:.1f} | {parts} |")
                print(search_rows[-1], file=sys.stderr)
            store.close()
    print("\n".join(search_rows))
    if args.write:
        tag = "" if (args.set, args.embedder) == ("scifact", "auto") else f"-{args.set}-{args.embedder}"
        about = f" ({args.set}, {embedder.name if embedder else 'no model'})" if tag else ""
        replace_section(
            args.write, f"docs-speed-indexing{tag}", f"docs indexing throughput{about}", "\n".join(index_rows)
        )
        replace_section(
            args.write, f"docs-speed-search{tag}", f"docs search latency{about}", "\n".join(search_rows)
        )


if __name__ == "__main__":
    main()
