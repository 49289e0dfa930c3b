"""Walking a sandboxed tree: iterative (no recursion), descriptor-based, no link ever followed.

Each directory is opened with ``openat(parent, name, O_DIRECTORY | O_NOFOLLOW)`` from the descriptor of its
parent and listed through its own descriptor, so a directory swapped for a symlink during the walk is skipped,
not entered. Files are listed with ``fstatat`` (no link followed): only regular files with one link (unless
hard links are allowed), within the size cap, not secret and not excluded. Too-deep directories are skipped
with a reason instead of exhausting the stack, and at most a few directory descriptors are held at a time.
Content is read later through :class:`TreeReader`, down the same kind of descriptor chain.
"""

from __future__ import annotations

import contextlib
import os
import stat
from collections import Counter
from collections.abc import Callable, Generator
from dataclasses import dataclass, field
from typing import Generic, TypeVar

from toolmesh.protocols.sandbox import Opened, PathForbidden, PathRejected, Sandbox, SandboxError, show

__all__ = ["DirView", "TreeReader", "TreeWalk", "WalkedFile"]

S = TypeVar("S")
_OPEN_DIRS = 32  # directory descriptors held at once; older ones are re-opened from the root when needed
_SAMPLES = 200  # skipped paths remembered with their reason
_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC


@dataclass(frozen=True, slots=True)
class WalkedFile:
    """A listed file: root-relative POSIX path, size and modification time (from ``fstatat``)."""

    rel: str
    size: int
    mtime_ns: int
    mtime: float


@dataclass(frozen=True, slots=True)
class DirView:
    """The directory being entered, for hooks that read a file in it (e.g. ``.gitignore``)."""

    sandbox: Sandbox
    rel: str
    fd: int

    def read(self, name: str) -> Opened | None:
        """``name`` in this directory through its descriptor (no link followed), or None."""
        try:
            return self.sandbox.read_at(self.fd, name, f"{self.rel}/{name}" if self.rel else name)
        except (SandboxError, OSError):
            return None


@dataclass(slots=True)
class _Frame(Generic[S]):
    rel: str
    fd: int | None
    subdirs: list[str]
    scope: S
    depth: int


@dataclass(slots=True)
class TreeWalk(Generic[S]):
    """Files under ``start`` (root-relative, link-free) that pass the sandbox rules and ``keep``.

    ``enter(view, scope)`` runs once per directory and returns the scope its entries see; ``keep(rel, name,
    is_dir, scope)`` prunes. ``skipped`` counts reasons (``large``, ``hardlink``, ``special``, ``deep``,
    ``changed``, ``unreadable``); ``skipped_paths`` keeps the first few (path, reason) pairs.
    """

    sandbox: Sandbox
    scope: S
    start: str = ""
    enter: Callable[[DirView, S], S] | None = None
    keep: Callable[[str, str, bool, S], bool] | None = None
    max_files: int = 200_000
    skipped: Counter[str] = field(default_factory=Counter)
    skipped_paths: list[tuple[str, str]] = field(default_factory=list)
    truncated: bool = False

    def _skip(self, rel: str, reason: str) -> None:
        self.skipped[reason] += 1
        if len(self.skipped_paths) < _SAMPLES:
            self.skipped_paths.append((rel, reason))

    def __iter__(self) -> Generator[WalkedFile, None, None]:
        self.skipped.clear()
        self.skipped_paths.clear()
        self.truncated = False
        frames: list[_Frame[S]] = []
        count = [0]
        try:
            fd = self.sandbox.open_dir(self.start)
            depth = len([p for p in self.start.split("/") if p])
            frames.append((yield from self._scan(fd, self.start, depth, self.scope, count)))
            while frames and not self.truncated:
                top = frames[-1]
                if not top.subdirs:
                    if top.fd is not None:
                        os.close(top.fd)
                    frames.pop()
                    continue
                name = top.subdirs.pop()
                rel = f"{top.rel}/{name}" if top.rel else name
                if top.depth + 1 > self.sandbox.max_depth:
                    self._skip(rel, "deep")
                    continue
                parent = self._fd_of(top)
                if parent is None:
                    top.subdirs.clear()
                    continue
                try:
                    fd = os.open(
                        name, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=parent
                    )
                except OSError:
                    self._skip(rel, "changed")  # swapped for a link or a file since it was listed
                    continue
                if not top.subdirs:  # never needed again: keep descriptors few on deep trees
                    os.close(parent)
                    top.fd = None
                frames.append((yield from self._scan(fd, rel, top.depth + 1, top.scope, count)))
                open_frames = [f for f in frames[:-1] if f.fd is not None]
                for old in open_frames[: max(0, len(open_frames) - _OPEN_DIRS)]:
                    assert old.fd is not None
                    os.close(old.fd)
                    old.fd = None
        finally:
            for frame in frames:
                if frame.fd is not None:
                    os.close(frame.fd)

    def _fd_of(self, frame: _Frame[S]) -> int | None:
        if frame.fd is None:
            try:
                frame.fd = self.sandbox.open_dir(frame.rel)
            except (SandboxError, OSError):
                self._skip(frame.rel, "changed")
                return None
        return frame.fd

    def _scan(
        self, fd: int, rel_dir: str, depth: int, scope: S, count: list[int]
    ) -> Generator[WalkedFile, None, _Frame[S]]:
        """List one open directory: yield its files, return its frame (subdirectories still to visit)."""
        frame = _Frame(rel_dir, fd, [], scope, depth)
        if self.enter is not None:
            frame.scope = scope = self.enter(DirView(self.sandbox, rel_dir, fd), scope)
        try:
            with os.scandir(fd) as listing:
                entries = sorted(listing, key=lambda e: e.name)
        except OSError:
            self._skip(rel_dir or ".", "unreadable")
            return frame
        sandbox = self.sandbox
        for entry in entries:
            name = entry.name
            rel = f"{rel_dir}/{name}" if rel_dir else name
            try:
                is_dir = entry.is_dir(follow_symlinks=False)
                info = None if is_dir else entry.stat(follow_symlinks=False)
            except OSError:
                continue
            if sandbox.refusal(rel) is not None or (
                self.keep is not None and not self.keep(rel, name, is_dir, scope)
            ):
                continue
            if is_dir:
                frame.subdirs.append(name)
                continue
            assert info is not None
            if stat.S_ISLNK(info.st_mode):
                continue  # links are not listed (as git and ripgrep): their targets are, where they live
            if not stat.S_ISREG(info.st_mode):
                self._skip(rel, "special")
            elif info.st_nlink > 1 and not sandbox.allow_hardlinks:
                self._skip(rel, "hardlink")
            elif info.st_size > sandbox.max_file_bytes:
                self._skip(rel, "large")
            else:
                count[0] += 1
                if count[0] > self.max_files:
                    self.truncated = True
                    frame.subdirs.clear()
                    return frame
                yield WalkedFile(rel, info.st_size, info.st_mtime_ns, info.st_mtime)
        frame.subdirs.reverse()
        return frame


