"""Back-pressure per model endpoint: a concurrency limit and request/token buckets with a bounded wait.

The buckets are ``aiolimiter`` leaky buckets (requests and tokens per minute) in the process, or — with
``shared_url`` (``redis://…``) — ``limits``' sliding windows in Redis, so several replicas share one
provider's limits. A request that cannot get its concurrency slot and its bucket capacity within
``queue_timeout`` seconds fails with :class:`ModelBusy`, which the gateway treats like an unavailable
endpoint (it falls over to the next one). The concurrency limit is always per process.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from typing import Protocol

from aiolimiter import AsyncLimiter

from toolmesh.agents.errors import ModelBusy
from toolmesh.agents.model import EndpointSettings

__all__ = ["EndpointLimit", "SharedBucket"]


class Bucket(Protocol):
    max_rate: float

    async def acquire(self, amount: float = 1) -> None: ...


class SharedBucket:
    """``max_rate`` per minute for ``key`` in Redis (``limits``' sliding window counter), waited for."""

    def __init__(self, url: str, key: str, max_rate: float) -> None:
        from limits import RateLimitItemPerMinute
        from limits.aio.storage import RedisStorage
        from limits.aio.strategies import SlidingWindowCounterRateLimiter

        self.key = key
        self.max_rate = max_rate
        self._item = RateLimitItemPerMinute(max(1, int(max_rate)))
        self._storage = RedisStorage(f"async+{url}", implementation="redispy")
        self._limiter = SlidingWindowCounterRateLimiter(self._storage)

    async def acquire(self, amount: float = 1) -> None:
        cost = max(1, int(amount))
        while not await self._limiter.hit(self._item, self.key, cost=cost):
            stats = await self._limiter.get_window_stats(self._item, self.key)
            await asyncio.sleep(min(1.0, max(0.01, stats.reset_time - time.time())))


class EndpointLimit:
    """The slots and buckets of one endpoint; ``in_flight`` and ``peak`` for metrics and benchmarks."""

    def __init__(
        self, endpoint: EndpointSettings, *, queue_timeout: float, shared_url: str | None = None
    ) -> None:
        self.label = endpoint.label
        self.concurrency = endpoint.concurrency
        self.queue_timeout = queue_timeout
        self._slots = asyncio.Semaphore(endpoint.concurrency)

        def bucket(kind: str, rate: float | None) -> Bucket | None:
            if not rate:
                return None
            if shared_url:
                return SharedBucket(shared_url, f"toolmesh-model:{self.label}:{kind}", rate)
            return AsyncLimiter(rate, 60.0)

        self._requests = bucket("requests", endpoint.rpm)
        self._tokens = bucket("tokens", endpoint.tpm)
        self.in_flight = 0
        self.peak = 0
        self.waiting = 0

    @contextlib.asynccontextmanager
    async def slot(self, tokens: int) -> AsyncIterator[None]:
        """Hold one of the endpoint's slots for a request of about ``tokens`` tokens."""
        acquired = False
        self.waiting += 1
        try:
            async with asyncio.timeout(self.queue_timeout):
                await self._slots.acquire()
                acquired = True
                if self._requests is not None:
                    await self._requests.acquire()
                if self._tokens is not None:
                    await self._tokens.acquire(min(float(tokens), self._tokens.max_rate))
        except TimeoutError as exc:
            if acquired:
                self._slots.release()
            raise ModelBusy(
                f"the model endpoint {self.label} stayed at its limit for {self.queue_timeout:g} s "
                f"({self.concurrency} in flight, {self.waiting - 1} others waiting)",
                hint="Raise TOOLMESH_AGENTS_MODEL__QUEUE_TIMEOUT or the endpoint's concurrency/rpm/tpm, "
                "or add a fallback endpoint.",
            ) from exc
        finally:
            self.waiting -= 1
        self.in_flight += 1
        self.peak = max(self.peak, self.in_flight)
        try:
            yield
        finally:
            self.in_flight -= 1
            self._slots.release()
