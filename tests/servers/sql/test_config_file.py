"""A connections file as users write it: a secret left unset costs that connection only, and relative
files are taken from the file's folder, wherever the client started the server."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import anyio
import pytest
from fastmcp import Client

from tests.servers.sql.conftest import text_of
from toolmesh.servers.sql import SqlSettings, build_server
from toolmesh.servers.sql.errors import SqlConfigError
from toolmesh.servers.sql.models import ConnectionList
from toolmesh.servers.sql.settings import load_connections_file

CONFIG = """
[connections.warehouse]
url = "postgresql://reader:${I19_WAREHOUSE_PASSWORD}@127.0.0.1:1/warehouse"
description = "Sales warehouse"

[connections.local]
url = "sqlite:///data/local.sqlite"
"""


@pytest.fixture
def config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "project"
    (folder / "data").mkdir(parents=True)
    db = sqlite3.connect(folder / "data" / "local.sqlite")
    db.executescript(
        "CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT); INSERT INTO notes VALUES (1, 'hi');"
    )
    db.close()
    (folder / "sql.toml").write_text(CONFIG, encoding="utf-8")
    elsewhere = tmp_path / "client-cwd"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)  # the client's launch directory is not the config's folder
    monkeypatch.delenv("I19_WAREHOUSE_PASSWORD", raising=False)
    return folder / "sql.toml"


def test_relative_sqlite_files_are_taken_from_the_config_folder(config: Path) -> None:
    connections = load_connections_file(config)
    assert connections["local"].url == f"sqlite:///{config.parent.resolve() / 'data' / 'local.sqlite'}"
    assert "${I19_WAREHOUSE_PASSWORD}" in connections["warehouse"].url  # read when it opens, not now


def test_a_missing_relative_config_file_names_the_working_directory(config: Path) -> None:
    with pytest.raises(SqlConfigError, match="working directory") as caught:
        SqlSettings(config_file=Path("sql.toml"), sample=False).all_connections()
    assert "absolute path" in str(caught.value)


@pytest.mark.asyncio
async def test_an_unset_secret_fails_that_connection_only(config: Path, tmp_path: Path) -> None:
    settings = SqlSettings(config_file=config, sample_path=tmp_path / "shop.sqlite")
    server = build_server(settings)  # starts: the unset variable does not take the server down
    with anyio.fail_after(60):
        async with Client(server) as client:
            listed = ConnectionList.model_validate(
                (await client.call_tool("list_connections", {})).structured_content
            )
            by_name = {c.name: c for c in listed.connections}
            assert set(by_name) == {"shop", "warehouse", "local"}
            warehouse = by_name["warehouse"]
            assert warehouse.available is False and warehouse.dialect == "postgresql"
            assert warehouse.reason is not None and "I19_WAREHOUSE_PASSWORD" in warehouse.reason
            assert by_name["shop"].available and by_name["local"].available

            failed = await client.call_tool(
                "run_query", {"sql": "SELECT 1", "connection": "warehouse"}, raise_on_error=False
            )
            assert failed.is_error
            message = text_of(failed)
            assert "I19_WAREHOUSE_PASSWORD" in message and "`warehouse`" in message and "Set " in message

            shop = await client.call_tool(
                "run_query", {"sql": "SELECT count(*) FROM orders", "connection": "shop"}
            )
            assert shop.structured_content is not None and shop.structured_content["rows"][0][0] > 0
            local = await client.call_tool(
                "run_query", {"sql": "SELECT body FROM notes", "connection": "local"}
            )
            assert local.structured_content is not None and local.structured_content["rows"] == [["hi"]]


def test_problems_name_the_variable_and_the_missing_file(config: Path, tmp_path: Path) -> None:
    (config.parent / "data" / "local.sqlite").unlink()
    problems = [str(p) for p in SqlSettings(config_file=config, sample_path=tmp_path / "s.sqlite").problems()]
    assert len(problems) == 2, problems
    assert "`warehouse`" in problems[0] and "I19_WAREHOUSE_PASSWORD" in problems[0]
    assert "`local`" in problems[1] and "does not exist" in problems[1]
