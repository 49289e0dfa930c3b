"""Regex bombs (issue 15): patterns that would expand past the bound are refused before compiling, memory
stays small, timeouts hold, and other callers are answered meanwhile.
"""

from __future__ import annotations

import asyncio
import time
import tracemalloc
from pathlib import Path
from typing import Any

import anyio
import pytest
from fastmcp import Client

from toolmesh.servers.code.errors import CodeInputError
from toolmesh.servers.code.patterns import MAX_EXPANSION, compile_pattern, expansion
from toolmesh.servers.code.server import build_server
from toolmesh.servers.code.settings import CodeSettings

SEARCH_TIMEOUT = 2.0

BOMBS = {
    "nested_counts_37_chars": "(?:(?:(?:a{100}){100}){100}){100}z",
    "smaller_nested_counts": "(?:(?:a{100}){100}){30}",
    "one_huge_count": "a{1000000}",
    "alternation_counts": "(?:ab|cd){60000}",
    "regex_only_syntax": r"\p{L}(?:(?:x{100}){100}){10}",
    "lower_bound_of_a_range": "(?:a{300,}){300}",
}


@pytest.mark.parametrize(
    ("pattern", "size"),
    [
        (r"\d{4}-\d{2}-\d{2}", 10),
        ("(?:ab|cd){3}", 12),
        ("a{1,65535}", 1),  # only the required copies are written out
        ("(?:(?:a{100}){100}){100}", 1_000_000),
        (r"(?<=def )validate_\w+", 14),
    ],
)
def test_expansion_counts_written_out_items(pattern: str, size: int) -> None:
    assert expansion(pattern) == size


def test_patterns_the_stdlib_cannot_parse_get_an_upper_bound() -> None:
    assert expansion(r"\p{L}{3}") >= 3
    assert expansion(r"\p{L}(?:x{100}){100}") >= 10_000


def test_ordinary_patterns_compile() -> None:
    for pattern in (
        r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}",
        r"\p{Lu}\w{2,}",
        "x{40000}",
    ):
        assert compile_pattern(pattern, 0).pattern == pattern


@pytest.mark.parametrize("name", sorted(BOMBS))
def test_bombs_are_refused_before_compiling_with_little_memory(name: str) -> None:
    tracemalloc.start()
    try:
        with pytest.raises(CodeInputError, match="too big once its counted repeats are expanded") as refused:
            compile_pattern(BOMBS[name], 0)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert f"the limit is {MAX_EXPANSION:,}" in str(refused.value)
    assert peak < 5_000_000, f"{peak / 1e6:.0f} MB traced while refusing {name}"


def test_deeply_nested_groups_are_refused_with_a_message() -> None:
    with pytest.raises(CodeInputError, match="nests groups too deeply"):
        compile_pattern("(?:" * 300 + "a" + ")" * 300, 0)


@pytest.mark.asyncio
async def test_the_server_refuses_the_bomb_and_keeps_answering(repo: Path, tmp_path: Path) -> None:
    settings = CodeSettings(
        root=repo, index_path=tmp_path / "i.sqlite", search_timeout=SEARCH_TIMEOUT, refresh_interval=60
    )
    async with Client(build_server(settings)) as client:
        await client.call_tool("search_text", {"pattern": "def"})  # the index is built
        tracemalloc.start()
        try:
            with anyio.fail_after(SEARCH_TIMEOUT + 3):
                result = await client.call_tool(
                    "search_text",
                    {"pattern": BOMBS["nested_counts_37_chars"], "regex": True},
                    raise_on_error=False,
                )
            peak = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
        assert result.is_error
        assert "too big once its counted repeats are expanded" in str(result.content[0])
        assert peak < 20_000_000, f"{peak / 1e6:.0f} MB traced"


@pytest.mark.asyncio
async def test_a_catastrophic_match_stops_at_its_timeout_while_others_are_answered(
    repo: Path, tmp_path: Path
) -> None:
    # look-behind: ripgrep's engine refuses it, so the backtracking engine runs (and must be stopped)
    (repo / "long.txt").write_text(("a" * 60 + "b\n") * 50)
    settings = CodeSettings(
        root=repo, index_path=tmp_path / "i.sqlite", search_timeout=SEARCH_TIMEOUT, refresh_interval=60
    )
    async with Client(build_server(settings)) as client:
        await client.call_tool("search_text", {"pattern": "def"})
        started = time.monotonic()
        bomb = asyncio.create_task(
            client.call_tool(
                "search_text",
                {"pattern": "(?:a|aa)+$(?<!b)", "regex": True, "path_glob": "long.txt"},
                raise_on_error=False,
            )
        )
        await asyncio.sleep(0.1)
        other: Any = await client.call_tool("search_text", {"pattern": "def"})
        assert other.structured_content["matches"]
        assert not bomb.done(), "the catastrophic search finished before a plain one: the loop was held"
        with anyio.fail_after(SEARCH_TIMEOUT + 3):
            result = await bomb
        assert time.monotonic() - started < SEARCH_TIMEOUT + 2
    assert result.is_error
    text = str(result.content[0])
    assert "too long" in text or "longer than its 2 s time budget" in text, text
