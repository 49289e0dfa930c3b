"""The umbrella CLI's subcommands, loaded only when they run.

Importing every slice's CLI to build ``toolmesh --help`` cost 8–14 s (each pulls in its server, the
model stack or the agents); a command's module is imported when that command is invoked (or asked for
its own ``--help``). The top-level help lists first-party commands from the short summaries below, so it
imports nothing; a third-party plugin is loaded for its help, as it must be.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Any

import typer
from typer import _click as click  # typer >= 0.25 vendors click: its groups take its own click's types
from typer.core import TyperGroup

from toolmesh.protocols.plugins import command_targets

__all__ = ["SUMMARIES", "LazyCommand", "LazyGroup"]

# What `toolmesh --help` says of first-party commands without importing them (kept beside the entry points
# in pyproject.toml; a test compares each with the loaded command's own help).
SUMMARIES = {
    "check": "Check an MCP server or an A2A agent against the MCP and A2A specifications.",
    "sql": "SQL server helpers.",
    "code": "The code server's index: build, watch, inspect.",
    "docs": "Index and search documents for the docs MCP server.",
    "memory": "The memory server's store: status, recall, forget, purge.",
    "registry": "The agent-card registry (settings: TOOLMESH_REGISTRY_*).",
    "config": "Check the setup: each server's settings, files and secrets, and ./toolmesh.toml.",
    "agents": "The A2A agent mesh: planner, executor, reviewer (settings: TOOLMESH_AGENTS_*).",
    "up": "Start the registry, the MCP servers and the agents of ./toolmesh.toml (or the samples, without "
    "one).",
    "init": "Write a commented toolmesh.toml into the current folder, with defaults that need no services.",
    "ask": "Send a request to the planner and stream the handoffs live; --chat holds a conversation.",
}


@dataclass(frozen=True, slots=True)
class LazyCommand:
    """A subcommand named by ``module:attribute``: a ``typer.Typer`` group or a typer command function."""

    name: str
    target: str

    def load(self) -> click.Command:
        module, _, attribute = self.target.partition(":")
        obj: Any = getattr(importlib.import_module(module), attribute)
        if isinstance(obj, typer.Typer):
            command = typer.main.get_command(obj)
        else:
            single = typer.Typer(add_completion=False, pretty_exceptions_enable=False)
            single.command(self.name)(obj)
            command = typer.main.get_command(single)
        command.name = self.name
        return command


def _discovered() -> dict[str, LazyCommand]:
    targets = {"check": "toolmesh.protocols.conformance.cli:check_app", **command_targets()}
    return {name: LazyCommand(name, target) for name, target in targets.items()}


class LazyGroup(TyperGroup):
    """A typer group whose plugin subcommands are imported on use (see the module docstring)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._lazy: dict[str, LazyCommand] | None = None
        self._listing = False

    @property
    def lazy(self) -> dict[str, LazyCommand]:
        if self._lazy is None:
            self._lazy = {n: c for n, c in _discovered().items() if n not in self.commands}
        return self._lazy

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*super().list_commands(ctx), *self.lazy})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in self.commands and cmd_name in self.lazy:
            summary = SUMMARIES.get(cmd_name)
            if self._listing and summary is not None:
                return typer.core.TyperCommand(cmd_name, help=summary, short_help=summary)
            self.add_command(self.lazy[cmd_name].load(), cmd_name)
        return super().get_command(ctx, cmd_name)

    def format_help(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        self._listing = True
        try:
            super().format_help(ctx, formatter)
        finally:
            self._listing = False
