"""Recall quality and latency of the memory server at 10k and 100k memories, on SQLite, against baselines.

1. The 212 memories of bench/memory_items.toml (one user's facts, turns, tasks, tool calls and corrections, in
   English and Chinese) go in through ``Memory.remember`` — screening, dedup, analysis and embedding as in
   production — with ages spread over the last 90 days (decay is on).
2. The store is padded to each size with generated distractors (bench/memory_corpus.py) in the *same* user
   scope, so every recall ranks against all of them. They are written straight into the store with real
   embeddings from the same model (cached on disk: random vectors would never compete and would inflate
   recall), then the server's index is rebuilt from the store.
3. The 100 queries (paraphrases: other words than the stored text) run once per size and mode through
   ``Memory.recall`` end to end (analysis, query embedding, BM25, vector scan, fusion, decay, rows from
   SQLite): hybrid (the default), BM25 only, dense only, and a naive baseline that scans the table with one
   ``LIKE %word%`` per query word and ranks by how many match.

    python bench/memory_recall.py [--sizes 10000,100000] [--embedder auto] [--write docs/benchmarks.md]
"""

from __future__ import annotations

import argparse
import os
import platform
import random
import sqlite3
import statistics
import sys
import tempfile
import time
import tomllib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import cast

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.bench_report import replace_section  # noqa: E402
from bench.memory_corpus import distractor_vectors, distractors  # noqa: E402

from toolmesh.protocols.text import Analyzer, segment  # noqa: E402
from toolmesh.servers.memory import Memory, MemorySettings, MemoryStore  # noqa: E402
from toolmesh.servers.memory.embedding import choose_embedder  # noqa: E402
from toolmesh.servers.memory.items import Kind, NewItem, ScopeRef  # noqa: E402

USER = "sam"
DAY = 86_400.0
NOW = 1_780_000_000.0  # a fixed "now" (2026-05-28) so ages, and so decay, are the same every run
_STOP = {
    "what",
    "which",
    "who",
    "when",
    "where",
    "why",
    "how",
    "does",
    "do",
    "did",
    "is",
    "the",
    "a",
    "my",
    "i",
}


@dataclass
class Case:
    text: str
    expect: set[str]
    chinese: bool


def load_data() -> tuple[list[dict[str, str]], list[Case]]:
    data = tomllib.loads((ROOT / "bench" / "memory_items.toml").read_text(encoding="utf-8"))
    cases = [
        Case(q["text"], set(q["expect"]), any("\u4e00" <= c <= "\u9fff" for c in q["text"]))
        for q in data["query"]
    ]
    return data["item"], cases


def like_search(db: sqlite3.Connection, query: str, k: int) -> list[int]:
    """The baseline: one LIKE per query word (jieba words for Chinese), ranked by how many words match."""
    words = [w for w in segment(query) if w.lower() not in _STOP and len(w) > 1][:12] or [query]
    score = " + ".join("(text LIKE ?)" for _ in words)
    sql = (
        f"SELECT id FROM memory_items WHERE scope = 'user' AND scope_key = ? AND ({score}) > 0 "
        f"ORDER BY ({score}) DESC, updated_at DESC LIMIT ?"
    )
    patterns = [f"%{w}%" for w in words]
    return [r[0] for r in db.execute(sql, (USER, *patterns, *patterns, k))]


def measure(
    run: Callable[[Case], list[int]], cases: list[Case], answer_ids: dict[int, str]
) -> dict[str, float]:
    for i in range(5):  # warm-up with queries outside the measured set
        run(Case(f"warm-up question number {i} about schedules", set(), False))
    hits: list[bool] = []
    times: list[float] = []
    by_lang: dict[bool, list[bool]] = {True: [], False: []}
    for case in cases:
        started = time.perf_counter()
        ids = run(case)
        times.append((time.perf_counter() - started) * 1000)
        found = bool({answer_ids.get(i) for i in ids[:5]} & case.expect)
        hits.append(found)
        by_lang[case.chinese].append(found)
    times.sort()
    return {
        "recall": sum(hits) / len(hits),
        "recall_en": sum(by_lang[False]) / max(1, len(by_lang[False])),
        "recall_zh": sum(by_lang[True]) / max(1, len(by_lang[True])),
        "p50": statistics.median(times),
        "p95": times[min(len(times) - 1, int(len(times) * 0.95))],
    }


