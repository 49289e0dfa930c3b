"""The escape suite (threats.md, Files and code): every attempt is refused, nothing leaks."""

from __future__ import annotations

import contextlib
import os
import socket
import stat
import threading
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import anyio
import pytest
import pytest_asyncio
from fastmcp import Client

from toolmesh.servers.code.errors import CodeError, CodeTimeout
from toolmesh.servers.code.paths import Sandbox
from toolmesh.servers.code.search import SearchRequest, ripgrep_path
from toolmesh.servers.code.server import build_server
from toolmesh.servers.code.service import CodeService
from toolmesh.servers.code.settings import CodeSettings

SECRET = "TOP-SECRET-d41d8cd98f"


@pytest.fixture
def hostile(repo: Path, tmp_path: Path) -> Iterator[Path]:
    """The fixture repo plus everything threats.md lists, with the outside world next to it."""
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.txt").write_text(f"{SECRET}\n")
    (outside / "leak.py").write_text(f"def leaked_function():\n    return '{SECRET}'\n")
    evil = Path(f"{repo}-evil")  # shares the root's string prefix (CVE-2025-53110)
    evil.mkdir()
    (evil / "x.txt").write_text(f"{SECRET}\n")
    (repo / "link_out.txt").symlink_to(outside / "secret.txt")
    (repo / "dir_out").symlink_to(outside, target_is_directory=True)
    (repo / "abs_link").symlink_to("/etc/passwd")
    (repo / "evil_link.txt").symlink_to(evil / "x.txt")
    (repo / "chain_b").symlink_to("../outside/secret.txt")
    (repo / "chain_a").symlink_to("chain_b")
    (repo / "loop1").symlink_to("loop2")
    (repo / "loop2").symlink_to("loop1")
    (repo / "zero_link").symlink_to("/dev/zero")
    (repo / ".env").write_text(f"API_KEY={SECRET}\n")
    (repo / ".env.local").write_text(f"API_KEY={SECRET}\n")
    (repo / "config").mkdir()
    (repo / "config" / "id_rsa").write_text(f"-----BEGIN OPENSSH PRIVATE KEY-----\n{SECRET}\n")
    (repo / "certs").mkdir()
    (repo / "certs" / "server.pem").write_text(f"-----BEGIN PRIVATE KEY-----\n{SECRET}\n")
    (repo / ".git").mkdir()
    (repo / ".git" / "config").write_text(f"[remote]\n\turl = https://user:{SECRET}@example.com/r.git\n")
    (repo / "notes.txt").symlink_to(".env")  # an innocent name for a secret inside the root
    os.mkfifo(repo / "pipe")
    with contextlib.suppress(PermissionError, OSError):  # needs CAP_MKNOD (root in a container has it)
        os.mknod(repo / "zero_dev", stat.S_IFCHR | 0o600, os.makedev(1, 5))  # a /dev/zero inside the root
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.bind(str(repo / "sock"))
    (repo / "huge.txt").write_text(("x" * 99 + "\n") * 2000)  # 200 kB, over the 64 kB cap below
    (repo / "blob.bin").write_bytes(b"\x7fELF\x00\x01\x02" + SECRET.encode())
    try:
        yield repo
    finally:
        sock.close()


@pytest_asyncio.fixture
async def hostile_client(hostile: Path, tmp_path: Path) -> AsyncIterator[Client[Any]]:
    settings = CodeSettings(
        root=hostile,
        index_path=tmp_path / "index" / "code.sqlite",
        refresh_interval=0,
        max_file_bytes=64 * 1024,
    )
    async with Client(build_server(settings)) as client:
        yield client


