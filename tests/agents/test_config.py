"""toolmesh.toml: parsing into each deployable's Settings, every class of mistake named with its fix, and
the file `toolmesh init` writes."""

from __future__ import annotations

import sqlite3
import tomllib
from pathlib import Path

import pytest
from typer.testing import CliRunner

from toolmesh.agents.cli import app
from toolmesh.agents.config import SAMPLES, load_config, parse_config
from toolmesh.agents.errors import MeshConfigError
from toolmesh.agents.template import render_config
from toolmesh.servers.code import CodeSettings
from toolmesh.servers.docs.settings import DocsSettings
from toolmesh.servers.sql import SqlSettings

VALID = """
workdir = "state"

[registry]
port = 0
token = "${TEST_MESH_TOKEN}"

[servers.sql]
sample = false
[servers.sql.connections.app]
url = "sqlite:///data/app.db"
description = "the app"

[servers.code]
root = "src"

[agents]
approvals = { "*" = "deny" }

[agents.executor]
port = 9123
max_parallel = 2
"""


def _write(folder: Path, text: str) -> Path:
    path = folder / "toolmesh.toml"
    path.write_text(text, encoding="utf-8")
    return path


def _error(folder: Path, text: str) -> str:
    with pytest.raises(MeshConfigError) as caught:
        load_config(_write(folder, text))
    return str(caught.value)


def test_a_valid_file_builds_each_settings_class(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TEST_MESH_TOKEN", "a-token-from-the-environment")
    config = load_config(_write(tmp_path, VALID))
    assert config.workdir == tmp_path / "state"
    assert config.token is not None and config.token.get_secret_value() == "a-token-from-the-environment"
    assert config.registry.port == 0
    assert set(config.servers) == {"sql", "code"}  # only the listed servers
    sql, code = config.servers["sql"], config.servers["code"]
    assert isinstance(sql, SqlSettings) and isinstance(code, CodeSettings)
    assert sql.transport == "http" and sql.port == 0  # the mesh's defaults: HTTP on a free port
    assert sql.connections["app"].url == f"sqlite:///{tmp_path / 'data' / 'app.db'}"  # relative to the file
    assert sql.sample_path == tmp_path / "state" / "shop.sqlite"  # in the workdir, not the user cache
    assert code.root == tmp_path / "src"
    assert list(config.agents) == ["executor"]  # only the listed agents
    executor = config.agents["executor"]
    assert (executor.port, executor.max_parallel, executor.approvals) == (9123, 2, {"*": "deny"})
    assert config.given("agents.executor") == {"port": 9123, "max_parallel": 2, "approvals": {"*": "deny"}}


def test_the_environment_fills_in_what_the_file_leaves_out(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TOOLMESH_SQL_DEFAULT_MAX_ROWS", "7")
    monkeypatch.setenv("TOOLMESH_SQL_MAX_BYTES", "4096")
    monkeypatch.setenv("TOOLMESH_SQL_PATH", "/elsewhere")
    monkeypatch.setenv("TOOLMESH_SQL_TRANSPORT", "stdio")
    config = load_config(_write(tmp_path, "[servers.sql]\nmax_bytes = 8192\n"))
    sql = config.servers["sql"]
    assert isinstance(sql, SqlSettings)
    assert (sql.default_max_rows, sql.max_bytes) == (7, 8192)  # the file wins where it speaks
    assert (sql.transport, sql.path) == ("http", "/mcp")  # where the mesh reaches it, whatever the env says


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # not TOML
        ("[registry\nport = 1\n", ["is not valid TOML", "line 1", "strings need quotes"]),
        # unknown keys, at every depth, with the likely one
        ("sever = 1\n", ["unknown key `sever`", "Did you mean `servers`?"]),
        (
            "[registry]\nprot = 1\n",
            ["unknown key `registry.prot`", "Did you mean `port`?", "TOOLMESH_REGISTRY_"],
        ),
        (
            '[servers.sql.connections.app]\nurll = "sqlite:///x.db"\n',
            ["unknown key `servers.sql.connections.app.urll`", "Did you mean `url`?"],
        ),
        ("[agents.planner]\nmax_round = 2\n", ["unknown key `agents.planner.max_round`", "`max_rounds`"]),
        # values the settings class refuses: the key, what was written, what to write
        (
            "[registry]\nport = 99999\n",
            [
                "`registry.port` is invalid",
                "less than or equal to 65535",
                "99999",
                "`port = 8700` under [registry]",
            ],
        ),
        (
            '[servers.sql.connections.app]\nurl = "oracle://x"\n',
            [
                "`servers.sql.connections.app.url` is invalid",
                "url must start with sqlite:",
                "under [servers.sql.connections.app]",
            ],
        ),
        ("[servers.docs]\nroots = 3\n", ["`servers.docs.roots` is invalid", "valid list", "`roots = []`"]),
        (
            '[agents.executor]\nport = "abc"\n',
            ["`agents.executor.port` is invalid", "'abc'", "under [agents.executor]"],
        ),
        ("[agents.model]\ntimeout = -1\n", ["`agents.model.timeout` is invalid", "`timeout = 120.0`"]),
        # shapes
        ("[servers]\nsql = 3\n", ["servers.sql must be a table", "[servers.sql]"]),
        ("agents = 3\n", ["`agents` must be a table"]),
        ("[agents]\nplanner = 3\n", ["agents.planner must be a table", "[agents.planner]"]),
        ("[servers.nosuch]\n", ["[servers.nosuch] names no installed MCP server", "sql"]),
        ('[agents]\nagent_id = "one"\n', ["`agents.agent_id` would give every agent the same id"]),
        (
            '[servers.sql]\ntransport = "stdio"\n',
            ["`servers.sql.transport` cannot be set for a server in the mesh", "toolmesh serve sql"],
        ),
        ("[servers.docs.auth]\nrequired_scopes = []\n", ["`servers.docs.auth` cannot be set"]),
        # secrets
        (
            '[registry]\ntoken = "${TEST_UNSET_VARIABLE}"\n',
            [
                "`registry.token` needs the environment variable TEST_UNSET_VARIABLE",
                "Export TEST_UNSET_VARIABLE",
            ],
        ),
        ('[registry]\ntoken = "short"\n', ["registry.token must be a string of 16 or more characters"]),
    ],
)
def test_each_mistake_names_the_file_the_key_and_the_fix(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, text: str, expected: list[str]
) -> None:
    monkeypatch.delenv("TEST_UNSET_VARIABLE", raising=False)
    message = _error(tmp_path, text)
    assert str(tmp_path / "toolmesh.toml") in message
    for part in expected:
        assert part in message, (part, message)


