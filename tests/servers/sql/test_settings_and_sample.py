"""The embedded default (sample database), connection settings from env and TOML, and the write opt-in."""

from __future__ import annotations

import hashlib
import sqlite3
from pathlib import Path
from typing import Any

import anyio
import pytest
from fastmcp import Client

from tests.servers.sql.conftest import text_of
from toolmesh.protocols.plugins import load_server
from toolmesh.servers.sql import SqlSettings, build_server
from toolmesh.servers.sql.errors import SqlConfigError
from toolmesh.servers.sql.sample import SAMPLE_VERSION, ensure_sample, generate_sample
from toolmesh.servers.sql.settings import ConnectionSettings, expand_secrets, load_connections_file


def _digest(path: Path) -> str:
    conn = sqlite3.connect(path)
    try:
        dump = "\n".join(conn.iterdump())
    finally:
        conn.close()
    return hashlib.sha256(dump.encode()).hexdigest()


def test_sample_is_deterministic_and_realistic(tmp_path: Path) -> None:
    first = generate_sample(tmp_path / "a" / "shop.sqlite")
    second = generate_sample(tmp_path / "b" / "shop.sqlite")
    assert _digest(first) == _digest(second)
    conn = sqlite3.connect(first)
    try:
        counts = {
            t: conn.execute(f"SELECT count(*) FROM {t}").fetchone()[0]
            for t in ("customers", "products", "orders", "order_items", "invoices", "payments", "categories")
        }
        assert conn.execute("PRAGMA foreign_key_check").fetchall() == []
        assert conn.execute("PRAGMA user_version").fetchone()[0] == SAMPLE_VERSION
    finally:
        conn.close()
    assert sum(counts.values()) > 5000 and counts["customers"] == 500 and counts["orders"] == 2000
    assert not list((tmp_path / "a").glob("*.tmp"))  # the temporary file was renamed into place


def test_ensure_sample_regenerates_stale_files(tmp_path: Path) -> None:
    path = tmp_path / "shop.sqlite"
    path.write_bytes(b"not a database")
    ensure_sample(path)
    conn = sqlite3.connect(path)
    try:
        assert conn.execute("SELECT count(*) FROM customers").fetchone()[0] == 500
    finally:
        conn.close()
    mtime = path.stat().st_mtime_ns
    ensure_sample(path)
    assert path.stat().st_mtime_ns == mtime  # current: left alone


