"""Escape forms (issue 15): names written so that a checker reading tokens misses what the database runs.

Each form goes through the server's tool path (``run_query`` and ``explain_query(analyze=true)``) against the
real database, and must come back refused with a reason that names the problem. Afterwards the database must
be as it was: the canary tables' rows, PostgreSQL's large objects, a sentinel session still alive, no NOTIFY
delivered to a listening session, no advisory or named lock held, and the canary file's content nowhere in the
output. On PostgreSQL the server logs in as a superuser with ``allow_privileged = true``, so the parser is the
only wall here and a miss would really read, signal or notify (the reader role is tested in
test_privileges.py).
"""

from __future__ import annotations

import asyncio
import re
import shutil
import tempfile
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiomysql
import asyncpg
import pytest
import pytest_asyncio
from fastmcp import Client

from tests.servers.sql.conftest import Db, _create, _drop, _mysql_args, text_of
from tests.services import MYSQL_URL, POSTGRES_URL
from toolmesh.servers.sql import SqlSettings, build_server

READS = r"it can read files, reach the network, sleep, take locks or change server state"
EXEC_COMMENT = r"executable comments \(/\*! \.\.\. \*/, /\*M! \.\.\. \*/\) are not allowed"


def fn(name: str) -> str:
    """The reason for a denied function, whatever spelling the query used."""
    return rf"the function {name}\(\).*{READS}"


