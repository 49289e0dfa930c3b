from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any, ClassVar

import pytest

from toolmesh.servers.docs.errors import DocsInputError, DocsNotFound, OutsideRoots
from toolmesh.servers.docs.service import DocsService


@pytest.fixture(params=["sqlite", "qdrant"])
def backend(request: pytest.FixtureRequest) -> str:
    """Every test here runs on both stores (Qdrant through qdrant-client's local in-memory mode)."""
    if request.param == "qdrant":
        pytest.importorskip("qdrant_client", reason="install toolmesh[docs-qdrant] to test the Qdrant store")
    return str(request.param)


def test_indexes_every_format_and_skips_unknown_files(
    corpus: Path, make_service: Callable[..., DocsService]
) -> None:
    service = make_service(corpus)
    result = service.index([corpus])
    assert result.indexed == 7 and not result.skipped, result.skipped
    kinds = {
        service.store.get_document("default", str(corpus / n)).kind  # type: ignore[union-attr]
        for n in (
            "guide.md",
            "zh/ai.txt",
            "api.rst",
            "notes.html",
            "geometry.py",
            "manual.pdf",
            "analysis.ipynb",
        )
    }
    assert kinds == {"markdown", "text", "rst", "html", "source", "pdf", "notebook"}
    assert service.store.get_document("default", str(corpus / "image.png")) is None
    info = service.store.get_collection("default")
    assert info is not None and info.chunks == result.chunks == info.vectors


def test_reindex_skips_unchanged_replaces_changed_drops_deleted(
    corpus: Path, make_service: Callable[..., DocsService]
) -> None:
    service = make_service(corpus)
    first = service.index([corpus])
    again = service.index([corpus])
    assert (again.indexed, again.unchanged, again.deleted) == (0, first.indexed, 0)

    guide = corpus / "guide.md"
    guide.write_text("# Install guide\n\nCompletely rewritten: use the zebra installer.\n", encoding="utf-8")
    os.utime(guide, (1, 1))  # a changed mtime alone never matters, the content hash does
    (corpus / "api.rst").unlink()
    third = service.index([corpus])
    assert (third.indexed, third.deleted, third.unchanged) == (1, 1, first.indexed - 2)
    assert service.store.get_document("default", str(corpus / "api.rst")) is None
    hits = service.search("zebra installer").hits
    assert hits and hits[0].citation.path == str(guide)
    assert not service.search("bearer headers", mode="bm25").hits  # the deleted file's chunks are gone

    os.utime(corpus / "notes.html")  # touched, same content: skipped
    assert service.index([corpus]).indexed == 0


def test_reindexing_a_deleted_single_file_drops_it(
    corpus: Path, make_service: Callable[..., DocsService]
) -> None:
    service = make_service(corpus)
    service.index([corpus / "guide.md"])
    (corpus / "guide.md").unlink()
    result = service.index([corpus / "guide.md"])
    assert result.deleted == 1
    with pytest.raises(DocsNotFound):
        service.index([corpus / "never-existed.md"])


def test_changing_chunk_strategy_rechunks_everything(
    corpus: Path, make_service: Callable[..., DocsService]
) -> None:
    service = make_service(corpus)
    first = service.index([corpus], strategy="heading")
    second = service.index([corpus], strategy="fixed", chunk_tokens=16)
    assert second.indexed == first.indexed and second.chunks > first.chunks
    assert service.list_collections().collections[0].strategy == "fixed"


def test_paths_outside_roots_are_refused(
    tmp_path: Path, corpus: Path, make_service: Callable[..., DocsService]
) -> None:
    service = make_service(corpus)
    evil = tmp_path / "docs-evil"  # shares the root's string prefix
    evil.mkdir()
    (evil / "secret.md").write_text("secret", encoding="utf-8")
    for bad in ("/etc/passwd", str(evil), str(corpus / ".." / "docs-evil"), "../docs-evil", "~"):
        with pytest.raises(OutsideRoots):
            service.index([bad])
    with pytest.raises(DocsInputError):
        service.index(["guide\x00.md"])


def test_excluded_files_are_refused_even_when_named_directly(
    corpus: Path, make_service: Callable[..., DocsService]
) -> None:
    (corpus / ".env").write_text("API_KEY=sk-live-123\n", encoding="utf-8")
    (corpus / ".git").mkdir()
    (corpus / ".git" / "config").write_text(
        "[remote]\nurl = https://user:token@host/repo\n", encoding="utf-8"
    )
    (corpus / "notes.txt").symlink_to(corpus / ".env")  # an innocent name for a secret
    (corpus / "remote.md").symlink_to(corpus / ".git" / "config")
    service = make_service(corpus)
    for bad in (".env", str(corpus / ".env"), ".git/config", "notes.txt", "remote.md"):
        with pytest.raises(OutsideRoots, match="excluded"):
            service.index([bad])
    service.index([corpus])
    for query in ("API_KEY sk-live-123", "user token host repo remote"):
        for hit in service.search(query, mode="bm25").hits:
            assert "sk-live" not in hit.snippet and "token@" not in hit.snippet
            assert not hit.citation.path.endswith((".env", "config", "notes.txt", "remote.md"))


def test_symlinks_escaping_the_root_are_not_followed(
    tmp_path: Path, corpus: Path, make_service: Callable[..., DocsService]
) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "private.md").write_text("# private\n\nsalary spreadsheet", encoding="utf-8")
    (corpus / "link.md").symlink_to(outside / "private.md")
    (corpus / "linkdir").symlink_to(outside, target_is_directory=True)
    service = make_service(corpus)
    service.index([corpus])
    assert not service.search("salary spreadsheet", mode="bm25").hits
    with pytest.raises(OutsideRoots):
        service.index([corpus / "link.md"])


