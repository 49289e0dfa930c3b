"""Every tool and error path on SQLite, PostgreSQL and MariaDB, through the in-memory MCP client."""

from __future__ import annotations

import json
from typing import Any

import pytest
from fastmcp import Client

from tests.servers.sql.conftest import CUSTOMERS, ORDERS, Db, text_of

pytestmark = pytest.mark.asyncio(loop_scope="module")


async def call(client: Client[Any], tool: str, **args: Any) -> Any:
    result = await client.call_tool(tool, args)
    assert not result.is_error, result.content
    return result


async def fail(client: Client[Any], tool: str, **args: Any) -> str:
    result = await client.call_tool(tool, args, raise_on_error=False)
    assert result.is_error, result.structured_content
    text = text_of(result)
    assert "Error calling tool" not in text, text  # our own message, not a masked internal error
    return text


async def test_tools_are_read_only(client: Client[Any]) -> None:
    tools = {t.name: t for t in await client.list_tools()}
    assert set(tools) == {
        "list_connections",
        "list_tables",
        "describe_table",
        "find_tables",
        "run_query",
        "explain_query",
    }
    for tool in tools.values():
        assert tool.annotations is not None and tool.annotations.read_only_hint is True
        assert tool.output_schema is not None


async def test_list_connections(client: Client[Any], db: Db) -> None:
    result = await call(client, "list_connections")
    (info,) = result.structured_content["connections"]
    assert info["name"] == "test"
    assert info["dialect"] == {"sqlite": "sqlite", "postgres": "postgresql", "mysql": "mysql"}[db.dialect]
    assert info["read_only"] is True


async def test_list_tables(client: Client[Any], db: Db) -> None:
    result = await call(client, "list_tables")
    tables = {t["name"]: t for t in result.structured_content["tables"]}
    assert set(tables) == {"customers", "orders"}
    assert tables["customers"]["comment"] == "People who buy from us (客户)"
    assert tables["customers"]["schema_name"] == db.schema
    if db.dialect != "mysql":  # InnoDB's table_rows is a rough estimate
        assert tables["orders"]["estimated_rows"] == len(ORDERS)
    assert "customers" in text_of(result)


async def test_describe_table(client: Client[Any], db: Db) -> None:
    result = await call(client, "describe_table", table="orders", sample_rows=2)
    d = result.structured_content
    assert [c["name"] for c in d["columns"]] == ["id", "customer_id", "total", "status"]
    assert d["primary_key"] == ["id"]
    assert d["foreign_keys"] == [
        {"columns": ["customer_id"], "ref_schema": db.schema, "ref_table": "customers", "ref_columns": ["id"]}
    ]
    assert any(i["columns"] == ["customer_id"] for i in d["indexes"])
    total = next(c for c in d["columns"] if c["name"] == "total")
    assert total["comment"] == "Order total in EUR (金额)"
    assert total["nullable"] is False
    status = next(c for c in d["columns"] if c["name"] == "status")
    assert "placed" in (status["default"] or "")
    assert len(d["sample_rows"]) == 2 and d["sample_columns"][0] == "id"
    customers = await call(client, "describe_table", table="customers", sample_rows=0)
    assert customers.structured_content["referenced_by"] == [f"{db.schema}.orders"]
    assert customers.structured_content["sample_rows"] == []


async def test_describe_unknown_table_suggests(client: Client[Any]) -> None:
    text = await fail(client, "describe_table", table="custmers")
    assert "no table `custmers`" in text and "`customers`" in text


@pytest.mark.parametrize(
    "name",
    [
        'customers"; DROP TABLE orders; --',
        "customers; DROP TABLE orders",
        "customers' OR '1'='1",
        "../../etc/passwd",
        "orders`; DROP TABLE customers; #",
        "sqlite_master",
        "pg_authid",
    ],
)
async def test_describe_identifier_injection(client: Client[Any], db: Db, name: str) -> None:
    before = await db.fingerprint()
    text = await fail(client, "describe_table", table=name)
    assert "no table" in text
    assert await db.fingerprint() == before


