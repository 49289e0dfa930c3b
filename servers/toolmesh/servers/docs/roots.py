"""The folders documents may come from, each a shared filesystem sandbox (:mod:`toolmesh.protocols.sandbox`).

Every path a client names is parsed by the sandbox (``~``, NUL, over-long, ``..`` escapes refused) and opened
from its root one component at a time; files are read through the same descriptors and checked with
``fstat`` (regular, one link, size), so nothing is stat-ed first and opened later. Walks follow no link.
"""

from __future__ import annotations

import posixpath
from collections.abc import Generator, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from toolmesh.protocols.sandbox import (
    Opened,
    PathEscapes,
    PathForbidden,
    PathMissing,
    PathRejected,
    PathTooLarge,
    PathWrongKind,
    Sandbox,
    SandboxError,
)
from toolmesh.protocols.treewalk import TreeReader, TreeWalk
from toolmesh.servers.docs.errors import (
    DocsConfigError,
    DocsError,
    DocsInputError,
    DocsLimitExceeded,
    DocsNotFound,
    OutsideRoots,
)
from toolmesh.servers.docs.formats import kind_of

__all__ = ["Located", "Roots", "docs_error"]

_ERRORS: dict[type[SandboxError], type[DocsError]] = {
    PathRejected: DocsInputError,
    PathEscapes: OutsideRoots,
    PathForbidden: OutsideRoots,
    PathTooLarge: DocsLimitExceeded,
    PathMissing: DocsNotFound,
    PathWrongKind: DocsInputError,
}
_WALK_REASONS = {
    "large": "over the size limit (TOOLMESH_DOCS_MAX_FILE_BYTES)",
    "hardlink": "has more than one hard link, so it could be a file from outside the roots or a secret; "
    "set TOOLMESH_DOCS_ALLOW_HARDLINKS=true to index hard-linked files",
    "deep": "deeper than the directory depth limit (TOOLMESH_DOCS_MAX_DEPTH); not walked",
    "changed": "changed while being walked (a directory became a link or a file); not read",
    "unreadable": "could not be listed",
}


def docs_error(exc: SandboxError) -> DocsError:
    return _ERRORS.get(type(exc), OutsideRoots)(exc.message, hint=exc.hint)


@contextmanager
def _translated() -> Iterator[None]:
    try:
        yield
    except SandboxError as exc:
        raise docs_error(exc) from exc


@dataclass(frozen=True, slots=True)
class Located:
    """A client path inside a root: canonical absolute path, its root and root-relative path, and its kind."""

    path: Path
    sandbox: Sandbox
    rel: str
    is_dir: bool | None  # None: nothing there (yet)


class Roots:
    """The folders documents may come from."""

    def __init__(
        self,
        roots: Sequence[Path],
        exclude: Sequence[str] = (),
        *,
        serve_secrets: bool = False,
        allow_hardlinks: bool = False,
        max_file_bytes: int = 20 * 1024 * 1024,
        max_depth: int = 2048,
    ) -> None:
        sandboxes: list[Sandbox] = []
        for root in roots or [Path.cwd()]:
            path = Path(root).expanduser()  # configured by the operator, not by a client
            if not path.is_dir():
                raise DocsConfigError(f"docs root {root} is not a directory", hint="Fix TOOLMESH_DOCS_ROOTS.")
            sandboxes.append(
                Sandbox(
                    path,
                    serve_secrets=serve_secrets,
                    allow_hardlinks=allow_hardlinks,
                    max_file_bytes=max_file_bytes,
                    max_depth=max_depth,
                    excludes=exclude,
                    label="docs roots",
                    settings_prefix="TOOLMESH_DOCS_",
                )
            )
        self.sandboxes = tuple(sandboxes)
        self.roots = tuple(s.root for s in sandboxes)
        self.exclude = tuple(exclude)

    def __str__(self) -> str:
        return ", ".join(str(r) for r in self.roots)

    def _sandbox_for(self, text: str) -> Sandbox:
        if not text.startswith("/"):
            return self.sandboxes[0]
        probe = Path(posixpath.normpath(text))
        inside = [s for s in self.sandboxes if s.contains(probe)]
        if not inside:
            raise OutsideRoots(
                f"{text[:200]} is outside the configured docs roots",
                hint=f"Allowed roots: {self}. Add a root with TOOLMESH_DOCS_ROOTS.",
            )
        return max(inside, key=lambda s: len(s.root.parts))  # the innermost of nested roots

    def locate(self, raw: str | Path) -> Located:
        """``raw`` (relative paths against the first root) located inside a root, or refused with a reason."""
        text = str(raw)
        if not text.strip():
            raise DocsInputError("empty path", hint="Pass a file or folder inside the docs roots.")
        with _translated():
            sandbox = self._sandbox_for(text) if "\x00" not in text else self.sandboxes[0]
            rel, is_dir = sandbox.locate(text)
        return Located(sandbox.root / rel if rel else sandbox.root, sandbox, rel, is_dir)

    def resolve(self, raw: str | Path) -> Path:
        """The canonical absolute path of ``raw``, checked to lie inside a root and not to be excluded."""
        return self.locate(raw).path

    def contains(self, resolved: Path) -> bool:
        return any(s.contains(resolved) for s in self.sandboxes)

    def excluded(self, name: str) -> bool:
        return self.sandboxes[0].excluded(name)

    def served(self, path: Path) -> bool:
        """Whether an absolute path inside a root is neither a secret nor excluded (names only, no I/O)."""
        for sandbox in sorted(self.sandboxes, key=lambda s: len(s.root.parts), reverse=True):
            if sandbox.contains(path):
                return sandbox.refusal(sandbox.relative(path)) is None
        return False

    def walk(self, place: Located, skipped: list[tuple[str, str]]) -> Generator[Path, None, None]:
        """Document files under a located directory (sorted, no link followed, excluded names and secrets
        pruned); files passed over for a reason worth telling are appended to ``skipped``."""
        walk: TreeWalk[None] = TreeWalk(
            place.sandbox,
            None,
            start=place.rel,
            keep=lambda _rel, name, is_dir, _scope: is_dir or kind_of(Path(name)) is not None,
            max_files=10**9,
        )
        root = place.sandbox.root
        try:
            for found in walk:
                yield root / found.rel
        finally:
            for rel, reason in walk.skipped_paths:
                if reason in _WALK_REASONS:
                    skipped.append((str(root / rel), f"{Path(rel).name} {_WALK_REASONS[reason]}"))

    def read(self, path: Path) -> Opened:
        """A walked (or located) document file, opened from its root with no link followed, and checked."""
        with _translated():
            sandbox = self._sandbox_for(str(path))
            with TreeReader(sandbox) as reader:
                return reader.read(sandbox.relative(path))
