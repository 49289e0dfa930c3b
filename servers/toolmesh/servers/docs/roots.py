"""Path containment: every path a client names must resolve (symlinks followed) inside a configured root."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator, Sequence
from fnmatch import fnmatch
from pathlib import Path

from toolmesh.servers.docs.errors import DocsConfigError, DocsInputError, OutsideRoots

__all__ = ["Roots"]

_MAX_PATH = 4096


class Roots:
    """The folders documents may come from."""

    def __init__(self, roots: Sequence[Path], exclude: Sequence[str] = ()) -> None:
        resolved: list[Path] = []
        for root in roots or [Path.cwd()]:
            path = Path(os.path.expanduser(str(root))).resolve()
            if not path.is_dir():
                raise DocsConfigError(f"docs root {root} is not a directory", hint="Fix TOOLMESH_DOCS_ROOTS.")
            resolved.append(path)
        self.roots = tuple(resolved)
        self.exclude = tuple(exclude)

    def __str__(self) -> str:
        return ", ".join(str(r) for r in self.roots)

    def resolve(self, raw: str | Path) -> Path:
        """``raw`` resolved (relative paths against the first root) and checked to lie inside a root."""
        text = str(raw)
        if not text.strip():
            raise DocsInputError("empty path")
        if "\x00" in text:
            raise DocsInputError("path contains a NUL byte")
        if len(text) > _MAX_PATH:
            raise DocsInputError(f"path longer than {_MAX_PATH} characters")
        path = Path(os.path.expanduser(text))
        if not path.is_absolute():
            path = self.roots[0] / path
        try:
            resolved = path.resolve()
        except (OSError, RuntimeError) as exc:  # symlink loops
            raise DocsInputError(f"cannot resolve {text}: {exc}") from exc
        if not self.contains(resolved):
            raise OutsideRoots(
                f"{text} is outside the configured docs roots",
                hint=f"Allowed roots: {self}. Add a root with TOOLMESH_DOCS_ROOTS.",
            )
        # Excluded names (.env, keys, .git ...) stay out even when a client names them directly.
        hidden = self.hidden_part(resolved)
        if hidden is not None:
            raise OutsideRoots(
                f"{text} is excluded from indexing and serving (matches an exclude pattern: {hidden})",
                hint="Change TOOLMESH_DOCS_EXCLUDE if this file really should be searchable.",
            )
        return resolved

    def hidden_part(self, resolved: Path) -> str | None:
        """The first component of ``resolved`` (below its root) that an exclude pattern matches."""
        for root in self.roots:
            if resolved != root and resolved.is_relative_to(root):
                for part in resolved.relative_to(root).parts:
                    if self.excluded(part):
                        return part
        return None

    def contains(self, resolved: Path) -> bool:
        return any(resolved == root or resolved.is_relative_to(root) for root in self.roots)

    def excluded(self, name: str) -> bool:
        return any(fnmatch(name, pattern) for pattern in self.exclude)

    def walk(self, directory: Path) -> Iterator[Path]:
        """Regular files under ``directory`` (sorted, excluded names pruned, symlinks escaping the roots
        skipped)."""
        for current, dirs, files in os.walk(directory, followlinks=False):
            dirs[:] = sorted(d for d in dirs if not self.excluded(d))
            for name in sorted(files):
                if self.excluded(name):
                    continue
                path = Path(current) / name
                try:
                    resolved = path.resolve()
                    mode = resolved.stat().st_mode
                except OSError:
                    continue
                # A symlink with an innocent name may point at an excluded file (a.md -> .git/config).
                if stat.S_ISREG(mode) and self.contains(resolved) and self.hidden_part(resolved) is None:
                    yield resolved
