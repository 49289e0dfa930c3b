"""The text encoding of a file's bytes: byte-order marks, UTF-8, a declared charset, then detection.

UTF-8 is tried first and strictly. A file that is almost all valid UTF-8 with a few stray bytes stays UTF-8
(the stray bytes become U+FFFD). Anything else goes to charset-normalizer, a maintained detector, so
GB2312/GBK, Big5, Shift-JIS, EUC-KR, Latin-1/cp1252 and the other legacy code pages are read as what they
are instead of being skipped or silently garbled. An HTML or XML file's own declaration
(``<meta charset=...>``, ``<?xml encoding=...?>``) wins over the guess when the bytes decode under it.
"""

from __future__ import annotations

import codecs
import re

from toolmesh.servers.docs.errors import ExtractionError

__all__ = ["decode"]

_BOMS = (
    (codecs.BOM_UTF32_LE, "utf-32"),
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)
_DECLARED = re.compile(
    rb"""<meta[^>]+charset\s*=\s*["']?\s*([A-Za-z0-9._:-]{2,40})|<\?xml[^>]+encoding\s*=\s*["']([A-Za-z0-9._:-]{2,40})""",
    re.IGNORECASE,
)
# Detection reads at most this much; charset-normalizer samples within it.
_DETECT_BYTES = 1 << 20


def _normalise(text: str) -> str:
    return text.replace("\r\n", "\n").replace("\r", "\n")


def _declared(data: bytes) -> str | None:
    match = _DECLARED.search(data[:4096])
    if match is None:
        return None
    name = (match.group(1) or match.group(2)).decode("ascii").lower()
    try:
        codec = codecs.lookup(name).name
    except LookupError:
        return None
    # A page that says "iso-8859-1" is, by the HTML standard, windows-1252.
    return "cp1252" if codec in ("latin-1", "iso8859-1", "ascii") else codec


def _mostly_utf8(data: bytes) -> str | None:
    """The text when the bytes are valid UTF-8 but for a few stray bytes (one bad byte per 10 good
    non-ASCII characters at most), else None."""
    text = data.decode("utf-8", errors="replace")
    bad = text.count("\ufffd")
    good = len(text) - len(text.encode("ascii", errors="ignore")) - bad
    return text if good >= 10 * bad else None


def decode(data: bytes, name: str, *, markup: bool = False) -> str:
    """The text of ``data`` with line ends normalised to ``\\n``; ``markup`` honours a declared charset."""
    for bom, codec in _BOMS:
        if data.startswith(bom):
            return _normalise(data.decode(codec, errors="replace"))
    if b"\x00" in data[:8192]:
        raise ExtractionError(
            f"{name} looks binary (NUL bytes); not indexed", hint="Index text documents only."
        )
    try:
        return _normalise(data.decode("utf-8"))
    except UnicodeDecodeError:
        pass
    if markup:
        declared = _declared(data)
        if declared is not None:
            try:
                return _normalise(data.decode(declared))
            except UnicodeDecodeError:
                pass  # the declaration is wrong: detect instead
    text = _mostly_utf8(data)
    if text is not None:
        return _normalise(text)
    from charset_normalizer import from_bytes

    best = from_bytes(data[:_DETECT_BYTES]).best()
    if best is None:
        raise ExtractionError(
            f"{name} is not text in any encoding the detector knows; not indexed",
            hint="Convert it to UTF-8 (e.g. iconv -f ENCODING -t UTF-8), or exclude it.",
        )
    return _normalise(data.decode(best.encoding, errors="replace"))
