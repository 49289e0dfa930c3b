"""Who an agent is: a stable id and its own folder, independent of the host and port it serves on.

The id stamps every task the agent runs and scopes its task store (see :mod:`toolmesh.agents.task_store`),
so crash recovery and GetTask/ListTasks follow the agent across restarts and port changes, and two agents
never see each other's tasks. It is the ``agent_id`` setting when set; otherwise it is generated once and
kept in ``<workdir>/<role>/agent-id``. The agent's folder (``home``) is ``<workdir>/<agent id>`` for an
explicit id and ``<workdir>/<role>`` otherwise; its default task store is ``<home>/tasks.db``.

With a ``memory://`` store and no explicit id nothing is written: a fresh id per process is enough when
no task outlives the process.
"""

from __future__ import annotations

import os
import re
import secrets
from dataclasses import dataclass
from pathlib import Path

from toolmesh.agents.errors import MeshConfigError

__all__ = ["ID_FILE", "Identity", "check_agent_id", "resolve_identity"]

ID_FILE = "agent-id"
MEMORY_STORE = "memory://"
_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")
_ID_HINT = "Use 1-128 letters, digits, '.', '_' or '-', starting with a letter or digit."


def check_agent_id(value: str) -> str:
    """``value`` if it is a valid agent id (it names a folder and prefixes store rows), else an error."""
    if not _ID.fullmatch(value):
        raise ValueError(f"agent id {value[:200]!r} is not valid. {_ID_HINT}")
    return value


@dataclass(frozen=True)
class Identity:
    """One agent's id, its folder and the task store URL it uses."""

    id: str
    home: Path
    store_url: str


def resolve_identity(*, role: str, workdir: Path, agent_id: str | None, store_url: str | None) -> Identity:
    """The agent's identity: ``agent_id`` if given, else the one kept in its folder (created once).

    ``store_url`` (an explicit task store) wins over the default ``<home>/tasks.db``.
    """
    home = workdir / (agent_id or role)
    url = store_url or f"sqlite+aiosqlite:///{home / 'tasks.db'}"
    if agent_id is not None:
        check_agent_id(agent_id)
        if store_url is None:
            home.mkdir(parents=True, exist_ok=True)
        return Identity(id=agent_id, home=home, store_url=url)
    if url == MEMORY_STORE:
        return Identity(id=_new_id(role), home=home, store_url=url)
    home.mkdir(parents=True, exist_ok=True)
    return Identity(id=_kept_id(home / ID_FILE, role), home=home, store_url=url)


def _new_id(role: str) -> str:
    prefix = re.sub(r"[^A-Za-z0-9._-]", "-", role)[:100] or "agent"
    return f"{prefix}-{secrets.token_hex(6)}"


def _kept_id(path: Path, role: str) -> str:
    """The id in ``path``; a new one written there first if there is none (the first start wins a race)."""
    fresh = _new_id(role)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    except FileExistsError:
        return _read_id(path)
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        out.write(fresh + "\n")
    return fresh


def _read_id(path: Path) -> str:
    value = path.read_text(encoding="utf-8").strip()
    if not value:  # another process is writing it right now (O_EXCL won); an empty file is not an id
        raise MeshConfigError(
            f"{path} is empty",
            hint="Delete it to generate a new agent id, or set TOOLMESH_AGENTS_AGENT_ID.",
        )
    try:
        return check_agent_id(value)
    except ValueError as exc:
        raise MeshConfigError(
            f"{path} does not hold an agent id: {exc}",
            hint="Delete it to generate a new one, or set TOOLMESH_AGENTS_AGENT_ID.",
        ) from exc
