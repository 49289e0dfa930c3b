"""The parser line of defence on its own: legitimate reads pass, placeholders are rewritten correctly."""

from __future__ import annotations

import pytest

from toolmesh.servers.sql.errors import QueryRejected, SqlInputError, SqlLimitExceeded, SqlSyntaxError
from toolmesh.servers.sql.guard import Dialect, bind_params, check_query

DIALECTS: list[Dialect] = ["sqlite", "postgres", "mysql"]

LEGITIMATE = [
    "SELECT 1",
    "SELECT 1;",
    "select * from customers where name like '%; DROP TABLE x; --%'",
    "SELECT 'COMMIT; DELETE FROM t' AS text",
    "-- a leading comment\nSELECT id FROM customers",
    "/* block */ SELECT id FROM customers /* trailing */",
    "WITH big AS (SELECT customer_id, SUM(total) AS s FROM orders GROUP BY customer_id) SELECT * FROM big",
    "SELECT id FROM customers UNION ALL SELECT id FROM orders",
    "SELECT c.id, COUNT(o.id) FROM customers c LEFT JOIN orders o ON o.customer_id = c.id GROUP BY c.id",
    "SELECT * FROM customers WHERE id IN (SELECT customer_id FROM orders WHERE total > 10) LIMIT 5",
    "SELECT upper(name), coalesce(email, 'none'), length(name) FROM customers",
    "SELECT CASE WHEN total > 100 THEN 'big' ELSE 'small' END AS size FROM orders",
    "SELECT name AS load, name AS sleep_time FROM customers",
]


@pytest.mark.parametrize("dialect", DIALECTS)
@pytest.mark.parametrize("sql", LEGITIMATE)
def test_legitimate_reads_pass(dialect: Dialect, sql: str) -> None:
    checked = check_query(sql, dialect)
    assert not checked.sql.endswith(";")


def test_read_statement_kinds() -> None:
    assert check_query("SHOW TABLES", "mysql").kind == "show"
    assert check_query("DESCRIBE customers", "mysql").kind == "describe"
    assert check_query("VALUES (1), (2)", "postgres").kind == "values"
    with pytest.raises(QueryRejected):
        check_query("SHOW TABLES", "postgres")


def test_errors_are_specific() -> None:
    with pytest.raises(SqlSyntaxError, match=r"line 1, column \d+ near `FROM`"):
        check_query("SELECT FROM FROM", "postgres")
    with pytest.raises(SqlInputError, match="empty"):
        check_query("  ", "sqlite")
    with pytest.raises(SqlLimitExceeded):
        check_query("SELECT " + "1 + " * 30_000 + "1", "sqlite")
    with pytest.raises(QueryRejected, match="only one"):
        check_query("SELECT 1; SELECT 2", "sqlite")
    with pytest.raises(QueryRejected, match=r"(?i)pg_read_file"):
        check_query("SELECT PG_READ_FILE ('/etc/passwd')", "postgres")


def test_write_mode_accepts_dml_only() -> None:
    assert check_query("UPDATE customers SET name = ? WHERE id = ?", "sqlite", write=True).kind == "update"
    assert check_query("INSERT INTO t (a) VALUES (1)", "postgres", write=True).kind == "insert"
    for sql in ("DROP TABLE t", "SELECT 1", "DELETE FROM t; DROP TABLE t", "UPDATE t SET a = pg_sleep(10)"):
        with pytest.raises(QueryRejected):
            check_query(sql, "postgres", write=True)


def test_bind_positional() -> None:
    sql = "SELECT * FROM t WHERE a = ? AND b LIKE 'x%?' AND c = ?"
    assert bind_params(sql, "sqlite", [1, 2]) == (sql, [1, 2])
    assert bind_params(sql, "postgres", [1, 2]) == (
        "SELECT * FROM t WHERE a = $1 AND b LIKE 'x%?' AND c = $2",
        [1, 2],
    )
    assert bind_params(sql, "mysql", [1, 2]) == (
        "SELECT * FROM t WHERE a = %s AND b LIKE 'x%%?' AND c = %s",
        [1, 2],
    )


