"""``toolmesh docs ...``: index folders (with a progress bar, optionally watching), search, status."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from toolmesh.protocols.settings import override
from toolmesh.servers.docs.chunking import Strategy
from toolmesh.servers.docs.errors import DocsError
from toolmesh.servers.docs.index import Progress as IndexProgress
from toolmesh.servers.docs.models import IndexResult
from toolmesh.servers.docs.service import DocsService
from toolmesh.servers.docs.settings import DocsSettings

__all__ = ["app"]

app = typer.Typer(help="Index and search documents for the docs MCP server.", no_args_is_help=True)
err = Console(stderr=True)
out = Console()

CollectionOpt = Annotated[str, typer.Option("--collection", "-c", help="Collection name.")]


def _service(extra_roots: list[Path] | None = None, *, download_models: bool = False) -> DocsService:
    settings = DocsSettings()
    if extra_roots:  # paths named on the command line are trusted: make them roots for this run
        roots = list(settings.roots) or []
        roots.extend(p if p.is_dir() else p.parent for p in extra_roots)
        settings = override(settings, roots=roots)
    return DocsService(settings, download_models=download_models)


def _print_result(result: IndexResult) -> None:
    colour = "green" if not result.skipped else "yellow"
    out.print(f"[{colour}]{result.render()}[/]")


@app.command("index")
def index_command(
    paths: Annotated[list[Path], typer.Argument(help="Files or folders to index.", exists=True)],
    collection: CollectionOpt = "default",
    strategy: Annotated[Strategy | None, typer.Option(help="Chunking strategy for a new collection.")] = None,
    chunk_tokens: Annotated[int | None, typer.Option(help="Chunk size in tokens.")] = None,
    overlap: Annotated[int | None, typer.Option(help="Overlap in tokens (sliding, book).")] = None,
    watch: Annotated[bool, typer.Option("--watch", help="Keep watching and re-index on changes.")] = False,
) -> None:
    """Index PATH... into a collection (unchanged files are skipped by content hash)."""
    resolved = [p.expanduser().resolve() for p in paths]
    try:
        service = _service(resolved, download_models=True)  # the user asked: fetch a hub model now
        status = service.embedder_choice().status
        err.print(f"[dim]{status}[/]")
        with Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("files · {task.fields[chunks]} chunks · {task.fields[embedded]} embedded"),
            TimeElapsedColumn(),
            TimeRemainingColumn(),
            console=err,
            transient=False,
        ) as bar:
            task = bar.add_task("indexing", total=None, chunks=0, embedded=0)

            def on_progress(state: IndexProgress) -> None:
                bar.update(
                    task,
                    total=state.files_total,
                    completed=state.files_done,
                    chunks=state.chunks,
                    embedded=state.embedded,
                )

            result = service.index(
                resolved,
                collection=collection,
                strategy=strategy,
                chunk_tokens=chunk_tokens,
                overlap=overlap,
                progress=on_progress,
            )
        _print_result(result)
        if watch:
            from toolmesh.servers.docs.watch import watch_collection

            err.print(f"watching {len(resolved)} path(s); Ctrl-C to stop")
            stop = threading.Event()
            try:
                watch_collection(service, resolved, collection, stop=stop, on_update=_print_result)
            except KeyboardInterrupt:
                stop.set()
        service.close()
    except DocsError as exc:
        err.print(f"[red]error:[/] {exc}")
        raise typer.Exit(2) from exc


@app.command("search")
def search_command(
    query: Annotated[str, typer.Argument(help="The query.")],
    k: Annotated[int, typer.Option("-k", help="Number of hits.")] = 8,
    collection: Annotated[str | None, typer.Option("--collection", "-c")] = None,
) -> None:
    """Search the index from the shell (the same ranking as the search_docs tool)."""
    try:
        service = _service()
        out.print(service.search(query, k=k, collection=collection).render(), markup=False, highlight=False)
        service.close()
    except DocsError as exc:
        err.print(f"[red]error:[/] {exc}")
        raise typer.Exit(2) from exc


@app.command("status")
def status_command() -> None:
    """Show the store, embedder and collections."""
    try:
        service = _service()
    except DocsError as exc:
        err.print(f"[red]error:[/] {exc}")
        raise typer.Exit(2) from exc
    out.print(service.status().render(), markup=False)
    out.print(service.list_collections().render(), markup=False)
    service.close()


@app.command("pull")
def pull_command(
    names: Annotated[list[str], typer.Argument(help="Model names: aliases (see `models`) or owner/name.")],
) -> None:
    """Download models (ONNX files only) into the local model cache, for offline use later."""
    from toolmesh.servers.docs.hub import pull

    cache = DocsSettings().model_cache
    for name in names:
        try:
            model, directory = pull(name, cache_dir=cache)
        except DocsError as exc:
            err.print(f"[red]error:[/] {exc}")
            raise typer.Exit(2) from exc
        out.print(f"{name}: {model.repo} ({model.kind}) in {directory}", markup=False, highlight=False)


@app.command("models")
def models_command() -> None:
    """List the model names `pull`, TOOLMESH_DOCS_EMBEDDER and TOOLMESH_DOCS_RERANKER understand."""
    from toolmesh.servers.docs.hub import CATALOG

    rows = [
        ("auto", "embedder", "packaged: all-MiniLM-L6-v2 int8", "English, toolmesh[docs-models]"),
        ("multilingual", "embedder", "packaged: multilingual-e5-small 4-bit", "toolmesh[docs-multilingual]"),
    ]
    rows += [(alias, m.kind, m.repo, m.about) for alias, m in CATALOG.items()]
    for alias, kind, source, about in rows:
        out.print(f"{alias:24} {kind:9} {source:38} {about}", markup=False, highlight=False, soft_wrap=True)