def test_an_invalid_environment_variable_is_named_as_such(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TOOLMESH_SQL_MAX_BYTES", "lots")
    message = _error(tmp_path, "[servers.sql]\n")
    assert "the environment variable TOOLMESH_SQL_MAX_BYTES is invalid" in message


def test_a_missing_file_says_how_to_get_one(tmp_path: Path) -> None:
    with pytest.raises(MeshConfigError, match=r"no config file at .*toolmesh init"):
        load_config(tmp_path / "toolmesh.toml")


def test_init_writes_a_file_that_parses_and_validates(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(app, ["init"])
    assert result.exit_code == 0, result.output
    text = (tmp_path / "toolmesh.toml").read_text(encoding="utf-8")
    assert text.count("\n#") > 20  # commented
    config = load_config(tmp_path / "toolmesh.toml")
    assert set(config.servers) == {"docs", "sql", "code", "memory"}
    assert set(config.agents) == {"planner", "executor", "reviewer"}
    docs, sql = config.servers["docs"], config.servers["sql"]
    assert isinstance(docs, DocsSettings) and isinstance(sql, SqlSettings)
    assert docs.roots == [SAMPLES / "handbook"]  # an empty folder: the packaged sample handbook
    assert (SAMPLES / "handbook" / "refunds.md").is_file()
    assert sql.sample and not sql.connections  # the generated sample database
    assert config.servers["code"].root == tmp_path  # type: ignore[attr-defined]
    assert config.servers["memory"].store == f"sqlite:///{tmp_path / '.toolmesh' / 'memory.sqlite'}"  # type: ignore[attr-defined]
    assert config.token is None  # generated once into the workdir by `toolmesh up`
    assert config.agents["planner"].port == 8810 and config.registry.port == 8700


def test_init_refuses_to_overwrite_without_force(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "toolmesh.toml").write_text("# mine\n", encoding="utf-8")
    refused = CliRunner().invoke(app, ["init"])
    assert refused.exit_code == 1 and "--force" in refused.stderr
    assert (tmp_path / "toolmesh.toml").read_text(encoding="utf-8") == "# mine\n"
    forced = CliRunner().invoke(app, ["init", "--force"])
    assert forced.exit_code == 0
    assert "[servers.sql]" in (tmp_path / "toolmesh.toml").read_text(encoding="utf-8")


def test_init_serves_the_folder_s_docs_and_sqlite_files(tmp_path: Path) -> None:
    (tmp_path / "docs").mkdir()
    with sqlite3.connect(tmp_path / "app.db") as db:
        db.execute("create table t (x)")
    (tmp_path / "notes.db").write_text("not a database", encoding="utf-8")
    text = render_config(tmp_path)
    tomllib.loads(text)
    config = parse_config(tomllib.loads(text), source=tmp_path / "toolmesh.toml", base=tmp_path)
    docs, sql = config.servers["docs"], config.servers["sql"]
    assert isinstance(docs, DocsSettings) and isinstance(sql, SqlSettings)
    assert docs.roots == [tmp_path / "docs"]
    assert not sql.sample
    assert {name: c.url for name, c in sql.connections.items()} == {"app": f"sqlite:///{tmp_path / 'app.db'}"}


def test_ask_reads_the_planner_url_from_the_environment_when_it_runs() -> None:
    """TOOLMESH_PLANNER_URL is an option's environment variable, read per call, not at import."""
    result = CliRunner().invoke(
        app, ["ask", "hello", "--no-interactive"], env={"TOOLMESH_PLANNER_URL": "http://127.0.0.1:9"}
    )
    assert result.exit_code == 2
    assert "cannot reach the planner at http://127.0.0.1:9" in " ".join(result.stderr.split())
