"""Retrieval quality of the docs server on BEIR-format sets: SciFact (English) and CMRC 2018 (Chinese).

Runs the real pipeline (chunker, analyser, SQLite FTS5 store, ONNX embedder, fusion) and reports nDCG@10,
Recall@10, Recall@100 and MRR@10 for BM25 alone, dense alone, hybrid (RRF, min-max and DBSF fusion) and hybrid +
rerank (when a cross-encoder directory is given). On CMRC it also indexes with FTS5's default tokenizer
(unicode61) to show what jieba segmentation buys.

    python bench/docs_quality.py [--data ../shared/data] [--sets scifact,cmrc] [--cache /tmp/docs-bench]
        [--embedder scifact=auto --embedder cmrc=multilingual] [--sweep] [--reranker DIR]
        [--write docs/benchmarks-docs.md]

Each set is embedded with its own model (SciFact: the packaged all-MiniLM-L6-v2; CMRC: the packaged
multilingual-e5-small, as a user indexing Chinese text would configure it). ``--sweep`` adds DBSF at dense
weights 0.3-0.7 on the first and second half of the queries separately, to show how stable the default is.
"""

from __future__ import annotations

import argparse
import importlib
import json
import math
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import numpy.typing as npt

from toolmesh.servers.docs.chunking import ChunkingConfig
from toolmesh.servers.docs.embedders import Embedder, resolve_embedder
from toolmesh.servers.docs.formats import Kind
from toolmesh.servers.docs.index import Indexer
from toolmesh.servers.docs.rerank import resolve_reranker
from toolmesh.servers.docs.roots import Roots
from toolmesh.servers.docs.search import Mode, Reranker, Searcher
from toolmesh.servers.docs.stores.base import SearchFilter
from toolmesh.servers.docs.stores.sqlite import SqliteStore

sys.path.insert(0, str(Path(__file__).parent))
replace_section = importlib.import_module("bench_report").replace_section

Qrels = dict[str, dict[str, int]]


def read_jsonl(path: Path) -> Iterator[dict[str, str]]:
    with path.open(encoding="utf-8") as fh:
        for line in fh:
            if line.strip():
                yield json.loads(line)


def read_qrels(path: Path) -> Qrels:
    qrels: Qrels = {}
    with path.open(encoding="utf-8") as fh:
        next(fh)
        for line in fh:
            qid, did, score = line.rstrip("\n").split("\t")
            if int(score) > 0:
                qrels.setdefault(qid, {})[did] = int(score)
    return qrels


def metrics(ranked: list[str], relevant: dict[str, int]) -> dict[str, float]:
    dcg = sum((2 ** relevant.get(d, 0) - 1) / math.log2(i + 2) for i, d in enumerate(ranked[:10]))
    ideal = sorted(relevant.values(), reverse=True)[:10]
    idcg = sum((2**g - 1) / math.log2(i + 2) for i, g in enumerate(ideal))
    mrr = next((1.0 / (i + 1) for i, d in enumerate(ranked[:10]) if d in relevant), 0.0)
    return {
        "nDCG@10": dcg / idcg if idcg else 0.0,
        "R@10": len(set(ranked[:10]) & relevant.keys()) / len(relevant),
        "R@100": len(set(ranked[:100]) & relevant.keys()) / len(relevant),
        "MRR@10": mrr,
    }


