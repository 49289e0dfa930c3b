"""Keeping the in-memory indexes in step with the store, across processes.

Every write transaction bumps the store's revision. Our own writes update the indexes incrementally, so
when a write returns exactly the next revision nothing else happened; any other revision means another
process (a replica, the CLI) wrote too, and the indexes reload from the store before the next read.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from toolmesh.servers.memory.stores.base import MemoryStore

__all__ = ["RevisionTracker"]

logger = logging.getLogger(__name__)


class RevisionTracker:
    def __init__(self, store: MemoryStore, reload: Callable[[], None]) -> None:
        self.store = store
        self._reload = reload
        self.known = -1  # nothing loaded yet

    def check(self) -> None:
        """Reload when the store changed behind our back (or was never loaded)."""
        revision = self.store.revision()
        if revision != self.known:
            if self.known >= 0:
                logger.info(
                    "memory store changed elsewhere (revision %s -> %s); reloading", self.known, revision
                )
            self._reload()
            self.known = revision

    def wrote(self, revision: int) -> None:
        """Record one of our own writes; a gap means someone else wrote in between."""
        self.known = revision if revision == self.known + 1 else -1
