"""``toolmesh config check``: every problem of a setup, with its fix, and exit 1 when there is one."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from toolmesh.protocols.cli import app


@pytest.fixture
def clean_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    for name in ("TOOLMESH_SQL_CONFIG_FILE", "TOOLMESH_SQL_CONNECTIONS", "TOOLMESH_DOCS_ROOTS", "I19_PW"):
        monkeypatch.delenv(name, raising=False)
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)  # no toolmesh.toml here unless a test writes one
    return work


def test_a_working_setup_passes(clean_env: Path) -> None:
    result = CliRunner().invoke(app, ["config", "check", "sql", "docs"])
    assert result.exit_code == 0, result.output
    assert "no problems found" in result.output


def test_an_unset_secret_and_a_missing_root_are_reported_with_their_fix(
    clean_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    connections = clean_env / "sql.toml"
    connections.write_text(
        '[connections.warehouse]\nurl = "postgresql://reader:${I19_PW}@db/warehouse"\n', encoding="utf-8"
    )
    monkeypatch.setenv("TOOLMESH_SQL_CONFIG_FILE", str(connections))
    monkeypatch.setenv("TOOLMESH_DOCS_ROOTS", f'["{clean_env / "no-such-folder"}"]')
    result = CliRunner().invoke(app, ["config", "check", "sql", "docs"])
    assert result.exit_code == 1, result.output
    assert "connection `warehouse` needs the environment variable I19_PW" in result.output
    assert "Set I19_PW" in result.output
    assert "no-such-folder is not a folder" in result.output and "TOOLMESH_DOCS_ROOTS" in result.output
    assert "2 problem(s)" in result.output


def test_an_invalid_environment_variable_is_named(clean_env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TOOLMESH_SQL_PORT", "eighty")
    result = CliRunner().invoke(app, ["config", "check", "sql"])
    assert result.exit_code == 1
    assert "TOOLMESH_SQL_PORT" in result.output and "Fix or unset" in result.output


def test_the_mesh_file_is_checked_with_relative_paths_from_its_folder(clean_env: Path) -> None:
    (clean_env / "conns.toml").write_text('[connections.local]\nurl = "sqlite:///missing.sqlite"\n')
    (clean_env / "toolmesh.toml").write_text('[servers.sql]\nconfig_file = "conns.toml"\n')
    result = CliRunner().invoke(app, ["config", "check", "sql"])
    assert result.exit_code == 1, result.output
    assert f"the SQLite database {clean_env / 'missing.sqlite'} does not exist" in result.output
    (clean_env / "toolmesh.toml").write_text("[servers.sql]\nsampel = true\n")
    typo = CliRunner().invoke(app, ["config", "check", "sql"])
    assert typo.exit_code == 1 and "unknown key `servers.sql.sampel`" in typo.output


def test_an_unset_secret_in_the_mesh_file_costs_only_its_connection(clean_env: Path) -> None:
    (clean_env / "toolmesh.toml").write_text(
        '[servers.sql.connections.warehouse]\nurl = "postgresql://reader:${I19_PW}@db/warehouse"\n'
    )
    result = CliRunner().invoke(app, ["config", "check", "sql"])
    assert result.exit_code == 1, result.output
    assert "[servers.sql]: connection `warehouse` needs the environment variable I19_PW" in result.output
