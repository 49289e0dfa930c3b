"""``toolmesh memory ...``: look at, search and tidy the memory store from the shell."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Annotated

import typer
from rich.console import Console

from toolmesh.protocols.errors import ToolmeshError
from toolmesh.servers.memory.models import ForgetResult, RecallResult
from toolmesh.servers.memory.service import Memory
from toolmesh.servers.memory.settings import MemorySettings

__all__ = ["app"]

app = typer.Typer(help="The memory server's store: status, recall, forget, purge.", no_args_is_help=True)
err = Console(stderr=True)
out = Console()

UserOpt = Annotated[str | None, typer.Option("--user", help="User id (the user scope).")]
ContextOpt = Annotated[str | None, typer.Option("--context", help="Context id (the context scope).")]


def _open(embedder: bool = True) -> Memory:
    settings = MemorySettings()
    return Memory.open(settings, embedder="settings" if embedder else None)


@contextlib.contextmanager
def _session(*, embedder: bool = True) -> Iterator[Memory]:
    """The memory for one command, closed after it; a toolmesh error prints and exits with status 2."""
    try:
        memory = _open(embedder)
        yield memory
        memory.close()
    except ToolmeshError as exc:
        err.print(f"[red]error:[/] {exc}")
        raise typer.Exit(2) from exc


@app.command("status")
def status_command() -> None:
    """Show the store, its schema version, counts and the embedder."""
    with _session() as memory:
        memories, entities = memory.counts()
        model = memory.embedder.name if memory.embedder else "none (BM25 only)"
        out.print(
            f"store: {memory.store.backend} at {memory.store.location} "
            f"(schema {memory.store.schema_version()})\n"
            f"memories: {memories}, entities: {entities}\nembedder: {model}",
            markup=False,
            highlight=False,
        )


@app.command("recall")
def recall_command(
    query: Annotated[str, typer.Argument(help="What to recall.")],
    k: Annotated[int, typer.Option("-k", help="How many.")] = 5,
    user: UserOpt = None,
    context: ContextOpt = None,
) -> None:
    """Recall from the shell (the same ranking as the recall tool)."""
    with _session() as memory:
        result = RecallResult.of(memory.recall(query, k=k, user_id=user, context_id=context))
        out.print(result.render(), markup=False, highlight=False)


@app.command("forget")
def forget_command(
    ids: Annotated[list[int], typer.Argument(help="Memory ids.")],
    user: UserOpt = None,
    context: ContextOpt = None,
) -> None:
    """Delete memories by id."""
    with _session(embedder=False) as memory:
        out.print(
            ForgetResult.of(memory.forget(ids, user_id=user, context_id=context)).render(), markup=False
        )


@app.command("purge")
def purge_command() -> None:
    """Delete every expired memory now (the server also purges as it goes)."""
    with _session(embedder=False) as memory:
        out.print(f"purged {memory.purge_expired()} expired memories")