def test_bind_named_reuses_names() -> None:
    sql = "SELECT * FROM t WHERE a = :x OR b = :y OR c = :x"
    assert bind_params(sql, "sqlite", {"x": 1, "y": 2}) == (sql, {"x": 1, "y": 2})
    assert bind_params(sql, "postgres", {"x": 1, "y": 2}) == (
        "SELECT * FROM t WHERE a = $1 OR b = $2 OR c = $1",
        [1, 2],
    )
    assert bind_params(sql, "mysql", {"x": 1, "y": 2}) == (
        "SELECT * FROM t WHERE a = %s OR b = %s OR c = %s",
        [1, 2, 1],
    )


def test_bind_postgres_native_and_casts() -> None:
    assert bind_params("SELECT $1::int + $2", "postgres", [1, 2]) == ("SELECT $1::int + $2", [1, 2])
    assert bind_params("SELECT a::text FROM t WHERE b = ?", "postgres", ["x"]) == (
        "SELECT a::text FROM t WHERE b = $1",
        ["x"],
    )


def test_bind_mismatches() -> None:
    with pytest.raises(SqlInputError, match="2 value"):
        bind_params("SELECT ?", "sqlite", [1, 2])
    with pytest.raises(SqlInputError, match=":y"):
        bind_params("SELECT :x, :y", "mysql", {"x": 1})
    with pytest.raises(SqlInputError, match="no placeholder uses"):
        bind_params("SELECT :x", "postgres", {"x": 1, "z": 2})
    with pytest.raises(SqlInputError, match="mix"):
        bind_params("SELECT :x, ?", "sqlite", [1])
    with pytest.raises(SqlInputError, match="no params"):
        bind_params("SELECT ?", "sqlite", None)
    assert bind_params("SELECT 1 % 2", "mysql", None) == ("SELECT 1 % 2", None)


def test_errors_map_to_wire_codes() -> None:
    from toolmesh.protocols.errors import wire_code
    from toolmesh.servers.sql.errors import QueryTimeout, SqlNotFound

    assert wire_code(QueryRejected("x")).http == 403
    assert wire_code(QueryTimeout("x")).http == 504
    assert wire_code(SqlNotFound("x")).http == 404
    assert wire_code(SqlSyntaxError("x")).http == 400


READ_AS_THE_DATABASE_DOES: list[tuple[Dialect, str]] = [
    ("postgres", "SELECT $$it's; pg_sleep(1)$$ AS text"),
    ("postgres", "SELECT $t$ /* not a comment $t$, E'\\n', 'a\\' AS b"),
    ("postgres", "SELECT /* outer /* nested pg_sleep(1) */ still comment */ 1"),
    ("postgres", "SELECT $1::int + 1"),
    ("mysql", "SELECT 1-1, 'it''s', \"a \\\" b\", `name` FROM customers"),
    ("mysql", "SELECT 'a\\', sleep(1) -- ' AS harmless_string"),
    ("mysql", "SELECT @@version, 1 # comment"),
    ("sqlite", 'SELECT [name], `email`, "country" FROM customers -- sleep(1)'),
]


@pytest.mark.parametrize(("dialect", "sql"), READ_AS_THE_DATABASE_DOES)
def test_text_the_database_reads_as_harmless_passes(dialect: Dialect, sql: str) -> None:
    check_query(sql, dialect)


def test_unicode_identifiers_are_rewritten_as_plain_names() -> None:
    checked = check_query('SELECT U&"n\\0061me", U&"!+000063ountry" UESCAPE \'!\' FROM customers', "postgres")
    assert checked.sql == 'SELECT "name", "country" FROM customers'
    assert check_query('SELECT U&"a""b" FROM t', "postgres").sql == 'SELECT "a""b" FROM t'
