"""The server over real transports: Streamable HTTP (50 concurrent queries) and stdio (a subprocess)."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from pathlib import Path
from typing import Any

import anyio
import pytest
from fastmcp import Client
from fastmcp.client.transports import StdioTransport

from tests.servers.sql.conftest import CUSTOMERS, ORDERS, Db, _create, _drop, data_of, text_of
from toolmesh.protocols.serving import mcp_http_app, running
from toolmesh.servers.sql import SqlSettings, build_server

pytestmark = pytest.mark.asyncio(loop_scope="module")


async def _every_tool(client: Client[Any], connection: str, schema: str) -> None:
    """Each tool once on ``connection``, checking the answer."""
    listed = await client.call_tool("list_connections", {})
    assert connection in {c["name"] for c in data_of(listed)["connections"]}
    tables = await client.call_tool("list_tables", {"connection": connection})
    assert {t["name"] for t in data_of(tables)["tables"]} == {"customers", "orders"}
    described = await client.call_tool("describe_table", {"connection": connection, "table": "orders"})
    assert data_of(described)["foreign_keys"][0]["ref_table"] == "customers"
    found = await client.call_tool(
        "find_tables", {"connection": connection, "question": "orders per country"}
    )
    assert {t["name"] for t in data_of(found)["tables"][:2]} == {"orders", "customers"}
    query = await client.call_tool(
        "run_query",
        {"connection": connection, "sql": "SELECT count(*) FROM orders WHERE total > ?", "params": [100]},
    )
    assert data_of(query)["rows"] == [[sum(1 for o in ORDERS if o[2] > 100)]]
    plan = await client.call_tool(
        "explain_query", {"connection": connection, "sql": "SELECT * FROM customers"}
    )
    assert data_of(plan)["plan"]
    refused = await client.call_tool(
        "run_query", {"connection": connection, "sql": "DELETE FROM orders"}, raise_on_error=False
    )
    assert refused.is_error and "read-only" in text_of(refused)
    resource = await client.read_resource(f"sql://{connection}/{schema}/customers")
    assert '"country"' in text_of(resource)
    prompt = await client.get_prompt(
        "text_to_sql", {"question": "orders per country", "connection": connection}
    )
    assert "customers" in text_of(prompt.messages[0].content)


async def test_http_every_tool_and_50_concurrent_queries(db: Db) -> None:
    settings = SqlSettings(transport="http", port=0, sample=False, connections={"test": db.connection()})
    app = mcp_http_app(build_server(settings), settings)
    with anyio.fail_after(60):
        async with running(app, settings) as url, Client(url + settings.path) as client:
            await _every_tool(client, "test", db.schema)

            async def one(customer_id: int) -> None:
                result = await client.call_tool(
                    "run_query",
                    {
                        "sql": "SELECT id, name, country FROM customers WHERE id = :id",
                        "params": {"id": customer_id},
                    },
                )
                expected = next(c for c in CUSTOMERS if c[0] == customer_id)
                assert data_of(result)["rows"] == [list(expected[:3])]

            await asyncio.gather(*(one(1 + i % len(CUSTOMERS)) for i in range(50)))


@pytest.mark.slow
async def test_stdio_every_tool_on_three_databases(tmp_path: Path) -> None:
    created = [await _create(dialect, tmp_path) for dialect in ("sqlite", "postgres", "mysql")]
    try:
        connections = {f"db_{d.dialect}": d.connection().model_dump() for d in created}
        env = {
            **os.environ,
            "TOOLMESH_SQL_CONNECTIONS": json.dumps(connections),
            "TOOLMESH_SQL_SAMPLE": "false",
        }
        transport = StdioTransport(
            command=sys.executable,
            args=["-m", "toolmesh.servers.sql", "--transport", "stdio"],
            env=env,
            keep_alive=False,
        )
        with anyio.fail_after(60):
            async with Client(transport) as client:
                for d in created:
                    await _every_tool(client, f"db_{d.dialect}", d.schema)
    finally:
        for d in created:
            await _drop(d)
