"""``--watch``: keep the index fresh by re-indexing changed files as the tree changes (watchfiles)."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from pathlib import Path

import watchfiles

from toolmesh.servers.code.index import RefreshStats
from toolmesh.servers.code.service import CodeService

__all__ = ["watch_and_refresh"]

logger = logging.getLogger(__name__)


def watch_and_refresh(
    service: CodeService,
    *,
    stop: threading.Event | None = None,
    on_refresh: Callable[[RefreshStats], None] | None = None,
    debounce_ms: int = 300,
    force_polling: bool | None = None,
) -> None:
    """Block, refreshing the index after every batch of changes, until ``stop`` is set (or Ctrl-C)."""
    index_file = Path(service.index.db_path)
    ignored = {str(index_file), f"{index_file}-wal", f"{index_file}-shm", f"{index_file}-journal"}
    default = watchfiles.DefaultFilter()

    def wanted(change: watchfiles.Change, path: str) -> bool:
        return path not in ignored and default(change, path)

    for changes in watchfiles.watch(
        service.sandbox.root,
        watch_filter=wanted,
        debounce=debounce_ms,
        step=50,
        stop_event=stop,
        raise_interrupt=False,
        force_polling=force_polling,
        yield_on_timeout=False,
    ):
        logger.info("%d change(s); refreshing the index", len(changes))
        stats = service.refresh_now()
        if on_refresh is not None:
            on_refresh(stats)
