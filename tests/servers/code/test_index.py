"""The persistent, incremental index: only changed files are re-parsed, deletions leave, ignores hold."""

from __future__ import annotations

import os
import time
from pathlib import Path

import anyio
import pytest

from toolmesh.servers.code import lookup
from toolmesh.servers.code.service import CodeService
from toolmesh.servers.code.settings import CodeSettings


def _bump_mtime(path: Path) -> None:
    stamp = time.time() + 5
    os.utime(path, (stamp, stamp))


def test_full_index_covers_every_language(service: CodeService) -> None:
    status = service.status()
    assert status.complete
    assert status.files == 15
    assert set(status.languages) == {
        "python",
        "javascript",
        "typescript",
        "tsx",
        "go",
        "rust",
        "java",
        "c",
        "cpp",
        "csharp",
        "ruby",
        "php",
    }
    assert status.symbols > 80
    assert status.references > 300


def test_second_refresh_reparses_nothing(service: CodeService) -> None:
    stats = service.refresh_now()
    assert (stats.added, stats.updated, stats.removed, stats.unchanged) == (0, 0, 0, 15)


def test_touch_without_change_is_not_reparsed(service: CodeService, repo: Path) -> None:
    _bump_mtime(repo / "pkg" / "models.py")
    stats = service.refresh_now()
    assert (stats.updated, stats.unchanged) == (0, 15)


def test_edit_reparses_only_that_file(service: CodeService, repo: Path) -> None:
    target = repo / "pkg" / "report.py"
    target.write_text(target.read_text() + "\n\ndef freshly_added(x: int) -> int:\n    return x\n")
    _bump_mtime(target)
    stats = service.refresh_now()
    assert (stats.added, stats.updated, stats.removed) == (0, 1, 0)
    hits = lookup.find_symbol(service.index, "freshly_added").hits
    assert [(h.path, h.line) for h in hits] == [("pkg/report.py", 15)]
    # the old symbols of the file are still there exactly once
    assert len(lookup.find_symbol(service.index, "summarize", kind="function").hits) == 1


def test_deleted_files_leave_the_index(service: CodeService, repo: Path) -> None:
    (repo / "native" / "server.go").unlink()
    stats = service.refresh_now()
    assert stats.removed == 1
    assert lookup.find_symbol(service.index, "NewServer").hits == []
    conn = service.index.reader()
    for table in ("symbols", "refs", "calls"):
        orphans = conn.execute(f"SELECT COUNT(*) FROM {table} WHERE file_id NOT IN (SELECT id FROM files)")
        assert orphans.fetchone()[0] == 0, table
    assert conn.execute("SELECT COUNT(*) FROM refs WHERE name='DefaultPort'").fetchone()[0] == 0


def test_new_files_are_added(service: CodeService, repo: Path) -> None:
    (repo / "pkg" / "extra.py").write_text("class Added:\n    pass\n")
    stats = service.refresh_now()
    assert stats.added == 1
    assert lookup.find_symbol(service.index, "Added").hits[0].path == "pkg/extra.py"


def test_force_reparses_everything(service: CodeService) -> None:
    stats = service.refresh_now(force=True)
    assert stats.updated == 14  # README.md has no grammar: unchanged by hash


def test_gitignore_excludes_and_caps(repo: Path, tmp_path: Path) -> None:
    (repo / ".gitignore").write_text("generated/\n*.tmp.py\n")
    (repo / "generated").mkdir()
    (repo / "generated" / "out.py").write_text("def generated_fn():\n    pass\n")
    (repo / "scratch.tmp.py").write_text("def scratch_fn():\n    pass\n")
    (repo / "web" / ".gitignore").write_text("local_*.js\n")
    (repo / "web" / "local_dev.js").write_text("function localOnly() {}\n")
    (repo / "node_modules" / "dep").mkdir(parents=True)
    (repo / "node_modules" / "dep" / "index.js").write_text("function depFn() {}\n")
    (repo / "vendor").mkdir()
    (repo / "vendor" / "lib.py").write_text("def vendored():\n    pass\n")
    (repo / "big.py").write_text("x = 1\n" * 5000)
    settings = CodeSettings(
        root=repo, index_path=tmp_path / "i.sqlite", exclude=["vendor/"], max_file_bytes=16 * 1024
    )
    service = CodeService(settings)
    stats = service.refresh_now()
    assert stats.skipped_large == 1
    for name in ("generated_fn", "scratch_fn", "localOnly", "depFn", "vendored"):
        assert lookup.find_symbol(service.index, name).hits == [], name
    paths = set(service.indexed_files())
    assert ".gitignore" in paths
    assert "web/cart.js" in paths
    assert "big.py" not in paths


def test_binary_files_are_skipped(repo: Path, tmp_path: Path) -> None:
    (repo / "image.py").write_bytes(b"def looks_like_code():\x00\x01\x02")
    service = CodeService(CodeSettings(root=repo, index_path=tmp_path / "i.sqlite"))
    stats = service.refresh_now()
    assert stats.skipped_binary == 1
    assert "image.py" not in service.indexed_files()
    assert lookup.find_symbol(service.index, "looks_like_code").hits == []


def test_index_persists_across_processes(settings: CodeSettings) -> None:
    first = CodeService(settings)
    first.refresh_now()
    second = CodeService(settings)  # a new server on the same index file
    stats = second.refresh_now()
    assert (stats.added, stats.updated, stats.unchanged) == (0, 0, 15)
    assert lookup.find_symbol(second.index, "Inventory").hits


def test_changed_root_rebuilds_the_index(repo: Path, tmp_path: Path) -> None:
    db = tmp_path / "shared.sqlite"
    CodeService(CodeSettings(root=repo, index_path=db)).refresh_now()
    other = tmp_path / "other"
    other.mkdir()
    (other / "only.py").write_text("def only_here():\n    pass\n")
    service = CodeService(CodeSettings(root=other, index_path=db))
    stats = service.refresh_now()
    assert (stats.files, stats.added) == (1, 1)
    assert lookup.find_symbol(service.index, "Inventory").hits == []


def test_default_index_path_is_outside_the_tree(repo: Path) -> None:
    settings = CodeSettings(root=repo)
    path = settings.resolved_index_path()
    assert repo.resolve() not in path.parents
    assert path.suffix == ".sqlite"


@pytest.mark.asyncio
async def test_first_use_indexes_in_the_background(settings: CodeSettings) -> None:
    service = CodeService(settings.model_copy(update={"first_index_wait": 0}))
    assert not settings.resolved_index_path().exists()  # nothing happens before the first use
    with anyio.fail_after(5):
        await service.ensure_fresh()  # returns at once; the index builds in a background thread
    with anyio.fail_after(60):
        assert await anyio.to_thread.run_sync(service.wait_for_refresh)
    status = service.status()
    assert status.complete
    assert not status.indexing
    assert status.files == 15
