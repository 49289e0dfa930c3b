"""The umbrella CLI imports a slice only when its command runs (start-up time is measured by
bench/startup.py; these tests check the mechanism by what gets imported, never by time)."""

from __future__ import annotations

import json
import subprocess
import sys
from importlib.metadata import entry_points

import pytest
from typer.testing import CliRunner

from toolmesh.protocols.cli import app
from toolmesh.protocols.commands import SUMMARIES, LazyCommand
from toolmesh.protocols.settings import Transport as SettingsTransport

HEAVY = ("fastmcp", "starlette", "uvicorn", "toolmesh.servers", "toolmesh.agents", "toolmesh.registry")

_PROBE = """
import json, sys
from toolmesh.protocols.cli import app
try:
    app(args=sys.argv[1:], prog_name="toolmesh")
except SystemExit:
    pass
print(json.dumps(sorted(sys.modules)), file=sys.stderr)
"""


def _modules_after(*args: str) -> set[str]:
    done = subprocess.run(
        [sys.executable, "-c", _PROBE, *args], capture_output=True, text=True, timeout=120, check=False
    )
    loaded: list[str] = json.loads(done.stderr.strip().splitlines()[-1])
    return set(loaded)


def _heavy(modules: set[str]) -> list[str]:
    return sorted(m for m in modules if m.split(".")[0] in HEAVY or m.startswith(HEAVY))


@pytest.mark.parametrize("args", [["--help"], ["version"], ["token", "hash", "x"]])
def test_commands_that_serve_nothing_import_no_slice_and_no_serving_stack(args: list[str]) -> None:
    assert _heavy(_modules_after(*args)) == []


def test_a_slice_command_imports_only_its_slice() -> None:
    loaded = _modules_after("sql", "--help")
    assert "toolmesh.servers.sql.cli" in loaded
    assert not any(
        m.startswith(("toolmesh.agents", "toolmesh.registry", "toolmesh.servers.docs")) for m in loaded
    )


def test_ask_does_not_import_the_mesh() -> None:
    loaded = _modules_after("ask", "--planner", "http://127.0.0.1:9", "hi")
    assert "toolmesh.agents.client" in loaded
    assert not any(
        m.startswith(p) for m in loaded for p in ("toolmesh.agents.mesh", "toolmesh.agents.planner")
    )
    assert not any(m.startswith("toolmesh.servers") for m in loaded)


def test_every_command_is_listed_and_first_party_summaries_match_the_commands() -> None:
    targets = {
        ep.name: ep.value for g in ("toolmesh.commands", "toolmesh.toplevel") for ep in entry_points(group=g)
    }
    listed = CliRunner().invoke(app, ["--help"]).stdout
    for name in [*targets, "check"]:
        assert f" {name} " in listed
    targets["check"] = "toolmesh.protocols.conformance.cli:check_app"
    for name, summary in SUMMARIES.items():
        command = LazyCommand(name, targets[name]).load()
        assert " ".join((command.help or "").split()).startswith(" ".join(summary.split())), name


def test_a_lazy_command_runs_and_reports_its_errors() -> None:
    result = CliRunner().invoke(app, ["ask", "--planner", "http://127.0.0.1:9", "hi"])
    assert result.exit_code == 2
    assert "cannot reach the planner" in result.stderr


def test_the_cli_transport_choice_is_the_settings_one() -> None:
    from typing import get_args

    from toolmesh.protocols import cli

    assert get_args(cli.Transport) == get_args(SettingsTransport)