def pad(store: MemoryStore, total: int, have: int, vectors: np.ndarray, texts: list[tuple[str, str]]) -> None:
    analyzer = Analyzer()
    r = random.Random(11)
    scope = ScopeRef("user", USER)
    batch: list[NewItem] = []
    for i in range(have, total):
        kind, text = texts[i]
        at = NOW - r.uniform(0, 365) * DAY
        terms = " ".join(analyzer.terms(text))
        batch.append(NewItem(text, cast(Kind, kind), "bench", scope, at, terms, vector=vectors[i].tobytes()))
        if len(batch) == 2000:
            store.insert_items(batch)
            batch = []
    if batch:
        store.insert_items(batch)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sizes", default="10000,100000")
    parser.add_argument("--embedder", default="auto", help="TOOLMESH_MEMORY_EMBEDDER value (default: auto)")
    parser.add_argument("--write", type=Path, default=None, help="markdown file to write the table into")
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    items, cases = load_data()
    choice = choose_embedder(args.embedder)
    embedder = choice.embedder
    print(choice.status, flush=True)
    workdir = Path(tempfile.mkdtemp(prefix="memory-bench-"))
    clock = [NOW]
    settings = MemorySettings(store=f"sqlite:///{workdir / 'memory.sqlite'}", purge_interval=1e12)
    memory = Memory.open(settings, embedder=embedder, clock=lambda: clock[0])  # as the server opens it
    store = memory.store
    r = random.Random(5)
    answer_ids: dict[int, str] = {}
    started = time.perf_counter()
    for item in items:
        clock[0] = NOW - r.uniform(0, 90) * DAY
        remembered = memory.remember(
            item["text"], kind=item["kind"], scope="user", user_id=USER, source="bench"
        )
        answer_ids[remembered.item.id] = item["id"]
    clock[0] = NOW
    print(f"remembered {len(items)} memories in {time.perf_counter() - started:.1f}s", flush=True)
    need = max(sizes) - len(items)
    full = distractors(max(need, 100_000))  # always a prefix of the same list: the vector cache is by block
    generated = full[:need]
    upto = min(len(full), -(-need // 2000) * 2000)
    vectors = (
        distractor_vectors(embedder, [t for _, t in full[:upto]])[:need]
        if embedder is not None
        else np.zeros((need, 0), dtype=np.float32)
    )
    db = sqlite3.connect(workdir / "memory.sqlite")
    rows: list[str] = []
    results: dict[tuple[int, str], dict[str, float]] = {}
    have = 0
    for size in sizes:
        pad(store, size - len(items), have, vectors, generated)
        have = size - len(items)
        started = time.perf_counter()
        memory.counts()
        print(f"{size} memories; index rebuilt in {time.perf_counter() - started:.1f}s", flush=True)

        def embed_only(case: Case) -> list[int]:
            """Where the time goes: the model's share of a hybrid recall (it ranks nothing)."""
            assert embedder is not None
            embedder.embed_query(case.text)
            return []

        modes: dict[str, Callable[[Case], list[int]]] = {
            "hybrid (default)": lambda c: [h.item.id for h in memory.recall(c.text, k=5, user_id=USER).hits],
            "BM25 only": lambda c: [
                h.item.id for h in memory.recall(c.text, k=5, user_id=USER, mode="bm25").hits
            ],
            "LIKE scan (baseline)": lambda c: like_search(db, c.text, 5),
        }
        if embedder is not None:
            modes["dense only"] = lambda c: [
                h.item.id for h in memory.recall(c.text, k=5, user_id=USER, mode="dense").hits
            ]
            modes["(query embedding alone)"] = embed_only
        for mode, run in modes.items():
            m = measure(run, cases, answer_ids)
            results[(size, mode)] = m
            quality = (
                "— | — | —"
                if mode.startswith("(")
                else f"{m['recall']:.2f} | {m['recall_en']:.2f} | {m['recall_zh']:.2f}"
            )
            line = f"| {size:,} | {mode} | {quality} | {m['p50']:.1f} | {m['p95']:.1f} |"
            rows.append(line)
            print(line, flush=True)
    ratios: list[str] = []
    for size in sizes:
        hybrid, bm25, like = (
            results[(size, m)] for m in ("hybrid (default)", "BM25 only", "LIKE scan (baseline)")
        )
        ratios.append(
            f"- {size:,}: recall@5 hybrid / BM25 = {hybrid['recall'] / max(bm25['recall'], 1e-9):.2f}×, "
            f"hybrid / LIKE = {hybrid['recall'] / max(like['recall'], 1e-9):.2f}×; p50 hybrid / LIKE = "
            f"{hybrid['p50'] / like['p50']:.2f}×"
        )
    print("\n".join(ratios))
    memory.close()
    db.close()
    if args.write:
        zh_items = sum(1 for i in items if any("\u4e00" <= c <= "\u9fff" for c in i["text"]))
        zh_cases = sum(1 for c in cases if c.chinese)
        when = datetime.now(UTC).date().isoformat()
        load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
        body = (
            f"Command: `python bench/memory_recall.py --sizes {args.sizes} --write {args.write}` — Python "
            f"{platform.python_version()}, {os.cpu_count()} cores, load {load:.1f}, {when}. Embedder: "
            f"{choice.status}. {len(items)} stored memories (facts, turns, tasks, tool calls, corrections; "
            f"{len(items) - zh_items} English, {zh_items} Chinese) padded with generated distractors in the same "
            f"user scope (real embeddings); {len(cases)} paraphrased queries ({len(cases) - zh_cases} English, "
            f"{zh_cases} Chinese). recall@5: an expected memory is among the first five. Latency: "
            "`Memory.recall` end to end on SQLite, one run per query.\n\n"
            "| memories | mode | recall@5 | EN | ZH | p50 ms | p95 ms |\n|---|---|---|---|---|---|---|\n"
            + "\n".join(rows)
            + "\n\n"
            + "\n".join(ratios)
            + "\n"
        )
        replace_section(args.write, "memory", "Memory recall (bench/memory_recall.py)", body)


if __name__ == "__main__":
    main()
