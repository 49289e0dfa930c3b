"""Jupyter notebooks (nbformat 3 and 4): Markdown cells as they are, code cells fenced, outputs left out.

Real folders hold odd notebooks — a ``kernelspec`` that is a string, cells without ``source``, sources that
are numbers, nbformat 3's ``worksheets`` — so every field is checked for its type and a cell that cannot be
read is passed over; only a file that is not a JSON notebook at all is an error. Each converted line records
the line of the file it came from (notebooks written by Jupyter keep one source line per file line), and
every chunk's location names its cell.
"""

from __future__ import annotations

import json
import re
from typing import Any

from toolmesh.servers.docs.errors import ExtractionError
from toolmesh.servers.docs.readers.sourcemap import Origin
from toolmesh.servers.docs.structure import LineIndex

__all__ = ["read_notebook"]

_KEY = re.compile(r'"(?:source|input)"\s*:\s*')
_LANGUAGE = re.compile(r"[\w+#.-]{1,40}")
_HINT = "Open and save it in Jupyter to repair it, or exclude it (TOOLMESH_DOCS_EXCLUDE)."


class _SourceFinder:
    """Finds each cell's source in the raw JSON, in order, and the file line of each of its strings."""

    def __init__(self, raw: str) -> None:
        self._raw = raw
        self._lines = LineIndex(raw)
        self._decoder = json.JSONDecoder()
        self._cursor = 0
        self._lost = False

    def lines_of(self, value: str | list[Any]) -> list[int] | None:
        """The file line of each string of ``value`` (one for a str), or None when it cannot be found."""
        if self._lost:
            return None
        for match in _KEY.finditer(self._raw, self._cursor):
            try:
                found, end = self._decoder.raw_decode(self._raw, match.end())
            except ValueError:
                continue
            if found != value:
                continue
            self._cursor = end
            if isinstance(value, str):
                return [self._lines.line_of(match.end())]
            return self._element_lines(match.end() + 1, len(value))
        self._lost = True  # the file is not laid out as parsed: stop looking (no quadratic rescans)
        return None

    def _element_lines(self, pos: int, count: int) -> list[int]:
        raw, lines = self._raw, []
        for _ in range(count):
            while raw[pos] in " \t\n,":
                pos += 1
            lines.append(self._lines.line_of(pos))
            _, pos = self._decoder.raw_decode(raw, pos)
        return lines


def _cells(notebook: dict[str, Any]) -> list[Any]:
    cells = notebook.get("cells")
    if isinstance(cells, list):
        return cells
    worksheets = notebook.get("worksheets")  # nbformat 3
    if isinstance(worksheets, list):
        out: list[Any] = []
        for sheet in worksheets:
            if isinstance(sheet, dict) and isinstance(sheet.get("cells"), list):
                out.extend(sheet["cells"])
        return out
    raise TypeError("no 'cells' list")


def _language(notebook: dict[str, Any]) -> str:
    metadata = notebook.get("metadata")
    metadata = metadata if isinstance(metadata, dict) else {}
    for section, key in (("kernelspec", "language"), ("language_info", "name")):
        value = metadata.get(section)
        if isinstance(value, dict) and isinstance(value.get(key), str) and _LANGUAGE.fullmatch(value[key]):
            return str(value[key])
    return ""


def _body_lines(value: str | list[Any], raw_lines: list[int] | None) -> list[tuple[str, int]]:
    """The cell's text split into lines, each with its file line (0 when unknown)."""
    pieces = [value] if isinstance(value, str) else value
    out: list[tuple[str, int]] = []
    current = ""
    line_of_current = 0
    for index, piece in enumerate(pieces):
        raw = raw_lines[index] if raw_lines else 0
        parts = piece.split("\n")
        for k, part in enumerate(parts):
            if not current:
                line_of_current = raw
            current += part
            if k < len(parts) - 1:
                out.append((current, line_of_current))
                current = ""
    if current:
        out.append((current, line_of_current))
    while out and not out[0][0]:
        out.pop(0)
    while out and not out[-1][0]:
        out.pop()
    return out


def read_notebook(text: str, name: str) -> tuple[str, list[Origin]]:
    """The notebook's converted text and where each of its lines came from."""
    try:
        notebook = json.loads(text)
        if not isinstance(notebook, dict):
            raise TypeError(f"the top level is a JSON {type(notebook).__name__}, not an object")
        cells = _cells(notebook)
    except RecursionError as exc:
        raise ExtractionError(
            f"{name} is not a Jupyter notebook (JSON nested too deeply)", hint=_HINT
        ) from exc
    except (ValueError, TypeError) as exc:
        raise ExtractionError(f"{name} is not a Jupyter notebook ({str(exc)[:160]})", hint=_HINT) from exc
    language = _language(notebook)
    finder = _SourceFinder(text)
    parts: list[list[tuple[str, int]]] = []
    labels: list[str] = []
    for number, cell in enumerate(cells, start=1):
        if not isinstance(cell, dict):
            continue
        kind = cell.get("cell_type")
        value = cell.get("source", cell.get("input"))
        if isinstance(value, list) and all(isinstance(p, str) for p in value):
            pass
        elif not isinstance(value, str):
            continue  # missing, null, a number: nothing to index in this cell
        lines = _body_lines(value, finder.lines_of(value))
        if not any(line.strip() for line, _ in lines):
            continue
        if kind == "markdown":
            parts.append(lines)
        elif kind == "heading" and isinstance(cell.get("level"), int):  # nbformat 3 heading cells
            level = min(max(int(cell["level"]), 1), 6)
            parts.append([("#" * level + " " + " ".join(t.strip() for t, _ in lines), lines[0][1])])
        elif kind == "code":
            fence = [(f"```{language}", lines[0][1])], [("```", lines[-1][1])]
            parts.append(fence[0] + lines + fence[1])
        else:
            continue
        labels.append(f"cell {number}")
    out: list[str] = []
    origins: list[Origin] = []
    offset = 0
    for lines, label in zip(parts, labels, strict=True):
        for line, raw in lines:
            origins.append(Origin(offset, raw, raw, label))
            out.append(line)
            offset += len(line) + 1
        out.append("")
        offset += 1
    return "\n".join(out[:-1]), origins
