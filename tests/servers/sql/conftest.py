"""Fixtures for the sql server: the same small schema in SQLite, PostgreSQL and MariaDB, and a fingerprint
of it.
"""

from __future__ import annotations

import asyncio
import hashlib
import sqlite3
import urllib.parse
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiomysql
import asyncpg
import pytest
import pytest_asyncio
from fastmcp import Client

from tests.services import MYSQL_URL, POSTGRES_URL, require_service
from toolmesh.servers.sql import SqlSettings, build_server
from toolmesh.servers.sql.settings import ConnectionSettings

COUNTRIES = ["France", "Germany", "China", "Japan"]
CUSTOMERS = [(i, f"Customer {i}", COUNTRIES[i % 4], f"c{i}@example.com") for i in range(1, 41)]
ORDERS = [
    (i, (i % 40) + 1, round(10 + i * 1.25, 2), ["placed", "shipped", "delivered"][i % 3])
    for i in range(1, 121)
]
TABLES = ("customers", "orders")

SQLITE_DDL = """
CREATE TABLE customers ( -- People who buy from us (客户)
    id INTEGER PRIMARY KEY, -- Customer id
    name TEXT NOT NULL, -- Full name (姓名)
    country TEXT NOT NULL, -- Billing country (国家)
    email TEXT -- Contact e-mail
);
CREATE TABLE orders ( -- Orders placed by customers (订单)
    id INTEGER PRIMARY KEY, -- Order id
    customer_id INTEGER NOT NULL REFERENCES customers(id), -- Who ordered
    total NUMERIC NOT NULL, -- Order total in EUR (金额)
    status TEXT NOT NULL DEFAULT 'placed' -- placed, shipped or delivered
);
CREATE INDEX idx_orders_customer ON orders(customer_id);
"""


def _pg_ddl(schema: str) -> list[str]:
    s = f'"{schema}"'
    return [
        f"CREATE SCHEMA {s}",
        f"CREATE TABLE {s}.customers (id int PRIMARY KEY, name text NOT NULL, country text NOT NULL, "
        "email text)",
        f"COMMENT ON TABLE {s}.customers IS 'People who buy from us (客户)'",
        f"COMMENT ON COLUMN {s}.customers.name IS 'Full name (姓名)'",
        f"COMMENT ON COLUMN {s}.customers.country IS 'Billing country (国家)'",
        f"CREATE TABLE {s}.orders (id int PRIMARY KEY, "
        f"customer_id int NOT NULL REFERENCES {s}.customers(id), "
        "total numeric(10,2) NOT NULL, status text NOT NULL DEFAULT 'placed')",
        f"COMMENT ON TABLE {s}.orders IS 'Orders placed by customers (订单)'",
        f"COMMENT ON COLUMN {s}.orders.total IS 'Order total in EUR (金额)'",
        f"CREATE INDEX idx_orders_customer ON {s}.orders(customer_id)",
        f"CREATE SEQUENCE {s}.counter",
    ]


def _mysql_ddl(schema: str) -> list[str]:
    s = f"`{schema}`"
    return [
        f"CREATE DATABASE {s} CHARACTER SET utf8mb4",
        f"CREATE TABLE {s}.customers (id int PRIMARY KEY, "
        "name varchar(100) NOT NULL COMMENT 'Full name (姓名)', "
        "country varchar(60) NOT NULL COMMENT 'Billing country (国家)', email varchar(100)) "
        "ENGINE=InnoDB COMMENT='People who buy from us (客户)'",
        f"CREATE TABLE {s}.orders (id int PRIMARY KEY, customer_id int NOT NULL, "
        "total decimal(10,2) NOT NULL COMMENT 'Order total in EUR (金额)', "
        "status varchar(20) NOT NULL DEFAULT 'placed', KEY idx_orders_customer (customer_id), "
        f"CONSTRAINT fk_orders_customer FOREIGN KEY (customer_id) REFERENCES {s}.customers(id)) "
        "ENGINE=InnoDB COMMENT='Orders placed by customers (订单)'",
    ]


