"""Index a folder and search it through the docs server's Python API (the same code the MCP tools run).

python examples/docs/search_api.py ./docs "how do I rotate tokens?"
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

from toolmesh.servers.docs import DocsService, DocsSettings


def main() -> None:
    folder, query = Path(sys.argv[1]).resolve(), " ".join(sys.argv[2:]) or "installation"
    with tempfile.TemporaryDirectory() as tmp:
        settings = DocsSettings(roots=[folder], index_path=Path(tmp) / "index.sqlite")
        service = DocsService(settings)
        print(service.status().render())
        print(service.index([folder]).render())
        result = service.search(query, k=5)
        for hit in result.hits:
            print(f"[{hit.rank}] {hit.citation.render()}\n    {hit.snippet}")
        service.close()


if __name__ == "__main__":
    main()