# (sql, reason regex). {canary}: a file with a secret; {pid}: the sentinel session's backend id.
POSTGRES: dict[str, tuple[str, str]] = {
    "uescape_backslash": ("SELECT U&\"pg\\005fread\\005ffile\"('{canary}')", fn("pg_read_file")),
    "uescape_plus_form": ("SELECT U&\"pg\\+00005fread\\+00005ffile\"('{canary}')", fn("pg_read_file")),
    "uescape_custom": ("SELECT U&\"pg!005fread!005ffile\" UESCAPE '!' ('{canary}')", fn("pg_read_file")),
    "uescape_lower_u": (
        "SELECT u&\"pg\\005fread\\005fbinary\\005ffile\"('{canary}')",
        fn("pg_read_binary_file"),
    ),
    "uescape_qualified": ('SELECT pg_catalog.U&"pg\\005fsleep"(30)', fn("pg_sleep")),
    "uescape_both_qualified": ('SELECT U&"pg\\005fcatalog".U&"pg\\005fsleep"(30)', fn("pg_sleep")),
    "uescape_plus_sleep": ('SELECT U&"pg\\+00005fsleep"(30)', fn("pg_sleep")),
    "uescape_in_cte": (
        "WITH x AS (SELECT U&\"pg\\005fread\\005ffile\"('{canary}') AS c) SELECT * FROM x",
        fn("pg_read_file"),
    ),
    "uescape_in_values": ("VALUES (U&\"pg\\005fread\\005ffile\"('{canary}'))", fn("pg_read_file")),
    "uescape_in_from": ("SELECT * FROM U&\"pg\\005fls\\005fdir\"('/')", fn("pg_ls_dir")),
    "uescape_lo_import": ("SELECT U&\"lo\\005fimport\"('{canary}')", fn("lo_import")),
    "uescape_lo_from_bytea": ("SELECT U&\"lo\\005ffrom\\005fbytea\"(0, 'x')", fn("lo_from_bytea")),
    "uescape_notify": ("SELECT U&\"pg\\005fnotify\"('tm_canary', 'x')", fn("pg_notify")),
    "uescape_terminate": ('SELECT U&"pg\\005fterminate\\005fbackend"({pid})', fn("pg_terminate_backend")),
    "uescape_cancel": ('SELECT U&"pg\\005fcancel\\005fbackend"({pid})', fn("pg_cancel_backend")),
    "uescape_advisory": ('SELECT U&"pg\\005fadvisory\\005flock"(4242)', fn("pg_advisory_lock")),
    "uescape_set_config": (
        "SELECT U&\"set\\005fconfig\"('default_transaction_read_only', 'off', false)",
        fn("set_config"),
    ),
    "uescape_emit_message": (
        "SELECT U&\"pg\\005flogical\\005femit\\005fmessage\"(true, 'x', 'y')",
        fn("pg_logical_emit_message"),
    ),
    "uescape_txid": ('SELECT U&"txid\\005fcurrent"()', fn("txid_current")),
    "quoted_qualified": ('SELECT "pg_catalog"."pg_read_file"(\'{canary}\')', fn("pg_read_file")),
    "mixed_case": ("SELECT Pg_Read_File('{canary}')", fn("pg_read_file")),
    "comment_before_paren": ("SELECT pg_read_file /* x */ ('{canary}')", fn("pg_read_file")),
    "nested_comment": ("SELECT /* /* */ */ pg_read_file('{canary}')", fn("pg_read_file")),
    "dollar_quote_hides_quote": ("SELECT $$'$$, pg_read_file('{canary}') --'", fn("pg_read_file")),
    "e_string_escaped_quote": ("SELECT E'\\'', pg_read_file('{canary}') --'", fn("pg_read_file")),
    "backslash_is_not_escape": ("SELECT 'a\\', pg_read_file('{canary}') --'", fn("pg_read_file")),
    "field_notation": ("SELECT ('{canary}'::text).pg_read_file", fn("pg_read_file")),
    "field_notation_quoted": ("SELECT ('{canary}'::text).\"pg_read_file\"", fn("pg_read_file")),
    "field_notation_uescape": ("SELECT ('{canary}'::text).U&\"pg\\005fread\\005ffile\"", fn("pg_read_file")),
    "field_notation_advisory": ("SELECT (4242::bigint).pg_advisory_lock", fn("pg_advisory_lock")),
    "field_notation_terminate": ("SELECT ({pid}).pg_terminate_backend", fn("pg_terminate_backend")),
    "operator_syntax": ("SELECT 'a' OPERATOR(pg_catalog.||) 'b'", r"OPERATOR\(schema\.op\) syntax"),
    "uescape_malformed": ('SELECT U&"pg\\00"(1)', r"Unicode escape at character \d+ is malformed"),
    "uescape_bad_escape_char": ("SELECT U&\"x\" UESCAPE '+'", r"UESCAPE '\+' .* is not a valid escape"),
    "unterminated_identifier": ("SELECT \"pg_read_file('{canary}')", r"unterminated \" quote"),
}
MYSQL: dict[str, tuple[str, str]] = {
    "backtick": ("SELECT `sleep`(30)", fn("sleep")),
    "backtick_upper_space": ("SELECT `SLEEP` (30)", fn("sleep")),
    "backtick_qualified": ("SELECT `test`.`sleep`(30)", fn("sleep")),
    "ansi_quotes": ('SELECT "sleep"(30)', fn("sleep")),
    "executable_comment": ("SELECT 1 /*! , LOAD_FILE('{canary}') */", EXEC_COMMENT),
    "versioned_executable_comment": ("SELECT 1 /*!50000 , sleep(30) */", EXEC_COMMENT),
    "mariadb_executable_comment": ("SELECT 1 /*M!100000 , sleep(30) */", EXEC_COMMENT),
    "executable_comment_in_where": ("SELECT 1 FROM dual WHERE 1 = 1 /*!50000 AND sleep(30) */", EXEC_COMMENT),
    "double_dash_is_minus": ("SELECT 1--1, LOAD_FILE('{canary}')", fn("load_file")),
    "comments_do_not_nest": ("SELECT 1 /* /* */ , LOAD_FILE('{canary}') -- */", fn("load_file")),
    "hash_comment_ends_at_newline": ("SELECT 1 # c\n, LOAD_FILE('{canary}')", fn("load_file")),
    "doubled_quote": ("SELECT 'a''', LOAD_FILE('{canary}') -- '", fn("load_file")),
    "comment_before_paren": ("SELECT LOAD_FILE /**/ ('{canary}')", fn("load_file")),
    "backtick_load_file": ("SELECT x'41', `load_file`('{canary}')", fn("load_file")),
    "user_variable_assignment": (
        "SELECT @tm_canary := 1",
        r"assignments \(`@var := \.\.\.`\) are not allowed",
    ),
    "assignment_in_expression": ("SELECT (@x := 1) + 1", r"assignments \(`@var := \.\.\.`\)"),
    "select_into_variable": ("SELECT 1 INTO @tm_canary", r"`INTO` is not allowed in a read-only query"),
    "master_gtid_wait": ("SELECT MASTER_GTID_WAIT('0-1-100', 30)", fn("master_gtid_wait")),
    "master_gtid_wait_backtick": ("SELECT `master_gtid_wait`('0-1-100', 30)", fn("master_gtid_wait")),
    "benchmark_backtick": ("SELECT `benchmark`(100000000, MD5('x'))", fn("benchmark")),
    "get_lock_backtick": ("SELECT `get_lock`('tm_canary', 0)", fn("get_lock")),
    "release_lock": ("SELECT RELEASE_LOCK('tm_canary')", fn("release_lock")),
    "last_insert_id_set": ("SELECT LAST_INSERT_ID(42)", fn("last_insert_id")),
    "next_value_for": ("SELECT NEXT VALUE FOR tm_seq", r"`NEXT VALUE FOR` is not allowed"),
    "unterminated_backtick": ("SELECT `sleep(30)", r"unterminated ` quote"),
}
SQLITE: dict[str, tuple[str, str]] = {
    "brackets": ("SELECT [load_extension]('/tmp/tm_pwned.so')", fn("load_extension")),
    "brackets_spaces": ("SELECT [ load_extension ]('/tmp/tm_pwned.so')", fn("load_extension")),
    "backticks": ("SELECT `load_extension`('/tmp/tm_pwned.so')", fn("load_extension")),
    "double_quotes": ("SELECT \"load_extension\"('/tmp/tm_pwned.so')", fn("load_extension")),
    "upper_case": ("SELECT LOAD_EXTENSION('/tmp/tm_pwned.so')", fn("load_extension")),
    "comment_before_paren": ("SELECT load_extension /* c */ ('/tmp/tm_pwned.so')", fn("load_extension")),
    "line_comment_then_call": ("SELECT 1 -- x\n, [load_extension]('/tmp/tm_pwned.so')", fn("load_extension")),
    "in_cte": (
        "WITH x AS (SELECT [load_extension]('/tmp/tm_pwned.so')) SELECT * FROM x",
        fn("load_extension"),
    ),
    "in_subquery": ("SELECT * FROM (SELECT `load_extension`('/tmp/tm_pwned.so'))", fn("load_extension")),
    "in_values": ("VALUES ([readfile]('{canary}'))", fn("readfile")),
    "readfile_quoted": ("SELECT \"readfile\"('{canary}')", fn("readfile")),
    "writefile_brackets": ("SELECT [writefile]('/tmp/tm_pwned', 'x')", fn("writefile")),
    "edit_backticks": ("SELECT `edit`('x', 'vi')", fn("edit")),
    "fts3_tokenizer_brackets": ("SELECT [fts3_tokenizer]('simple')", fn("fts3_tokenizer")),
    "sqlite_log": ("SELECT [sqlite_log](1, 'x')", fn("sqlite_log")),
    "doubled_quote": ("SELECT 'a''', [load_extension]('/tmp/tm_pwned.so') --'", fn("load_extension")),
    "in_where": ("SELECT * FROM customers WHERE [load_extension]('x') IS NULL", fn("load_extension")),
    "attach": ("ATTACH DATABASE '{canary}' AS pwned", r"ATTACH statements are not allowed"),
    "pragma": ("PRAGMA query_only = 0", r"PRAGMA statements are not allowed"),
    "open_comment_to_end": ("SELECT 1 /* [load_extension]('x')", r"does not tokenize"),
    "unterminated_bracket": ("SELECT [load_extension('x')", r"unterminated \] quote"),
}
FORMS = {"postgres": POSTGRES, "mysql": MYSQL, "sqlite": SQLITE}
CASES = [(dialect, name) for dialect, forms in FORMS.items() for name in sorted(forms)]


