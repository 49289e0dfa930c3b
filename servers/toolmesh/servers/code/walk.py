"""Listing the files of a repository: ``.gitignore`` files (nested), exclude patterns, secrets and size caps.

The walk itself is the shared :class:`toolmesh.protocols.treewalk.TreeWalk` (iterative, descriptor-based, no
link followed); this module adds gitignore semantics. Symlinks are never listed or entered, hard-linked files
are skipped unless allowed, and each ``.gitignore`` is read through its directory's descriptor.
"""

from __future__ import annotations

import fnmatch
import logging
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

import pathspec

from toolmesh.protocols.treewalk import DirView, TreeWalk
from toolmesh.servers.code.paths import Sandbox

__all__ = ["FileEntry", "Walker"]

logger = logging.getLogger(__name__)

_Specs = list[tuple[str, pathspec.GitIgnoreSpec]]


@dataclass(frozen=True, slots=True)
class FileEntry:
    """A candidate file: repository-relative POSIX path, size and modification time."""

    rel: str
    size: int
    mtime_ns: int


_MAX_IGNORE_BYTES = 1024 * 1024


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
    """Walks a sandboxed root; ``skipped_large`` counts files over the size cap, ``skipped`` every reason."""

    sandbox: Sandbox
    excludes: Sequence[str] = ()
    respect_gitignore: bool = True
    max_files: int = 200_000
    skip: frozenset[str] = frozenset()  # repository-relative paths never listed (the index's own files)
    skipped_large: int = 0
    skipped: dict[str, int] = field(default_factory=dict)
    _dir_names: frozenset[str] = frozenset()
    _name_re: re.Pattern[str] | None = None

    def __iter__(self) -> Iterator[FileEntry]:
        self.skipped_large = 0
        self._dir_names, self._name_re, rest = _split_excludes(self.excludes)
        specs: _Specs = [("", _spec(rest))] if rest else []
        walk = TreeWalk(
            self.sandbox,
            specs,
            enter=self._enter if self.respect_gitignore else None,
            keep=self._keep,
            max_files=self.max_files,
        )
        for found in walk:
            yield FileEntry(found.rel, found.size, found.mtime_ns)
        self.skipped = dict(walk.skipped)
        self.skipped_large = walk.skipped["large"]
        if walk.truncated:
            logger.warning("stopping at %d files (max_files)", self.max_files)
        for rel, reason in walk.skipped_paths:
            if reason in ("deep", "hardlink", "changed"):
                logger.info("skipped %s (%s)", rel, reason)

    def _enter(self, view: DirView, specs: _Specs) -> _Specs:
        found = view.read(".gitignore")
        if found is None:
            return specs
        text = found.data[:_MAX_IGNORE_BYTES].decode("utf-8", errors="replace")
        return [*specs, (view.rel + "/" if view.rel else "", _spec(text.splitlines()))]

    def _keep(self, rel: str, name: str, is_dir: bool, specs: _Specs) -> bool:
        if not is_dir and rel in self.skip:
            return False
        return not self._excluded_name(name, is_dir) and not self._ignored(rel, is_dir, specs)

    def _excluded_name(self, name: str, is_dir: bool) -> bool:
        if is_dir and name in self._dir_names:
            return True
        return self._name_re is not None and self._name_re.match(name) is not None

    def _ignored(self, rel: str, is_dir: bool, specs: _Specs) -> bool:
        probe = rel + "/" if is_dir else rel
        for prefix, spec in specs:
            sub = probe[len(prefix) :] if prefix else probe
            if spec.match_file(sub):
                return True
        return False
