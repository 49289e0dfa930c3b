"""Benchmarks of the sql server, each against a baseline in the same run.

1. ``run_query`` through the in-memory MCP client vs the raw async driver running the same query
   (1 row, 1k rows, 10k rows capped), on SQLite (the sample shop) and PostgreSQL (the shop copied into a
   temporary schema; skipped when PostgreSQL is not reachable).
2. ``find_tables`` recall@k on the Spider dev questions (a question counts when every table of its gold query is
   in the top k), against plain BM25 over table and column names.

    .venv/bin/python bench/sql.py [--spider ../shared/data/spider] [--postgres URL] [--write docs/benchmarks-sql.md]
"""

from __future__ import annotations

import argparse
import asyncio
import datetime
import functools
import json
import math
import os
import platform
import re
import socket
import statistics
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import aiosqlite
import asyncpg
import sqlglot
from fastmcp import Client
from sqlglot import exp

from toolmesh.servers.sql import SqlSettings, build_server
from toolmesh.servers.sql.linking import SchemaIndex
from toolmesh.servers.sql.models import ColumnInfo, ForeignKey, TableDescription
from toolmesh.servers.sql.sample import generate_sample
from toolmesh.servers.sql.settings import ConnectionSettings

CASES = [
    ("1 row", "SELECT * FROM customers WHERE customer_id = 42", 1),
    ("1k rows", "SELECT * FROM order_items ORDER BY order_id, line_no LIMIT 1000", 1000),
    (
        "10k rows capped",
        "SELECT a.* FROM order_items a CROSS JOIN (SELECT 1 AS k UNION ALL SELECT 2 UNION ALL SELECT 3) b",
        10_000,
    ),
]


async def _paired_ms(
    first: Callable[[], Awaitable[Any]], second: Callable[[], Awaitable[Any]], repeat: int
) -> tuple[float, float]:
    """Median ms of each, sampled alternately so both see the same machine load."""
    for _ in range(3):
        await first()
        await second()
    a: list[float] = []
    b: list[float] = []
    for _ in range(repeat):
        for fn, samples in ((first, a), (second, b)):
            started = time.perf_counter()
            await fn()
            samples.append((time.perf_counter() - started) * 1000)
    return statistics.median(a), statistics.median(b)


async def _mcp_runner(settings: SqlSettings) -> tuple[Client[Any], Callable[[str, int], Awaitable[int]]]:
    client: Client[Any] = Client(build_server(settings))

    async def run(sql: str, cap: int) -> int:
        result = await client.call_tool("run_query", {"sql": sql, "max_rows": cap})
        content = result.structured_content
        assert isinstance(content, dict)
        return int(content["row_count"])

    return client, run


