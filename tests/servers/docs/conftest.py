from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from toolmesh.servers.docs.embedders import HashingEmbedder
from toolmesh.servers.docs.service import DocsService
from toolmesh.servers.docs.settings import DocsSettings
from toolmesh.servers.docs.stores.qdrant import QdrantStore

GUIDE_MD = """# Install guide

toolmesh indexes documents for retrieval.

## Installing on Linux

Run the installer with pip. Installation requires Python 3.11 or newer.

```bash
pip install toolmesh
# a comment inside the fence, not a heading
```

## Configuration

| variable | meaning |
|---|---|
| TOOLMESH_DOCS_ROOTS | folders you may index |

Set the roots before starting the server.
"""

ZH_TXT = """机器学习是人工智能的一个分支。深度学习使用多层神经网络。

北京是中华人民共和国的首都，也是全国的政治中心。上海是中国最大的经济城市。
"""

API_RST = """API reference
=============

The client connects to the server.

Authentication
--------------

Tokens are passed as bearer headers. Rotate tokens every ninety days::

    client = Client(token="abc")
    client.connect()

Errors
------

Every error carries a hint.
"""

PAGE_HTML = """<!doctype html><html><head><title>Release notes</title>
<script>var tracking = 1;</script></head>
<body><nav>Home | About</nav><main>
<h1>Release notes</h1><p>Version 2 adds <b>hybrid search</b> with reciprocal rank fusion.</p>
<h2>Upgrading</h2><p>Rebuild the index after upgrading.</p>
<pre>toolmesh docs index ./docs</pre>
<table><tr><th>version</th><th>date</th></tr><tr><td>2.0</td><td>2026-01-02</td></tr></table>
</main><footer>copyright footer</footer></body></html>
"""

CODE_PY = '''"""Geometry helpers."""


def triangle_area(base: float, height: float) -> float:
    """Area of a triangle."""
    return base * height / 2


def circle_area(radius: float) -> float:
    return 3.14159 * radius * radius
'''


def notebook(cells: list[tuple[str, str]]) -> str:
    return json.dumps(
        {
            "cells": [
                {"cell_type": kind, "source": source.splitlines(keepends=True), "metadata": {}}
                for kind, source in cells
            ],
            "metadata": {"kernelspec": {"language": "python", "name": "python3"}},
            "nbformat": 4,
            "nbformat_minor": 5,
        }
    )


def make_pdf(pages: list[str]) -> bytes:
    """A minimal valid PDF with one Helvetica text page per string (lines split on newlines)."""

    def esc(text: str) -> str:
        return text.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")

    kids = " ".join(f"{4 + 2 * i} 0 R" for i in range(len(pages)))
    objs: list[bytes] = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        f"<< /Type /Pages /Kids [{kids}] /Count {len(pages)} >>".encode(),
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    for i, text in enumerate(pages):
        stream = (
            "BT /F1 12 Tf 72 720 Td 14 TL "
            + " ".join(f"({esc(line)}) Tj T*" for line in text.split("\n"))
            + " ET"
        )
        objs.append(
            f"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Resources << /Font << /F1 3 0 R >> >> "
            f"/Contents {5 + 2 * i} 0 R >>".encode()
        )
        objs.append(f"<< /Length {len(stream)} >>\nstream\n{stream}\nendstream".encode())
    out = b"%PDF-1.4\n"
    offsets: list[int] = []
    for number, obj in enumerate(objs, start=1):
        offsets.append(len(out))
        out += f"{number} 0 obj\n".encode() + obj + b"\nendobj\n"
    xref = len(out)
    out += f"xref\n0 {len(objs) + 1}\n0000000000 65535 f \n".encode()
    out += "".join(f"{o:010d} 00000 n \n" for o in offsets).encode()
    out += f"trailer\n<< /Size {len(objs) + 1} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n".encode()
    return out


@pytest.fixture
def corpus(tmp_path: Path) -> Path:
    root = tmp_path / "docs"
    (root / "zh").mkdir(parents=True)
    (root / "guide.md").write_text(GUIDE_MD, encoding="utf-8")
    (root / "zh" / "ai.txt").write_text(ZH_TXT, encoding="utf-8")
    (root / "api.rst").write_text(API_RST, encoding="utf-8")
    (root / "notes.html").write_text(PAGE_HTML, encoding="utf-8")
    (root / "geometry.py").write_text(CODE_PY, encoding="utf-8")
    (root / "manual.pdf").write_bytes(
        make_pdf(
            [
                "Safety manual\nKeep the reactor coolant above the minimum level.",
                "Maintenance\nReplace the turbine filters every six months.",
            ]
        )
    )
    (root / "analysis.ipynb").write_text(
        notebook(
            [
                ("markdown", "# Sales analysis\n\nQuarterly revenue grew strongly."),
                ("code", "import pandas as pd\ndf = pd.read_csv('sales.csv')"),
            ]
        ),
        encoding="utf-8",
    )
    (root / "image.png").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00binary")
    return root


@pytest.fixture
def backend() -> str:
    """The store the service uses; test modules that must pass on every backend override this with params."""
    return "sqlite"


@pytest.fixture
def make_service(tmp_path: Path, backend: str) -> Iterator[Callable[..., DocsService]]:
    services: list[DocsService] = []

    def factory(root: Path, **overrides: object) -> DocsService:
        embedder = overrides.pop("embedder_obj", HashingEmbedder())
        settings = DocsSettings.model_validate(
            {"roots": [root], "index_path": tmp_path / f"index{len(services)}.sqlite", **overrides}
        )
        store = QdrantStore.in_memory() if backend == "qdrant" else None
        service = DocsService(settings, store=store, embedder=embedder)  # type: ignore[arg-type]
        services.append(service)
        return service

    yield factory
    for service in services:
        service.close()
