"""Where converted text came from: lines of the file on disk and a location a person can find.

HTML and notebooks are indexed as converted, Markdown-like text, so the converted text's line numbers are
not the file's. A reader records an :class:`Origin` for each piece of converted text it writes — the file
lines it came from and a location (``cell 3``; ``html > body > main > p:nth-of-type(2)``) — and a chunk's
citation is looked up from them.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass

__all__ = ["Located", "Origin", "SourceMap"]


@dataclass(frozen=True, slots=True)
class Origin:
    """Converted text from ``offset`` up to the next origin came from ``line_start``-``line_end`` (1-based
    lines of the file on disk; 0 when unknown) at ``location``."""

    offset: int
    line_start: int
    line_end: int
    location: str


@dataclass(frozen=True, slots=True)
class Located:
    """A span of converted text, placed in the file: its lines there (None when unknown) and location."""

    line_start: int | None
    line_end: int | None
    location: str


class SourceMap:
    """Looks up the file lines and location of any span of the converted text."""

    def __init__(self, origins: list[Origin]) -> None:
        self.origins = sorted(origins, key=lambda o: o.offset)
        self._offsets = [o.offset for o in self.origins]

    def __bool__(self) -> bool:
        return bool(self.origins)

    def locate(self, start: int, end: int) -> Located | None:
        """The file lines covering converted chars ``[start, end)`` and the location where they begin (and
        end, when that differs); None when nothing is recorded there."""
        if not self.origins:
            return None
        lo = max(0, bisect.bisect_right(self._offsets, start) - 1)
        hi = max(lo, bisect.bisect_left(self._offsets, max(start + 1, end)) - 1)
        covered = self.origins[lo : hi + 1]
        known = [o for o in covered if o.line_start > 0]
        first, last = covered[0].location, covered[-1].location
        location = first if first == last else f"{first} to {last}"
        if not known:
            return Located(None, None, location)
        return Located(
            min(o.line_start for o in known), max(max(o.line_end, o.line_start) for o in known), location
        )
