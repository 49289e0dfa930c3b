"""Keep an index fresh: watch folders and re-index changed files, drop deleted ones (watchfiles,
debounced)."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from pathlib import Path

from watchfiles import Change, watch

from toolmesh.servers.docs.formats import kind_of
from toolmesh.servers.docs.models import IndexResult
from toolmesh.servers.docs.service import DocsService

__all__ = ["watch_collection"]

logger = logging.getLogger(__name__)


def watch_collection(
    service: DocsService,
    paths: Sequence[Path],
    collection: str,
    *,
    stop: threading.Event,
    on_update: Callable[[IndexResult], None] | None = None,
    on_ready: Callable[[], None] | None = None,
    debounce_ms: int = 400,
) -> None:
    """Block until ``stop`` is set, re-indexing whatever changes under ``paths``; ``on_ready`` is called
    once the watch is in place (every change after that call is seen)."""
    resolved = [service.roots.resolve(p) for p in paths]
    batches = watch(
        *resolved,
        stop_event=stop,
        debounce=debounce_ms,
        step=50,
        rust_timeout=200,
        yield_on_timeout=True,  # an empty batch: the first one says the watch is in place
        raise_interrupt=False,
    )
    for batch in batches:
        if on_ready is not None:
            on_ready()
            on_ready = None
        if not batch:
            continue
        touched: set[Path] = set()
        removed: set[Path] = set()
        for change, raw in batch:
            path = Path(raw)
            if any(service.roots.excluded(part) for part in path.parts) or not service.roots.served(path):
                continue  # excluded names and secrets (.env, keys, .git) are not re-indexed
            if change == Change.deleted:
                removed.add(path)
            elif kind_of(path) is not None and path.is_file():
                touched.add(path)
        deleted = _forget(service, collection, sorted(removed - {p for p in touched if p.exists()}))
        present = sorted(p for p in touched if p.exists())
        try:
            result = service.index(present, collection=collection) if present else None
        except Exception:  # keep watching whatever one bad file does
            logger.exception("re-indexing after a change failed")
            continue
        if result is None and not deleted:
            continue
        if result is None:
            result = IndexResult(
                collection=collection,
                files_seen=0,
                indexed=0,
                unchanged=0,
                deleted=deleted,
                chunks=0,
                embedded=0,
                skipped=[],
                truncated=False,
                seconds=0.0,
                dense=service.embedder() is not None,
            )
        else:
            result = result.model_copy(update={"deleted": result.deleted + deleted})
        if on_update is not None:
            on_update(result)


def _forget(service: DocsService, collection: str, removed: list[Path]) -> int:
    """Drop the documents at (or, for a removed folder, under) each removed path; returns how many."""
    if not removed:
        return 0
    known = service.store.document_states(collection)
    count = 0
    for path in removed:
        prefix = str(path).rstrip("/") + "/"
        for key in [k for k in known if k == str(path) or k.startswith(prefix)]:
            if service.store.delete_document(collection, key):
                count += 1
    return count
