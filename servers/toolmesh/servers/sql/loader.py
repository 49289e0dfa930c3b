"""Copy the sample shop (or any SQLite database) into PostgreSQL or MySQL/MariaDB, keys and comments included.

``toolmesh sql sample --into postgresql://user@host/db`` uses it, so the demo runs on every engine.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import aiomysql
import asyncpg

from toolmesh.servers.sql.errors import SqlConfigError
from toolmesh.servers.sql.mysql import mysql_params
from toolmesh.servers.sql.settings import expand_secrets
from toolmesh.servers.sql.sqlite import parse_create_comments

__all__ = ["SqliteTable", "copy_sqlite", "read_sqlite"]

_PG_TYPES = {"INTEGER": "bigint", "NUMERIC": "numeric(12,2)", "REAL": "double precision", "TEXT": "text"}
_MY_TYPES = {"INTEGER": "bigint", "NUMERIC": "decimal(12,2)", "REAL": "double", "TEXT": "varchar(255)"}


class SqliteTable:
    """One table read from SQLite: columns (name, declared type, not null), keys, comments and rows."""

    def __init__(self, name: str, create_sql: str | None) -> None:
        self.name = name
        self.comment, self.column_comments = parse_create_comments(create_sql)
        self.columns: list[tuple[str, str, bool]] = []
        self.primary_key: list[str] = []
        self.foreign_keys: list[tuple[list[str], str, list[str]]] = []
        self.rows: list[tuple[Any, ...]] = []


def read_sqlite(path: Path) -> list[SqliteTable]:
    """Tables of ``path`` in an order where referenced tables come first."""
    conn = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
    try:
        tables: dict[str, SqliteTable] = {}
        for name, create in conn.execute(
            "SELECT name, sql FROM sqlite_master "
            "WHERE type = 'table' AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\'"
        ):
            table = SqliteTable(name, create)
            info = conn.execute(
                'SELECT name, type, "notnull", pk FROM pragma_table_info(?)', (name,)
            ).fetchall()
            table.columns = [(c, (t or "TEXT").upper(), bool(nn) or bool(pk)) for c, t, nn, pk in info]
            table.primary_key = [c for c, _t, _nn, pk in sorted(info, key=lambda r: r[3]) if pk]
            fks: dict[int, tuple[list[str], str, list[str]]] = {}
            for fk_id, ref, src, dst in conn.execute(
                'SELECT id, "table", "from", "to" FROM pragma_foreign_key_list(?) ORDER BY id, seq', (name,)
            ):
                entry = fks.setdefault(fk_id, ([], ref, []))
                entry[0].append(src)
                entry[2].append(dst)
            table.foreign_keys = list(fks.values())
            table.rows = conn.execute(f'SELECT * FROM "{name}"').fetchall()  # noqa: S608 - catalog name
            tables[name] = table
    finally:
        conn.close()
    ordered: list[SqliteTable] = []
    while len(ordered) < len(tables):
        for table in tables.values():
            if table in ordered:
                continue
            if all(ref in {t.name for t in ordered} or ref == table.name for _, ref, _ in table.foreign_keys):
                ordered.append(table)
    return ordered


def _column_type(declared: str, types: dict[str, str]) -> str:
    for key, value in types.items():
        if key in declared:
            return value
    return types["TEXT"]


def _quote(name: str, mark: str) -> str:
    return mark + name.replace(mark, mark * 2) + mark


def _ddl(table: SqliteTable, prefix: str, types: dict[str, str], mark: str, mysql: bool) -> list[str]:
    parts = []
    for name, declared, not_null in table.columns:
        column = f"{_quote(name, mark)} {_column_type(declared, types)}{' NOT NULL' if not_null else ''}"
        if mysql and name in table.column_comments:
            column += " COMMENT " + _literal(table.column_comments[name])
        parts.append(column)
    if table.primary_key:
        parts.append(f"PRIMARY KEY ({', '.join(_quote(c, mark) for c in table.primary_key)})")
    for columns, ref, ref_columns in table.foreign_keys:
        source = ", ".join(_quote(c, mark) for c in columns)
        target = ", ".join(_quote(c, mark) for c in ref_columns)
        parts.append(f"FOREIGN KEY ({source}) REFERENCES {prefix}{_quote(ref, mark)} ({target})")
    statement = f"CREATE TABLE {prefix}{_quote(table.name, mark)} ({', '.join(parts)})"
    if mysql:
        statement += " ENGINE=InnoDB" + (f" COMMENT={_literal(table.comment)}" if table.comment else "")
        return [statement]
    out = [statement]
    if table.comment:
        out.append(f"COMMENT ON TABLE {prefix}{_quote(table.name, mark)} IS {_literal(table.comment)}")
    for name, comment in table.column_comments.items():
        column = f"{prefix}{_quote(table.name, mark)}.{_quote(name, mark)}"
        out.append(f"COMMENT ON COLUMN {column} IS {_literal(comment)}")
    return out


def _literal(text: str) -> str:
    return "'" + text.replace("\\", "\\\\").replace("'", "''") + "'"


def _values(rows: Sequence[tuple[Any, ...]], columns: list[tuple[str, str, bool]]) -> list[tuple[Any, ...]]:
    """NUMERIC cells as strings (exact decimals), everything else as read."""
    numeric = [i for i, (_, declared, _) in enumerate(columns) if "NUMERIC" in declared]
    if not numeric:
        return list(rows)
    return [tuple(str(v) if i in numeric and v is not None else v for i, v in enumerate(row)) for row in rows]


async def copy_sqlite(path: Path, url: str, schema: str) -> int:
    """Copy every table of ``path`` into a new schema (PostgreSQL) or database (MySQL); the rows copied."""
    tables = read_sqlite(path)
    url = expand_secrets(url)
    scheme = url.split(":", 1)[0].lower().split("+", 1)[0]
    total = sum(len(t.rows) for t in tables)
    if scheme in {"postgresql", "postgres"}:
        dq = '"'
        pg_schema = _quote(schema, dq)
        pg = await asyncpg.connect("postgresql:" + url.split(":", 1)[1])
        try:
            async with pg.transaction():
                await pg.execute(f"CREATE SCHEMA {pg_schema}")
                for table in tables:
                    for statement in _ddl(table, pg_schema + ".", _PG_TYPES, '"', mysql=False):
                        await pg.execute(statement)
                    if table.rows:
                        await pg.copy_records_to_table(
                            table.name, records=_pg_records(table), schema_name=schema
                        )
            for table in tables:
                await pg.execute(f"ANALYZE {pg_schema}.{_quote(table.name, dq)}")
        finally:
            await pg.close()
        return total
    if scheme in {"mysql", "mariadb"}:
        bq = "`"
        my_schema = _quote(schema, bq)
        params = mysql_params(url)
        my = await aiomysql.connect(
            host=params["host"],
            port=params["port"],
            user=params["user"],
            password=params["password"],
            autocommit=False,
            charset="utf8mb4",
        )
        try:
            async with my.cursor() as cur:
                await cur.execute(f"CREATE DATABASE {my_schema} CHARACTER SET utf8mb4")
                for table in tables:
                    for statement in _ddl(table, my_schema + ".", _MY_TYPES, "`", mysql=True):
                        await cur.execute(statement)
                    if table.rows:
                        marks = ", ".join(["%s"] * len(table.columns))
                        await cur.executemany(
                            f"INSERT INTO {my_schema}.{_quote(table.name, bq)} VALUES ({marks})",  # noqa: S608
                            _values(table.rows, table.columns),
                        )
            await my.commit()
        finally:
            my.close()
        return total
    raise SqlConfigError(f"cannot copy into {scheme}: only PostgreSQL and MySQL/MariaDB URLs are supported")


def _pg_records(table: SqliteTable) -> list[tuple[Any, ...]]:
    """Rows typed for COPY: NUMERIC as Decimal, INTEGER as int."""
    from decimal import Decimal

    kinds = [_column_type(declared, _PG_TYPES) for _, declared, _ in table.columns]
    return [
        tuple(
            Decimal(str(v)) if v is not None and kind.startswith("numeric") else v
            for v, kind in zip(row, kinds, strict=True)
        )
        for row in table.rows
    ]
