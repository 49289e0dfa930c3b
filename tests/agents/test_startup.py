"""An agent started alone imports its own role, not the other two (start-up: bench/startup.py)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

_PROBE = """
import json, sys
from toolmesh.agents.mesh import build_{role}
from toolmesh.agents.settings import AgentSettings
from toolmesh.agents.discovery import MemoryDiscovery
settings = AgentSettings(task_db_url="memory://")
url = "http://127.0.0.1:1"
args = (settings, url) if "{role}" == "reviewer" else (settings, url, MemoryDiscovery())
build_{role}(*args)
print(json.dumps(sorted(sys.modules)))
"""

OTHERS = {
    # the reviewer reads the executor's step results (executor.engine), so only the planner is left out
    "reviewer": ("toolmesh.agents.planner",),
    "executor": ("toolmesh.agents.planner", "toolmesh.agents.reviewer"),
}


@pytest.mark.parametrize("role", sorted(OTHERS))
def test_an_agent_alone_does_not_import_the_other_roles(role: str) -> None:
    done = subprocess.run(
        [sys.executable, "-c", _PROBE.format(role=role)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    loaded: list[str] = json.loads(done.stdout.strip().splitlines()[-1])
    assert f"toolmesh.agents.{role}" in loaded
    assert [m for m in loaded if m.startswith(OTHERS[role])] == []
