"""A mesh built by hand from separate processes, as an operator would: the SQL server started first (the
registry is not up yet: it says so and keeps trying), then the registry, then an executor; the executor finds
the SQL server's tools through the registry and runs a plan on them; the SQL server deregisters when stopped.

    toolmesh serve sql --register http://127.0.0.1:RP --registry-token TOKEN --port SP
    toolmesh registry serve --port RP --database-url sqlite+aiosqlite:///registry.db
    TOOLMESH_AGENTS_REGISTRY_URL=http://127.0.0.1:RP TOOLMESH_AGENTS_REGISTRY_TOKEN=TOKEN \\
        toolmesh agents serve executor --port EP
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import anyio
import httpx
import pytest
from a2a.client import A2ACardResolver
from a2a.types import TaskState

from toolmesh.agents.wire import Outcome, artifact_json, json_part, new_message, stream_message
from toolmesh.protocols.settings import hash_token

TOOLMESH = str(Path(sys.executable).with_name("toolmesh"))
TOKEN = "hand-built-mesh-token"
T = TypeVar("T")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


def poll(
    what: str, probe: Callable[[], T | None], procs: list[subprocess.Popen[bytes]], within: float = 60
) -> T:
    """``probe()`` once it answers something, within ``within`` seconds; fails early if a process died."""
    deadline = time.monotonic() + within
    while True:
        for proc in procs:
            assert proc.poll() is None, (
                f"{proc.args!r} exited with {proc.returncode} while waiting for {what}"
            )
        with contextlib.suppress(httpx.HTTPError, OSError, ValueError):
            found = probe()
            if found is not None:
                return found
        assert time.monotonic() < deadline, f"no {what} within {within} s"
        time.sleep(0.1)  # polling interval of a bounded wait, not a readiness sleep


@contextlib.contextmanager
def started(
    command: list[str], env: dict[str, str], log: Path, cwd: Path
) -> Iterator[subprocess.Popen[bytes]]:
    with log.open("wb") as err:
        proc = subprocess.Popen(command, env=env, cwd=cwd, stdout=subprocess.DEVNULL, stderr=err)
        try:
            yield proc
        finally:
            if proc.poll() is None:
                proc.send_signal(signal.SIGINT)
                try:
                    proc.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait(timeout=10)


def servers(registry: str) -> list[dict[str, Any]]:
    page = httpx.get(f"{registry}/api/v1/servers", timeout=5).json()
    items: list[dict[str, Any]] = page["items"]
    return items


async def run_plan(executor: str, plan: dict[str, Any]) -> Outcome:
    outcome = Outcome()
    with anyio.fail_after(120):
        async with httpx.AsyncClient(timeout=60) as http:
            card = await A2ACardResolver(http, executor).get_agent_card()
            async for event in stream_message(card, new_message([json_part(plan)]), http=http):
                outcome.absorb(event)
    return outcome


@pytest.mark.slow  # four processes started one after another (about 20 s)
def test_registry_sql_server_and_executor_started_by_hand_find_each_other(tmp_path: Path) -> None:
    registry_port, sql_port, executor_port = free_port(), free_port(), free_port()
    registry = f"http://127.0.0.1:{registry_port}"
    env = {
        **os.environ,
        "XDG_CACHE_HOME": str(tmp_path / "cache"),
        "TOOLMESH_SQL_SAMPLE_PATH": str(tmp_path / "shop.sqlite"),
        "TOOLMESH_REGISTRY_ALLOW_PRIVATE_TARGETS": "true",  # a mesh on loopback
        "TOOLMESH_REGISTRY_PUBLISHERS": json.dumps({hash_token(TOKEN): "hand"}),
        "TOOLMESH_AGENTS_REGISTRY_URL": registry,
        "TOOLMESH_AGENTS_REGISTRY_TOKEN": TOKEN,
        "TOOLMESH_AGENTS_TASK_DB_URL": f"sqlite+aiosqlite:///{tmp_path / 'executor.db'}",
        "TOOLMESH_AGENTS_GRPC_ENABLED": "false",
    }
    sql_log, registry_log, executor_log = (tmp_path / f"{n}.err" for n in ("sql", "registry", "executor"))
    sql_command = [TOOLMESH, "serve", "sql", "--register", registry, "--registry-token", TOKEN]
    sql_command += ["--port", str(sql_port)]
    registry_command = [TOOLMESH, "registry", "serve", "--port", str(registry_port)]
    registry_command += ["--database-url", f"sqlite+aiosqlite:///{tmp_path / 'registry.db'}"]
    executor_command = [TOOLMESH, "agents", "serve", "executor", "--port", str(executor_port)]
    with started(sql_command, env, sql_log, tmp_path) as sql:
        # no registry yet: the server serves anyway, and says on stderr that it cannot register, and why
        poll("a warning on stderr", lambda: "cannot register" in sql_log.read_text() or None, [sql])
        first = sql_log.read_text()
        assert f"registry {registry} is unreachable" in first and "TOOLMESH_SQL_REGISTRY_URL" in first
        with started(registry_command, env, registry_log, tmp_path) as reg:
            entry = poll("the SQL server's entry", lambda: next(iter(servers(registry)), None), [sql, reg])
            assert entry["name"] == "sql" and entry["url"] == f"http://127.0.0.1:{sql_port}/mcp"
            assert "run_query" in json.dumps(entry)
            poll(
                "the registration logged",
                lambda: "is registered in the registry" in sql_log.read_text() or None,
                [sql],
            )
            with started(executor_command, env, executor_log, tmp_path) as executor:
                executor_url = f"http://127.0.0.1:{executor_port}"
                poll(
                    "the executor's entry",
                    lambda: (
                        httpx.get(f"{registry}/api/v1/agents?skill=execute-plan", timeout=5).json()["items"]
                        or None
                    ),
                    [sql, reg, executor],
                )
                plan = {
                    "goal": "which tables are there",
                    "steps": [
                        {
                            "id": "t",
                            "action": {
                                "kind": "tool",
                                "server": "sql",
                                "tool": "list_tables",
                                "arguments": {},
                            },
                        }
                    ],
                }
                outcome = anyio.run(run_plan, executor_url, plan)
                assert outcome.state == TaskState.TASK_STATE_COMPLETED, outcome.status_text
                step = artifact_json(outcome.artifacts["step:t"])
                assert step["status"] == "ok", step
                assert "orders" in json.dumps(step["structured"])
            sql.send_signal(signal.SIGINT)
            assert sql.wait(timeout=30) in (0, 130, -signal.SIGINT)  # 130: ended by SIGINT
            assert servers(registry) == []  # deregistered on a clean shutdown
