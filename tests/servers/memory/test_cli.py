"""``toolmesh memory ...`` on a SQLite file: status, recall, forget, purge, and a clear exit on errors."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from toolmesh.servers.memory import Memory, MemorySettings
from toolmesh.servers.memory.cli import app

runner = CliRunner()


def test_status_recall_forget_and_purge(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    url = f"sqlite:///{tmp_path / 'cli.sqlite'}"
    monkeypatch.setenv("TOOLMESH_MEMORY_STORE", url)
    monkeypatch.setenv("TOOLMESH_MEMORY_EMBEDDER", "none")
    memory = Memory.open(MemorySettings(), clock=lambda: 1_000.0)
    kept = memory.remember("The spare bike lock key hangs by the door", scope="user", user_id="me")
    memory.remember("A turn that is long gone", kind="turn", ttl_seconds=1)
    memory.close()
    status = runner.invoke(app, ["status"])
    assert status.exit_code == 0 and "memories: 2" in status.stdout and "BM25 only" in status.stdout
    recalled = runner.invoke(app, ["recall", "where is the bike lock key", "--user", "me"])
    assert recalled.exit_code == 0 and f"#{kept.item.id} fact · user:me" in recalled.stdout
    assert "purged" in runner.invoke(app, ["purge"]).stdout
    forgot = runner.invoke(app, ["forget", str(kept.item.id), "--user", "me"])
    assert forgot.exit_code == 0 and "forgot 1 memories" in forgot.stdout
    missing = runner.invoke(app, ["forget", "424242"])
    assert missing.exit_code == 2 and "no memory with id 424242" in missing.stderr