def test_huge_binary_and_special_files_are_skipped_not_fatal(
    corpus: Path, make_service: Callable[..., DocsService]
) -> None:
    (corpus / "huge.txt").write_text("x " * 600_000, encoding="utf-8")
    (corpus / "binary.md").write_bytes(b"\x00\x01\x02" * 1000)
    (corpus / "broken.pdf").write_bytes(b"%PDF-1.7\n1 0 obj << /Type /Catalog >> endobj\n%%EOF")
    (corpus / "broken.ipynb").write_text("{not json", encoding="utf-8")
    os.mkfifo(corpus / "pipe.txt")
    service = make_service(corpus, max_file_bytes=1_000_000)
    result = service.index([corpus])
    reasons = {Path(p).name: r for p, r in [(s.path, s.reason) for s in result.skipped]}
    assert set(reasons) == {"huge.txt", "binary.md", "broken.pdf", "broken.ipynb"}
    assert "limit" in reasons["huge.txt"] and "binary" in reasons["binary.md"]
    assert result.indexed == 7
    assert service.search("reactor coolant").hits  # the index is intact


def test_max_files_cap_marks_truncation(corpus: Path, make_service: Callable[..., DocsService]) -> None:
    service = make_service(corpus, max_files=2)
    result = service.index([corpus])
    assert result.truncated and result.files_seen == 2


def test_collection_names_are_validated(corpus: Path, make_service: Callable[..., DocsService]) -> None:
    service = make_service(corpus)
    for bad in ("", "a/b", "x" * 65, "drop table;"):
        with pytest.raises(DocsInputError):
            service.index([corpus], collection=bad)


@pytest.mark.parametrize(
    ("error", "reason"),
    [
        (AttributeError("'str' object has no attribute 'get'"), "could not be converted (AttributeError"),
        (RecursionError("maximum recursion depth exceeded"), "nested too deeply"),
    ],
)
def test_a_reader_crash_skips_that_file_only(
    corpus: Path,
    make_service: Callable[..., DocsService],
    monkeypatch: pytest.MonkeyPatch,
    error: Exception,
    reason: str,
) -> None:
    import toolmesh.servers.docs.formats as formats

    def crash(text: str, name: str) -> object:
        raise error

    monkeypatch.setattr(formats, "read_notebook", crash)
    service = make_service(corpus)
    result = service.index([corpus])
    assert result.indexed == 6  # every other file
    [(path, why)] = [(s.path, s.reason) for s in result.skipped if s.path.endswith("analysis.ipynb")]
    assert reason in why and "not indexed" in why
    assert f"{len(result.skipped)} skipped" in result.render()
    status = service.status()
    assert status.skipped == len(result.skipped)
    assert any(f.path == path and reason in f.reason for f in status.skipped_files)
    assert "skipped: " in status.render()


def test_a_real_folder_of_odd_files_indexes_the_rest(
    tmp_path: Path, make_service: Callable[..., DocsService]
) -> None:
    from .test_readers import ODD_NOTEBOOKS, _deep_html

    root = tmp_path / "odd"
    root.mkdir()
    for name, data in ODD_NOTEBOOKS.items():
        (root / f"{name}.ipynb").write_bytes(data)
    (root / "broken.ipynb").write_bytes(b'{"cells": [')
    (root / "deep.html").write_bytes(_deep_html(2_000))
    (root / "fine.md").write_text("# Fine\n\nA well-behaved file.\n", encoding="utf-8")
    service = make_service(root)
    result = service.index([root])
    assert result.indexed == len(ODD_NOTEBOOKS) + 2
    assert [(Path(s.path).name, "is not a Jupyter notebook" in s.reason) for s in result.skipped] == [
        ("broken.ipynb", True)
    ]
    assert service.search("bottom of the well").hits[0].citation.path.endswith("deep.html")


def test_a_held_local_qdrant_folder_is_a_clear_error(tmp_path: Path) -> None:
    pytest.importorskip("qdrant_client")
    from qdrant_client import QdrantClient

    from toolmesh.servers.docs.errors import DocsUnavailable
    from toolmesh.servers.docs.service import open_store
    from toolmesh.servers.docs.settings import DocsSettings

    folder = tmp_path / "qdrant"
    holder = QdrantClient(path=str(folder))  # the running server, say
    try:
        settings = DocsSettings(store="qdrant", qdrant_path=folder, roots=[tmp_path])
        with pytest.raises(DocsUnavailable, match="in use by another process") as caught:
            open_store(settings)
        assert "TOOLMESH_DOCS_QDRANT_URL" in str(caught.value)
    finally:
        holder.close()


def test_a_long_document_is_embedded_in_bounded_batches(
    tmp_path: Path, make_service: Callable[..., DocsService]
) -> None:
    from toolmesh.servers.docs.embedders import HashingEmbedder

    class Counting(HashingEmbedder):
        sizes: ClassVar[list[int]] = []

        def embed(self, texts: list[str]) -> Any:
            self.sizes.append(len(texts))
            return super().embed(texts)

    root = tmp_path / "long"
    root.mkdir()
    (root / "book.md").write_text(
        "".join(f"# Part {i}\n\nWords about topic {i}.\n\n" for i in range(600)), encoding="utf-8"
    )
    embedder = Counting()
    service = make_service(root, embedder_obj=embedder)
    result = service.index([root])
    assert result.chunks >= 600 and result.embedded == result.chunks
    assert max(embedder.sizes) <= service.indexer.embed_batch < result.chunks