def build_index(
    name: str, data: Path, cache: Path | None, embedder: Embedder | None, analyzer: str
) -> SqliteStore:
    tag = f"{name}-{analyzer}-{embedder.name if embedder else 'bm25'}".replace(" ", "_").replace("/", "_")
    path = (cache / f"{tag}.sqlite") if cache else Path(":memory:")
    if path != Path(":memory:") and path.exists():
        store = SqliteStore(path)
        if store.list_collections():
            print(f"  reusing {path}", file=sys.stderr)
            return store
        store.close()
        path.unlink()
    store = SqliteStore(path)
    indexer = Indexer(
        store,
        embedder=lambda: embedder,
        roots=Roots([Path.cwd()]),
        defaults=ChunkingConfig("heading", 512, 0),
        embed_batch=256,
    )
    docs: list[tuple[str, str, Kind]] = [
        (d["_id"], f"# {d['title']}\n\n{d['text']}" if d.get("title") else d["text"], "markdown")
        for d in read_jsonl(data / "corpus.jsonl")
    ]
    started = time.perf_counter()
    report = indexer.index_texts(docs, name, analyzer=analyzer)
    print(
        f"  indexed {report.files_seen} docs / {report.chunks} chunks ({analyzer}, "
        f"{'dense' if embedder else 'bm25'}) in {time.perf_counter() - started:.1f}s",
        file=sys.stderr,
    )
    return store


class QueryVectorMemo:
    """The embedder with every query vector kept: each method row re-runs all queries, and the query
    embedding (the slow part with the 4-bit multilingual model) would otherwise be paid per row. The first
    row that uses the dense path pays it; its ms/query includes it, later rows' do not."""

    def __init__(self, inner: Embedder) -> None:
        self._inner = inner
        self._memo: dict[str, npt.NDArray[np.float32]] = {}

    @property
    def name(self) -> str:
        return self._inner.name

    @property
    def dim(self) -> int:
        return self._inner.dim

    @property
    def multilingual(self) -> bool:
        return self._inner.multilingual

    def embed(self, texts: list[str]) -> npt.NDArray[np.float32]:
        return self._inner.embed(texts)

    def embed_query(self, text: str) -> npt.NDArray[np.float32]:
        if text not in self._memo:
            self._memo[text] = self._inner.embed_query(text)
        return self._memo[text]


def evaluate(
    searcher: Searcher, queries: dict[str, str], qrels: Qrels, mode: Mode, rerank: bool = False
) -> dict[str, float]:
    totals: dict[str, float] = {}
    started = time.perf_counter()
    for qid, relevant in qrels.items():
        outcome = searcher.search(queries[qid], 200, SearchFilter(), mode=mode, rerank=rerank, candidates=200)
        ranked: list[str] = []
        for hit in outcome.hits:
            if hit.chunk.path not in ranked:
                ranked.append(hit.chunk.path)
        for key, value in metrics(ranked, relevant).items():
            totals[key] = totals.get(key, 0.0) + value
    out = {k: v / len(qrels) for k, v in totals.items()}
    out["ms/query"] = 1000 * (time.perf_counter() - started) / len(qrels)
    return out


