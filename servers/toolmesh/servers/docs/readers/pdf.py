"""PDF files: the text of each page (pypdf), pages separated by a blank line, each page's offset recorded."""

from __future__ import annotations

import io

from toolmesh.servers.docs.errors import ExtractionError

__all__ = ["MAX_PAGES", "read_pdf"]

MAX_PAGES = 5000


def read_pdf(data: bytes, name: str) -> tuple[str, list[tuple[int, int]]]:
    """(text, [(char offset, page number) where each page starts])."""
    from pypdf import PdfReader

    try:
        reader = PdfReader(io.BytesIO(data), strict=False)
        parts: list[str] = []
        pages: list[tuple[int, int]] = []
        offset = 0
        for number, page in enumerate(reader.pages, start=1):
            if number > MAX_PAGES:
                break
            page_text = (page.extract_text() or "").replace("\r\n", "\n").replace("\r", "\n").strip()
            pages.append((offset, number))
            parts.append(page_text)
            offset += len(page_text) + 2
    except Exception as exc:  # pypdf raises many types on malformed input
        raise ExtractionError(
            f"{name} is not a readable PDF ({type(exc).__name__}: {str(exc)[:120]})",
            hint="Check that the file is a valid, unencrypted PDF.",
        ) from exc
    text = "\n\n".join(parts)
    if not text.strip():
        raise ExtractionError(
            f"{name} has no extractable text (scanned images?)", hint="Run OCR on it first."
        )
    return text, pages