async def bench_sqlite(path: Path, repeat: int) -> list[tuple[str, str, float, float]]:
    settings = SqlSettings(
        sample=False,
        max_rows_limit=10_000,
        max_bytes=50_000_000,
        connections={"shop": ConnectionSettings(url=f"sqlite:///{path}")},
    )
    client, mcp_run = await _mcp_runner(settings)
    rows: list[tuple[str, str, float, float]] = []
    async with client, aiosqlite.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True) as raw:

        async def raw_run(sql: str, cap: int) -> int:
            cursor = await raw.execute(sql)
            fetched = await cursor.fetchmany(cap)
            await cursor.close()
            return len(list(fetched))

        floor, _ = await _paired_ms(
            functools.partial(client.call_tool, "list_connections", {}),
            functools.partial(raw_run, "SELECT 1", 1),
            repeat,
        )
        rows.append(("SQLite", "no query (list_connections)", floor, float("nan")))
        for label, sql, cap in CASES:
            assert await mcp_run(sql, cap) == await raw_run(sql, cap) == cap
            n = repeat if cap < 10_000 else max(5, repeat // 4)
            mcp_ms, raw_ms = await _paired_ms(
                functools.partial(mcp_run, sql, cap), functools.partial(raw_run, sql, cap), n
            )
            rows.append(("SQLite", label, mcp_ms, raw_ms))
    return rows


async def _copy_to_postgres(path: Path, url: str, schema: str) -> None:
    pg = await asyncpg.connect(url)
    try:
        await pg.execute(f'CREATE SCHEMA "{schema}"')
        async with aiosqlite.connect(path) as lite:
            tables = [
                r[0]
                for r in await (
                    await lite.execute(
                        "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite%'"
                    )
                ).fetchall()
            ]
            for table in tables:
                info = list(await (await lite.execute(f"PRAGMA table_info({table})")).fetchall())
                types = {"INTEGER": "bigint", "NUMERIC": "numeric", "TEXT": "text"}
                columns = ", ".join(f'"{c[1]}" {types.get(c[2], "text")}' for c in info)
                await pg.execute(f'CREATE TABLE "{schema}"."{table}" ({columns})')
                data = await (await lite.execute(f"SELECT * FROM {table}")).fetchall()
                converted = [
                    tuple(str(v) if info[i][2] == "NUMERIC" and v is not None else v for i, v in enumerate(r))
                    for r in data
                ]
                await pg.copy_records_to_table(table, records=converted, schema_name=schema)
        await pg.execute("ANALYZE")
    finally:
        await pg.close()


async def bench_postgres(path: Path, url: str, repeat: int) -> list[tuple[str, str, float, float]]:
    schema = f"tm_bench_{uuid.uuid4().hex[:8]}"
    await _copy_to_postgres(path, url, schema)
    rows: list[tuple[str, str, float, float]] = []
    try:
        settings = SqlSettings(
            sample=False,
            max_rows_limit=10_000,
            max_bytes=50_000_000,
            connections={"shop": ConnectionSettings(url=url, schemas=[schema], allow_privileged=True)},
        )
        client, mcp_run = await _mcp_runner(settings)
        raw = await asyncpg.connect(url, server_settings={"search_path": schema})
        try:
            async with client:

                async def raw_run(sql: str, cap: int) -> int:
                    async with raw.transaction(readonly=True):
                        cursor = await raw.cursor(sql)
                        return len(await cursor.fetch(cap))

                for label, sql, cap in CASES:
                    assert await mcp_run(sql, cap) == await raw_run(sql, cap) == cap
                    n = repeat if cap < 10_000 else max(5, repeat // 4)
                    mcp_ms, raw_ms = await _paired_ms(
                        functools.partial(mcp_run, sql, cap), functools.partial(raw_run, sql, cap), n
                    )
                    rows.append(("PostgreSQL", label, mcp_ms, raw_ms))
        finally:
            await raw.close()
    finally:
        pg = await asyncpg.connect(url)
        try:
            await pg.execute(f'DROP SCHEMA "{schema}" CASCADE')
        finally:
            await pg.close()
    return rows


# -- Spider schema linking ---------------------------------------------------------------------------------


def spider_schemas(tables_json: Path) -> dict[str, list[TableDescription]]:
    out: dict[str, list[TableDescription]] = {}
    for db in json.loads(tables_json.read_text()):
        names = db["table_names_original"]
        columns = db["column_names_original"]
        types = db["column_types"]
        tables = [
            TableDescription(connection=db["db_id"], schema_name="main", name=n, columns=[]) for n in names
        ]
        for index, (table_index, column) in enumerate(columns):
            if table_index >= 0:
                tables[table_index].columns.append(
                    ColumnInfo(name=column, type=types[index], primary_key=index in db["primary_keys"])
                )
        for source, target in db["foreign_keys"]:
            src_table, src_col = columns[source]
            dst_table, dst_col = columns[target]
            tables[src_table].foreign_keys.append(
                ForeignKey(
                    columns=[src_col], ref_schema="main", ref_table=names[dst_table], ref_columns=[dst_col]
                )
            )
        out[db["db_id"]] = tables
    return out


def gold_tables(query: str, known: list[str]) -> set[str]:
    lookup = {n.lower(): n for n in known}
    try:
        tree = sqlglot.parse_one(query, read="sqlite")
        found = {t.name.lower() for t in tree.find_all(exp.Table)}
    except sqlglot.errors.ParseError:
        found = {
            m.lower() for m in re.findall(r"(?:FROM|JOIN)\s+([A-Za-z_][A-Za-z0-9_]*)", query, re.IGNORECASE)
        }
    return {lookup[f] for f in found if f in lookup}


class Bm25:
    """Plain BM25 (k1=1.5, b=0.75) over table and column names, split on non-alphanumerics and lower-cased."""

    def __init__(self, tables: list[TableDescription]) -> None:
        self.names = [t.name for t in tables]
        self.docs = [self._tokens(" ".join([t.name, *(c.name for c in t.columns)])) for t in tables]
        self.avg = sum(len(d) for d in self.docs) / max(len(self.docs), 1)
        self.df = Counter(term for doc in self.docs for term in set(doc))

    @staticmethod
    def _tokens(text: str) -> list[str]:
        return [w.lower() for w in re.split(r"[^0-9A-Za-z]+", text) if w]

    def rank(self, question: str, k: int) -> list[str]:
        n = len(self.docs)
        query = self._tokens(question)
        scores = []
        for name, doc in zip(self.names, self.docs, strict=True):
            tf = Counter(doc)
            score = 0.0
            for term in query:
                if term in tf:
                    idf = math.log(1 + (n - self.df[term] + 0.5) / (self.df[term] + 0.5))
                    score += idf * tf[term] * 2.5 / (tf[term] + 1.5 * (0.25 + 0.75 * len(doc) / self.avg))
            scores.append((score, name))
        return [name for _, name in sorted(scores, key=lambda s: (-s[0], s[1]))[:k]]


def bench_spider(folder: Path, ks: tuple[int, ...] = (5, 3)) -> dict[str, Any]:
    schemas = spider_schemas(folder / "tables.json")
    questions = json.loads((folder / "dev.json").read_text())
    indexes = {db: SchemaIndex(tables) for db, tables in schemas.items()}
    baselines = {db: Bm25(tables) for db, tables in schemas.items()}
    hits = {(system, k): 0 for system in ("find_tables", "bm25") for k in ks}
    large_hits = dict.fromkeys(hits, 0)
    total = large = 0
    started = time.perf_counter()
    for item in questions:
        tables = schemas[item["db_id"]]
        gold = gold_tables(item["query"], [t.name for t in tables])
        if not gold:
            continue
        total += 1
        is_large = len(tables) > 5
        large += is_large
        for k in ks:
            ours = {t.name for t in indexes[item["db_id"]].rank(item["question"], k)[0]}
            theirs = set(baselines[item["db_id"]].rank(item["question"], k))
            for system, got in (("find_tables", ours), ("bm25", theirs)):
                if gold <= got:
                    hits[(system, k)] += 1
                    large_hits[(system, k)] += is_large
    elapsed = time.perf_counter() - started
    return {
        "total": total,
        "large": large,
        "hits": hits,
        "large_hits": large_hits,
        "ks": ks,
        "ms_per_question": elapsed * 1000 / max(total, 1) / (2 * len(ks)),
    }


def _reachable(url: str) -> bool:
    match = re.match(r"postgres(?:ql)?://[^@/]*@?([^:/]+)(?::(\d+))?", url)
    host, port = (match.group(1), int(match.group(2) or 5432)) if match else ("127.0.0.1", 5432)
    try:
        with socket.create_connection((host, port), timeout=1):
            return True
    except OSError:
        return False


async def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--spider", type=Path, default=Path(__file__).resolve().parents[2] / "shared/data/spider"
    )
    parser.add_argument("--postgres", default="postgresql://postgres@127.0.0.1:5432/test")
    parser.add_argument("--repeat", type=int, default=40)
    parser.add_argument("--write", type=Path, default=None, help="Write the results as Markdown here.")
    args = parser.parse_args()
    lines = ["## sql", ""]
    with tempfile.TemporaryDirectory() as tmp:
        path = generate_sample(Path(tmp) / "shop.sqlite")
        latency = await bench_sqlite(path, args.repeat)
        if _reachable(args.postgres):
            latency += await bench_postgres(path, args.postgres, args.repeat)
        else:
            print(
                f"PostgreSQL at {args.postgres} is not reachable: skipping its run_query benchmark",
                file=sys.stderr,
            )
    lines += [
        "### run_query: in-memory MCP client vs the raw driver (median ms; target ≤ 1.3× at 1k rows)",
        "",
        "| database | result | MCP run_query | raw driver | ratio |",
        "|---|---|---:|---:|---:|",
    ]
    lines += [
        f"| {db} | {label} | {m:.2f} | {r:.2f} | {m / r:.2f}× |"
        if r == r
        else f"| {db} | {label}: the MCP round trip alone | {m:.2f} | – | – |"
        for db, label, m, r in latency
    ]
    lines += [
        "",
        "The raw driver runs the query on an open connection and returns Python tuples. `run_query` also parses",
        "and checks the SQL (cached), opens and closes a read-only transaction (PostgreSQL: BEGIN READ ONLY, one",
        "prepared statement, a cursor, COMMIT, and the pool's RESET on release), converts every cell to JSON,",
        "renders the text table, and crosses the MCP protocol: pydantic models and JSON-RPC on both sides, and the",
        "client validating the structured result against the output schema. The 'no query' row is that protocol",
        "floor alone. The 1.3× target at 1k rows is not met in-process: the gap is the fixed MCP cost plus",
        "per-cell Python work, not the database. In a profile of the 10k-row call the largest share is pydantic",
        "serialising and validating the result inside the MCP SDK (server and client); our own per-row work",
        "(batch conversion, byte accounting, the text table of the first 500 rows) is a smaller share. Over a",
        "network the raw driver pays round trips too. On this shared 2-core machine figures move by 2x from run",
        "to run with the load of other jobs; ratios come from interleaved samples, so both sides see the same load.",
        "",
    ]
    if (args.spider / "dev.json").is_file() and (args.spider / "tables.json").is_file():
        spider = bench_spider(args.spider)
        total, large = spider["total"], spider["large"]
        lines += [
            "",
            f"### find_tables on Spider dev: recall@k over {total} questions (target ≥ 0.90 at k=5)",
            "",
            "A question counts when every table of its gold query is in the top k. "
            f"'Large' = the {large} questions on databases with more than 5 tables.",
            "",
            "| system | recall@5 | recall@3 | recall@5, large | recall@3, large |",
            "|---|---:|---:|---:|---:|",
        ]
        for system in ("find_tables", "bm25"):
            h, lh = spider["hits"], spider["large_hits"]
            label = "find_tables" if system == "find_tables" else "BM25 over table + column names"
            lines.append(
                f"| {label} | {h[(system, 5)] / total:.3f} | {h[(system, 3)] / total:.3f} | "
                f"{lh[(system, 5)] / max(large, 1):.3f} | {lh[(system, 3)] / max(large, 1):.3f} |"
            )
        lines.append(f"\nfind_tables ranks a question in {spider['ms_per_question']:.2f} ms.")
    else:
        print(
            f"Spider data not found under {args.spider}: skipping the find_tables benchmark", file=sys.stderr
        )
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    command = "python bench/sql.py " + " ".join(sys.argv[1:])
    when = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC")
    lines[1:1] = [
        "",
        f"Command: `{command}` — {when}, {os.cpu_count()} CPUs (shared), load average at the end {load:.1f}, "
        f"Python {platform.python_version()}.",
    ]
    report = "\n".join(lines) + "\n"
    print(report)
    if args.write:
        args.write.write_text(report, encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(asyncio.run(main()))