def _attempts(repo: Path, tmp_path: Path) -> list[str]:
    return [
        "../outside/secret.txt",
        "../../etc/passwd",
        "/etc/passwd",
        str(tmp_path / "outside" / "secret.txt"),
        f"{repo}-evil/x.txt",
        "../repo-evil/x.txt",
        "~/.bashrc",
        "~root/.ssh/id_rsa",
        "pkg/\x00../../etc/passwd",
        "pkg/models.py\x00.txt",
        "a/" * 3000 + "x",
        "n" * 300 + ".py",
        "pkg/../../outside/secret.txt",
        "./../outside/secret.txt",
        "pkg/./../../outside/secret.txt",
        "//etc/passwd",
        "/proc/self/environ",
        "/dev/zero",
        "link_out.txt",
        "dir_out/secret.txt",
        "dir_out/leak.py",
        "abs_link",
        "evil_link.txt",
        "chain_a",
        "loop1",
        "zero_link",
        ".env",
        ".env.local",
        "pkg/../.env",
        "config/id_rsa",
        "certs/server.pem",
        ".git/config",
        ".git/../.git/config",
        "notes.txt",
        "pipe",
        "sock",
        "zero_dev",
        "huge.txt",
        "blob.bin",
        "pkg",
        "..",
        "%2e%2e/%2e%2e/etc/passwd",
        "file:///etc/passwd",
    ]


def test_suite_is_large_enough(repo: Path, tmp_path: Path) -> None:
    assert len(set(_attempts(repo, tmp_path))) >= 30


@pytest.mark.asyncio
async def test_every_read_attempt_is_refused(
    hostile: Path, tmp_path: Path, hostile_client: Client[Any]
) -> None:
    leaks = []
    for attempt in _attempts(hostile, tmp_path):
        with anyio.fail_after(10):  # a FIFO or device must not block the server
            result = await hostile_client.call_tool("read_file", {"path": attempt}, raise_on_error=False)
        text = " ".join(getattr(block, "text", "") for block in result.content)
        if not result.is_error or SECRET in text or "root:x:0" in text:
            leaks.append(attempt)
        assert "Error calling tool" not in text, f"{attempt!r} raised an unexpected error: {text}"
    assert leaks == []


@pytest.mark.asyncio
async def test_refusals_say_why(hostile_client: Client[Any]) -> None:
    cases = {
        "../outside/secret.txt": "outside the repository root",
        "link_out.txt": "outside the repository root",
        ".env": "secret",
        "pipe": "not a regular file",
        "huge.txt": "cap",
        "blob.bin": "binary",
        "pkg/\x00x": "NUL",
    }
    for path, reason in cases.items():
        result = await hostile_client.call_tool("read_file", {"path": path}, raise_on_error=False)
        assert result.is_error
        assert reason in result.content[0].text, (path, result.content[0].text)  # type: ignore[union-attr]


@pytest.mark.asyncio
async def test_other_path_tools_refuse_too(hostile: Path, hostile_client: Client[Any]) -> None:
    for tool, args in [
        ("outline", {"path": "dir_out/leak.py"}),
        ("outline", {"path": "../outside/leak.py"}),
        ("outline", {"path": ".env"}),
        ("repo_map", {"path": "dir_out"}),
        ("repo_map", {"path": "../outside"}),
        ("repo_map", {"path": f"{hostile}-evil"}),
    ]:
        result = await hostile_client.call_tool(tool, args, raise_on_error=False)
        assert result.is_error, (tool, args)


@pytest.mark.asyncio
async def test_nothing_outside_or_secret_is_indexed_or_searchable(hostile_client: Client[Any]) -> None:
    found = await hostile_client.call_tool("search_text", {"pattern": SECRET})
    assert found.structured_content is not None
    assert found.structured_content["matches"] == []
    symbols = await hostile_client.call_tool("find_symbol", {"query": "leaked_function"})
    assert symbols.structured_content is not None
    assert symbols.structured_content["hits"] == []
    status = await hostile_client.call_tool("index_status", {})
    assert status.structured_content is not None
    assert status.structured_content["files"] == 15  # the fixture's own files, nothing else


