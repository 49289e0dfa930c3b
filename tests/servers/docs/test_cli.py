from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from toolmesh.servers.docs.cli import app


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TOOLMESH_DOCS_INDEX_PATH", str(tmp_path / "cli.sqlite"))
    monkeypatch.setenv("TOOLMESH_DOCS_EMBEDDER", "hashing")


@pytest.mark.usefixtures("env")
def test_index_then_search_from_the_shell(corpus: Path) -> None:
    runner = CliRunner()
    result = runner.invoke(app, ["index", str(corpus), "--collection", "notes", "--strategy", "sentence"])
    assert result.exit_code == 0, result.output
    assert "notes: 7 indexed" in result.stdout
    again = runner.invoke(app, ["index", str(corpus), "--collection", "notes"])
    assert "0 indexed, 7 unchanged" in again.stdout
    found = runner.invoke(app, ["search", "turbine filters", "-c", "notes"])
    assert found.exit_code == 0 and "manual.pdf" in found.stdout and "**turbine**" in found.stdout
    status = runner.invoke(app, ["status"])
    assert "notes: 7 documents" in status.stdout and "sentence" in status.stdout


@pytest.mark.usefixtures("env")
def test_errors_exit_2_with_a_message(corpus: Path) -> None:
    result = CliRunner().invoke(app, ["search", "x", "-c", "nope"])
    assert result.exit_code == 2 and "no collection named 'nope'" in result.output


def test_indexing_into_a_held_local_qdrant_folder_is_a_message_not_a_traceback(
    corpus: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytest.importorskip("qdrant_client")
    from qdrant_client import QdrantClient

    folder = tmp_path / "qdrant"
    monkeypatch.setenv("TOOLMESH_DOCS_STORE", "qdrant")
    monkeypatch.setenv("TOOLMESH_DOCS_QDRANT_PATH", str(folder))
    monkeypatch.setenv("TOOLMESH_DOCS_EMBEDDER", "none")
    holder = QdrantClient(path=str(folder))
    try:
        result = CliRunner().invoke(app, ["index", str(corpus)])
    finally:
        holder.close()
    assert result.exit_code == 2, result.output
    said = " ".join(result.output.split())
    assert "is in use by another process" in said and "Traceback" not in said