def run_set(
    name: str,
    data: Path,
    cache: Path | None,
    embedder: Embedder | None,
    reranker: Reranker | None,
    sweep: bool = False,
) -> list[tuple[str, dict[str, float]]]:
    queries = {q["_id"]: q["text"] for q in read_jsonl(data / "queries.jsonl")}
    qrels = read_qrels(data / "qrels" / "test.tsv")
    rows: list[tuple[str, dict[str, float]]] = []
    print(f"{name}: {len(qrels)} queries", file=sys.stderr)
    store = build_index(name, data, cache, embedder, "standard")
    if embedder is not None:
        embedder = QueryVectorMemo(embedder)

    def searcher(fusion: str, weight: float = 0.5) -> Searcher:
        return Searcher(
            store,
            embedder=lambda: embedder,
            fusion=fusion,  # type: ignore[arg-type]
            dense_weight=weight,
            candidates=200,
            reranker=lambda: reranker,
            rerank_top=30,
        )

    rows.append(("BM25 (FTS5, stemmed / jieba)", evaluate(searcher("rrf"), queries, qrels, "bm25")))
    if name == "cmrc":
        plain = build_index(name, data, cache, None, "unicode61")
        baseline = Searcher(plain, embedder=lambda: None, candidates=200)
        rows.append(("BM25 (FTS5 default unicode61 tokenizer)", evaluate(baseline, queries, qrels, "bm25")))
        plain.close()
    if embedder is not None:
        rows.append((f"dense ({embedder.name})", evaluate(searcher("rrf"), queries, qrels, "dense")))
        rows.append(("hybrid, RRF k=60", evaluate(searcher("rrf"), queries, qrels, "hybrid")))
        rows.append(("hybrid, min-max 0.5/0.5", evaluate(searcher("minmax"), queries, qrels, "hybrid")))
        rows.append(("hybrid, DBSF 0.5/0.5 (default)", evaluate(searcher("dbsf"), queries, qrels, "hybrid")))
        if sweep:
            ids = sorted(qrels)
            halves = {"A": ids[: len(ids) // 2], "B": ids[len(ids) // 2 :]}
            for weight in (0.3, 0.4, 0.5, 0.6, 0.7):
                for half, members in halves.items():
                    subset = {q: qrels[q] for q in members}
                    label = f"DBSF, dense weight {weight} (queries {half})"
                    rows.append((label, evaluate(searcher("dbsf", weight), queries, subset, "hybrid")))
        if reranker is not None:
            rows.append(
                ("hybrid DBSF + rerank", evaluate(searcher("dbsf"), queries, qrels, "hybrid", rerank=True))
            )
    store.close()
    return rows


def table(rows: list[tuple[str, dict[str, float]]]) -> str:
    keys = ["nDCG@10", "R@10", "R@100", "MRR@10", "ms/query"]
    lines = ["| method | " + " | ".join(keys) + " |", "|---|" + "---:|" * len(keys)]
    for name, values in rows:
        cells = [f"{values[k]:.1f}" if k == "ms/query" else f"{values[k]:.3f}" for k in keys]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--data", type=Path, default=Path(__file__).resolve().parents[2] / "shared" / "data")
    parser.add_argument("--sets", default="scifact,cmrc")
    parser.add_argument("--cache", type=Path, default=None, help="keep the built indexes here and reuse them")
    parser.add_argument(
        "--embedder",
        action="append",
        default=[],
        metavar="SET=SPEC",
        help="the embedder of a set: auto, multilingual, none or an ONNX model directory "
        "(default scifact=auto, cmrc=multilingual)",
    )
    parser.add_argument("--sweep", action="store_true", help="also sweep DBSF's dense weight, per half")
    parser.add_argument("--reranker", default=None, help="a cross-encoder: hub name or ONNX directory")
    parser.add_argument("--write", type=Path, default=None, help="markdown file to write the tables into")
    args = parser.parse_args()
    if not args.data.is_dir():
        print(f"skipped: data folder {args.data} not found (pass --data)", file=sys.stderr)
        return
    if args.cache:
        args.cache.mkdir(parents=True, exist_ok=True)
    specs = {"scifact": "auto", "cmrc": "multilingual"}
    for item in args.embedder:
        key, sep, spec = item.partition("=")
        if not sep or key not in specs:
            parser.error(f"--embedder takes SET=SPEC with SET one of {', '.join(specs)}, not {item!r}")
        specs[key] = spec
    reranker = resolve_reranker(args.reranker).reranker
    folders = {"scifact": "scifact", "cmrc": "cmrc2018"}
    for name in args.sets.split(","):
        folder = args.data / folders[name]
        if not folder.is_dir():
            print(f"skipped {name}: {folder} not found", file=sys.stderr)
            continue
        choice = resolve_embedder(specs[name])
        print(f"{name}: {choice.status}", file=sys.stderr)
        rows = run_set(name, folder, args.cache, choice.embedder, reranker, args.sweep)
        body = table(rows)
        print(f"\n### {name}\n\n{body}\n")
        if args.write:
            replace_section(args.write, f"docs-quality-{name}", f"docs retrieval quality: {name}", body)


if __name__ == "__main__":
    main()
