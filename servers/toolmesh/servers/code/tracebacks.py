"""Parsing stack traces (Python, JavaScript/Node, Go, Java) and mapping their frames to repository code.

A frame's file is mapped to a repository file by its real path when it is inside the root, otherwise by the
longest matching suffix of path components among the indexed files (traces from CI or another checkout),
and for Java by the class's package path.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import PurePosixPath

__all__ = ["ParsedFrame", "ParsedTrace", "PathMatcher", "parse_traceback"]

_MAX_FRAMES = 100

_PY_FRAME = re.compile(r'^\s*File "(?P<file>[^"]+)", line (?P<line>\d+)(?:, in (?P<func>.+?))?\s*$')
_NODE_FRAME = re.compile(
    r"^\s*at (?:(?:async )?(?P<func>[^()]+?) \()?(?P<file>(?:file://)?[^()\s]+?):(?P<line>\d+)(?::\d+)?\)?\s*$"
)
_GO_FUNC = re.compile(r"^(?P<func>\S+)\([^()]*\)\s*$")
_GO_FILE = re.compile(r"^\s+(?P<file>\S+\.go):(?P<line>\d+)(?: \+0x[0-9a-fA-F]+)?\s*$")
_JAVA_FRAME = re.compile(
    r"^\s*at (?:[\w.$-]+/)*(?P<func>[\w$.<>]+)"
    r"\((?P<file>[^:()]+?\.(?:java|kt|scala|groovy))(?::(?P<line>\d+))?\)\s*$"
)


@dataclass(frozen=True, slots=True)
class ParsedFrame:
    raw: str
    file: str
    line: int
    function: str | None
    java_class: str | None = None


@dataclass(frozen=True, slots=True)
class ParsedTrace:
    language: str
    error: str | None
    frames: list[ParsedFrame]


def _python(lines: list[str]) -> ParsedTrace:
    frames = []
    for raw in lines:
        m = _PY_FRAME.match(raw)
        if m:
            frames.append(ParsedFrame(raw.strip(), m["file"], int(m["line"]), m["func"]))
    error = None
    for raw in reversed(lines):
        text = raw.rstrip()
        if (
            text
            and not text[0].isspace()
            and not text.startswith(("Traceback", "During handling", "The above"))
        ):
            error = text
            break
    return ParsedTrace("python", error, frames)


def _node(lines: list[str]) -> ParsedTrace:
    frames = []
    error = None
    for raw in lines:
        m = _NODE_FRAME.match(raw)
        if m:
            file = m["file"]
            if file.startswith("file://"):
                file = file[len("file://") :]
            frames.append(ParsedFrame(raw.strip(), file, int(m["line"]), m["func"]))
        elif error is None and raw.strip() and not frames and re.match(r"^\s*\w*(Error|Exception)\b", raw):
            error = raw.strip()
    return ParsedTrace("javascript", error, frames)


def _go(lines: list[str]) -> ParsedTrace:
    frames = []
    error = next((line.strip() for line in lines if line.startswith(("panic:", "fatal error:"))), None)
    for i, raw in enumerate(lines):
        m = _GO_FILE.match(raw)
        if m:
            func = None
            if i > 0:
                fm = _GO_FUNC.match(lines[i - 1].strip())
                func = fm["func"] if fm else None
            frames.append(ParsedFrame(raw.strip(), m["file"], int(m["line"]), func))
    return ParsedTrace("go", error, frames)


def _java(lines: list[str]) -> ParsedTrace:
    frames = []
    error = None
    for raw in lines:
        m = _JAVA_FRAME.match(raw)
        if m:
            if m["line"] is None:
                continue
            func = m["func"]
            cls = func.rsplit(".", 1)[0] if "." in func else None
            frames.append(ParsedFrame(raw.strip(), m["file"], int(m["line"]), func, cls))
        elif error is None and ("Exception" in raw or "Error" in raw) and not raw.startswith((" ", "\t")):
            error = raw.strip()
    return ParsedTrace("java", error, frames)


_PARSERS: tuple[Callable[[list[str]], ParsedTrace], ...] = (_python, _java, _go, _node)


def parse_traceback(text: str) -> ParsedTrace:
    """The frames of the stack trace in ``text``, from whichever format yields the most frames."""
    lines = text.replace("\r\n", "\n").split("\n")
    best = ParsedTrace("unknown", None, [])
    for parser in _PARSERS:
        trace = parser(lines)
        if len(trace.frames) > len(best.frames):
            best = trace
    return ParsedTrace(best.language, best.error, best.frames[:_MAX_FRAMES])


class PathMatcher:
    """Maps a path from a trace (absolute, relative, from another machine) to an indexed repository path."""

    def __init__(self, paths: list[str]) -> None:
        self._by_name: dict[str, list[str]] = {}
        for path in paths:
            self._by_name.setdefault(path.rsplit("/", 1)[-1], []).append(path)

    def match(self, file: str, java_class: str | None = None) -> str | None:
        parts = [p for p in PurePosixPath(file.replace("\\", "/")).parts if p not in ("/", ".")]
        if not parts:
            return None
        candidates = self._by_name.get(parts[-1], [])
        if not candidates:
            return None
        if java_class is not None and "." in java_class:
            package = java_class.split("$", 1)[0].rsplit(".", 1)[0].replace(".", "/")
            preferred = [c for c in candidates if c.endswith(f"{package}/{parts[-1]}")]
            if preferred:
                return min(preferred, key=len)

        def common_suffix(candidate: str) -> int:
            cparts = candidate.split("/")
            n = 0
            while n < min(len(cparts), len(parts)) and cparts[-1 - n] == parts[-1 - n]:
                n += 1
            return n

        return max(candidates, key=lambda c: (common_suffix(c), -len(c)))
