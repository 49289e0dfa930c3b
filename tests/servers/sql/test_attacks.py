"""The attack suite: every class in threats.md (SQL), per dialect.

Each attempt must come back as a clear isError result (our message, not a masked internal error), change
nothing
(row counts, row hashes, the object list and PostgreSQL's sequence are compared before and after, read with
the raw
driver) and never surface the content of a canary file it tries to read.
"""

from __future__ import annotations

from typing import Any

import pytest
import pytest_asyncio
from fastmcp import Client

from tests.servers.sql.conftest import Db, text_of

# {canary} is replaced by the path of a file holding a secret; {canary_hex} by the path as hex (MySQL UNHEX).
ATTACKS: dict[str, str] = {
    # multiple statements and escaping the read-only transaction
    "stacked_drop": "SELECT 1; DROP TABLE orders",
    "commit_then_drop": "COMMIT; DROP TABLE orders",
    "end_then_delete": "END; DELETE FROM customers",
    "rollback_then_delete": "ROLLBACK; DELETE FROM customers",
    "select_then_commit": "SELECT 1; COMMIT",
    "double_semicolon": "SELECT 1;; DELETE FROM customers",
    "stacked_after_comment": "SELECT 1; -- harmless\nDELETE FROM customers",
    "begin_block": "BEGIN; DELETE FROM customers; COMMIT",
    "stacked_insert_newline": "SELECT 1;\nINSERT INTO customers (id, name, country) VALUES (999, 'x', 'y')",
    "bare_commit": "COMMIT",
    "start_rw_transaction": "START TRANSACTION READ WRITE",
    "set_transaction_rw": "SET TRANSACTION READ WRITE",
    "set_session_rw": "SET SESSION CHARACTERISTICS AS TRANSACTION READ WRITE",
    "set_default_ro_off": "SET default_transaction_read_only = off",
    "set_config_ro_off": "SELECT set_config('default_transaction_read_only', 'off', false)",
    "savepoint": "SAVEPOINT s1",
    # direct writes, DDL, leading comments
    "block_comment_delete": "/* just a select */ DELETE FROM customers",
    "line_comment_drop": "-- select\nDROP TABLE customers",
    "nested_comment_update": "/* a /* b */ c */ UPDATE customers SET name = 'x'",
    "delete": "DELETE FROM customers",
    "update": "UPDATE customers SET name = 'pwned'",
    "insert": "INSERT INTO customers (id, name, country) VALUES (999, 'x', 'y')",
    "insert_select": "INSERT INTO customers SELECT * FROM customers",
    "replace_into": "REPLACE INTO customers (id, name, country) VALUES (1, 'x', 'y')",
    "upsert": "INSERT INTO customers (id, name, country) VALUES (1, 'x', 'y') "
    "ON CONFLICT (id) DO UPDATE SET name = 'x'",
    "merge": "MERGE INTO customers c USING orders o ON c.id = o.id WHEN MATCHED THEN DELETE",
    "drop_table": "DROP TABLE orders",
    "truncate": "TRUNCATE TABLE orders",
    "alter_table": "ALTER TABLE customers ADD COLUMN pwned int",
    "create_table": "CREATE TABLE pwned (id int)",
    "create_table_as": "CREATE TABLE pwned AS SELECT * FROM customers",
    "create_view": "CREATE VIEW pwned AS SELECT 1",
    "create_index": "CREATE INDEX pwned ON customers (name)",
    "create_trigger": "CREATE TRIGGER t AFTER INSERT ON orders BEGIN DELETE FROM customers; END",
    "select_into": "SELECT * INTO pwned FROM customers",
    "comment_on": "COMMENT ON TABLE customers IS 'pwned'",
    "grant": "GRANT ALL ON customers TO PUBLIC",
    "vacuum": "VACUUM",
    "analyze": "ANALYZE customers",
    "reindex": "REINDEX TABLE customers",
    "explain_analyze_delete": "EXPLAIN ANALYZE DELETE FROM customers",
    # data-modifying CTEs
    "cte_delete": "WITH d AS (DELETE FROM orders RETURNING *) SELECT * FROM d",
    "cte_update": "WITH u AS (UPDATE customers SET name = 'x' RETURNING id) SELECT count(*) FROM u",
    "cte_insert": "WITH i AS (INSERT INTO customers (id, name, country) VALUES (999, 'x', 'y') RETURNING id) "
    "SELECT * FROM i",
    "cte_in_subquery": "SELECT id FROM (WITH d AS (DELETE FROM orders RETURNING id) SELECT id FROM d) s",
    # reading files and reaching out
    "pg_read_file": "SELECT pg_read_file('{canary}')",
    "pg_read_file_quoted": "SELECT \"pg_read_file\"('{canary}')",
    "pg_read_file_qualified": "SELECT pg_catalog.pg_read_file('{canary}')",
    "pg_read_file_in_subquery": "SELECT x FROM (SELECT pg_read_file('{canary}') AS x) AS s",
    "pg_read_binary_file": "SELECT pg_read_binary_file('{canary}')",
    "pg_ls_dir_in_from": "SELECT * FROM pg_ls_dir('/')",
    "pg_stat_file": "SELECT pg_stat_file('{canary}')",
    "lo_import": "SELECT lo_import('{canary}')",
    "lo_export": "SELECT lo_export(1, '/tmp/pwned')",
    "copy_from_file": "COPY customers FROM '{canary}'",
    "copy_to_program": "COPY customers TO PROGRAM 'id'",
    "copy_query_to_file": "COPY (SELECT * FROM customers) TO '/tmp/pwned.csv'",
    "dblink": "SELECT * FROM dblink('host=10.0.0.1 dbname=x', 'SELECT 1') AS t(x int)",
    "query_to_xml": "SELECT query_to_xml('DELETE FROM customers RETURNING *', true, true, '')",
    "load_file": "SELECT LOAD_FILE('{canary}')",
    "load_file_hex": "SELECT LOAD_FILE(UNHEX('{canary_hex}'))",
    "into_outfile": "SELECT * FROM customers INTO OUTFILE '/tmp/pwned.txt'",
    "into_dumpfile": "SELECT name FROM customers LIMIT 1 INTO DUMPFILE '/tmp/pwned.bin'",
    "load_data": "LOAD DATA INFILE '{canary}' INTO TABLE customers",
    "load_data_local": "LOAD DATA LOCAL INFILE '{canary}' INTO TABLE customers",
    "mysql_executable_comment": "SELECT 1 /*! , LOAD_FILE('{canary}') */",
    "mariadb_executable_comment": "SELECT 1 /*M! , LOAD_FILE('{canary}') */",
    "attach": "ATTACH DATABASE '{canary}' AS pwned",
    "load_extension": "SELECT load_extension('/tmp/pwned.so')",
    "readfile": "SELECT readfile('{canary}')",
    "writefile": "SELECT writefile('/tmp/pwned', 'x')",
    "fts3_tokenizer": "SELECT fts3_tokenizer('simple')",
    "pragma_writable_schema": "PRAGMA writable_schema = 1",
    "pragma_query_only_off": "PRAGMA query_only = 0",
    "read_csv": "SELECT * FROM read_csv('{canary}')",
    # dynamic SQL and keyword-check bypasses
    "prepare_from_string": "PREPARE s FROM 'DELETE FROM customers'",
    "prepare_as": "PREPARE p AS DELETE FROM customers",
    "execute": "EXECUTE s",
    "exec_concat": "EXEC('DELE' + 'TE FROM customers')",
    "do_block": "DO $$ BEGIN DELETE FROM customers; END $$",
    "call_procedure": "CALL pwn()",
    "set_user_variable": "SET @s = 'DELETE FROM customers'",
    "handler": "HANDLER customers OPEN",
    # locks, sleeps and server state
    "for_update": "SELECT * FROM customers FOR UPDATE",
    "for_share": "SELECT * FROM customers FOR SHARE",
    "for_no_key_update": "SELECT * FROM customers FOR NO KEY UPDATE",
    "lock_in_share_mode": "SELECT * FROM customers LOCK IN SHARE MODE",
    "lock_table": "LOCK TABLE customers IN ACCESS EXCLUSIVE MODE",
    "lock_tables": "LOCK TABLES customers WRITE",
    "advisory_lock": "SELECT pg_advisory_lock(42)",
    "try_advisory_lock": "SELECT pg_try_advisory_xact_lock(42)",
    "pg_sleep": "SELECT pg_sleep(1000)",
    "pg_sleep_in_where": "SELECT * FROM customers WHERE pg_sleep(1000) IS NOT NULL",
    "sleep": "SELECT SLEEP(1000)",
    "benchmark": "SELECT BENCHMARK(1000000000, MD5('x'))",
    "get_lock": "SELECT GET_LOCK('x', 1000)",
    "nextval": "SELECT nextval('counter')",
    "setval": "SELECT setval('counter', 1000)",
    "terminate_backend": "SELECT pg_terminate_backend(pg_backend_pid())",
    "reload_conf": "SELECT pg_reload_conf()",
    "notify": "SELECT pg_notify('x', 'y')",
    "use_database": "USE mysql",
    "kill": "KILL 1",
    "flush": "FLUSH TABLES",
    "shutdown": "SHUTDOWN",
    "empty": "   ",
    "only_comment": "-- nothing here",
}


async def _attempt(client: Client[Any], tool: str, args: dict[str, Any]) -> str:
    result = await client.call_tool(tool, args, raise_on_error=False)
    assert result.is_error, f"{args} was accepted: {result.structured_content}"
    text = text_of(result)
    assert text and "Error calling tool" not in text, text
    return text


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def baseline(db: Db) -> dict[str, str]:
    """The fingerprint before any attack; after each attempt the database must still match it."""
    return await db.fingerprint()


@pytest.mark.asyncio(loop_scope="module")
@pytest.mark.parametrize("attack", sorted(ATTACKS))
async def test_attack_is_refused(
    client: Client[Any], db: Db, baseline: dict[str, str], attack: str, canary: tuple[Any, str]
) -> None:
    path, secret = canary
    sql = ATTACKS[attack].format(canary=path, canary_hex=str(path).encode().hex())
    for tool in ("run_query", "explain_query"):
        text = await _attempt(client, tool, {"sql": sql})
        assert secret not in text
    assert await db.fingerprint() == baseline
    assert path.read_text() == secret


def test_attack_count() -> None:
    assert len(ATTACKS) >= 60