def _mysql_args(url: str, db: str | None = None) -> dict[str, Any]:
    parts = urllib.parse.urlsplit(url)
    args: dict[str, Any] = {
        "host": parts.hostname,
        "port": parts.port or 3306,
        "user": parts.username or "root",
        "password": parts.password or "",
        "autocommit": True,
        "charset": "utf8mb4",
    }
    if db:
        args["db"] = db
    return args


@dataclass
class Db:
    """One database under test: its dialect, the settings the server uses, and a raw fingerprint."""

    dialect: str
    schema: str
    url: str
    path: Path | None = None
    _raw: Any = None  # one raw driver connection for fingerprints, opened on first use

    async def close(self) -> None:
        if self._raw is not None:
            result = self._raw.close()
            if asyncio.iscoroutine(result):
                await result
            self._raw = None

    @property
    def reader_role(self) -> str:
        """The least-privilege role the PostgreSQL tests run queries under (the login is a superuser)."""
        return f"{self.schema}_reader"

    def connection(self, **extra: Any) -> ConnectionSettings:
        """Settings for this database. On PostgreSQL the test login (``postgres``, trust auth) is a
        superuser, so queries run under the schema's reader role, as docs/sql.md asks of users; a writable
        connection sets ``allow_privileged`` instead, since the reader role may not write (the point of those
        tests is the write path, not privileges)."""
        schemas = [self.schema] if self.dialect != "sqlite" else []
        if self.dialect == "postgres" and "reader_role" not in extra and "allow_privileged" not in extra:
            if extra.get("allow_writes"):
                extra["allow_privileged"] = True
            else:
                extra["reader_role"] = self.reader_role
        return ConnectionSettings(url=self.url, schemas=schemas, **extra)

    async def fingerprint(self) -> dict[str, str]:
        """Per table: row count and a hash of every row, read with the raw driver (not through the server)."""
        rows: dict[str, list[tuple[Any, ...]]] = {}
        names: list[str]
        if self.dialect == "sqlite":
            assert self.path is not None
            conn = sqlite3.connect(self.path)
            try:
                names = [r[0] for r in conn.execute("SELECT name FROM sqlite_master ORDER BY name")]
                for table in TABLES:
                    rows[table] = conn.execute(f"SELECT * FROM {table} ORDER BY id").fetchall()
            finally:
                conn.close()
        elif self.dialect == "postgres":
            if self._raw is None:
                self._raw = await asyncpg.connect(POSTGRES_URL)
            pg = self._raw
            names = [
                r[0]
                for r in await pg.fetch(
                    "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
                    "WHERE n.nspname = $1 ORDER BY 1",
                    self.schema,
                )
            ]
            for table in TABLES:
                rows[table] = [
                    tuple(r) for r in await pg.fetch(f'SELECT * FROM "{self.schema}".{table} ORDER BY id')
                ]
            names.append(str(await pg.fetchval(f'SELECT last_value FROM "{self.schema}".counter')))
        else:
            if self._raw is None:
                self._raw = await aiomysql.connect(**_mysql_args(MYSQL_URL, self.schema))
            async with self._raw.cursor() as cur:
                await cur.execute(
                    "SELECT table_name FROM information_schema.tables WHERE table_schema = %s ORDER BY 1",
                    (self.schema,),
                )
                names = [r[0] for r in await cur.fetchall()]
                for table in TABLES:
                    await cur.execute(f"SELECT * FROM `{table}` ORDER BY id")
                    rows[table] = list(await cur.fetchall())
        out = {t: f"{len(r)}:{hashlib.sha256(repr(r).encode()).hexdigest()}" for t, r in rows.items()}
        out["_objects"] = ",".join(names)
        return out


