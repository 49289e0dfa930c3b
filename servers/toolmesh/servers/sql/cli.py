"""``toolmesh sql ...``: helpers around the sql server (the sample database, checking a query offline)."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Annotated

import typer

from toolmesh.servers.sql.errors import SqlError
from toolmesh.servers.sql.guard import Dialect, check_query
from toolmesh.servers.sql.loader import copy_sqlite
from toolmesh.servers.sql.sample import generate_sample
from toolmesh.servers.sql.settings import default_sample_path

__all__ = ["app"]

app = typer.Typer(help="SQL server helpers.", no_args_is_help=True, add_completion=False)


@app.command("sample")
def sample_command(
    path: Annotated[
        Path | None, typer.Argument(help="Where to write the SQLite file (default: the server's cache path).")
    ] = None,
    into: Annotated[
        str | None,
        typer.Option(
            help="Also copy it into this PostgreSQL or MySQL/MariaDB URL (${VAR} read from the env)."
        ),
    ] = None,
    schema: Annotated[
        str, typer.Option(help="New schema (PostgreSQL) or database (MySQL) for --into.")
    ] = "shop",
) -> None:
    """Generate the sample shop database (deterministic), and optionally copy it into PostgreSQL or MySQL."""
    target = generate_sample(path or default_sample_path())
    typer.echo(str(target))
    if into is not None:
        try:
            rows = asyncio.run(copy_sqlite(target, into, schema))
        except (SqlError, OSError) as exc:
            typer.echo(f"error: {exc}", err=True)
            raise typer.Exit(1) from exc
        except Exception as exc:  # driver errors (schema exists, permissions): say so plainly
            typer.echo(f"error: could not copy into {schema!r}: {exc}", err=True)
            raise typer.Exit(1) from exc
        typer.echo(f"copied {rows} rows into {schema!r}")


@app.command("check")
def check_command(
    sql: Annotated[str, typer.Argument(help="The SQL text to check.")],
    dialect: Annotated[str, typer.Option(help="sqlite, postgres or mysql.")] = "sqlite",
) -> None:
    """Run the read-only guard on a query and say whether the server would accept it, and why not."""
    if dialect not in ("sqlite", "postgres", "mysql"):
        typer.echo("dialect must be sqlite, postgres or mysql", err=True)
        raise typer.Exit(2)
    chosen: Dialect = "sqlite" if dialect == "sqlite" else "postgres" if dialect == "postgres" else "mysql"
    try:
        checked = check_query(sql, chosen)
    except SqlError as exc:
        typer.echo(f"refused: {exc}", err=True)
        raise typer.Exit(1) from exc
    typer.echo(f"accepted: {checked.kind} reading {', '.join(checked.tables()) or 'no tables'}")
