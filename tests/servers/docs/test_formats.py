from __future__ import annotations

from pathlib import Path

import pytest

from toolmesh.servers.docs.errors import ExtractionError
from toolmesh.servers.docs.formats import extract, kind_of

from .conftest import API_RST, CODE_PY, GUIDE_MD, PAGE_HTML, make_pdf, notebook


def test_kinds_by_extension() -> None:
    assert kind_of(Path("a.md")) == "markdown"
    assert kind_of(Path("a.MDX")) == "markdown"
    assert kind_of(Path("a.rst")) == "rst"
    assert kind_of(Path("a.htm")) == "html"
    assert kind_of(Path("a.pdf")) == "pdf"
    assert kind_of(Path("a.ipynb")) == "notebook"
    assert kind_of(Path("a.rs")) == "source"
    assert kind_of(Path("a.txt")) == "text"
    assert kind_of(Path("README")) == "text"
    assert kind_of(Path("photo.png")) is None


@pytest.mark.parametrize(
    ("name", "text", "kind", "syntax"),
    [
        ("g.md", GUIDE_MD, "markdown", "markdown"),
        ("a.rst", API_RST, "rst", "rst"),
        ("c.py", CODE_PY, "source", "code"),
        ("t.txt", "plain words\n", "text", "plain"),
    ],
)
def test_text_formats_keep_the_file_as_canonical_text(name: str, text: str, kind: str, syntax: str) -> None:
    out = extract(Path(name), text.encode(), kind_of(Path(name)) or "text")
    assert out.text == text
    assert (out.kind, out.syntax, out.converted) == (kind, syntax, False)


def test_crlf_and_bom_are_normalised() -> None:
    out = extract(Path("w.txt"), "\ufeffline one\r\nline two\r\n".encode(), "text")
    assert out.text == "line one\nline two\n"


def test_html_keeps_main_text_and_headings_drops_chrome() -> None:
    out = extract(Path("n.html"), PAGE_HTML.encode(), "html")
    assert out.converted and out.syntax == "markdown"
    assert "# Release notes" in out.text
    assert "## Upgrading" in out.text
    assert "hybrid search" in out.text
    assert "```\ntoolmesh docs index ./docs\n```" in out.text
    assert "| version | date |" in out.text and "| 2.0 | 2026-01-02 |" in out.text
    for chrome in ("tracking", "Home | About", "copyright footer"):
        assert chrome not in out.text


def test_malformed_html_is_still_read() -> None:
    out = extract(
        Path("bad.html"), b"<html><body><h2>Title<p>unclosed <b>bold <div>text</span></table>", "html"
    )
    assert "## Title" in out.text or "Title" in out.text
    assert "unclosed" in out.text and "text" in out.text


def test_pdf_text_per_page() -> None:
    out = extract(Path("m.pdf"), make_pdf(["First page text", "Second page text"]), "pdf")
    assert "First page text" in out.text and "Second page text" in out.text
    assert [page for _, page in out.pages] == [1, 2]
    second_offset = out.pages[1][0]
    assert out.text[second_offset:].startswith("Second")


@pytest.mark.parametrize("data", [b"%PDF-1.4\n garbage without objects", b"not a pdf at all", b""])
def test_malformed_pdf_is_a_clear_error(data: bytes) -> None:
    with pytest.raises(ExtractionError, match=r"m\.pdf"):
        extract(Path("m.pdf"), data, "pdf")


def test_notebook_cells_become_markdown_and_fenced_code() -> None:
    nb = notebook([("markdown", "# Title\n\nSome prose."), ("code", "x = 1\nprint(x)"), ("raw", "ignored")])
    out = extract(Path("n.ipynb"), nb.encode(), "notebook")
    assert out.text == "# Title\n\nSome prose.\n\n```python\nx = 1\nprint(x)\n```"


def test_broken_notebook_is_a_clear_error() -> None:
    with pytest.raises(ExtractionError, match="not a Jupyter notebook"):
        extract(Path("n.ipynb"), b'{"cells": 3}', "notebook")


def test_binary_data_is_refused() -> None:
    with pytest.raises(ExtractionError, match="binary"):
        extract(Path("x.md"), b"abc\x00\x01\x02" * 100, "markdown")
    with pytest.raises(ExtractionError, match="not text in any encoding"):
        extract(Path("x.txt"), bytes(range(128, 256)) * 50, "text")
