"""The safety layer: every path a client names is resolved and contained in the root, or refused.

Containment is checked on path components of the fully resolved path (``realpath``), never on a string
prefix, so ``/srv/repo-evil`` is not inside ``/srv/repo`` and a symlink that leaves the root is refused.
Files are opened with ``O_NOFOLLOW | O_NONBLOCK`` and checked with ``fstat`` on the open descriptor, so a FIFO
cannot block us and a file swapped for a symlink after the check is not followed.
"""

from __future__ import annotations

import fnmatch
import os
import re
import stat
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from toolmesh.servers.code.errors import (
    CodeConfigError,
    CodeInputError,
    CodeLimitExceeded,
    CodeNotFound,
    PathRefused,
)

__all__ = ["MAX_PATH_CHARS", "Sandbox", "is_binary", "is_secret"]

MAX_PATH_CHARS = 4096
_MAX_COMPONENT = 255
_BINARY_SNIFF = 8192

_SECRET_NAMES = (
    ".env",
    ".env.*",
    "*.env",
    ".envrc",
    "id_rsa*",
    "id_dsa*",
    "id_ecdsa*",
    "id_ed25519*",
    "*.pem",
    "*.key",
    "*.p12",
    "*.pfx",
    "*.jks",
    "*.keystore",
    ".netrc",
    "_netrc",
    ".pgpass",
    ".npmrc",
    ".pypirc",
    ".htpasswd",
    "credentials",
    "credentials.json",
    ".git-credentials",
    "secrets.yml",
    "secrets.yaml",
    "*.kdbx",
)
_SECRET_DIRS = (".git", ".hg", ".svn", ".ssh", ".aws", ".gnupg")


_SECRET_NAME_RE = re.compile("|".join(fnmatch.translate(pattern) for pattern in _SECRET_NAMES))
_SECRET_DIR_SET = frozenset(_SECRET_DIRS)


def is_secret(rel: str) -> bool:
    """Whether a repository-relative POSIX path names a secret (``.env*``, keys, VCS internals)."""
    parts = [part for part in rel.split("/") if part and part != "."]
    if not parts:
        return False
    if not _SECRET_DIR_SET.isdisjoint(parts):
        return True
    return _SECRET_NAME_RE.match(parts[-1].lower()) is not None


def is_binary(head: bytes) -> bool:
    """A NUL byte in the first 8 KiB marks a file as binary (the rule git and ripgrep use)."""
    return b"\x00" in head[:_BINARY_SNIFF]


@dataclass(frozen=True, slots=True)
class Sandbox:
    """A repository root and the rules for serving what is under it."""

    root: Path
    serve_secrets: bool = False
    max_file_bytes: int = 2 * 1024 * 1024

    @classmethod
    def at(cls, root: Path, *, serve_secrets: bool = False, max_file_bytes: int = 2 * 1024 * 1024) -> Sandbox:
        real = Path(os.path.realpath(root))
        if not real.is_dir():
            raise CodeConfigError(
                f"repository root {str(root)!r} is not a directory", hint="Set TOOLMESH_CODE_ROOT."
            )
        return cls(real, serve_secrets, max_file_bytes)

    def contains(self, real: Path) -> bool:
        """Component-wise containment of an already resolved path."""
        root_parts = self.root.parts
        return real.parts[: len(root_parts)] == root_parts

    def relative(self, real: Path) -> str:
        """The POSIX path of a contained, resolved path relative to the root ("" for the root itself)."""
        rel = PurePosixPath(*real.parts[len(self.root.parts) :])
        return "" if str(rel) == "." else str(rel)

    def resolve(self, user_path: str) -> tuple[Path, str]:
        """Resolve a client path (relative to the root, or absolute inside it) to (real, relative) paths."""
        if not isinstance(user_path, str):
            raise CodeInputError("path must be a string")
        if "\x00" in user_path:
            raise PathRefused("path contains a NUL byte", hint="Pass a plain repository-relative path.")
        if len(user_path) > MAX_PATH_CHARS:
            raise PathRefused(f"path is longer than {MAX_PATH_CHARS} characters")
        text = user_path.strip() or "."
        if text.startswith("~"):
            raise PathRefused(
                f"path {user_path!r} starts with '~'; home-relative paths are not served",
                hint="Pass a path relative to the repository root.",
            )
        pure = Path(text)
        if any(len(part) > _MAX_COMPONENT for part in pure.parts):
            raise PathRefused(f"a component of {user_path!r} is longer than {_MAX_COMPONENT} characters")
        lexical = pure if pure.is_absolute() else self.root / pure
        real = Path(os.path.realpath(lexical))
        if not self.contains(real):
            raise PathRefused(
                f"path {user_path!r} resolves outside the repository root",
                hint="Only files inside the repository can be read; symlinks leaving it are refused.",
            )
        rel = self.relative(real)
        if not self.serve_secrets:
            lexical_rel = os.path.normpath(text) if not pure.is_absolute() else rel
            if is_secret(rel) or is_secret(lexical_rel.replace(os.sep, "/")):
                raise PathRefused(
                    f"{user_path!r} looks like a secret (.env, private key, VCS internals) and is not served",
                    hint="Set TOOLMESH_CODE_SERVE_SECRETS=true to allow it.",
                )
        return real, rel

    def resolve_dir(self, user_path: str) -> tuple[Path, str]:
        real, rel = self.resolve(user_path)
        if not real.exists():
            raise CodeNotFound(f"no such directory {user_path!r} in the repository")
        if not real.is_dir():
            raise CodeInputError(f"{user_path!r} is a file, not a directory")
        return real, rel

    def read_bytes(self, user_path: str) -> tuple[bytes, str]:
        """The contents of a regular, text, not-too-large file inside the root; refused otherwise."""
        real, rel = self.resolve(user_path)
        try:
            fd = os.open(real, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | getattr(os, "O_NOCTTY", 0))
        except FileNotFoundError as exc:
            raise CodeNotFound(
                f"no such file {user_path!r} in the repository", hint="Use find_symbol or outline."
            ) from exc
        except IsADirectoryError as exc:
            raise CodeInputError(
                f"{user_path!r} is a directory", hint="Use repo_map or outline on a file."
            ) from exc
        except OSError as exc:
            raise PathRefused(f"{user_path!r} cannot be opened safely ({exc.strerror})") from exc
        try:
            info = os.fstat(fd)
            if stat.S_ISDIR(info.st_mode):
                raise CodeInputError(
                    f"{user_path!r} is a directory", hint="Use repo_map to list a directory."
                )
            if not stat.S_ISREG(info.st_mode):
                raise PathRefused(f"{user_path!r} is not a regular file (device, FIFO or socket); refused")
            if info.st_size > self.max_file_bytes:
                raise CodeLimitExceeded(
                    f"{user_path!r} is {info.st_size} bytes, over the {self.max_file_bytes}-byte cap",
                    hint="Use search_text to find the part you need.",
                )
            with os.fdopen(fd, "rb", closefd=True) as handle:
                fd = -1
                data = handle.read(self.max_file_bytes + 1)
        finally:
            if fd >= 0:
                os.close(fd)
        if len(data) > self.max_file_bytes:
            raise CodeLimitExceeded(
                f"{user_path!r} grew past the {self.max_file_bytes}-byte cap while reading"
            )
        if is_binary(data):
            raise PathRefused(f"{user_path!r} is a binary file; only text files are served")
        return data, rel
