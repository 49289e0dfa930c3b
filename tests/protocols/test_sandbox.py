"""The shared filesystem sandbox and walker, below the servers (their escape suite is in tests/servers)."""

from __future__ import annotations

import gc
import os
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from toolmesh.protocols.sandbox import (
    PathEscapes,
    PathForbidden,
    PathRejected,
    Sandbox,
    is_secret,
)
from toolmesh.protocols.treewalk import TreeReader, TreeWalk


@pytest.fixture
def root(tmp_path: Path) -> Path:
    repo = tmp_path / "repo"
    (repo / "pkg" / "sub").mkdir(parents=True)
    (repo / "pkg" / "sub" / "a.txt").write_text("inside\n")
    (repo / ".git").mkdir()
    (repo / ".git" / "config").write_text("token\n")
    (repo / ".env").write_text("KEY=1\n")
    return repo


def test_client_paths_are_refused_with_the_reason(root: Path, tmp_path: Path) -> None:
    box = Sandbox(root)
    cases: dict[str, tuple[type[Exception], str]] = {
        "pkg/\x00a.txt": (PathRejected, "NUL byte"),
        "a/" * 2100: (PathRejected, "longer than 4096"),
        "x" * 256: (PathRejected, "longer than 255 bytes"),
        "~/a.txt": (PathEscapes, "starts with '~'"),
        "~root/a.txt": (PathEscapes, "starts with '~'"),
        "../repo/pkg/sub/a.txt/../../../..": (PathEscapes, "outside the root"),
        "pkg/../../x": (PathEscapes, "outside the root"),
        f"{root}-evil/a.txt": (PathEscapes, "outside the root"),  # a shared string prefix is not containment
        str(tmp_path / "elsewhere"): (PathEscapes, "outside the root"),
    }
    for path, (error, words) in cases.items():
        with pytest.raises(error, match=words):
            box.read(path)


def test_links_inside_the_root_are_resolved_here_and_leaving_ones_refused(root: Path, tmp_path: Path) -> None:
    (tmp_path / "outside.txt").write_text("outside\n")
    (root / "rel_link").symlink_to("pkg/sub", target_is_directory=True)
    (root / "abs_link.txt").symlink_to(root / "pkg" / "sub" / "a.txt")
    (root / "up").symlink_to("..", target_is_directory=True)
    (root / "loop1").symlink_to("loop2")
    (root / "loop2").symlink_to("loop1")
    (root / "notes.txt").symlink_to(".env")  # an innocent name for a secret
    (root / "cfg").symlink_to(".git", target_is_directory=True)
    box = Sandbox(root)
    assert box.read("rel_link/a.txt").rel == "pkg/sub/a.txt"
    assert box.read("abs_link.txt").data == b"inside\n"
    assert box.read("rel_link/../sub/a.txt").rel == "pkg/sub/a.txt"  # '..' after a link: the link's parent
    with pytest.raises(PathEscapes, match="outside the root"):
        box.read("up/outside.txt")
    with pytest.raises(PathEscapes, match="too many levels"):
        box.read("loop1")
    for secret in ("notes.txt", "cfg/config", ".git/../.env"):
        with pytest.raises(PathForbidden, match="secret"):
            box.read(secret)


def test_walked_reads_follow_no_link_at_any_component(root: Path) -> None:
    (root / "rel_link").symlink_to("pkg", target_is_directory=True)
    with TreeReader(Sandbox(root)) as reader:
        assert reader.read("pkg/sub/a.txt").data == b"inside\n"
        with pytest.raises(PathForbidden, match="no longer a plain directory"):
            reader.read("rel_link/sub/a.txt")
        with pytest.raises(PathRejected):
            reader.read("pkg/../pkg/sub/a.txt")


def test_a_hard_link_made_after_the_walk_is_refused_on_the_descriptor(root: Path, tmp_path: Path) -> None:
    box = Sandbox(root)
    listed = [f.rel for f in TreeWalk(box, None)]
    assert listed == ["pkg/sub/a.txt"]  # secrets and .git pruned
    target = root / "pkg" / "sub" / "a.txt"
    target.unlink()
    (tmp_path / "outside.txt").write_text("outside\n")
    os.link(tmp_path / "outside.txt", target)  # same name, now a second name of an outside file
    with TreeReader(box) as reader, pytest.raises(PathForbidden, match="2 hard links"):
        reader.read("pkg/sub/a.txt")
    with TreeReader(Sandbox(root, allow_hardlinks=True)) as reader:
        assert reader.read("pkg/sub/a.txt").data == b"outside\n"  # allowed by setting, on purpose


def test_a_fifo_swapped_in_after_the_walk_does_not_block(root: Path) -> None:
    box = Sandbox(root)
    assert [f.rel for f in TreeWalk(box, None)] == ["pkg/sub/a.txt"]
    target = root / "pkg" / "sub" / "a.txt"
    target.unlink()
    os.mkfifo(target)
    errors: list[Exception] = []

    def read() -> None:
        try:
            TreeReader(box).read("pkg/sub/a.txt")
        except PathForbidden as exc:
            errors.append(exc)

    thread = threading.Thread(target=read, daemon=True)
    thread.start()
    thread.join(10)
    assert not thread.is_alive() and "not a regular file" in str(errors[0])


@pytest.fixture
def deep(tmp_path: Path) -> Iterator[Path]:
    repo = tmp_path / "deep"
    repo.mkdir()
    yield repo
    _flatten(repo)


def test_deep_walks_hold_few_descriptors(deep: Path) -> None:
    repo = deep
    gc.collect()
    fd = os.open(repo, os.O_RDONLY | os.O_DIRECTORY)
    for i in range(400):
        for name in ("a", "b"):  # two children per level: every level keeps work to come back to
            os.mkdir(name, dir_fd=fd)
        os.close(os.open(f"f{i}.txt", os.O_WRONLY | os.O_CREAT, 0o644, dir_fd=fd))
        below = os.open("a", os.O_RDONLY | os.O_DIRECTORY, dir_fd=fd)
        os.close(fd)
        fd = below
    os.close(fd)
    peak = [0]

    def keep(_rel: str, _name: str, _is_dir: bool, _scope: None) -> bool:
        peak[0] = max(peak[0], len(os.listdir("/proc/self/fd")))
        return True

    before = len(os.listdir("/proc/self/fd"))
    walk = TreeWalk(Sandbox(repo), None, keep=keep)
    assert len(list(walk)) == 400
    assert peak[0] - before < 40, peak  # not one descriptor per level
    assert len(os.listdir("/proc/self/fd")) <= before  # and none leaked


def _flatten(repo: Path) -> None:
    """Remove the chain level by level (shutil.rmtree, and so pytest's cleanup, would recurse)."""
    while (top := repo / "a").exists():
        if (top / "a").exists():
            (top / "a").rename(repo / "a.next")
        for child in top.iterdir():
            child.rmdir() if child.is_dir() else child.unlink()
        top.rmdir()
        if (repo / "a.next").exists():
            (repo / "a.next").rename(top)
    for child in repo.iterdir():
        child.rmdir() if child.is_dir() else child.unlink()


def test_one_secret_list_covers_both_servers_old_lists() -> None:
    for rel in (".env", "conf/.env.local", "id_rsa", "keys/server.pem", "a.key", ".git/config", ".netrc"):
        assert is_secret(rel), rel
    assert not is_secret("src/environment.py")