async def test_run_query_with_params(client: Client[Any], db: Db) -> None:
    positional = await call(
        client,
        "run_query",
        sql="SELECT id, name FROM customers WHERE country = ? AND id < ? ORDER BY id",
        params=["China", 20],
    )
    expected = [[c[0], c[1]] for c in CUSTOMERS if c[2] == "China" and c[0] < 20]
    assert positional.structured_content["rows"] == expected
    named = await call(
        client,
        "run_query",
        sql="SELECT count(*) AS n FROM orders WHERE status = :s AND customer_id IN (SELECT id FROM customers "
        "WHERE country = :c) AND total >= :min AND status = :s",
        params={"s": "shipped", "c": "France", "min": 0},
    )
    france = {c[0] for c in CUSTOMERS if c[2] == "France"}
    assert named.structured_content["rows"] == [
        [sum(1 for o in ORDERS if o[3] == "shipped" and o[1] in france)]
    ]
    literal_percent = await call(
        client, "run_query", sql="SELECT count(*) AS n FROM customers WHERE email LIKE ?", params=["c1%"]
    )
    assert literal_percent.structured_content["rows"] == [
        [sum(1 for c in CUSTOMERS if c[3].startswith("c1"))]
    ]


async def test_run_query_types_and_text(client: Client[Any]) -> None:
    result = await call(client, "run_query", sql="SELECT id, total, status FROM orders WHERE id = 3")
    data = result.structured_content
    assert data["rows"] == [[3, 13.75, "placed"]]
    assert [c["name"] for c in data["columns"]] == ["id", "total", "status"]
    assert all(c["type"] for c in data["columns"])
    assert data["truncated"] is False and data["row_count"] == 1
    text = text_of(result)
    assert "id (" in text and "13.75" in text and "1 row(s)" in text


async def test_run_query_row_cap(client: Client[Any]) -> None:
    result = await call(client, "run_query", sql="SELECT * FROM orders ORDER BY id", max_rows=7)
    data = result.structured_content
    assert data["row_count"] == 7 and data["truncated"] is True and data["truncated_reason"] == "max_rows"
    assert [r[0] for r in data["rows"]] == list(range(1, 8))
    exact = await call(client, "run_query", sql="SELECT * FROM customers", max_rows=len(CUSTOMERS))
    assert exact.structured_content["truncated"] is False


async def test_run_query_huge_cross_join_is_capped(client: Client[Any], db: Db) -> None:
    before = await db.fingerprint()
    result = await call(
        client,
        "run_query",
        sql="SELECT a.id, b.id, c.id FROM orders a CROSS JOIN orders b CROSS JOIN orders c",
        max_rows=500,
    )
    assert result.structured_content["row_count"] == 500 and result.structured_content["truncated"] is True
    again = await call(client, "run_query", sql="SELECT count(*) FROM customers")
    assert again.structured_content["rows"] == [[len(CUSTOMERS)]]
    assert await db.fingerprint() == before


async def test_unknown_column_suggests(client: Client[Any]) -> None:
    text = await fail(client, "run_query", sql="SELECT nmae FROM customers")
    assert "nmae" in text and "`name`" in text


async def test_unknown_table_suggests(client: Client[Any]) -> None:
    text = await fail(client, "run_query", sql="SELECT * FROM ordrs")
    assert "ordrs" in text and "`orders`" in text


async def test_syntax_error_has_position(client: Client[Any]) -> None:
    text = await fail(client, "run_query", sql="SELECT id FROM customers WHERE")
    assert "syntax error" in text
    text = await fail(client, "run_query", sql="SELEC id FROM customers")
    assert "line 1, column" in text and "near `" in text


async def test_param_mismatch(client: Client[Any]) -> None:
    assert "placeholder" in await fail(
        client, "run_query", sql="SELECT * FROM customers WHERE id = ?", params=[1, 2]
    )
    assert ":x" in await fail(
        client, "run_query", sql="SELECT * FROM customers WHERE id = :x", params={"y": 1}
    )
    assert "no params" in await fail(client, "run_query", sql="SELECT * FROM customers WHERE id = ?")


async def test_timeout(db: Db) -> None:
    from toolmesh.servers.sql import SqlSettings, build_server

    settings = SqlSettings(sample=False, connections={"test": db.connection(timeout_seconds=0.5)})
    slow = {
        "sqlite": "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT count(*) FROM c",
        "postgres": "SELECT count(*) FROM generate_series(1, 1000000000)",
        "mysql": "SELECT count(*) FROM orders a, orders b, orders c, orders d, orders e",
    }[db.dialect]
    async with Client(build_server(settings)) as mcp:
        text = await fail(mcp, "run_query", sql=slow)
    assert "0.5 s" in text and "Narrow" in text


