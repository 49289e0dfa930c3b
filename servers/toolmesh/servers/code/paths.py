"""The code server's side of the shared filesystem sandbox (:mod:`toolmesh.protocols.sandbox`).

All checks live there (openat component by component, ``fstat`` on the descriptor, one secret list, hard links
refused by default); this module names the root "repository root", points hints at ``TOOLMESH_CODE_``
settings, adds the text-only rule of ``read_file`` and turns the sandbox's refusals into the code server's
errors.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from toolmesh.protocols.sandbox import (
    MAX_PATH_CHARS,
    PathEscapes,
    PathForbidden,
    PathMissing,
    PathRejected,
    PathTooLarge,
    PathWrongKind,
    SandboxError,
    is_secret,
)
from toolmesh.protocols.sandbox import Sandbox as FsSandbox
from toolmesh.protocols.treewalk import TreeReader
from toolmesh.servers.code.errors import (
    CodeConfigError,
    CodeError,
    CodeInputError,
    CodeLimitExceeded,
    CodeNotFound,
    PathRefused,
)

__all__ = ["MAX_PATH_CHARS", "Sandbox", "code_error", "is_binary", "is_secret"]

_BINARY_SNIFF = 8192
_HINTS: dict[type[SandboxError], tuple[type[CodeError], str | None]] = {
    PathRejected: (PathRefused, None),
    PathEscapes: (PathRefused, None),
    PathForbidden: (PathRefused, None),
    PathTooLarge: (CodeLimitExceeded, "Use search_text to find the part you need."),
    PathMissing: (CodeNotFound, "Use find_symbol or outline."),
    PathWrongKind: (CodeInputError, "Use repo_map to list a directory, outline or read_file on a file."),
}


def is_binary(head: bytes) -> bool:
    """A NUL byte in the first 8 KiB marks a file as binary (the rule git and ripgrep use)."""
    return b"\x00" in head[:_BINARY_SNIFF]


def code_error(exc: SandboxError) -> CodeError:
    """The code server's error for a sandbox refusal (same message; the sandbox's hint, or ours)."""
    cls, hint = _HINTS.get(type(exc), (PathRefused, None))
    return cls(exc.message, hint=exc.hint or hint)


@contextmanager
def _translated() -> Iterator[None]:
    try:
        yield
    except SandboxError as exc:
        raise code_error(exc) from exc


class Sandbox(FsSandbox):
    """A repository root and the rules for serving what is under it."""

    def __init__(
        self,
        root: Path | str,
        *,
        serve_secrets: bool = False,
        max_file_bytes: int = 2 * 1024 * 1024,
        allow_hardlinks: bool = False,
        max_depth: int = 2048,
    ) -> None:
        super().__init__(
            root,
            serve_secrets=serve_secrets,
            allow_hardlinks=allow_hardlinks,
            max_file_bytes=max_file_bytes,
            max_depth=max_depth,
            label="repository root",
            settings_prefix="TOOLMESH_CODE_",
        )

    @classmethod
    def at(
        cls,
        root: Path,
        *,
        serve_secrets: bool = False,
        max_file_bytes: int = 2 * 1024 * 1024,
        allow_hardlinks: bool = False,
        max_depth: int = 2048,
    ) -> Sandbox:
        if not os.path.isdir(root):
            raise CodeConfigError(
                f"repository root {str(root)!r} is not a directory", hint="Set TOOLMESH_CODE_ROOT."
            )
        return cls(
            root,
            serve_secrets=serve_secrets,
            max_file_bytes=max_file_bytes,
            allow_hardlinks=allow_hardlinks,
            max_depth=max_depth,
        )

    def resolve(self, user_path: str) -> tuple[Path, str]:
        """A client path (relative, or absolute inside the root) as canonical (absolute, relative) paths."""
        with _translated():
            rel, _is_dir = self.locate(user_path)
        return (self.root / rel if rel else self.root), rel

    def resolve_dir(self, user_path: str) -> tuple[Path, str]:
        with _translated():
            rel, is_dir = self.locate(user_path)
        if is_dir is None:
            raise CodeNotFound(f"no such directory {user_path!r} in the repository")
        if not is_dir:
            raise CodeInputError(f"{user_path!r} is a file, not a directory")
        return (self.root / rel if rel else self.root), rel

    def read_bytes(self, user_path: str) -> tuple[bytes, str]:
        """The contents of a regular, text, not-too-large file inside the root; refused otherwise."""
        with _translated():
            opened = self.read(user_path)
        if is_binary(opened.data):
            raise PathRefused(f"{user_path!r} is a binary file; only text files are served")
        return opened.data, opened.rel

    def read_walked(self, reader: TreeReader, rel: str) -> bytes:
        """An indexed file through ``reader`` (no link followed at any component), as code errors."""
        with _translated():
            return reader.read(rel).data
