"""``toolmesh registry ...``: run the registry, hash tokens for it."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Annotated, Any, Literal

import typer
import uvicorn
from rich.console import Console

from toolmesh.protocols.errors import ToolmeshError
from toolmesh.protocols.logs import configure_logging
from toolmesh.protocols.registry_client import RegistryClient
from toolmesh.protocols.settings import override
from toolmesh.registry.app import build_app
from toolmesh.registry.settings import RegistrySettings

__all__ = ["app", "main"]

err = Console(stderr=True)
app = typer.Typer(
    help="The agent-card registry (settings: TOOLMESH_REGISTRY_*).",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


@app.command("serve")
def serve_command(
    host: Annotated[str | None, typer.Option(help="Bind address (default 127.0.0.1).")] = None,
    port: Annotated[int | None, typer.Option(help="Port (default 8700).")] = None,
    database_url: Annotated[
        str | None,
        typer.Option(
            "--database-url", help="sqlite+aiosqlite:///file.db, postgresql+asyncpg://..., or memory://"
        ),
    ] = None,
    http: Annotated[
        Literal["auto", "h11", "httptools"],
        typer.Option(help="HTTP parser (httptools: pip install httptools)."),
    ] = "auto",
    loop: Annotated[
        Literal["auto", "asyncio", "uvloop"], typer.Option(help="Event loop (uvloop: pip install uvloop).")
    ] = "auto",
) -> None:
    """Serve the registry: JSON API at /api/v1, OpenAPI at /openapi.json, web page at /, MCP at /mcp."""
    overrides = {
        k: v for k, v in {"host": host, "port": port, "database_url": database_url}.items() if v is not None
    }
    try:
        settings = override(RegistrySettings(), **overrides)
        application = build_app(settings)
    except (ToolmeshError, ValueError) as exc:
        err.print(f"[red]error:[/] {exc}")
        raise typer.Exit(2) from exc
    configure_logging(settings.log_level)
    err.print(f"registry on http://{settings.host}:{settings.port}/ (store: {settings.database_url})")
    uvicorn.run(
        application,
        host=settings.host,
        port=settings.port,
        log_config=None,
        log_level=settings.log_level.lower(),
        access_log=False,
        timeout_graceful_shutdown=int(settings.graceful_timeout),
        server_header=False,
        http=http,
        loop=loop,
    )


@app.command("openapi")
def openapi_command() -> None:
    """Print the OpenAPI document of the registry's JSON API."""
    import json

    from toolmesh.registry.api import openapi_document

    typer.echo(json.dumps(openapi_document(), indent=2))


UrlOpt = Annotated[str, typer.Option("--url", envvar="TOOLMESH_REGISTRY_URL", help="Registry base URL.")]
TokenOpt = Annotated[
    str | None,
    typer.Option("--token", envvar="TOOLMESH_REGISTRY_TOKEN", help="Bearer token (if reads need one)."),
]


def _run(work: Coroutine[Any, Any, None]) -> None:
    try:
        asyncio.run(work)
    except ToolmeshError as exc:
        err.print(f"[red]error:[/] {exc}")
        raise typer.Exit(1) from exc


@app.command("search")
def search_command(
    url: UrlOpt = "http://127.0.0.1:8700",
    token: TokenOpt = None,
    skill: Annotated[str | None, typer.Option(help="Agent skill id.")] = None,
    tool: Annotated[str | None, typer.Option(help="MCP tool name.")] = None,
    tag: Annotated[str | None, typer.Option(help="Tag.")] = None,
    query: Annotated[str | None, typer.Option("--query", "-q", help="Free text.")] = None,
    include_down: Annotated[bool, typer.Option(help="Include entries that are down.")] = False,
    limit: Annotated[int, typer.Option(min=1, max=100)] = 20,
) -> None:
    """Search a running registry and print one line per entry."""

    async def work() -> None:
        async with RegistryClient(url, token=token) as client:
            page = await client.search(
                skill=skill, tool=tool, tag=tag, query=query, include_down=include_down, limit=limit
            )
        for entry in page.items:
            offers = ",".join(entry.skills if entry.kind == "agent" else entry.tools)
            typer.echo(f"{entry.id}\t{entry.kind}\t{entry.health}\t{entry.name}\t{offers}")
        if page.next_cursor:
            err.print(f"more results: narrow the search or raise --limit (cursor {page.next_cursor})")

    _run(work())


@app.command("show")
def show_command(
    entry_id: Annotated[str, typer.Argument(help="Entry id.")],
    url: UrlOpt = "http://127.0.0.1:8700",
    token: TokenOpt = None,
) -> None:
    """Print one entry (with its document and version history) as JSON."""

    async def work() -> None:
        async with RegistryClient(url, token=token) as client:
            entry = await client.get(entry_id, history=5)
        typer.echo(entry.model_dump_json(indent=2, exclude_none=True))

    _run(work())


def main(argv: list[str] | None = None) -> None:
    app(args=argv, prog_name="python -m toolmesh.registry")
