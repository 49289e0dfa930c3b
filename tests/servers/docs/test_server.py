from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import anyio
import pytest
from fastmcp import Client

from toolmesh.protocols.serving import mcp_http_app, running
from toolmesh.servers.docs import SPEC, DocsSettings, build_server
from toolmesh.servers.docs.models import ChunkResult, DocumentResult, IndexResult, SearchResult, StatusResult
from toolmesh.servers.docs.service import DocsService


def structured(result: Any) -> dict[str, Any]:
    assert result.structured_content is not None
    return dict(result.structured_content)


@pytest.mark.asyncio
async def test_tools_schemas_and_annotations(corpus: Path, make_service: Callable[..., DocsService]) -> None:
    server = build_server(DocsSettings(), service=make_service(corpus))
    async with Client(server) as client:
        tools = {t.name: t for t in await client.list_tools()}
        assert set(tools) == {
            "search_docs",
            "get_chunk",
            "get_document",
            "list_collections",
            "index_status",
            "index",
        }
        for name, tool in tools.items():
            assert tool.output_schema is not None and tool.annotations is not None
            assert tool.annotations.read_only_hint is (name != "index")
        assert tools["index"].annotations.destructive_hint is False
        props = tools["search_docs"].input_schema["properties"]
        assert {"query", "k", "collection", "path_glob", "filters", "mode", "rerank"} <= set(props)
        prompts = await client.list_prompts()
        assert [p.name for p in prompts] == ["answer_with_citations"]


@pytest.mark.asyncio
async def test_index_search_chunk_document_over_mcp(
    corpus: Path, make_service: Callable[..., DocsService]
) -> None:
    server = build_server(DocsSettings(), service=make_service(corpus))
    with anyio.fail_after(60):
        async with Client(server) as client:
            indexed = IndexResult.model_validate(
                structured(await client.call_tool("index", {"paths": [str(corpus)]}))
            )
            assert indexed.indexed == 7

            result = await client.call_tool("search_docs", {"query": "rotate bearer tokens", "k": 3})
            search = SearchResult.model_validate(structured(result))
            top = search.hits[0]
            assert top.citation.path.endswith("api.rst") and top.citation.heading_path[-1] == "Authentication"
            assert "**tokens**" in top.snippet.lower() or "**Tokens**" in top.snippet
            text = result.content[0].text
            assert f"{top.citation.path}:{top.citation.line_start}-{top.citation.line_end}" in text

            filtered = await client.call_tool(
                "search_docs",
                {"query": "filters", "filters": {"kinds": ["pdf"], "page_from": 2}, "mode": "bm25"},
            )
            pdf_hits = SearchResult.model_validate(structured(filtered)).hits
            assert pdf_hits and all(h.citation.page == 2 for h in pdf_hits)

            chunk = ChunkResult.model_validate(
                structured(await client.call_tool("get_chunk", {"id": top.id, "neighbors": 1}))
            )
            assert chunk.chunk.id == top.id
            assert all(c.ord == chunk.chunk.ord - 1 for c in chunk.before)

            doc = DocumentResult.model_validate(
                structured(
                    await client.call_tool(
                        "get_document",
                        {
                            "path": "api.rst",
                            "start_line": top.citation.line_start,
                            "end_line": top.citation.line_end,
                        },
                    )
                )
            )
            assert "bearer" in doc.text and doc.start_line == top.citation.line_start

            status = StatusResult.model_validate(structured(await client.call_tool("index_status", {})))
            assert status.dense and status.collections[0].documents == 7

            resource = await client.read_resource(top.citation.uri)
            assert "API reference" in resource[0].text

            prompt = await client.get_prompt("answer_with_citations", {"question": "How do I rotate tokens?"})
            assert "search_docs" in prompt.messages[0].content.text


@pytest.mark.asyncio
async def test_errors_are_actionable_tool_errors(
    corpus: Path, make_service: Callable[..., DocsService]
) -> None:
    server = build_server(DocsSettings(), service=make_service(corpus))
    async with Client(server) as client:
        outside = await client.call_tool("index", {"paths": ["/etc"]}, raise_on_error=False)
        assert outside.is_error and "outside the configured docs roots" in outside.content[0].text
        long = await client.call_tool("search_docs", {"query": "x" * 100_000}, raise_on_error=False)
        assert long.is_error and "limit" in long.content[0].text
        missing = await client.call_tool("get_chunk", {"id": 999999}, raise_on_error=False)
        assert missing.is_error and "no chunk" in missing.content[0].text
        nodoc = await client.call_tool("get_document", {"path": "/etc/passwd"}, raise_on_error=False)
        assert nodoc.is_error and "not in the index" in nodoc.content[0].text


@pytest.mark.asyncio
async def test_get_document_is_capped(tmp_path: Path, make_service: Callable[..., DocsService]) -> None:
    root = tmp_path / "big"
    root.mkdir()
    (root / "long.txt").write_text("\n".join(f"line {i} " + "x" * 80 for i in range(2000)), encoding="utf-8")
    service = make_service(root, max_document_chars=5_000)
    service.index([root])
    doc = service.get_document("long.txt", start_line=10)
    assert doc.truncated and doc.next_line is not None and len(doc.text) <= 5_000
    assert doc.text.startswith("line 9 ")  # line numbers are 1-based
    more = service.get_document("long.txt", start_line=doc.next_line)
    assert more.text.startswith(f"line {doc.next_line - 1} ")


@pytest.mark.asyncio
async def test_default_settings_start_bm25_or_dense_and_serve_over_http(
    tmp_path: Path, corpus: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TOOLMESH_DOCS_ROOTS", f'["{corpus}"]')
    monkeypatch.setenv("TOOLMESH_DOCS_INDEX_PATH", str(tmp_path / "idx.sqlite"))
    monkeypatch.setenv("TOOLMESH_DOCS_EMBEDDER", "none")
    settings = SPEC.load_settings(transport="http", port=0)
    assert isinstance(settings, DocsSettings)
    server = SPEC.build_server(settings)
    with anyio.fail_after(60):
        async with running(mcp_http_app(server, settings), settings) as url, Client(url + "/mcp") as client:
            await client.call_tool("index", {"paths": [str(corpus)]})
            status = StatusResult.model_validate(structured(await client.call_tool("index_status", {})))
            assert not status.dense and "BM25 only" in status.embedder
            search = SearchResult.model_validate(
                structured(await client.call_tool("search_docs", {"query": "首都"}))
            )
            assert search.hits[0].citation.path.endswith("ai.txt") and search.paths == ["bm25"]


@pytest.mark.asyncio
async def test_registered_as_a_server_and_mounted_in_the_gateway(
    tmp_path: Path, corpus: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from toolmesh.protocols.gateway import build_gateway
    from toolmesh.protocols.plugins import discover_servers

    monkeypatch.setenv("TOOLMESH_DOCS_ROOTS", f'["{corpus}"]')
    monkeypatch.setenv("TOOLMESH_DOCS_INDEX_PATH", str(tmp_path / "gw.sqlite"))
    monkeypatch.setenv("TOOLMESH_DOCS_EMBEDDER", "none")
    specs = discover_servers()
    assert specs["docs"] is SPEC
    gateway = build_gateway({"docs": SPEC})
    async with Client(gateway) as client:
        names = {t.name for t in await client.list_tools()}
        assert {"docs_search_docs", "docs_index_status", "docs_index"} <= names
        await client.call_tool("docs_index", {"paths": [str(corpus / "guide.md")]})
        result = await client.call_tool("docs_search_docs", {"query": "installer"})
        assert SearchResult.model_validate(structured(result)).hits[0].citation.path.endswith("guide.md")
