"""How slices plug into the umbrella CLI without ``protocols`` importing them: entry points.

- ``toolmesh.servers``: a :class:`ServerSpec` per MCP server (``toolmesh serve NAME``, the gateway).
- ``toolmesh.commands``: a ``typer.Typer`` per extra subcommand group (``toolmesh sql ...``).
- ``toolmesh.toplevel``: a typer command function per top-level command (``toolmesh up``, ``toolmesh ask``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from importlib.metadata import EntryPoint, entry_points
from typing import TYPE_CHECKING, Any

from toolmesh.protocols.errors import ConfigError, NotFoundError

if TYPE_CHECKING:
    from fastmcp import FastMCP

    from toolmesh.protocols.settings import ServingSettings

__all__ = [
    "COMMANDS_GROUP",
    "SERVERS_GROUP",
    "TOPLEVEL_GROUP",
    "ServerSpec",
    "command_targets",
    "discover_servers",
    "load_server",
]

SERVERS_GROUP = "toolmesh.servers"
COMMANDS_GROUP = "toolmesh.commands"
TOPLEVEL_GROUP = "toolmesh.toplevel"


@dataclass(frozen=True, slots=True)
class ServerSpec:
    """What the CLI and the gateway need to know to build and run one MCP server."""

    name: str
    summary: str
    settings_type: type[ServingSettings]
    build: Callable[[Any], FastMCP[Any]]
    # False for servers that exist for testing (the conformance fixture): `serve all` leaves them out.
    in_gateway: bool = True

    def load_settings(self, **overrides: Any) -> ServingSettings:
        """Read this server's settings from its environment prefix, then apply ``overrides``."""
        settings = self.settings_type()
        from toolmesh.protocols.settings import override

        return override(settings, **overrides)

    def build_server(self, settings: ServingSettings | None = None) -> FastMCP[Any]:
        return self.build(settings if settings is not None else self.load_settings())


def _load(ep: EntryPoint) -> ServerSpec:
    try:
        spec = ep.load()
    except (ImportError, AttributeError) as exc:
        raise ConfigError(
            f"server entry point {ep.name!r} ({ep.value}) failed to load: {exc}",
            hint="Reinstall toolmesh (pip install -e .) or remove the broken plugin.",
        ) from exc
    if not isinstance(spec, ServerSpec):
        raise ConfigError(f"entry point {ep.name!r} ({ep.value}) is not a ServerSpec")
    return spec


def discover_servers() -> dict[str, ServerSpec]:
    """Every installed server spec, by name."""
    specs: dict[str, ServerSpec] = {}
    for ep in entry_points(group=SERVERS_GROUP):
        spec = _load(ep)
        specs[spec.name] = spec
    return dict(sorted(specs.items()))


def load_server(name: str) -> ServerSpec:
    """The spec of one server, importing only that server (others may be slow to import)."""
    for ep in entry_points(group=SERVERS_GROUP):
        if ep.name == name:
            return _load(ep)
    known = ", ".join(sorted(ep.name for ep in entry_points(group=SERVERS_GROUP))) or "none"
    raise NotFoundError(f"no server named {name!r}", hint=f"Installed servers: {known}.")


def command_targets() -> dict[str, str]:
    """CLI commands other slices contribute, by name, as ``module:attribute``, not imported (the CLI
    loads one when it runs): typer groups (``toolmesh.commands``), functions (``toolmesh.toplevel``)."""
    return {
        ep.name: ep.value for group in (COMMANDS_GROUP, TOPLEVEL_GROUP) for ep in entry_points(group=group)
    }
