"""``toolmesh code ...``: build the index from the shell (with a progress bar), watch it, inspect it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from toolmesh.protocols.errors import ToolmeshError
from toolmesh.protocols.settings import override
from toolmesh.servers.code.index import RefreshStats
from toolmesh.servers.code.service import CodeService
from toolmesh.servers.code.settings import CodeSettings

__all__ = ["app"]

app = typer.Typer(help="The code server's index: build, watch, inspect.", no_args_is_help=True)
err = Console(stderr=True)

PathArg = Annotated[
    Path, typer.Argument(help="Repository root (default: TOOLMESH_CODE_ROOT or the working dir).")
]
IndexOpt = Annotated[
    Path | None, typer.Option("--index-path", help="SQLite index file (default: a cache dir).")
]


def _service(path: Path | None, index_path: Path | None) -> CodeService:
    updates: dict[str, object] = {}
    if path is not None:
        updates["root"] = path
    if index_path is not None:
        updates["index_path"] = index_path
    settings = override(CodeSettings(), **updates)
    return CodeService(settings)


_SKIP_WORDS = {
    "hardlink": "hard-linked (TOOLMESH_CODE_ALLOW_HARDLINKS)",
    "deep": "directories too deep (TOOLMESH_CODE_MAX_DEPTH)",
    "changed": "changed during the walk",
}


def _summary(stats: RefreshStats) -> str:
    other = "".join(f", {stats.skipped[k]} {w}" for k, w in _SKIP_WORDS.items() if stats.skipped.get(k))
    return (
        f"{stats.files} files: {stats.added} added, {stats.updated} updated, {stats.removed} removed, "
        f"{stats.unchanged} unchanged, {stats.skipped_binary} binary, {stats.skipped_large} too large"
        f"{other}, {stats.errors} errors in {stats.seconds:.2f}s"
    )


@app.command("index")
def index_command(
    path: PathArg = Path("."),
    index_path: IndexOpt = None,
    force: Annotated[bool, typer.Option("--force", help="Re-parse every file.")] = False,
    watch: Annotated[
        bool, typer.Option("--watch", help="Keep re-indexing as files change (Ctrl-C stops).")
    ] = False,
    workers: Annotated[int, typer.Option(min=1, max=64, help="Parser processes for large changes.")] = 1,
) -> None:
    """Index (or bring up to date) a repository, with a progress bar."""
    try:
        service = _service(path, index_path)
        with Progress(
            TextColumn("[bold]indexing"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            TextColumn("{task.description}", style="dim"),
            console=err,
            transient=False,
        ) as bar:
            task = bar.add_task("scanning", total=None)

            def progress(done: int, total: int, message: str) -> None:
                bar.update(task, completed=done, total=max(total, 1), description=message[-60:])

            stats = service.refresh_now(progress, force=force, workers=workers)
        err.print(_summary(stats))
        err.print(f"index: {service.index.db_path}")
        if watch:
            from toolmesh.servers.code.watch import watch_and_refresh

            err.print(f"watching {service.sandbox.root} (Ctrl-C to stop)")
            watch_and_refresh(service, on_refresh=lambda s: err.print(_summary(s)))
    except ToolmeshError as exc:
        err.print(f"[red]error:[/] {exc}")
        raise typer.Exit(2) from exc


@app.command("status")
def status_command(path: PathArg = Path("."), index_path: IndexOpt = None) -> None:
    """Print what the index holds, as JSON."""
    try:
        service = _service(path, index_path)
        typer.echo(json.dumps(service.status().model_dump(), indent=2))
    except ToolmeshError as exc:
        err.print(f"[red]error:[/] {exc}")
        raise typer.Exit(2) from exc