class TreeReader:
    """Reads walked (link-free) root-relative files, reusing the descriptors of the last directory chain.

    Files come in walk order, so most reads cost one ``openat`` and one ``fstat``; a directory is opened
    once per visit, never through a link.
    """

    def __init__(self, sandbox: Sandbox) -> None:
        self.sandbox = sandbox
        self._names: list[str] = []
        self._fds: list[int] = []

    def __enter__(self) -> TreeReader:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def __del__(self) -> None:
        with contextlib.suppress(Exception):  # also at interpreter shutdown
            self.close()

    def close(self) -> None:
        for fd in self._fds:
            os.close(fd)
        self._fds.clear()
        self._names.clear()

    def read(self, rel: str) -> Opened:
        """The walked file ``rel``: every component opened without following links, checked on its fd."""
        parts = self._parts(rel)
        return self.sandbox.read_at(self._dir_fd(parts[:-1], rel), parts[-1], rel)

    def lstat(self, rel: str) -> os.stat_result:
        """``fstatat`` of the walked path ``rel`` (no link followed at any component)."""
        parts = self._parts(rel)
        return os.stat(parts[-1], dir_fd=self._dir_fd(parts[:-1], rel), follow_symlinks=False)

    def _parts(self, rel: str) -> list[str]:
        parts = rel.split("/")
        if any(part in ("", ".", "..") for part in parts):
            raise PathRejected(f"{show(rel)} is not a walked root-relative path")
        self.sandbox.allowed(parts, parts, show(rel))
        return parts

    def _dir_fd(self, dirs: list[str], rel: str) -> int:
        keep = 0
        while keep < min(len(dirs), len(self._names)) and dirs[keep] == self._names[keep]:
            keep += 1
        if not self._fds:
            self._fds.append(self.sandbox.open_root())
        while len(self._names) > keep:
            os.close(self._fds.pop())
            self._names.pop()
        for name in dirs[keep:]:
            try:
                fd = os.open(name, _DIR_FLAGS, dir_fd=self._fds[-1])
            except OSError as exc:
                where = "/".join([*self._names, name])
                raise PathForbidden(
                    f"{where!r} is no longer a plain directory ({exc.strerror}); {show(rel)} is not read"
                ) from exc
            self._fds.append(fd)
            self._names.append(name)
        return self._fds[-1]
