"""The database as the first wall (issue 15 item 2): privileged logins, reader roles, pooled session state.

PostgreSQL: a superuser login (the test login ``postgres`` is one) is refused unless ``reader_role`` or
``allow_privileged`` is set, with the statements that create the role; under a reader role the database
itself refuses file reads and signals even when the parser is bypassed. MariaDB: ``FILE``, ``SUPER`` and
``PROCESS`` are reported, and a user variable set by one caller never reaches the next on a pooled connection.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import asyncpg
import pytest
import pytest_asyncio
from fastmcp import Client

from tests.servers.sql.conftest import Db, _create, _drop, data_of, text_of
from tests.services import POSTGRES_URL
from toolmesh.servers.sql import SqlSettings, build_server
from toolmesh.servers.sql.backend import Backend
from toolmesh.servers.sql.connections import make_backend
from toolmesh.servers.sql.errors import SqlError
from toolmesh.servers.sql.privileges import mysql_risky_privileges
from toolmesh.servers.sql.settings import ConnectionSettings

pytestmark = pytest.mark.asyncio(loop_scope="module")


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def pg(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Db]:
    db = await _create("postgres", tmp_path_factory.mktemp("pgpriv"))
    try:
        yield db
    finally:
        await db.close()
        await _drop(db)


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def my(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Db]:
    db = await _create("mysql", tmp_path_factory.mktemp("mypriv"))
    try:
        yield db
    finally:
        await db.close()
        await _drop(db)


async def _call(settings: ConnectionSettings, tool: str, **args: Any) -> Any:
    async with Client(build_server(SqlSettings(sample=False, connections={"test": settings}))) as mcp:
        return await mcp.call_tool(tool, args, raise_on_error=False)


async def test_privileged_postgres_login_is_refused_with_the_role_to_create(pg: Db) -> None:
    plain = ConnectionSettings(url=pg.url, schemas=[pg.schema])
    result = await _call(plain, "run_query", sql="SELECT 1")
    assert result.is_error
    text = text_of(result)
    assert "role `postgres` is superuser" in text
    assert "CREATE ROLE toolmesh_reader NOLOGIN" in text
    assert f"GRANT SELECT ON ALL TABLES IN SCHEMA {pg.schema} TO toolmesh_reader;" in text
    assert "GRANT toolmesh_reader TO postgres;" in text
    assert 'reader_role = "toolmesh_reader"' in text and "allow_privileged = true" in text
    listed = data_of(await _call(plain, "list_connections"))["connections"][0]
    assert any("not usable" in w and "superuser" in w for w in listed["warnings"]), listed


async def test_queries_run_under_the_reader_role(pg: Db) -> None:
    settings = pg.connection()
    seen = data_of(await _call(settings, "run_query", sql="SELECT current_user, session_user"))
    assert seen["rows"] == [[pg.reader_role, "postgres"]]
    listed = await _call(settings, "list_connections")
    assert f"queries run as `{pg.reader_role}`" in text_of(listed)


async def test_reader_role_stops_what_the_parser_would_miss(pg: Db, tmp_path: Path) -> None:
    """With the parser bypassed, the reader role alone refuses file reads, signals and large objects."""
    sentinel = await asyncpg.connect(POSTGRES_URL)
    backend: Backend = make_backend(pg.connection(pool_size=1), 2.0, name="test")
    try:
        pid = await sentinel.fetchval("SELECT pg_backend_pid()")
        before = await pg.fingerprint()
        for sql in (
            "SELECT pg_read_file('/etc/hostname')",
            "SELECT pg_ls_dir('/')",
            f"SELECT pg_terminate_backend({pid})",
            "SELECT lo_import('/etc/hostname')",
        ):
            with pytest.raises(SqlError, match=r"(?i)permission denied|must be|not allowed|read-only"):
                await backend.query(sql, None, max_rows=5, max_bytes=10_000, time_limit=2.0)
        assert await sentinel.fetchval("SELECT 1") == 1
        assert await pg.fingerprint() == before
    finally:
        await backend.close()
        await sentinel.close()


async def test_role_changes_are_refused_by_the_parser(pg: Db) -> None:
    """SET LOCAL ROLE is not a wall on its own: while the session user is a superuser, the database lets the
    statement switch back (``set_config('role', 'postgres', true)``). The parser refuses every way to do it;
    docs/sql.md says to log in as the reader role where that matters."""
    async with Client(build_server(SqlSettings(sample=False, connections={"test": pg.connection()}))) as mcp:
        for sql, reason in (
            ("SELECT set_config('role', 'postgres', true)", "the function set_config()"),
            ("SELECT U&\"set\\005fconfig\"('role', 'none', true)", "the function set_config()"),
            ("SET ROLE postgres", "SET statements are not allowed"),
            ("RESET ROLE", "RESET statements are not allowed"),
            ("SET SESSION AUTHORIZATION DEFAULT", "SET statements are not allowed"),
        ):
            result = await mcp.call_tool("run_query", {"sql": sql}, raise_on_error=False)
            assert result.is_error and reason in text_of(result), (sql, text_of(result))
        seen = data_of(await mcp.call_tool("run_query", {"sql": "SELECT current_user"}))
        assert seen["rows"] == [[pg.reader_role]]


@pytest.mark.parametrize(
    ("reader", "message"),
    [("tm_no_such_role_h15", "does not exist"), ("postgres", "is privileged itself")],
)
async def test_unusable_reader_roles_are_refused(pg: Db, reader: str, message: str) -> None:
    result = await _call(pg.connection(reader_role=reader), "run_query", sql="SELECT 1")
    assert result.is_error and message in text_of(result), text_of(result)


async def test_allow_privileged_is_loud(pg: Db) -> None:
    settings = pg.connection(allow_privileged=True)
    assert data_of(await _call(settings, "run_query", sql="SELECT current_user"))["rows"] == [["postgres"]]
    text = text_of(await _call(settings, "list_connections"))
    assert "WARNING: PRIVILEGED: role `postgres` is superuser" in text


async def test_unprivileged_login_needs_no_reader_role(pg: Db) -> None:
    login = f"{pg.schema}_login"
    admin = await asyncpg.connect(POSTGRES_URL)
    try:
        await admin.execute(f'CREATE ROLE "{login}" LOGIN')
        await admin.execute(f'GRANT "{pg.reader_role}" TO "{login}"')
        url = POSTGRES_URL.replace("postgres@", f"{login}@", 1)
        settings = ConnectionSettings(url=url, schemas=[pg.schema])
        result = data_of(await _call(settings, "run_query", sql="SELECT count(*) FROM customers"))
        assert result["rows"] == [[40]]
        listed = data_of(await _call(settings, "list_connections"))["connections"][0]
        assert listed["warnings"] == []
    finally:
        await admin.execute(f'DROP ROLE IF EXISTS "{login}"')
        await admin.close()


async def test_mariadb_risky_privileges_are_reported(my: Db) -> None:
    listed = await _call(my.connection(), "list_connections")
    warnings = data_of(listed)["connections"][0]["warnings"]
    assert warnings and "FILE, SUPER, PROCESS" in warnings[0], warnings
    assert "WARNING: the account holds FILE" in text_of(listed)


async def test_mariadb_user_variables_do_not_reach_the_next_caller(my: Db) -> None:
    """Bypassing the parser (which refuses ``:=``), a variable set by one call is gone by the next one on
    the same pooled connection."""
    backend = make_backend(my.connection(pool_size=1), 2.0, name="test")
    try:
        first = await backend.query("SELECT @tm_h15 := 42", None, max_rows=1, max_bytes=1000, time_limit=2.0)
        assert first.rows == [[42]]
        second = await backend.query(
            "SELECT @tm_h15, @@max_statement_time", None, max_rows=1, max_bytes=1000, time_limit=2.0
        )
        assert second.rows[0][0] is None
        assert float(str(second.rows[0][1])) == 2.0  # the session was set up again after the reset
        with pytest.raises(SqlError):
            await backend.query("DELETE FROM orders", None, max_rows=1, max_bytes=1000, time_limit=2.0)
    finally:
        await backend.close()


async def test_mysql_grant_lines_are_read() -> None:
    assert mysql_risky_privileges(
        ["GRANT ALL PRIVILEGES ON *.* TO `root`@`localhost` WITH GRANT OPTION"]
    ) == [
        "FILE",
        "SUPER",
        "PROCESS",
    ]
    assert mysql_risky_privileges(["GRANT PROCESS, FILE ON *.* TO `r`@`%`"]) == ["FILE", "PROCESS"]
    assert (
        mysql_risky_privileges(["GRANT USAGE ON *.* TO `r`@`%`", "GRANT SELECT ON `shop`.* TO `r`@`%`"]) == []
    )
