"""The filesystem sandbox: one root, its excludes and secrets, and opening files with no check-then-use gap.

Nothing here asks the kernel to resolve a path. Every open starts at a descriptor of the root and goes down
one component at a time with ``openat`` (``O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC``, ``O_DIRECTORY`` for
directories), so a directory flipped to a symlink between any two steps is refused, not followed. What a
file is gets decided by ``fstat`` on the open descriptor (regular, size, hard links) and its bytes come from
that same descriptor. Paths a client names may go through symlinks that stay inside the root: they are read
with ``readlinkat`` and resolved here, component by component, never by the kernel. Walked paths (the
indexers') follow no link at all. The iterative walker and the reader of walked files are in
:mod:`toolmesh.protocols.treewalk`.
"""

from __future__ import annotations

import errno
import fnmatch
import os
import posixpath
import re
import stat
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from toolmesh.protocols.errors import (
    ConfigError,
    InputError,
    LimitExceeded,
    NotFoundError,
    PermissionDenied,
    ToolmeshError,
)

__all__ = [
    "MAX_PATH_CHARS",
    "SECRET_DIRS",
    "SECRET_NAMES",
    "Opened",
    "PathEscapes",
    "PathForbidden",
    "PathMissing",
    "PathRejected",
    "PathTooLarge",
    "PathWrongKind",
    "Sandbox",
    "SandboxError",
    "is_secret",
    "show",
]

MAX_PATH_CHARS = 4096
_MAX_COMPONENT_BYTES = 255
_MAX_LINKS = 40  # as the kernel's ELOOP limit
_FILE = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC | getattr(os, "O_NOCTTY", 0)
_DIR = _FILE | os.O_DIRECTORY

# One list for every server: names (globs, matched lower-cased) and directories never served by default.
SECRET_NAMES: tuple[str, ...] = (
    ".env", ".env.*", "*.env", ".envrc", "id_rsa*", "id_dsa*", "id_ecdsa*", "id_ed25519*", "*.pem", "*.key",
    "*.p12", "*.pfx", "*.jks", "*.keystore", ".netrc", "_netrc", ".pgpass", ".npmrc", ".pypirc", ".htpasswd",
    "credentials", "credentials.json", ".git-credentials", "secrets.yml", "secrets.yaml", "*.kdbx",
)  # fmt: skip
SECRET_DIRS: tuple[str, ...] = (".git", ".hg", ".svn", ".ssh", ".aws", ".gnupg")
_SECRET_NAME_RE = re.compile("|".join(fnmatch.translate(pattern) for pattern in SECRET_NAMES))
_SECRET_DIR_SET = frozenset(SECRET_DIRS)


def is_secret(rel: str) -> bool:
    """Whether a root-relative POSIX path names a secret (``.env*``, keys, credentials, VCS internals)."""
    parts = [part for part in rel.split("/") if part and part != "."]
    if not parts:
        return False
    if not _SECRET_DIR_SET.isdisjoint(parts):
        return True
    return _SECRET_NAME_RE.match(parts[-1].lower()) is not None


class SandboxError(ToolmeshError):
    """Root of the sandbox's refusals; each server re-raises them as its own error types."""


class PathRejected(SandboxError, InputError):
    """The path text itself is unusable: not a string, a NUL byte, too long."""


class PathEscapes(SandboxError, PermissionDenied):
    """The path leads outside the root: ``..``, an absolute path elsewhere, ``~``, a symlink leaving it."""


class PathForbidden(SandboxError, PermissionDenied):
    """Inside the root but not served: a secret, an excluded name, a device/FIFO/socket, a hard link."""


class PathTooLarge(SandboxError, LimitExceeded):
    """The file is over the size cap."""


class PathMissing(SandboxError, NotFoundError):
    """Nothing exists at the path."""


class PathWrongKind(SandboxError, InputError):
    """A directory where a file was expected, or the other way round."""


