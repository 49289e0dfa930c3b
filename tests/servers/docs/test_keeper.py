"""The docs server indexes its configured roots on start, in the background, and keeps them current."""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import anyio
import pytest
from fastmcp import Client

from toolmesh.servers.docs import DocsSettings, build_server
from toolmesh.servers.docs.embedders import HashingEmbedder, Vectors
from toolmesh.servers.docs.keeper import RootsKeeper, collection_for
from toolmesh.servers.docs.models import SearchResult, StatusResult
from toolmesh.servers.docs.service import DocsService


class GatedEmbedder(HashingEmbedder):
    """Embeds nothing until ``gate`` is set: the start-up index stays in progress as long as a test needs."""

    def __init__(self) -> None:
        super().__init__()
        self.gate = threading.Event()

    def embed(self, texts: list[str]) -> Vectors:
        assert self.gate.wait(60), "the test never opened the gate"
        return super().embed(texts)


def _settings(root: Path, tmp_path: Path, **extra: Any) -> DocsSettings:
    return DocsSettings.model_validate({"roots": [root], "index_path": tmp_path / "index.sqlite", **extra})


@pytest.mark.asyncio
async def test_roots_are_indexed_on_start_and_index_status_waits_with_progress(
    corpus: Path, tmp_path: Path, make_service: Callable[..., DocsService]
) -> None:
    settings = _settings(corpus, tmp_path, watch=False)
    server = build_server(settings, service=make_service(corpus))
    steps: list[tuple[float, float | None, str | None]] = []

    async def on_progress(progress: float, total: float | None, message: str | None) -> None:
        steps.append((progress, total, message))

    with anyio.fail_after(60):
        async with Client(server) as client:
            raw = await client.call_tool("index_status", {"wait_seconds": 60}, progress_handler=on_progress)
            status = StatusResult.model_validate(raw.structured_content)
            assert status.indexing is not None and status.indexing.state == "ready", status.indexing
            assert status.indexing.files_done == status.indexing.files_total == 7
            assert [c.name for c in status.collections] == [collection_for(corpus)]
            assert steps and steps[-1][0] == 7 and "ready" in (steps[-1][2] or "")
            found = SearchResult.model_validate(
                (await client.call_tool("search_docs", {"query": "rotate bearer tokens"})).structured_content
            )
            assert found.index_complete and found.hits[0].citation.path.endswith("api.rst")


@pytest.mark.asyncio
async def test_a_search_during_the_first_index_says_it_is_incomplete(
    corpus: Path, tmp_path: Path, make_service: Callable[..., DocsService]
) -> None:
    embedder = GatedEmbedder()
    server = build_server(
        _settings(corpus, tmp_path, watch=False), service=make_service(corpus, embedder_obj=embedder)
    )
    with anyio.fail_after(60):
        async with Client(server) as client:
            early = await client.call_tool("search_docs", {"query": "rotate bearer tokens", "mode": "bm25"})
            result = SearchResult.model_validate(early.structured_content)
            assert result.index_complete is False
            assert any("index is incomplete" in n for n in result.notes)
            assert "index is incomplete" in early.content[0].text  # type: ignore[union-attr]
            status = StatusResult.model_validate(
                (await client.call_tool("index_status", {})).structured_content
            )
            assert status.indexing is not None and status.indexing.state in ("pending", "indexing")
            embedder.gate.set()
            await client.call_tool("index_status", {"wait_seconds": 60})
            later = SearchResult.model_validate(
                (await client.call_tool("search_docs", {"query": "rotate bearer tokens"})).structured_content
            )
            assert later.index_complete and later.hits and not later.notes


@pytest.mark.asyncio
async def test_the_roots_stay_current_after_the_first_index(
    corpus: Path, make_service: Callable[..., DocsService]
) -> None:
    service = make_service(corpus)
    keeper = RootsKeeper(service, [corpus], watch=True)
    with anyio.fail_after(60):
        keeper.start()
        try:
            assert (await keeper.wait(60)).state == "ready"
            while not keeper.progress().watching:
                await keeper.changed()
            late = "# Late\n\nThe zeppelin timetable arrived late.\n"
            (corpus / "late.md").write_text(late, encoding="utf-8")
            while not service.search("zeppelin timetable", mode="bm25").hits:
                await keeper.changed()  # the watcher re-indexed something: look again
        finally:
            await anyio.to_thread.run_sync(keeper.stop)


def test_a_server_without_configured_roots_indexes_nothing(tmp_path: Path) -> None:
    keeper = RootsKeeper(DocsService(_settings(tmp_path, tmp_path)), [], watch=True)
    assert keeper.complete and keeper.progress().state == "idle"
