from __future__ import annotations

import contextlib
import queue
import threading
from collections.abc import Callable
from functools import partial
from pathlib import Path

import anyio
import pytest

from toolmesh.servers.docs.models import IndexResult
from toolmesh.servers.docs.service import DocsService
from toolmesh.servers.docs.watch import watch_collection


@pytest.mark.asyncio
async def test_watch_reindexes_new_changed_and_deleted_files(
    corpus: Path, make_service: Callable[..., DocsService]
) -> None:
    service = make_service(corpus)
    service.index([corpus])
    updates: queue.Queue[IndexResult] = queue.Queue()
    stop = threading.Event()
    watcher = threading.Thread(
        target=watch_collection,
        args=(service, [corpus], "default"),
        kwargs={"stop": stop, "on_update": updates.put, "debounce_ms": 100},
        daemon=True,
    )
    watcher.start()

    async def next_update(timeout: float = 2.0) -> IndexResult:
        return await anyio.to_thread.run_sync(partial(updates.get, timeout=timeout))

    try:
        with anyio.fail_after(30):
            # watchfiles needs a moment to register its watches; keep touching the file until it reports.
            new = corpus / "new.md"
            while True:
                new.write_text("# Fresh\n\nThe aardvark migration plan.\n", encoding="utf-8")
                try:
                    result = await next_update()
                    break
                except queue.Empty:
                    continue
            assert result.indexed >= 1
            assert service.search("aardvark", mode="bm25").hits[0].citation.path == str(new)
            new.unlink()
            while service.search("aardvark", mode="bm25").hits:
                with contextlib.suppress(queue.Empty):
                    await next_update()
    finally:
        stop.set()
        watcher.join(timeout=10)
    assert not watcher.is_alive()
