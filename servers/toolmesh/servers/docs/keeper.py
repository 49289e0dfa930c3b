"""The configured roots kept indexed: indexed once in the background when the server starts, then watched.

The server answers at once; :meth:`RootsKeeper.progress` says how far the first index is (files done of
those found so far, per root), searches made before it finishes say the index is incomplete, and
:meth:`RootsKeeper.wait` lets a tool wait for it with a bound, reporting each step. Each root is indexed
into a collection named after its folder (as ``toolmesh up`` does); unchanged files are skipped by content
hash, so a restart costs a walk, not a re-index.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import Literal

import anyio

from toolmesh.servers.docs.index import Progress
from toolmesh.servers.docs.models import IndexingOut
from toolmesh.servers.docs.service import DocsService

__all__ = ["RootsKeeper", "collection_for"]

logger = logging.getLogger(__name__)


class _Stopped(Exception):
    """Raised inside the indexer's progress callback when the server shuts down mid-index."""


def collection_for(root: Path) -> str:
    """The collection a root is indexed into: its folder name, made a valid collection name."""
    return "".join(c if c.isalnum() or c in "-_." else "-" for c in root.name)[:64] or "docs"


class RootsKeeper:
    """Indexes ``roots`` into ``service`` on :meth:`start`, then (with ``watch``) re-indexes what changes."""

    def __init__(self, service: DocsService, roots: Sequence[Path], *, watch: bool) -> None:
        self.service = service
        self.roots = list(roots)
        self.watch = watch
        self._stop = threading.Event()
        self._changed: anyio.Event | None = None  # made on the event loop, when first waited for
        self._lock = threading.Lock()
        self._state: Literal["idle", "pending", "indexing", "ready", "failed"] = (
            "pending" if self.roots else "idle"
        )
        self._roots_done = 0
        self._done_before = 0  # files of the roots already indexed
        self._found_before = 0
        self._current = Progress()
        self._root: str | None = None
        self._errors: list[str] = []
        self._thread: threading.Thread | None = None
        self._watched = 0  # roots whose watcher is in place
        self._loop: asyncio.AbstractEventLoop | None = None

    # --- what tools read ----------------------------------------------------------------------------------

    @property
    def complete(self) -> bool:
        """True once the first index of every root is done (or there is nothing to index)."""
        return self._state in ("idle", "ready", "failed")

    def progress(self) -> IndexingOut:
        with self._lock:
            return IndexingOut(
                state=self._state,
                files_done=self._done_before + self._current.files_done,
                files_total=self._found_before + self._current.files_total,
                roots_done=self._roots_done,
                roots_total=len(self.roots),
                current=self._root,
                watching=self._watched > 0,
                errors=list(self._errors),
            )

    async def wait(
        self, seconds: float, report: Callable[[IndexingOut], Awaitable[None]] | None = None
    ) -> IndexingOut:
        """Wait up to ``seconds`` for the first index to finish, calling ``report`` on each step."""
        with anyio.move_on_after(seconds):
            while not self.complete:
                changed = self._changed = self._changed or anyio.Event()
                if report is not None:
                    await report(self.progress())
                await changed.wait()
        done = self.progress()
        if report is not None:
            await report(done)
        return done

    async def changed(self) -> None:
        """Return at the next step: a file indexed, a root done, a watched change re-indexed."""
        self._changed = self._changed or anyio.Event()
        await self._changed.wait()

    # --- the background work ------------------------------------------------------------------------------

    def start(self) -> None:
        """Index every root, then watch them until :meth:`stop`, in a thread of its own (call on the loop)."""
        if not self.roots or self._thread is not None:
            return
        self._loop = asyncio.get_running_loop()
        self._thread = threading.Thread(target=self._work, name="docs-roots", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        """Stop indexing and watching; wait up to ``timeout`` seconds for the thread (blocking: run it in a
        worker thread from async code)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def _work(self) -> None:
        """Watchers first, then the index: a change before a watcher is in place is read by the index, one
        after it is re-indexed by the watcher (which waits for the index to finish)."""
        watchers = self._start_watchers() if self.watch else []
        self._index_all()
        self._from_thread_notify()
        for watcher in watchers:
            watcher.join()

    def _notify(self) -> None:
        changed, self._changed = self._changed, None
        if changed is not None:
            changed.set()

    def _from_thread_notify(self) -> None:
        loop = self._loop
        if loop is not None:
            with contextlib.suppress(RuntimeError):  # the loop is closed (shutting down): nobody waits
                loop.call_soon_threadsafe(self._notify)

    def _on_progress(self, state: Progress) -> None:
        if self._stop.is_set():
            raise _Stopped
        with self._lock:
            self._current = Progress(state.files_total, state.files_done, state.chunks, state.embedded)
        self._from_thread_notify()

    def _index_all(self) -> None:
        with self._lock:
            self._state = "indexing"
        for root in self.roots:
            with self._lock:
                self._root = str(root)
            try:
                result = self.service.index(
                    [root], collection=collection_for(root), progress=self._on_progress
                )
                logger.info("indexed %s: %s", root, result.render().splitlines()[0])
            except _Stopped:
                return
            except Exception as exc:  # one unreadable root must not stop the others
                logger.warning("cannot index the docs root %s: %s", root, exc)
                with self._lock:
                    self._errors.append(f"{root}: {exc}")
            with self._lock:
                self._done_before += self._current.files_done
                self._found_before += self._current.files_total
                self._current = Progress()
                self._roots_done += 1
        with self._lock:
            self._root = None
            self._state = "failed" if len(self._errors) == len(self.roots) else "ready"

    def _start_watchers(self) -> list[threading.Thread]:
        from toolmesh.servers.docs.watch import watch_collection

        watched = [root for root in self.roots if root.is_dir()]
        armed = threading.Semaphore(0)
        watchers = [
            threading.Thread(
                target=self._watch_one,
                args=(watch_collection, root, armed),
                name=f"docs-watch-{root.name}",
                daemon=True,
            )
            for root in watched
        ]
        for watcher in watchers:
            watcher.start()
        for _ in watchers:  # bounded: a watcher that cannot start gives up and releases too
            armed.acquire(timeout=10)
        return watchers

    def _watch_one(
        self, watch_collection: Callable[..., None], root: Path, armed: threading.Semaphore
    ) -> None:
        def ready() -> None:
            with self._lock:
                self._watched += 1
            armed.release()
            self._from_thread_notify()

        try:
            watch_collection(
                self.service,
                [root],
                collection_for(root),
                stop=self._stop,
                on_update=lambda _result: self._from_thread_notify(),
                on_ready=ready,
            )
        except Exception:  # watching is best effort: the index stays as it is, searches still work
            logger.exception("stopped watching the docs root %s", root)
            armed.release()
