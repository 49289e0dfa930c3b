"""Readers on odd files of real folders: malformed notebooks, deep HTML, legacy encodings, file lines."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from toolmesh.servers.docs.errors import ExtractionError
from toolmesh.servers.docs.formats import extract
from toolmesh.servers.docs.service import DocsService


def _nb(cells: object, metadata: object = None, **extra: object) -> bytes:
    body: dict[str, object] = {"cells": cells, "metadata": metadata or {}, "nbformat": 4, "nbformat_minor": 5}
    body.update(extra)
    return json.dumps(body, indent=1).encode()


ODD_NOTEBOOKS = {
    # nbformat's own tests/v4_5_invalid_metadata.ipynb has a string kernelspec.
    "kernelspec_string": _nb(
        [{"cell_type": "markdown", "source": "# Odd kernel\n\nReadable all the same.", "metadata": {}}],
        {"kernelspec": "python3", "language_info": "python"},
    ),
    "cell_without_source": _nb(
        [{"cell_type": "code", "metadata": {}}, {"cell_type": "markdown", "source": ["Readable cell."]}]
    ),
    "odd_outputs_and_sources": _nb(
        [
            {"cell_type": "code", "source": 42, "outputs": "not a list"},
            {"cell_type": "code", "source": ["x = 1\n", None], "outputs": [7, None, {"output_type": 3}]},
            "not a cell",
            None,
            {"cell_type": "markdown", "source": ["Readable cell."], "metadata": []},
        ],
        [],
    ),
    "nbformat3_worksheets": json.dumps(
        {
            "nbformat": 3,
            "metadata": {"name": ""},
            "worksheets": [
                {"cells": [{"cell_type": "code", "input": ["print('Readable cell.')"], "language": "python"}]}
            ],
        }
    ).encode(),
}


@pytest.mark.parametrize("name", sorted(ODD_NOTEBOOKS))
def test_odd_notebooks_are_read_not_crashed_on(name: str) -> None:
    out = extract(Path(f"{name}.ipynb"), ODD_NOTEBOOKS[name], "notebook")
    assert "Readable" in out.text


@pytest.mark.parametrize(
    "data", [b"{not json", b"[1, 2]", b'{"cells": 3}', b"[" * 100_000 + b"]" * 100_000, b'"just a string"']
)
def test_a_file_that_is_no_notebook_is_a_clear_error(data: bytes) -> None:
    with pytest.raises(ExtractionError, match="is not a Jupyter notebook"):
        extract(Path("n.ipynb"), data, "notebook")


def _deep_html(depth: int) -> bytes:
    return (
        b"<html><body><main><h1>Deep page</h1>"
        + b"<div>" * depth
        + b"<p>the bottom of the well</p>"
        + b"</div>" * depth
        + b"</main></body></html>"
    )


@pytest.mark.parametrize("depth", [2_000, 20_000])
def test_deeply_nested_html_converts_without_recursion(depth: int) -> None:
    out = extract(Path("deep.html"), _deep_html(depth), "html")
    assert "# Deep page" in out.text and "the bottom of the well" in out.text
    placed = out.source_map.locate(out.text.index("the bottom"), len(out.text))
    assert placed is not None and placed.location.startswith("… > ")  # a long path keeps its tail


LATIN1 = "Kundenkartei\n\nHerr Müller aus München bestellt größere Mengen. Die Übergabe ist in Köln.\n" * 3
GB2312 = "机器学习是人工智能的一个分支。深度学习使用多层神经网络。北京是中国的首都，也是政治中心。\n" * 3
BIG5 = "機器學習是人工智慧的一個分支。深度學習使用多層神經網路。臺北是臺灣最大的城市。\n" * 3
SHIFT_JIS = "機械学習は人工知能の一分野です。東京は日本の首都であり、経済の中心地でもあります。\n" * 3


@pytest.mark.parametrize(
    ("text", "encoding"),
    [
        (LATIN1, "latin-1"),
        (LATIN1, "cp1252"),
        (GB2312, "gb2312"),
        (GB2312, "gbk"),
        (BIG5, "big5"),
        (SHIFT_JIS, "shift_jis"),
    ],
)
def test_legacy_encodings_are_detected(text: str, encoding: str) -> None:
    out = extract(Path("legacy.txt"), text.encode(encoding), "text")
    assert out.text == text


def test_an_html_page_declaring_its_charset_is_read_in_it() -> None:
    page = "<html><head><meta charset='gb2312'></head><body><p>北京是中国的首都。</p></body></html>"
    assert "北京是中国的首都" in extract(Path("p.html"), page.encode("gb2312"), "html").text


def test_utf8_with_a_stray_byte_stays_utf8() -> None:
    data = ("Überall grüßt Müller. 北京。" * 20).encode() + b"\xff" + b" end"
    assert "Überall grüßt Müller" in extract(Path("s.txt"), data, "text").text


def test_search_finds_words_in_legacy_encoded_files(
    tmp_path: Path, make_service: Callable[..., DocsService]
) -> None:
    root = tmp_path / "legacy"
    root.mkdir()
    (root / "kunden.txt").write_bytes(LATIN1.encode("latin-1"))
    (root / "zh.txt").write_bytes(GB2312.encode("gb2312"))
    service = make_service(root)
    result = service.index([root])
    assert result.indexed == 2 and not result.skipped
    hits = service.search("Müller München").hits
    assert hits and hits[0].citation.path.endswith("kunden.txt") and "**Müller**" in hits[0].snippet
    assert service.search("神经网络").hits[0].citation.path.endswith("zh.txt")


NOTEBOOK = {
    "cells": [
        {
            "cell_type": "markdown",
            "metadata": {},
            "source": ["# Refunds\n", "\n", "Refunds take ten days.\n"],
        },
        {
            "cell_type": "code",
            "execution_count": 1,
            "metadata": {},
            "outputs": [],
            "source": ["def refund_window():\n", "    return 30\n"],
        },
        {
            "cell_type": "markdown",
            "metadata": {},
            "source": ["## Shipping\n", "\n", "Parcels ship on Mondays."],
        },
    ],
    "metadata": {"kernelspec": {"language": "python", "name": "python3"}},
    "nbformat": 4,
    "nbformat_minor": 5,
}

PAGE = """<!doctype html>
<html>
<head><title>Policy</title>
<script>var x = 1;</script>
</head>
<body>
<nav>Home</nav>
<main>
<h1>Policy</h1>
<section id="refunds">
<p>Our refund
window is thirty days.</p>
<p>Gift cards are final.</p>
</section>
</main>
</body>
</html>
"""


def _file_line(raw: str, needle: str) -> int:
    return next(i for i, line in enumerate(raw.split("\n"), start=1) if needle in line)


def test_notebook_and_html_citations_point_at_the_file_on_disk(
    tmp_path: Path, make_service: Callable[..., DocsService]
) -> None:
    root = tmp_path / "cite"
    root.mkdir()
    raw_nb = json.dumps(NOTEBOOK, indent=1)  # how Jupyter writes notebooks
    (root / "policy.ipynb").write_text(raw_nb, encoding="utf-8")
    (root / "policy.html").write_text(PAGE, encoding="utf-8")
    service = make_service(root, strategy="sentence", chunk_tokens=16)
    service.index([root])

    code = service.search("refund_window", path_glob="*.ipynb").hits[0].citation
    assert code.location is not None and code.location.endswith("cell 2")  # "cell 1 to cell 2" when packed
    assert code.file_line_start is not None
    assert code.file_line_start <= _file_line(raw_nb, "def refund_window")
    assert code.file_line_end == _file_line(raw_nb, "return 30")
    ship = service.search("parcels Mondays", path_glob="*.ipynb").hits[0].citation
    assert ship.location == "cell 3" and ship.file_line_end == _file_line(raw_nb, "Parcels ship")
    assert "policy.ipynb:" in ship.render() and "[cell 3]" in ship.render()

    refund = service.search("refund window thirty", path_glob="*.html").hits[0].citation
    assert refund.file_line_start is not None and refund.file_line_end is not None
    assert refund.file_line_start <= _file_line(PAGE, "Our refund")
    assert refund.file_line_end >= _file_line(PAGE, "thirty days")
    assert refund.location is not None and refund.location.startswith("html > body > main")
    # Text formats: the indexed text is the file, so file lines and indexed lines agree.
    (root / "plain.md").write_text("# Plain\n\nNothing converted about zebras here.\n", encoding="utf-8")
    service.index([root / "plain.md"])
    plain = service.search("zebras").hits[0].citation
    assert (plain.file_line_start, plain.file_line_end) == (plain.line_start, plain.line_end)
    assert plain.line_end == 3
    assert plain.location is None


def test_a_minified_notebook_still_names_the_cell(tmp_path: Path) -> None:
    out = extract(Path("m.ipynb"), json.dumps(NOTEBOOK).encode(), "notebook")
    placed = out.source_map.locate(out.text.index("Parcels"), len(out.text))
    assert placed is not None and placed.location == "cell 3" and placed.line_start == 1


def test_html_blocks_know_their_file_lines_and_element_path() -> None:
    out = extract(Path("p.html"), PAGE.encode(), "html")

    def placed(first: str, last: str) -> tuple[int | None, int | None, str]:
        found = out.source_map.locate(out.text.index(first), out.text.index(last) + len(last))
        assert found is not None
        return found.line_start, found.line_end, found.location

    section = "html > body > main > section#refunds"
    assert placed("Our refund", "thirty days.") == (
        _file_line(PAGE, "Our refund"),
        _file_line(PAGE, "thirty days"),
        f"{section} > p:nth-of-type(1)",
    )
    line = _file_line(PAGE, "Gift cards")
    assert placed("Gift cards", "final.") == (line, line, f"{section} > p:nth-of-type(2)")
    heading = _file_line(PAGE, "<h1>")
    assert placed("# Policy", "# Policy") == (heading, heading, "html > body > main > h1")