@pytest.mark.asyncio
@pytest.mark.parametrize("use_ripgrep", [True, False], ids=["ripgrep", "python"])
async def test_catastrophic_regex_is_bounded(repo: Path, tmp_path: Path, use_ripgrep: bool) -> None:
    if use_ripgrep and ripgrep_path() is None:
        pytest.skip("ripgrep is not installed (Debian package ripgrep)")
    (repo / "long.txt").write_text("a" * 40 + "!\n")
    settings = CodeSettings(
        root=repo, index_path=tmp_path / "i.sqlite", refresh_interval=0, search_timeout=1.0
    )
    service = CodeService(settings)
    service.use_ripgrep = use_ripgrep
    service.refresh_now()
    request = SearchRequest("(a|aa)+$", regex=True, path_glob="long.txt")
    with anyio.fail_after(20):
        if use_ripgrep:  # a linear-time engine: an answer (no match), fast
            result = await anyio.to_thread.run_sync(service.search, request)
            assert result.total_collected == 0
        else:  # backtracking engine: stopped at the deadline with an actionable error
            with pytest.raises(CodeTimeout, match="too long"):
                await anyio.to_thread.run_sync(service.search, request)


def test_containment_is_by_components_not_string_prefix(tmp_path: Path) -> None:
    root = tmp_path / "repo"
    root.mkdir()
    sandbox = Sandbox.at(root)
    assert not sandbox.contains(Path(f"{sandbox.root}-evil/x"))
    assert not sandbox.contains(sandbox.root.parent)
    assert sandbox.contains(sandbox.root / "a" / "b")


def test_index_file_inside_the_tree_is_refused_unless_allowed(repo: Path) -> None:
    inside = CodeSettings(root=repo, index_path=repo / ".toolmesh" / "code.sqlite")
    with pytest.raises(CodeError, match="inside the indexed tree"):
        _ = CodeService(inside).index
    allowed = inside.model_copy(update={"allow_index_in_tree": True})
    stats = CodeService(allowed).refresh_now()
    assert stats.files == 15  # the index's own files are never indexed


@pytest.mark.parametrize("use_ripgrep", [True, False], ids=["ripgrep", "python"])
def test_file_swapped_for_a_link_after_indexing_is_not_searched(
    repo: Path, tmp_path: Path, use_ripgrep: bool
) -> None:
    outside = tmp_path / "outside.txt"
    outside.write_text(f"{SECRET}\n")
    settings = CodeSettings(root=repo, index_path=tmp_path / "i.sqlite", refresh_interval=3600)
    service = CodeService(settings)
    service.use_ripgrep = use_ripgrep
    service.refresh_now()
    target = repo / "README.md"
    target.unlink()
    target.symlink_to(outside)  # the index still lists README.md as a regular file
    result = service.search(SearchRequest(SECRET))
    assert result.matches == []


@pytest.mark.parametrize("kind", ["fifo", "link_outside", "link_zero"])
def test_hostile_gitignore_is_not_read(tmp_path: Path, kind: str) -> None:
    from toolmesh.servers.code.walk import Walker

    root = tmp_path / "repo"
    root.mkdir()
    (root / "a.py").write_text("def a():\n    return 1\n")
    outside = tmp_path / "outside.txt"
    outside.write_text("a.py\n")  # would hide a.py if the walker followed the link
    ignore = root / ".gitignore"
    if kind == "fifo":
        os.mkfifo(ignore)  # a plain open() would block forever
    elif kind == "link_outside":
        ignore.symlink_to(outside)
    else:
        ignore.symlink_to("/dev/zero")  # a plain read() would never end
    names: list[str] = []
    # A daemon thread bounds the wait: the old code blocked forever on a FIFO.
    walker = threading.Thread(
        target=lambda: names.extend(e.rel for e in Walker(sandbox=Sandbox(root))), daemon=True
    )
    walker.start()
    walker.join(timeout=10)
    assert not walker.is_alive(), "walking the repository hung on .gitignore"
    assert "a.py" in names