@dataclass(frozen=True, slots=True)
class Opened:
    """A file read through the sandbox: its canonical root-relative path, bytes and ``fstat``."""

    rel: str
    data: bytes
    info: os.stat_result


def show(text: str) -> str:
    """A path as quoted in messages (cut when long)."""
    return repr(text if len(text) <= 120 else text[:117] + "...")


def _close_all(fds: list[int]) -> None:
    for fd in fds:
        os.close(fd)
    fds.clear()


class Sandbox:
    """A root directory and the rules for reading what is under it."""

    def __init__(
        self,
        root: Path | str,
        *,
        serve_secrets: bool = False,
        allow_hardlinks: bool = False,
        max_file_bytes: int = 2 * 1024 * 1024,
        max_depth: int = 2048,
        excludes: Sequence[str] = (),
        label: str = "root",
        settings_prefix: str = "TOOLMESH_",
    ) -> None:
        given = Path(os.path.abspath(root))
        self.root = Path(os.path.realpath(given))
        if not self.root.is_dir():
            raise ConfigError(f"{label} {str(root)!r} is not a directory", hint="Point it at a folder.")
        self.serve_secrets = serve_secrets
        self.allow_hardlinks = allow_hardlinks
        self.max_file_bytes = max_file_bytes
        self.max_depth = max_depth
        self.excludes = tuple(excludes)
        self.label = label
        self.prefix = settings_prefix
        self._prefixes = {self.root.parts, given.parts}

    def __repr__(self) -> str:
        return f"Sandbox({str(self.root)!r})"

    # ------------------------------------------------------------------ names and paths (no file system)
    def contains(self, path: Path) -> bool:
        """Component-wise (never string-prefix) containment of an absolute path."""
        return any(path.parts[: len(p)] == p for p in self._prefixes)

    def relative(self, path: Path) -> str:
        """The root-relative POSIX path of a contained absolute path ("" for the root itself)."""
        for prefix in sorted(self._prefixes, key=len, reverse=True):
            if path.parts[: len(prefix)] == prefix:
                return str(PurePosixPath(*path.parts[len(prefix) :])) if len(path.parts) > len(prefix) else ""
        raise PathEscapes(f"{str(path)!r} is outside the {self.label}")

    def excluded(self, name: str) -> bool:
        return any(fnmatch.fnmatch(name, pattern) for pattern in self.excludes)

    def refusal(self, rel: str) -> str | None:
        """Why a root-relative path is not served (a secret, an excluded name), or None."""
        if not self.serve_secrets and is_secret(rel):
            return "secret"
        if self.excludes and any(self.excluded(part) for part in rel.split("/") if part):
            return "excluded"
        return None

    def parse(self, user_path: object) -> list[str]:
        """A client's path as components below the root; malformed, home-relative, outside paths refused."""
        if not isinstance(user_path, str):
            raise PathRejected("path must be a string")
        shown = show(user_path)
        if "\x00" in user_path:
            raise PathRejected(f"path {shown} contains a NUL byte", hint=self._plain_hint())
        if len(user_path) > MAX_PATH_CHARS:
            raise PathRejected(f"path is longer than {MAX_PATH_CHARS} characters", hint=self._plain_hint())
        text = user_path.strip() or "."
        if text.startswith("~"):
            raise PathEscapes(
                f"path {shown} starts with '~'; home-relative paths are not expanded or served",
                hint=self._plain_hint(),
            )
        parts = text.split("/")
        if any(len(part.encode("utf-8", "surrogateescape")) > _MAX_COMPONENT_BYTES for part in parts):
            raise PathRejected(f"a component of {shown} is longer than {_MAX_COMPONENT_BYTES} bytes")
        if not text.startswith("/"):
            return parts
        normal = Path(posixpath.normpath(text))
        for prefix in self._prefixes:
            if normal.parts[: len(prefix)] == prefix:
                return list(normal.parts[len(prefix) :])
        raise PathEscapes(f"path {shown} resolves outside the {self.label}", hint=self._escape_hint())

    def _plain_hint(self) -> str:
        return f"Pass a path relative to the {self.label}."

    def _escape_hint(self) -> str:
        return f"Only files inside the {self.label} can be read; '..' and symlinks that leave it are refused."

    # ------------------------------------------------------------------ opening, one component at a time
    def open_root(self) -> int:
        try:
            return os.open(self.root, _DIR)
        except OSError as exc:
            raise PathMissing(
                f"the {self.label} {str(self.root)!r} cannot be opened ({exc.strerror})"
            ) from exc

    def _resolve(
        self, parts: list[str], shown: str, *, follow: bool, want_dir: bool, missing_ok: bool = False
    ) -> tuple[list[str], int | None]:
        """Open ``parts`` below the root: (canonical components, descriptor; None if missing and allowed)."""
        fds = [self.open_root()]
        names: list[str] = []
        pending = list(reversed(parts))
        hops = 0
        try:
            while pending:
                name = pending.pop()
                if name in ("", "."):
                    continue
                if name == "..":
                    if not names:
                        raise PathEscapes(
                            f"path {shown} resolves outside the {self.label}", hint=self._escape_hint()
                        )
                    os.close(fds.pop())
                    names.pop()
                    continue
                flags = _DIR if (want_dir or any(p not in ("", ".") for p in pending)) else _FILE
                try:
                    fd = os.open(name, flags, dir_fd=fds[-1])
                except OSError as exc:
                    try:
                        target = os.readlink(name, dir_fd=fds[-1])
                    except OSError:
                        if exc.errno == errno.ENOENT and missing_ok:
                            return self._lexical(names, [name, *reversed(pending)], shown), None
                        raise self._open_error(exc, shown, names, name) from exc
                    where = "/".join([*names, name])
                    if not follow:
                        raise PathForbidden(
                            f"{where!r} is a symbolic link; walked paths never follow links"
                        ) from exc
                    hops += 1
                    if hops > _MAX_LINKS:
                        raise PathEscapes(f"path {shown} has too many levels of symbolic links") from exc
                    if target.startswith("/"):
                        inner = Path(posixpath.normpath(target))
                        if not self.contains(inner):
                            raise PathEscapes(
                                f"path {shown} resolves outside the {self.label} (symlink {where!r})",
                                hint=self._escape_hint(),
                            ) from exc
                        for extra in fds[1:]:
                            os.close(extra)
                        del fds[1:]
                        names.clear()
                        target = self.relative(inner)
                    pending.extend(reversed(target.split("/")))
                    continue
                fds.append(fd)
                names.append(name)
            return names, fds.pop()
        finally:
            _close_all(fds)

    def _lexical(self, names: list[str], rest: list[str], shown: str) -> list[str]:
        out = list(names)
        for name in rest:
            if name == "..":
                if not out:
                    raise PathEscapes(
                        f"path {shown} resolves outside the {self.label}", hint=self._escape_hint()
                    )
                out.pop()
            elif name not in ("", "."):
                out.append(name)
        return out

    def _open_error(self, exc: OSError, shown: str, names: list[str], name: str) -> SandboxError:
        if exc.errno == errno.ENOENT:
            return PathMissing(f"no such file or directory {shown} in the {self.label}")
        if exc.errno == errno.ENOTDIR:
            return PathWrongKind(f"{'/'.join([*names, name])!r} in {shown} is not a directory")
        return PathForbidden(f"{shown} cannot be opened safely ({exc.strerror})")

    def allowed(self, names: list[str], parts: list[str], shown: str) -> str:
        rel = "/".join(names)
        lexical = posixpath.normpath("/".join(parts) or ".")
        reason = self.refusal(rel) or (None if lexical.startswith("..") else self.refusal(lexical))
        if reason == "secret":
            raise PathForbidden(
                f"{shown} looks like a secret (.env, private key, credentials, VCS internals) and is "
                "excluded from reading and indexing",
                hint=f"Set {self.prefix}SERVE_SECRETS=true to allow it.",
            )
        if reason == "excluded":
            raise PathForbidden(
                f"{shown} is excluded from reading and indexing (it matches an exclude pattern)",
                hint=f"Change {self.prefix}EXCLUDE if it really should be served.",
            )
        return rel

    def locate(self, user_path: str) -> tuple[str, bool | None]:
        """(canonical root-relative path, is a directory; None when nothing is there) of a client path."""
        parts = self.parse(user_path)
        names, fd = self._resolve(parts, show(user_path), follow=True, want_dir=False, missing_ok=True)
        rel = self.allowed(names, parts, show(user_path))
        if fd is None:
            return rel, None
        try:
            return rel, stat.S_ISDIR(os.fstat(fd).st_mode)
        finally:
            os.close(fd)

    def read(self, user_path: str) -> Opened:
        """A client's file (symlinks inside the root followed here, not by the kernel), checked and read."""
        parts = self.parse(user_path)
        shown = show(user_path)
        names, fd = self._resolve(parts, shown, follow=True, want_dir=False)
        assert fd is not None
        try:
            rel = self.allowed(names, parts, shown)
            info = self.verify(fd, shown)
            return Opened(rel, self.read_fd(fd, info, shown), info)
        finally:
            os.close(fd)

    def open_dir(self, rel: str) -> int:
        """A descriptor of a walked (link-free) directory, opened component by component."""
        _names, fd = self._resolve(rel.split("/") if rel else [], show(rel), follow=False, want_dir=True)
        assert fd is not None
        return fd

    # ------------------------------------------------------------------ checks on the open descriptor
    def verify(self, fd: int, shown: str) -> os.stat_result:
        """``fstat`` of an open file: a regular file, one link (unless allowed), within the size cap."""
        info = os.fstat(fd)
        if stat.S_ISDIR(info.st_mode):
            raise PathWrongKind(f"{shown} is a directory, not a file")
        if not stat.S_ISREG(info.st_mode):
            raise PathForbidden(f"{shown} is not a regular file (device, FIFO or socket); refused")
        if info.st_nlink > 1 and not self.allow_hardlinks:
            raise PathForbidden(
                f"{shown} has {info.st_nlink} hard links; a hard link can give a file from outside the "
                f"{self.label} (or a secret) an innocent name, so hard-linked files are refused",
                hint=f"Set {self.prefix}ALLOW_HARDLINKS=true if this tree uses hard links on purpose.",
            )
        if info.st_size > self.max_file_bytes:
            raise PathTooLarge(
                f"{shown} is {info.st_size:,} bytes, over the size limit ({self.max_file_bytes:,}-byte cap)",
                hint=f"Raise {self.prefix}MAX_FILE_BYTES to read larger files.",
            )
        return info

    def read_fd(self, fd: int, info: os.stat_result, shown: str) -> bytes:
        cap = self.max_file_bytes
        chunks: list[bytes] = []
        total = 0
        while total <= cap:
            chunk = os.read(fd, max(min(info.st_size, cap) + 1 - total, 65536))
            if not chunk:
                break
            chunks.append(chunk)
            total += len(chunk)
        if total > cap:
            raise PathTooLarge(f"{shown} grew past the {cap:,}-byte size limit while being read")
        return b"".join(chunks)

    def read_at(self, dir_fd: int, name: str, shown: str) -> Opened:
        """The file ``name`` in an open directory: no link followed, checked on its descriptor."""
        try:
            fd = os.open(name, _FILE, dir_fd=dir_fd)
        except OSError as exc:
            if exc.errno == errno.ELOOP:
                raise PathForbidden(f"{shown} is now a symbolic link; refused") from exc
            raise self._open_error(exc, show(shown), [], name) from exc
        try:
            info = self.verify(fd, show(shown))
            return Opened(shown, self.read_fd(fd, info, show(shown)), info)
        finally:
            os.close(fd)
