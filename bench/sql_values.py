"""Peak memory of big values under a 1 MB byte cap, per engine: one value far over the cap and a row of several.

Each query runs through the backend (as run_query does) with tracemalloc on; the peak traced is what our process
allocated in Python for the call, the RSS growth adds what a driver or SQLite held outside Python's allocator.

    python bench/sql_values.py postgres|mysql|sqlite   (PostgreSQL and MariaDB on 127.0.0.1, as the tests use)
"""

from __future__ import annotations

import asyncio
import resource
import sqlite3
import sys
import tempfile
import tracemalloc
from pathlib import Path

from toolmesh.servers.sql.connections import make_backend
from toolmesh.servers.sql.settings import ConnectionSettings

CAP = 1_000_000
CASES: dict[str, tuple[str | None, list[str]]] = {
    "postgres": (
        "postgresql://postgres@127.0.0.1:5432/test",
        [
            "SELECT repeat('x', 200000000) AS b",
            "SELECT 1 AS i, repeat('x', 50000000) AS a, repeat('y', 50000000) AS b",
        ],
    ),
    "mysql": (
        "mysql://root@127.0.0.1:3306/test",
        [
            "SELECT REPEAT('x', 16000000) AS b",
            "SELECT 1 AS i, REPEAT('a', 16000000) AS a, REPEAT('b', 16000000) AS b, REPEAT('c', 16000000) AS c",
        ],
    ),
    "sqlite": (None, ["SELECT " + ", ".join(f"randomblob(16000000) AS b{i}" for i in range(10))]),
}


def _rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1000


async def main(engine: str) -> None:
    url, queries = CASES[engine]
    if url is None:
        path = Path(tempfile.mkdtemp()) / "values.sqlite"
        sqlite3.connect(path).close()
        url = f"sqlite:///{path}"
    extra = {"allow_privileged": True} if engine == "postgres" else {}
    backend = make_backend(ConnectionSettings(url=url, **extra), 30.0)
    try:
        await backend.query("SELECT 1", None, max_rows=1, max_bytes=CAP, time_limit=30)
        for sql in queries:
            idle = _rss_mb()
            tracemalloc.start()
            result = await backend.query(sql, None, max_rows=10, max_bytes=CAP, time_limit=30)
            peak = tracemalloc.get_traced_memory()[1]
            tracemalloc.stop()
            first = str(result.rows[0][-1])[:60] if result.rows else result.truncated
            print(
                f"{engine}: {peak / 1e6:.1f} MB traced, RSS +{_rss_mb() - idle:.0f} MB  {sql[:60]}…  → {first}"
            )
    finally:
        await backend.close()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1]))
