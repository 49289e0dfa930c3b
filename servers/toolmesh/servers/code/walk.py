"""Listing the files of a repository: ``.gitignore`` files (nested), exclude patterns, secrets and size caps.

Directory symlinks are never followed; a file symlink is listed only when its target is inside the root.
"""

from __future__ import annotations

import fnmatch
import logging
import os
import re
import stat
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import pathspec

from toolmesh.servers.code.paths import Sandbox, is_secret

__all__ = ["FileEntry", "Walker"]

logger = logging.getLogger(__name__)


_MAX_IGNORE_BYTES = 1024 * 1024


def _read_ignore_file(path: str) -> str | None:
    """A .gitignore's text, or None: never through a symlink, never a FIFO or device, at most 1 MiB."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | getattr(os, "O_NOCTTY", 0))
    except OSError:
        return None
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            return None
        data = os.read(fd, _MAX_IGNORE_BYTES)
    except OSError:
        return None
    finally:
        os.close(fd)
    return data.decode("utf-8", errors="replace")


@dataclass(frozen=True, slots=True)
class FileEntry:
    """A candidate file: repository-relative POSIX path, size and modification time."""

    rel: str
    size: int
    mtime_ns: int


def _entry_name(entry: os.DirEntry[str]) -> str:
    return entry.name


def _spec(lines: Sequence[str]) -> pathspec.GitIgnoreSpec:
    return pathspec.GitIgnoreSpec.from_lines(lines)


def _split_excludes(patterns: Sequence[str]) -> tuple[frozenset[str], re.Pattern[str] | None, list[str]]:
    """Fast paths for the common exclude shapes: directory names (``dist/``) and name globs (``*.min.js``).

    Everything else (paths with a slash, character classes, escapes) goes through pathspec, and so does the
    whole list when it has a negation, so gitignore semantics hold.
    """
    if any(p.strip().startswith("!") for p in patterns):
        return frozenset(), None, list(patterns)
    dirs: set[str] = set()
    names: list[str] = []
    rest: list[str] = []
    for raw in patterns:
        pattern = raw.strip()
        if not pattern or pattern.startswith("#"):
            continue
        body = pattern[:-1] if pattern.endswith("/") else pattern
        if "/" in body or "[" in body or "\\" in body:
            rest.append(pattern)
        elif pattern.endswith("/") and not any(c in body for c in "*?"):
            dirs.add(body)
        elif not pattern.endswith("/"):
            names.append(pattern)
        else:
            rest.append(pattern)
    name_re = re.compile("|".join(fnmatch.translate(n) for n in names)) if names else None
    return frozenset(dirs), name_re, rest


@dataclass(slots=True)
class Walker:
    """Walks a sandboxed root; ``skipped_large`` counts files over the size cap."""

    sandbox: Sandbox
    excludes: Sequence[str] = ()
    respect_gitignore: bool = True
    max_files: int = 200_000
    skip: frozenset[str] = frozenset()  # repository-relative paths never listed (the index's own files)
    skipped_large: int = 0
    _dir_names: frozenset[str] = frozenset()
    _name_re: re.Pattern[str] | None = None

    def __iter__(self) -> Iterator[FileEntry]:
        self.skipped_large = 0
        self._dir_names, self._name_re, rest = _split_excludes(self.excludes)
        specs = [("", _spec(rest))] if rest else []
        yield from self._walk(str(self.sandbox.root), "", specs, [0])

    def _excluded_name(self, name: str, is_dir: bool) -> bool:
        if is_dir and name in self._dir_names:
            return True
        return self._name_re is not None and self._name_re.match(name) is not None

    def _ignored(self, rel: str, is_dir: bool, specs: list[tuple[str, pathspec.GitIgnoreSpec]]) -> bool:
        probe = rel + "/" if is_dir else rel
        for prefix, spec in specs:
            sub = probe[len(prefix) :] if prefix else probe
            if spec.match_file(sub):
                return True
        return False

    def _walk(
        self, path: str, rel_dir: str, specs: list[tuple[str, pathspec.GitIgnoreSpec]], count: list[int]
    ) -> Iterator[FileEntry]:
        if self.respect_gitignore:
            text = _read_ignore_file(os.path.join(path, ".gitignore"))
            if text is not None:
                specs = [*specs, (rel_dir + "/" if rel_dir else "", _spec(text.splitlines()))]
        try:
            entries = sorted(os.scandir(path), key=_entry_name)
        except OSError as exc:
            logger.debug("cannot list %s: %s", path, exc)
            return
        dirs: list[tuple[str, str]] = []
        for entry in entries:
            rel = f"{rel_dir}/{entry.name}" if rel_dir else entry.name
            try:
                if entry.is_dir(follow_symlinks=False):
                    if (
                        not self._excluded_name(entry.name, True)
                        and not self._ignored(rel, True, specs)
                        and not (not self.sandbox.serve_secrets and is_secret(rel))
                    ):
                        dirs.append((entry.path, rel))
                    continue
                info = entry.stat(follow_symlinks=False)
                # Symlinked files are not listed (as git and ripgrep do): their targets are listed where they
                # live, and a link must never smuggle in a secret or a file outside the root.
                if not stat.S_ISREG(info.st_mode):
                    continue
            except OSError:
                continue
            if (
                rel in self.skip
                or self._excluded_name(entry.name, False)
                or self._ignored(rel, False, specs)
                or (not self.sandbox.serve_secrets and is_secret(rel))
            ):
                continue
            if info.st_size > self.sandbox.max_file_bytes:
                self.skipped_large += 1
                continue
            count[0] += 1
            if count[0] > self.max_files:
                logger.warning("stopping at %d files (max_files)", self.max_files)
                return
            yield FileEntry(rel, info.st_size, info.st_mtime_ns)
        for dir_path, rel in dirs:
            if count[0] > self.max_files:
                return
            yield from self._walk(dir_path, rel, specs, count)