async def test_explain(client: Client[Any], db: Db) -> None:
    result = await call(client, "explain_query", sql="SELECT * FROM orders WHERE customer_id = ?", params=[3])
    plan = result.structured_content["plan"]
    marker = {"sqlite": "SEARCH", "postgres": "Scan", "mysql": "orders"}[db.dialect]
    assert marker in plan
    text = await fail(client, "explain_query", sql="DELETE FROM orders")
    assert "read-only" in text


async def test_explain_analyze(client: Client[Any], db: Db) -> None:
    if db.dialect == "sqlite":
        pytest.skip("SQLite has no EXPLAIN ANALYZE; the plan is returned instead")
    result = await call(client, "explain_query", sql="SELECT count(*) FROM orders", analyze=True)
    assert result.structured_content["plan"]


async def test_find_tables(client: Client[Any]) -> None:
    result = await call(client, "find_tables", question="total of orders per customer country")
    names = [t["name"] for t in result.structured_content["tables"]]
    assert set(names[:2]) == {"customers", "orders"}
    paths = result.structured_content["join_paths"]
    assert paths and set(paths[0]["tables"]) == {"customers", "orders"}
    zh = await call(client, "find_tables", question="每个国家的客户有多少?")
    assert zh.structured_content["tables"][0]["name"] == "customers"
    value = await call(client, "find_tables", question="who lives in Japan", limit=1)
    assert value.structured_content["tables"][0]["name"] == "customers"


async def test_resource_and_prompt(client: Client[Any], db: Db) -> None:
    templates = await client.list_resource_templates()
    assert templates[0].uri_template == "sql://{connection}/{schema}/{table}"
    catalog = json.loads(text_of(await client.read_resource("sql://catalog")))
    (entry,) = catalog["connections"]
    assert f"sql://test/{db.schema}/orders" in {t["uri"] for t in entry["tables"]}
    contents = await client.read_resource(f"sql://test/{db.schema}/orders")
    assert '"customer_id"' in text_of(contents)
    prompt = await client.get_prompt("text_to_sql", {"question": "orders per country"})
    text = text_of(prompt.messages[0].content)
    assert "orders per country" in text and "customers" in text and "orders.customer_id" in text


async def test_byte_cap(db: Db) -> None:
    from toolmesh.servers.sql import SqlSettings, build_server

    settings = SqlSettings(sample=False, max_bytes=1024, connections={"test": db.connection()})
    async with Client(build_server(settings)) as mcp:
        result = await call(mcp, "run_query", sql="SELECT * FROM customers ORDER BY id")
    data = result.structured_content
    assert data["truncated"] is True and data["truncated_reason"] == "max_bytes"
    assert 0 < data["row_count"] < len(CUSTOMERS)
    assert [r[0] for r in data["rows"]] == list(range(1, data["row_count"] + 1))
    assert "byte cap" in text_of(result)


async def test_write_tool_round_trip(db: Db) -> None:
    """With the opt-in, execute_write inserts and deletes (leaving the data as it was); DDL stays refused."""
    from toolmesh.servers.sql import SqlSettings, build_server

    settings = SqlSettings(sample=False, connections={"test": db.connection(allow_writes=True)})
    before = await db.fingerprint()
    async with Client(build_server(settings)) as mcp:
        inserted = await call(
            mcp,
            "execute_write",
            sql="INSERT INTO customers (id, name, country) VALUES (:id, :name, :c)",
            params={"id": 9001, "name": "Temp", "c": "Peru"},
        )
        assert inserted.structured_content["affected_rows"] == 1
        seen = await call(mcp, "run_query", sql="SELECT name FROM customers WHERE id = ?", params=[9001])
        assert seen.structured_content["rows"] == [["Temp"]]
        assert "DROP" in await fail(mcp, "execute_write", sql="DROP TABLE orders")
        assert "read-only" in await fail(mcp, "run_query", sql="DELETE FROM customers WHERE id = 9001")
        deleted = await call(mcp, "execute_write", sql="DELETE FROM customers WHERE id = ?", params=[9001])
        assert deleted.structured_content["affected_rows"] == 1
    assert await db.fingerprint() == before


async def test_mysql_show_and_describe(client: Client[Any], db: Db) -> None:
    if db.dialect != "mysql":
        pytest.skip("SHOW and DESCRIBE are MySQL statements")
    shown = await call(client, "run_query", sql="SHOW TABLES")
    assert sorted(r[0] for r in shown.structured_content["rows"]) == ["customers", "orders"]
    described = await call(client, "run_query", sql="DESCRIBE orders")
    assert [r[0] for r in described.structured_content["rows"]] == ["id", "customer_id", "total", "status"]
