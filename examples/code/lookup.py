"""Index a repository and look things up in it through a real MCP client (in memory).

    .venv/bin/python examples/code/lookup.py PATH [SYMBOL]

Prints the index status, the repo map, the best definition of SYMBOL (default: the first class found), its
callers, and the first text matches of its name.
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
from pathlib import Path
from typing import Any

from fastmcp import Client

from toolmesh.servers.code import CodeSettings, build_server


async def main(root: Path, symbol: str | None) -> None:
    index = Path(tempfile.mkdtemp()) / "code.sqlite"
    server = build_server(CodeSettings(root=root, index_path=index))
    async with Client(server) as client:

        async def call(tool: str, **args: Any) -> dict[str, Any]:
            result = await client.call_tool(tool, args)
            data: dict[str, Any] = result.structured_content or {}
            return data

        status = await call("index_status")
        print(f"indexed {status['files']} files, {status['symbols']} symbols: {status['languages']}")
        print((await call("repo_map", max_tokens=600))["map"], end="\n\n")
        if symbol is None:
            classes = await call("find_symbol", query="a", kind="class", limit=1)
            if not classes["hits"]:
                print("no classes found")
                return
            symbol = classes["hits"][0]["qualname"]
        definition = await call("get_definition", symbol=symbol)
        found = definition["symbol"]
        print(f"{found['kind']} {found['qualname']} in {found['path']}")
        print(definition["source"][:2000], end="\n\n")
        callers = await call("callers", symbol=symbol, limit=5)
        for edge in callers["callers"]:
            print(f"called from {edge['caller']} at {edge['path']}:{edge['line']}")
        matches = await call("search_text", pattern=symbol.rsplit(".", 1)[-1], limit=5)
        for match in matches["matches"]:
            print(f"{match['path']}:{match['line']}: {match['text'].strip()}")


if __name__ == "__main__":
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    asyncio.run(main(Path(sys.argv[1]), sys.argv[2] if len(sys.argv) > 2 else None))
