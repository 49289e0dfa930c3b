"""Every tool through a real MCP client (in memory): results, ranking, caps, pagination and errors."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from fastmcp import Client

from toolmesh.servers.code.search import SearchRequest, ripgrep_path
from toolmesh.servers.code.service import CodeService
from toolmesh.servers.code.settings import CodeSettings


async def call(client: Client[Any], tool: str, **args: Any) -> dict[str, Any]:
    result = await client.call_tool(tool, args)
    assert result.structured_content is not None
    return result.structured_content


async def error(client: Client[Any], tool: str, **args: Any) -> str:
    result = await client.call_tool(tool, args, raise_on_error=False)
    assert result.is_error, result.structured_content
    text: str = result.content[0].text  # type: ignore[union-attr]
    return text


@pytest.mark.asyncio
async def test_tools_are_listed_with_honest_annotations(client: Client[Any]) -> None:
    tools = {t.name: t for t in await client.list_tools()}
    assert set(tools) == {
        "find_symbol",
        "get_definition",
        "find_references",
        "callers",
        "callees",
        "outline",
        "repo_map",
        "search_text",
        "read_file",
        "locate_traceback",
        "index_status",
        "reindex",
    }
    for name, tool in tools.items():
        assert tool.annotations is not None
        assert tool.annotations.read_only_hint is (name != "reindex"), name
        assert tool.output_schema is not None, name


@pytest.mark.asyncio
async def test_find_symbol_ranks_exact_then_prefix_then_fuzzy(client: Client[Any]) -> None:
    exact = await call(client, "find_symbol", query="Inventory")
    assert exact["hits"][0]["qualname"] == "Inventory"
    assert exact["hits"][0]["match"] == "exact"
    assert exact["hits"][0]["doc"] == "A collection of items keyed by SKU."
    qualified = await call(client, "find_symbol", query="Inventory.add")
    assert qualified["hits"][0]["qualname"] == "Inventory.add"
    rust = await call(client, "find_symbol", query="Shape.area")
    assert (rust["hits"][0]["qualname"], rust["hits"][0]["match"]) == ("Shape.area", "exact")
    others = {(h["qualname"], h["match"]) for h in rust["hits"][1:]}
    assert ("Area.area", "name") in others  # other `area`s rank below, labelled as bare-name matches
    assert all(match not in ("exact", "qualified") for _, match in others)
    definition = await call(client, "get_definition", symbol="Shape.area")
    assert definition["others"] == []
    prefix = await call(client, "find_symbol", query="restock")
    assert [h["qualname"] for h in prefix["hits"][:2]] == ["Item.restock", "Inventory.restock_all"]
    assert prefix["hits"][1]["match"] == "prefix"
    fuzzy = await call(client, "find_symbol", query="vldtamnt")
    assert fuzzy["hits"][0]["qualname"] == "validate_amount"
    assert fuzzy["hits"][0]["match"] == "fuzzy"


@pytest.mark.asyncio
async def test_find_symbol_by_what_it_does(client: Client[Any]) -> None:
    described = await call(client, "find_symbol", query="a collection of items keyed by SKU")
    assert (described["hits"][0]["qualname"], described["hits"][0]["match"]) == ("Inventory", "described")
    refused = await call(client, "find_symbol", query="reject negative amounts")
    assert refused["hits"][0]["qualname"] == "validate_amount"
    # one word is a name, never a description: no symbol comes back only for its docstring
    named = await call(client, "find_symbol", query="keyed")
    assert all(h["match"] != "described" for h in named["hits"])


@pytest.mark.asyncio
async def test_find_symbol_filters(client: Client[Any]) -> None:
    by_kind = await call(client, "find_symbol", query="area", kind="method", language="rust")
    assert {h["qualname"] for h in by_kind["hits"]} == {"Area.area", "Shape.area"}
    by_glob = await call(client, "find_symbol", query="area", path_glob="native/*.cpp")
    assert {h["path"] for h in by_glob["hits"]} == {"native/shapes.cpp"}
    assert "Input should be 'python'" in await error(client, "find_symbol", query="x", language="cobol")


@pytest.mark.asyncio
async def test_get_definition_by_name_and_by_id(client: Client[Any]) -> None:
    by_name = await call(client, "get_definition", symbol="Server.Handle")
    assert by_name["symbol"]["path"] == "native/server.go"
    assert by_name["source"].splitlines()[0] == "23  func (s *Server) Handle(req string) string {"
    assert by_name["end_line"] == 25
    by_id = await call(client, "get_definition", id=by_name["symbol"]["id"], context_lines=1)
    assert (by_id["start_line"], by_id["end_line"]) == (22, 26)
    ambiguous = await call(client, "get_definition", symbol="area")
    assert len(ambiguous["others"]) >= 2
    missing = await error(client, "get_definition", symbol="Inventroy")
    assert "no definition named 'Inventroy'" in missing
    assert "Did you mean: Inventory" in missing
    assert "no symbol with id" in await error(client, "get_definition", id=999_999)


@pytest.mark.asyncio
async def test_references_callers_and_callees(client: Client[Any]) -> None:
    refs = await call(client, "find_references", symbol="validate_amount")
    places = {(r["path"], r["line"], r["is_definition"]) for r in refs["references"]}
    assert places == {
        ("pkg/models.py", 19, False),
        ("pkg/models.py", 45, True),
        ("pkg/report.py", 1, False),
        ("pkg/report.py", 7, False),
    }
    assert refs["approximate"] is True
    callers = await call(client, "callers", symbol="validate_amount")
    assert {(c["caller"], c["path"], c["line"]) for c in callers["callers"]} == {
        ("Item.restock", "pkg/models.py", 19),
        ("summarize", "pkg/report.py", 7),
    }
    go_callers = await call(client, "callers", symbol="greet")
    assert [(c["caller"], c["path"]) for c in go_callers["callers"]] == [
        ("Server.Handle", "native/server.go")
    ]
    callees = await call(client, "callees", symbol="build_inventory")
    by_name = {c["name"]: c for c in callees["callees"]}
    assert set(by_name) == {"Inventory", "add", "Item"}
    assert by_name["Inventory"]["definitions"][0]["path"] == "pkg/models.py"
    assert "no identifier named" in await error(client, "find_references", symbol="nothing_like_this")
    # `greet` is defined in Go and Java: references stay in those languages' files.
    greet = await call(client, "find_references", symbol="greet")
    assert {r["path"] for r in greet["references"]} == {"native/server.go", "jvm/Greeter.java"}


@pytest.mark.asyncio
async def test_outline_nests_members(client: Client[Any]) -> None:
    result = await call(client, "outline", path="pkg/models.py")
    rows = [(s["qualname"], s["depth"]) for s in result["symbols"]]
    assert ("Inventory", 0) in rows
    assert ("Inventory.Audit", 1) in rows
    assert ("Inventory.Audit.run", 2) in rows
    assert result["language"] == "python"
    assert "not in the index" in await error(client, "outline", path="pkg/missing.py")


@pytest.mark.asyncio
async def test_repo_map_fits_the_budget(client: Client[Any]) -> None:
    small = await call(client, "repo_map", max_tokens=120)
    assert small["estimated_tokens"] <= 140  # the budget plus the "more files" line
    assert small["truncated"] is True
    full = await call(client, "repo_map", max_tokens=5000)
    assert full["files_shown"] == full["files_total"] == 15
    assert "class Inventory" in full["map"]
    assert "def restock(self, amount: int) -> int" in full["map"]
    sub = await call(client, "repo_map", path="native")
    assert sub["files_total"] == 4
    assert all(line.startswith(("native/", " ")) for line in sub["map"].splitlines())


@pytest.mark.asyncio
async def test_search_text_literal_regex_context_and_pages(client: Client[Any]) -> None:
    literal = await call(client, "search_text", pattern="inventory.", ignore_case=True)
    assert all("inventory." in m["text"].lower() for m in literal["matches"])
    regex = await call(client, "search_text", pattern=r"def \w+_amount\(", regex=True, context_lines=1)
    (match,) = regex["matches"]
    assert (match["path"], match["line"]) == ("pkg/models.py", 45)
    assert match["before"] == [""] and match["after"] == ['    """Reject negative amounts."""']
    seen: list[tuple[str, int]] = []
    cursor = None
    for _ in range(20):
        args: dict[str, Any] = {"pattern": "return", "limit": 4}
        if cursor:
            args["cursor"] = cursor
        page = await call(client, "search_text", **args)
        seen += [(m["path"], m["line"]) for m in page["matches"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    everything = await call(client, "search_text", pattern="return", limit=500)
    assert seen == [(m["path"], m["line"]) for m in everything["matches"]]
    assert len(seen) == everything["total_collected"] > 20
    assert seen == sorted(seen)
    assert "invalid cursor" in await error(
        client, "search_text", pattern="other", cursor=page["next_cursor"] or "x"
    )
    assert "invalid regular expression" in await error(client, "search_text", pattern="(unclosed", regex=True)


@pytest.mark.parametrize(
    ("pattern", "regex", "ignore_case"),
    [
        ("inventory", False, False),
        ("Inventory", False, True),
        (r"^\s*def \w+", True, False),
        (r"fn \w+\(&self\)", True, False),
        (r"(?i)TOTAL\w*", True, False),
        (r"\bvalidate_amount\b", True, False),
        ("$", False, False),
        (".*", False, False),
        (r"[{}]$", True, False),
    ],
)
def test_ripgrep_and_fallback_give_the_same_results(
    service: CodeService, pattern: str, regex: bool, ignore_case: bool
) -> None:
    if ripgrep_path() is None:
        pytest.skip("ripgrep is not installed (Debian package ripgrep); the fallback is tested elsewhere")
    request = SearchRequest(pattern, regex=regex, ignore_case=ignore_case, limit=500)
    service.use_ripgrep = True
    with_rg = service.search(request)
    service.use_ripgrep = False
    fallback = service.search(request)
    assert (with_rg.engine, fallback.engine) == ("ripgrep", "python")
    assert [m.model_dump() for m in with_rg.matches] == [m.model_dump() for m in fallback.matches]
    assert with_rg.total_collected == fallback.total_collected


def test_lookaround_falls_back_to_python(service: CodeService) -> None:
    result = service.search(SearchRequest(r"(?<=def )validate_\w+", regex=True))
    assert result.engine == "python"
    assert [(m.path, m.line) for m in result.matches] == [("pkg/models.py", 45)]


def test_match_cap_marks_truncation(repo: Path, tmp_path: Path) -> None:
    settings = CodeSettings(root=repo, index_path=tmp_path / "i.sqlite", max_search_matches=10)
    for use_rg in (True, False):
        service = CodeService(settings)
        service.use_ripgrep = use_rg
        service.refresh_now()
        result = service.search(SearchRequest("e", limit=5))
        assert result.truncated is True
        assert result.total_collected == 10
        assert result.next_cursor is not None


@pytest.mark.asyncio
async def test_read_file_ranges_and_caps(repo: Path, tmp_path: Path) -> None:
    from toolmesh.servers.code.server import build_server

    settings = CodeSettings(root=repo, index_path=tmp_path / "i.sqlite", max_read_lines=10)
    async with Client(build_server(settings)) as client:
        part = await call(client, "read_file", path="pkg/models.py", start_line=45, end_line=46)
        assert (
            part["text"]
            == '45  def validate_amount(amount: int) -> int:\n46      """Reject negative amounts."""'
        )
        assert part["total_lines"] == 56
        capped = await call(client, "read_file", path="pkg/models.py")
        assert (capped["start_line"], capped["end_line"], capped["truncated"]) == (1, 10, True)
        absolute = await call(client, "read_file", path=str(repo / "README.md"))
        assert absolute["path"] == "README.md"
        assert "before start_line" in await error(
            client, "read_file", path="README.md", start_line=5, end_line=2
        )
        assert "no such file" in await error(client, "read_file", path="nope.txt")


@pytest.mark.asyncio
async def test_status_and_reindex_with_progress(client: Client[Any], repo: Path) -> None:
    status = await call(client, "index_status")
    assert status["complete"] is True
    assert status["files"] == 15
    (repo / "pkg" / "late.py").write_text("def late_arrival():\n    pass\n")
    updates: list[tuple[float, float | None, str | None]] = []

    async def on_progress(progress: float, total: float | None, message: str | None) -> None:
        updates.append((progress, total, message))

    result = await client.call_tool("reindex", {"force": True}, progress_handler=on_progress)
    assert result.structured_content is not None
    done = result.structured_content
    assert done["updated"] + done["added"] == 15  # every file re-parsed (late.py possibly added just before)
    assert updates, "reindex sent no progress notifications"
    assert updates[-1][0] == updates[-1][1]
    found = await call(client, "find_symbol", query="late_arrival")
    assert found["hits"][0]["path"] == "pkg/late.py"


@pytest.mark.asyncio
async def test_tools_see_edits_without_reindex(settings: CodeSettings, repo: Path) -> None:
    from toolmesh.servers.code.server import build_server

    async with Client(build_server(settings.model_copy(update={"refresh_interval": 0}))) as client:
        await call(client, "index_status")
        (repo / "pkg" / "report.py").unlink()
        result = await call(client, "find_symbol", query="summarize")
        assert result["hits"] == []