@dataclass
class Target:
    """One database under attack: its client, and the raw sessions that watch for side effects."""

    db: Db
    client: Client[Any]
    baseline: dict[str, str]
    sentinel: Any = None  # a raw session that must survive (pg_terminate_backend, KILL)
    pid: int = 0
    listener: Any = None  # PostgreSQL: LISTEN tm_canary
    notified: list[str] = field(default_factory=list)

    async def side_effects(self) -> dict[str, Any]:
        """What must not change: large objects and advisory locks (PostgreSQL), named locks (MariaDB)."""
        if self.db.dialect == "postgres":
            return {
                "large_objects": await self.sentinel.fetchval("SELECT count(*) FROM pg_largeobject_metadata"),
                "sentinel_alive": await self.sentinel.fetchval(
                    "SELECT count(*) FROM pg_stat_activity WHERE pid = $1", self.pid
                ),
                "advisory": await self.sentinel.fetchval(
                    "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND objid = 4242"
                ),
            }
        if self.db.dialect == "mysql":
            async with self.sentinel.cursor() as cur:
                await cur.execute("SELECT IS_FREE_LOCK('tm_canary'), CONNECTION_ID()")
                row = await cur.fetchone()
            return {"lock_free": row[0], "sentinel_alive": row[1] == self.pid}
        return {}