@pytest.mark.asyncio
async def test_default_server_serves_the_sample(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    spec = load_server("sql")
    server = spec.build_server(spec.load_settings())
    with anyio.fail_after(30):
        async with Client(server) as client:
            result = await client.call_tool(
                "run_query",
                {"sql": "SELECT country, count(*) AS n FROM customers GROUP BY country ORDER BY n DESC, 1"},
            )
            assert result.structured_content["row_count"] == 10
            found = await client.call_tool("find_tables", {"question": "Which invoices are not paid yet?"})
            top = [t["name"] for t in found.structured_content["tables"][:2]]
            assert set(top) == {"invoices", "payments"}
            zh = await client.call_tool("find_tables", {"question": "每个产品类别的销售总额是多少?"})
            names = [t["name"] for t in zh.structured_content["tables"][:4]]
            assert {"categories", "products", "order_items"} <= set(names)
    assert (tmp_path / "toolmesh" / "sql" / "shop.sqlite").is_file()


def test_connections_from_toml_with_secrets(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = tmp_path / "sql.toml"
    config.write_text(
        '[connections.warehouse]\nurl = "postgresql://reader:${WH_PASSWORD}@db/warehouse"\n'
        'description = "Sales"\nschemas = ["sales"]\n'
    )
    settings = SqlSettings(config_file=config, sample=False)
    connections = settings.all_connections()
    assert connections["warehouse"].schemas == ["sales"]
    monkeypatch.setenv("WH_PASSWORD", "s3cret")
    assert expand_secrets(connections["warehouse"].url) == "postgresql://reader:s3cret@db/warehouse"
    monkeypatch.delenv("WH_PASSWORD")
    with pytest.raises(SqlConfigError, match="WH_PASSWORD"):
        expand_secrets(connections["warehouse"].url)
    bad = tmp_path / "bad.toml"
    bad.write_text('[connections."bad name"]\nurl = "sqlite:///x.db"\n')
    with pytest.raises(SqlConfigError):
        load_connections_file(bad)
    with pytest.raises(ValueError, match="url must start"):
        ConnectionSettings(url="oracle://x")


def test_connections_from_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TOOLMESH_SQL_CONNECTIONS__LOCAL__URL", "sqlite:////tmp/x.db")
    monkeypatch.setenv("TOOLMESH_SQL_SAMPLE", "false")
    settings = SqlSettings()
    assert list(settings.all_connections()) == ["local"]


async def _tool_names(client: Client[Any]) -> dict[str, Any]:
    return {t.name: t for t in await client.list_tools()}


@pytest.mark.asyncio
async def test_writes_need_an_explicit_opt_in(tmp_path: Path) -> None:
    db = tmp_path / "w.sqlite"
    conn = sqlite3.connect(db)
    conn.executescript("CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT NOT NULL);")
    conn.close()
    read_only = build_server(
        SqlSettings(sample=False, connections={"w": ConnectionSettings(url=f"sqlite:///{db}")})
    )
    async with Client(read_only) as client:
        assert "execute_write" not in await _tool_names(client)
    writable = build_server(
        SqlSettings(
            sample=False,
            connections={
                "w": ConnectionSettings(url=f"sqlite:///{db}", allow_writes=True),
                "ro": ConnectionSettings(url=f"sqlite:///{db}"),
            },
        )
    )
    async with Client(writable) as client:
        tool = (await _tool_names(client))["execute_write"]
        assert tool.annotations.destructive_hint is True and tool.annotations.read_only_hint is False
        done = await client.call_tool(
            "execute_write",
            {"connection": "w", "sql": "INSERT INTO notes (body) VALUES (?), (?)", "params": ["a", "b"]},
        )
        assert done.structured_content["affected_rows"] == 2
        refused = await client.call_tool(
            "execute_write", {"connection": "ro", "sql": "DELETE FROM notes"}, raise_on_error=False
        )
        assert refused.is_error and "read-only" in text_of(refused)
        ddl = await client.call_tool(
            "execute_write", {"connection": "w", "sql": "DROP TABLE notes"}, raise_on_error=False
        )
        assert ddl.is_error and "DROP" in text_of(ddl)
        still_read_only = await client.call_tool(
            "run_query", {"connection": "w", "sql": "DELETE FROM notes"}, raise_on_error=False
        )
        assert still_read_only.is_error
        rows = await client.call_tool(
            "run_query", {"connection": "w", "sql": "SELECT body FROM notes ORDER BY id"}
        )
        assert rows.structured_content["rows"] == [["a"], ["b"]]


def test_cli_sample_and_check(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from toolmesh.servers.sql.cli import app

    runner = CliRunner()
    made = runner.invoke(app, ["sample", str(tmp_path / "s.sqlite")])
    assert made.exit_code == 0 and (tmp_path / "s.sqlite").is_file()
    accepted = runner.invoke(app, ["check", "SELECT * FROM orders JOIN customers USING (customer_id)"])
    assert accepted.exit_code == 0 and "customers, orders" in accepted.output
    refused = runner.invoke(app, ["check", "SELECT 1; DROP TABLE orders", "--dialect", "postgres"])
    assert refused.exit_code == 1 and "only one SQL statement" in refused.output
    bad = runner.invoke(app, ["sample", str(tmp_path / "t.sqlite"), "--into", "oracle://x/y"])
    assert bad.exit_code == 1 and "only PostgreSQL and MySQL" in bad.output
