"""The sample shop copied into PostgreSQL and MariaDB keeps its keys and comments, and the server links it."""

from __future__ import annotations

import uuid
from pathlib import Path

import aiomysql
import anyio
import asyncpg
import pytest
from fastmcp import Client

from tests.servers.sql.conftest import _mysql_args, data_of
from tests.services import MYSQL_URL, POSTGRES_URL, require_service
from toolmesh.servers.sql import SqlSettings, build_server
from toolmesh.servers.sql.loader import copy_sqlite
from toolmesh.servers.sql.sample import generate_sample
from toolmesh.servers.sql.settings import ConnectionSettings


@pytest.mark.slow
@pytest.mark.asyncio
@pytest.mark.parametrize("dialect", ["postgres", "mysql"])
async def test_sample_copied_and_linked(dialect: str, tmp_path: Path) -> None:
    schema = f"tm_shop_{uuid.uuid4().hex[:8]}"
    path = generate_sample(tmp_path / "shop.sqlite")
    if dialect == "postgres":
        require_service("PostgreSQL", "127.0.0.1", 5432)
        # the test login is a superuser; this test is about the copy, not privileges
        connection = ConnectionSettings(url=POSTGRES_URL, schemas=[schema], allow_privileged=True)
        url = POSTGRES_URL
    else:
        require_service("MariaDB", "127.0.0.1", 3306)
        url = MYSQL_URL
        connection = ConnectionSettings(url=f"{MYSQL_URL.rsplit('/', 1)[0]}/{schema}")
    try:
        assert await copy_sqlite(path, url, schema) > 10_000
        server = build_server(SqlSettings(sample=False, connections={"shop": connection}))
        with anyio.fail_after(60):
            async with Client(server) as client:
                described = data_of(await client.call_tool("describe_table", {"table": "order_items"}))
                assert described["primary_key"] == ["order_id", "line_no"]
                assert {fk["ref_table"] for fk in described["foreign_keys"]} == {"orders", "products"}
                assert described["comment"].startswith("Order lines")
                quantity = next(c for c in described["columns"] if c["name"] == "quantity")
                assert quantity["comment"] == "Units ordered (数量)"
                total = data_of(
                    await client.call_tool(
                        "run_query", {"sql": "SELECT count(*), sum(quantity) FROM order_items"}
                    )
                )
                assert total["rows"][0][0] == 4780
                zh = data_of(await client.call_tool("find_tables", {"question": "哪些客户的发票还没有付款?"}))
                names = [t["name"] for t in zh["tables"]]
                assert {"customers", "invoices", "payments"} <= set(names[:4])
                assert zh["join_paths"]
    finally:
        if dialect == "postgres":
            pg = await asyncpg.connect(POSTGRES_URL)
            try:
                await pg.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
            finally:
                await pg.close()
        else:
            my = await aiomysql.connect(**_mysql_args(MYSQL_URL))
            try:
                async with my.cursor() as cur:
                    await cur.execute(f"DROP DATABASE IF EXISTS `{schema}`")
            finally:
                my.close()