class Targets:
    """Databases created on first use (a dialect whose service is down skips only its own cases)."""

    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        self.made: dict[str, Target] = {}
        self.stack = AsyncExitStack()

    async def get(self, dialect: str) -> Target:
        if dialect not in self.made:
            db = await _create(dialect, self.tmp)
            self.stack.push_async_callback(_drop, db)
            self.stack.push_async_callback(db.close)
            extra = {"allow_privileged": True} if dialect == "postgres" else {}
            settings = SqlSettings(
                sample=False, connections={"test": db.connection(**extra)}, timeout_seconds=5
            )
            client = await self.stack.enter_async_context(Client(build_server(settings)))
            target = Target(db, client, await db.fingerprint())
            if dialect == "postgres":
                target.sentinel = await asyncpg.connect(POSTGRES_URL)
                target.pid = int(await target.sentinel.fetchval("SELECT pg_backend_pid()"))
                target.listener = await asyncpg.connect(POSTGRES_URL)
                await target.listener.add_listener("tm_canary", lambda *a: target.notified.append(str(a[-1])))
                self.stack.push_async_callback(target.sentinel.close)
                self.stack.push_async_callback(target.listener.close)
            elif dialect == "mysql":
                target.sentinel = await aiomysql.connect(**_mysql_args(MYSQL_URL))
                async with target.sentinel.cursor() as cur:
                    await cur.execute("SELECT CONNECTION_ID()")
                    target.pid = int((await cur.fetchone())[0])
                self.stack.callback(target.sentinel.close)
            self.made[dialect] = target
        return self.made[dialect]


@pytest.fixture
def canary() -> Iterator[tuple[Path, str]]:
    """A secret file the database server's own account could read (pytest's temporary folders are private
    to root, which would stop pg_read_file and LOAD_FILE before the guard is even needed)."""
    folder = Path(tempfile.mkdtemp(prefix="tm_canary_"))
    folder.chmod(0o755)
    secret = f"CANARY-{uuid.uuid4().hex}"
    path = folder / "canary.txt"
    path.write_text(secret)
    path.chmod(0o644)
    try:
        yield path, secret
    finally:
        shutil.rmtree(folder, ignore_errors=True)


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def targets(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Targets]:
    made = Targets(tmp_path_factory.mktemp("escapes"))
    async with made.stack:
        yield made


def test_at_least_twenty_forms_per_dialect() -> None:
    assert all(len(forms) >= 20 for forms in FORMS.values()), {d: len(f) for d, f in FORMS.items()}


@pytest.mark.asyncio(loop_scope="module")
@pytest.mark.parametrize(("dialect", "form"), CASES, ids=[f"{d}-{n}" for d, n in CASES])
async def test_escape_form_is_refused_and_changes_nothing(
    targets: Targets, dialect: str, form: str, canary: tuple[Path, str]
) -> None:
    path, secret = canary
    target = await targets.get(dialect)
    before = await target.side_effects()
    sql, reason = FORMS[dialect][form]
    sql = sql.replace("{canary}", str(path)).replace("{pid}", str(target.pid))
    calls: list[tuple[str, dict[str, Any]]] = [
        ("run_query", {"sql": sql}),
        ("explain_query", {"sql": sql, "analyze": True}),
    ]
    for tool, args in calls:
        result = await target.client.call_tool(tool, args, raise_on_error=False)
        assert result.is_error, f"{tool} accepted {sql!r}: {result.structured_content}"
        text = text_of(result)
        assert re.search(reason, text, re.IGNORECASE), f"{tool}: {text!r} does not match {reason!r}"
        assert secret not in text
    await asyncio.sleep(0.05 if dialect == "postgres" else 0)  # a NOTIFY would have arrived by now
    assert target.notified == []
    assert await target.side_effects() == before
    assert await target.db.fingerprint() == target.baseline
    assert path.read_text() == secret


@pytest.mark.asyncio(loop_scope="module")
async def test_postgres_unicode_identifiers_still_work(targets: Targets) -> None:
    """Normalising is not refusing: a harmless U& name runs, read as PostgreSQL reads it."""
    target = await targets.get("postgres")
    sql = "SELECT U&\"n!0061me\" UESCAPE '!' FROM customers WHERE id = 1"
    result = await target.client.call_tool("run_query", {"sql": sql}, raise_on_error=False)
    assert not result.is_error, text_of(result)
    assert result.structured_content is not None
    assert result.structured_content["rows"] == [["Customer 1"]]
