"""The first line of defence alone: with the parser bypassed, the database itself refuses writes.

These call the backends directly (no guard), the way a parser bug would let a query through.
"""

from __future__ import annotations

import contextlib

import pytest

from tests.servers.sql.conftest import Db
from toolmesh.servers.sql.connections import make_backend
from toolmesh.servers.sql.errors import SqlError

pytestmark = pytest.mark.asyncio(loop_scope="module")

COMMON = [
    "INSERT INTO customers (id, name, country) VALUES (999, 'x', 'y')",
    "UPDATE customers SET name = 'pwned'",
    "DELETE FROM orders",
    "DROP TABLE orders",
    "CREATE TABLE pwned (id int)",
    "SELECT 1; DELETE FROM orders",
    "SELECT 1; COMMIT; DELETE FROM orders",
]
BY_DIALECT = {
    "sqlite": [
        "ATTACH DATABASE '/tmp/pwned.db' AS pwned",
        "PRAGMA writable_schema = 1",
        "PRAGMA query_only = 0",
        "SELECT load_extension('/tmp/pwned.so')",
        "SELECT fts3_tokenizer('simple')",
        "CREATE TEMP TABLE pwned (id int)",
    ],
    "postgres": [
        "WITH d AS (DELETE FROM orders RETURNING *) SELECT * FROM d",
        "SELECT nextval('counter')",
        "SELECT * INTO pwned FROM customers",
        "COMMIT",
        "END",
        "SELECT pg_sleep(30)",
    ],
    "mysql": [
        "REPLACE INTO customers (id, name, country) VALUES (1, 'x', 'y')",
        "CREATE TEMPORARY TABLE pwned (id int)",
        "TRUNCATE TABLE orders",
        "SELECT SLEEP(30)",
    ],
}


@pytest.mark.parametrize("index", range(max(len(COMMON) + len(v) for v in BY_DIALECT.values())))
async def test_database_refuses_without_the_parser(db: Db, index: int) -> None:
    attempts = COMMON + BY_DIALECT[db.dialect]
    if index >= len(attempts):
        pytest.skip(f"{db.dialect} has {len(attempts)} database-layer attempts")
    sql = attempts[index]
    backend = make_backend(db.connection(timeout_seconds=1.0), 1.0)
    before = await db.fingerprint()
    try:
        with pytest.raises(SqlError):
            await backend.query(sql, None, max_rows=10, max_bytes=10_000, time_limit=1.0)
    finally:
        await backend.close()
    assert await db.fingerprint() == before


async def test_session_settings_cannot_unlock_writes(db: Db) -> None:
    """Even if a SET got through, the next query still runs in a read-only transaction."""
    unlock = {
        "sqlite": "PRAGMA query_only = 0",
        "postgres": "SET default_transaction_read_only = off",
        "mysql": "SET SESSION TRANSACTION READ WRITE",
    }[db.dialect]
    backend = make_backend(db.connection(pool_size=1, timeout_seconds=1.0), 1.0)
    before = await db.fingerprint()
    try:
        with contextlib.suppress(SqlError):  # refused outright: even better
            await backend.query(unlock, None, max_rows=1, max_bytes=1000, time_limit=1.0)
        with pytest.raises(SqlError):
            await backend.query("DELETE FROM orders", None, max_rows=1, max_bytes=1000, time_limit=1.0)
    finally:
        await backend.close()
    assert await db.fingerprint() == before
