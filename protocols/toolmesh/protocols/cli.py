"""The umbrella ``toolmesh`` command.

Servers come from the ``toolmesh.servers`` entry points and extra groups from ``toolmesh.commands``,
so this module imports no other slice; each is imported only when its command runs (see
:mod:`toolmesh.protocols.commands`), and the serving stack only by the commands that serve.
"""

from __future__ import annotations

import sys
from typing import Annotated, Any, Literal

import typer
from rich.console import Console

from toolmesh.protocols.commands import LazyGroup
from toolmesh.protocols.errors import ConfigError, ToolmeshError
from toolmesh.protocols.plugins import discover_servers, load_server

Transport = Literal["stdio", "http"]  # as in ServingSettings (a test keeps the two equal)

__all__ = ["app", "main", "run_server_main"]

err = Console(stderr=True)
app = typer.Typer(
    name="toolmesh",
    cls=LazyGroup,
    help="MCP servers (docs, sql, code, memory) and an A2A agent mesh.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
token_app = typer.Typer(help="Bearer-token helpers.", no_args_is_help=True)
app.add_typer(token_app, name="token")


@app.command("version")
def version_command() -> None:
    """Print the toolmesh version."""
    from toolmesh.protocols.version import package_version

    typer.echo(package_version())


def _overrides(
    transport: Transport | None, host: str | None, port: int | None, path: str | None
) -> dict[str, Any]:
    given = {"transport": transport, "host": host, "port": port, "path": path}
    return {key: value for key, value in given.items() if value is not None}


def _registration(
    register: str | None, registry_token: str | None, public_url: str | None, transport: Transport | None
) -> dict[str, Any]:
    """Settings overrides of ``--register``, ``--registry-token`` and ``--public-url``."""
    if register is not None and transport == "stdio":
        raise ConfigError(
            "--register needs the HTTP transport: a stdio server is reachable only by the client that "
            "started it",
            hint="Drop --transport stdio (--register serves over HTTP), or drop --register.",
        )
    given: dict[str, Any] = {"registry_url": register, "public_url": public_url}
    if register is not None and transport is None:
        given["transport"] = "http"
    if registry_token is not None:
        from pydantic import SecretStr

        given["registry_token"] = SecretStr(registry_token)
    return {key: value for key, value in given.items() if value is not None}


TransportOpt = Annotated[Transport | None, typer.Option("--transport", "-t", help="stdio or http.")]
HostOpt = Annotated[str | None, typer.Option(help="HTTP bind address (default 127.0.0.1).")]
PortOpt = Annotated[int | None, typer.Option(help="HTTP port (default 8000).")]
PathOpt = Annotated[str | None, typer.Option(help="HTTP path of the MCP endpoint (default /mcp).")]
RegisterOpt = Annotated[
    str | None,
    typer.Option(
        "--register",
        metavar="REGISTRY_URL",
        help="Register in this registry while serving (implies --transport http); env: PREFIX_REGISTRY_URL.",
    ),
]
RegistryTokenOpt = Annotated[
    str | None,
    typer.Option(help="Publisher token for --register (better: the env var PREFIX_REGISTRY_TOKEN)."),
]
PublicUrlOpt = Annotated[
    str | None,
    typer.Option(help="Base URL to register (default http://HOST:PORT); env: PREFIX_PUBLIC_URL."),
]


@app.command("serve")
def serve_command(
    name: Annotated[
        str, typer.Argument(help="A server name (see `toolmesh servers`), or `all` for the gateway.")
    ],
    transport: TransportOpt = None,
    host: HostOpt = None,
    port: PortOpt = None,
    path: PathOpt = None,
    register: RegisterOpt = None,
    registry_token: RegistryTokenOpt = None,
    public_url: PublicUrlOpt = None,
) -> None:
    """Run one MCP server, or `all` of them mounted in one gateway with namespaces (docs_*, sql_*, ...).

    With --register (or PREFIX_REGISTRY_URL, e.g. TOOLMESH_SQL_REGISTRY_URL; TOOLMESH_ for `all`) the server
    registers its tools in that registry while it serves, so agents find it."""
    from toolmesh.protocols.gateway import build_gateway
    from toolmesh.protocols.serving import serve
    from toolmesh.protocols.settings import ServingSettings, override

    try:
        overrides = _overrides(transport, host, port, path)
        overrides.update(_registration(register, registry_token, public_url, transport))
        if name == "all":
            settings = override(ServingSettings(), **overrides)
            server = build_gateway({n: s for n, s in discover_servers().items() if s.in_gateway})
        else:
            spec = load_server(name)
            settings = spec.load_settings(**overrides)
            server = spec.build_server(settings)
        serve(server, settings, name=None if name == "all" else name)
    except ToolmeshError as exc:
        err.print(f"[red]error:[/] {exc}")
        raise typer.Exit(2) from exc


@app.command("servers")
def servers_command() -> None:
    """List the installed MCP servers."""
    for name, spec in discover_servers().items():
        typer.echo(f"{name}\t{spec.summary}")


@token_app.command("hash")
def token_hash(
    token: Annotated[str, typer.Argument(help="The bearer token; use '-' to read it from stdin.")],
) -> None:
    """Print the SHA-256 digest to put in settings instead of the token itself."""
    from toolmesh.protocols.settings import hash_token

    raw = sys.stdin.readline().strip() if token == "-" else token  # noqa: S105 ("-" means stdin)
    typer.echo(hash_token(raw))


def main() -> None:
    app()


def run_server_main(name: str, argv: list[str] | None = None, *, module: str | None = None) -> None:
    """``python -m toolmesh.servers.NAME [--transport ...]``: the same as ``toolmesh serve NAME``."""
    single = typer.Typer(add_completion=False, pretty_exceptions_enable=False)

    @single.command()
    def run(
        transport: TransportOpt = None,
        host: HostOpt = None,
        port: PortOpt = None,
        path: PathOpt = None,
        register: RegisterOpt = None,
        registry_token: RegistryTokenOpt = None,
        public_url: PublicUrlOpt = None,
    ) -> None:
        serve_command(name, transport, host, port, path, register, registry_token, public_url)

    single(args=argv, prog_name=f"python -m {module or f'toolmesh.servers.{name}'}")


if __name__ == "__main__":
    main()
