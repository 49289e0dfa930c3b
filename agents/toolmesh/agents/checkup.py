"""``toolmesh config check``: is this setup going to work? Each problem with what to do about it.

It reads what the servers would read — each MCP server's settings from its environment prefix (and the
connections file or other files those name), and ``./toolmesh.toml`` (or ``--config``) as ``toolmesh up``
reads it — without starting anything or connecting anywhere. Each settings class says what stops it from
working through :meth:`~toolmesh.protocols.settings.ServingSettings.problems`; the mesh file is checked by
:func:`toolmesh.agents.config.load_config`, the same code ``toolmesh up`` runs.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Annotated

import typer
from pydantic import ValidationError

from toolmesh.agents.config import CONFIG_NAME, load_config
from toolmesh.agents.errors import MeshConfigError
from toolmesh.protocols.errors import ToolmeshError
from toolmesh.protocols.plugins import ServerSpec, discover_servers, load_server
from toolmesh.protocols.settings import ServingSettings

__all__ = ["Finding", "app", "check_mesh", "check_server"]

app = typer.Typer(
    help="Check the setup: each server's settings, files and secrets, and ./toolmesh.toml.",
    no_args_is_help=True,
    add_completion=False,
)


@app.callback()
def _group() -> None:
    """Keeps ``config`` a group (``toolmesh config check``) while it has one command."""


@dataclass(frozen=True, slots=True)
class Finding:
    """One problem: where it was found (``sql``, ``toolmesh.toml``) and the error saying what to do."""

    where: str
    problem: ToolmeshError

    def render(self) -> str:
        return f"{self.where}: {self.problem}"


def _invalid_env(spec: ServerSpec, exc: ValidationError) -> list[Finding]:
    prefix = str(spec.settings_type.model_config.get("env_prefix", ""))
    found: list[Finding] = []
    for error in exc.errors():
        loc = [str(part) for part in error["loc"]]
        variable = f"{prefix}{loc[0].upper()}" if loc else f"{prefix}*"
        setting = ".".join(loc) or "the settings"
        found.append(
            Finding(
                spec.name,
                ToolmeshError(
                    f"`{setting}` is invalid: {error['msg']} (read from {variable})",
                    hint=f"Fix or unset {variable}; docs/{spec.name}.md lists the settings.",
                ),
            )
        )
    return found


def check_server(spec: ServerSpec) -> list[Finding]:
    """The problems of one server as ``toolmesh serve NAME`` would run it (settings from the environment)."""
    try:
        settings = spec.settings_type()
    except ValidationError as exc:
        return _invalid_env(spec, exc)
    except ToolmeshError as exc:
        return [Finding(spec.name, exc)]
    return [Finding(spec.name, problem) for problem in settings.problems()]


def check_mesh(path: Path) -> list[Finding]:
    """The problems of a ``toolmesh.toml``: the file itself, then each server it lists."""
    try:
        mesh = load_config(path)
    except MeshConfigError as exc:
        return [Finding(str(path), exc)]
    found: list[Finding] = []
    for name, settings in mesh.servers.items():
        if isinstance(settings, ServingSettings):
            found.extend(Finding(f"{path} [servers.{name}]", p) for p in settings.problems())
    return found


@app.command("check")
def check_command(
    servers: Annotated[
        list[str] | None,
        typer.Argument(help="Servers to check (default: every installed one)."),
    ] = None,
    config: Annotated[
        Path | None,
        typer.Option(help=f"The mesh's config file (default: ./{CONFIG_NAME} when there is one)."),
    ] = None,
) -> None:
    """Check each MCP server's settings (environment, connections file, secrets, folders) and the mesh's
    toolmesh.toml; print every problem with its fix, and exit 1 when there is one."""
    try:
        specs = (
            [load_server(name) for name in servers]
            if servers
            else [s for s in discover_servers().values() if s.in_gateway]
        )
    except ToolmeshError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from exc
    findings: list[Finding] = []
    for spec in specs:
        found = check_server(spec)
        typer.echo(f"{'problem' if found else 'ok':>7}  {spec.name}")
        findings.extend(found)
    mesh = config if config is not None else (Path(CONFIG_NAME) if Path(CONFIG_NAME).is_file() else None)
    if mesh is not None:
        found = check_mesh(mesh)
        typer.echo(f"{'problem' if found else 'ok':>7}  {mesh}")
        findings.extend(found)
    for finding in findings:
        typer.echo(f"\n- {finding.render()}")
    if findings:
        typer.echo(f"\n{len(findings)} problem(s) found.")
        raise typer.Exit(1)
    typer.echo("\nno problems found.")