async def _create(dialect: str, tmp: Path) -> Db:
    schema = f"tm_sql_{uuid.uuid4().hex[:10]}"
    if dialect == "sqlite":
        path = tmp / f"{schema}.sqlite"
        conn = sqlite3.connect(path)
        conn.executescript(SQLITE_DDL)
        conn.executemany("INSERT INTO customers VALUES (?, ?, ?, ?)", CUSTOMERS)
        conn.executemany("INSERT INTO orders VALUES (?, ?, ?, ?)", ORDERS)
        conn.commit()
        conn.close()
        return Db("sqlite", "main", f"sqlite:///{path}", path)
    if dialect == "postgres":
        require_service("PostgreSQL", "127.0.0.1", 5432)
        pg = await asyncpg.connect(POSTGRES_URL)
        try:
            for statement in _pg_ddl(schema):
                await pg.execute(statement)
            await pg.executemany(f'INSERT INTO "{schema}".customers VALUES ($1, $2, $3, $4)', CUSTOMERS)
            await pg.executemany(f'INSERT INTO "{schema}".orders VALUES ($1, $2, $3, $4)', ORDERS)
            await pg.execute(f'ANALYZE "{schema}".customers')
            await pg.execute(f'ANALYZE "{schema}".orders')
            reader = f'"{schema}_reader"'
            await pg.execute(f"CREATE ROLE {reader} NOLOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE")
            await pg.execute(f'GRANT USAGE ON SCHEMA "{schema}" TO {reader}')
            await pg.execute(f'GRANT SELECT ON ALL TABLES IN SCHEMA "{schema}" TO {reader}')
        finally:
            await pg.close()
        return Db("postgres", schema, POSTGRES_URL)
    require_service("MariaDB", "127.0.0.1", 3306)
    my = await aiomysql.connect(**_mysql_args(MYSQL_URL))
    try:
        async with my.cursor() as cur:
            for statement in _mysql_ddl(schema):
                await cur.execute(statement)
            await cur.executemany(f"INSERT INTO `{schema}`.customers VALUES (%s, %s, %s, %s)", CUSTOMERS)
            await cur.executemany(f"INSERT INTO `{schema}`.orders VALUES (%s, %s, %s, %s)", ORDERS)
    finally:
        my.close()
    base = MYSQL_URL.rsplit("/", 1)[0]
    return Db("mysql", schema, f"{base}/{schema}")


async def _drop(db: Db) -> None:
    if db.dialect == "postgres":
        pg = await asyncpg.connect(POSTGRES_URL)
        try:
            await pg.execute(f'DROP SCHEMA IF EXISTS "{db.schema}" CASCADE')
            if await pg.fetchval("SELECT 1 FROM pg_roles WHERE rolname = $1", db.reader_role):
                await pg.execute(f'DROP OWNED BY "{db.reader_role}"')
                await pg.execute(f'DROP ROLE "{db.reader_role}"')
        finally:
            await pg.close()
    elif db.dialect == "mysql":
        my = await aiomysql.connect(**_mysql_args(MYSQL_URL))
        try:
            async with my.cursor() as cur:
                await cur.execute(f"DROP DATABASE IF EXISTS `{db.schema}`")
        finally:
            my.close()


@pytest_asyncio.fixture(scope="module", loop_scope="module", params=["sqlite", "postgres", "mysql"])
async def db(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Db]:
    created = await _create(str(request.param), tmp_path_factory.mktemp("sqldb"))
    try:
        yield created
    finally:
        await created.close()
        await _drop(created)


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def client(db: Db) -> AsyncIterator[Client[Any]]:
    """An in-memory MCP client over a read-only server whose only connection is ``db`` (named ``test``)."""
    settings = SqlSettings(sample=False, connections={"test": db.connection()}, timeout_seconds=5.0)
    server = build_server(settings)
    async with Client(server) as mcp:
        yield mcp


def text_of(result: Any) -> str:
    """The first text block of a tool result, prompt message or resource read."""
    if hasattr(result, "text"):
        item = result
    else:
        item = result.content[0] if hasattr(result, "content") else result[0]
    text = getattr(item, "text", None)
    assert isinstance(text, str), item
    return text


def data_of(result: Any) -> dict[str, Any]:
    """The structured content of a successful tool result."""
    assert not result.is_error, result.content
    content = result.structured_content
    assert isinstance(content, dict), result
    return content


@pytest.fixture
def canary(tmp_path: Path) -> tuple[Path, str]:
    """A file whose secret content must never show up in any result."""
    secret = f"CANARY-{uuid.uuid4().hex}"
    path = tmp_path / "canary.txt"
    path.write_text(secret)
    return path, secret
