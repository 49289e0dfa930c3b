"""Back-pressure per model endpoint: a concurrency limit and request/token buckets with a bounded wait.

The buckets are ``aiolimiter`` leaky buckets (requests and tokens per minute); a request that cannot get
its concurrency slot and its bucket capacity within ``queue_timeout`` seconds fails with
:class:`ModelBusy`, which the gateway treats like an unavailable endpoint (it falls over to the next one).
The buckets are per process: with several replicas, give each its share of the provider's limits.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

from aiolimiter import AsyncLimiter

from toolmesh.agents.errors import ModelBusy
from toolmesh.agents.model import EndpointSettings

__all__ = ["EndpointLimit"]


class EndpointLimit:
    """The slots and buckets of one endpoint; ``in_flight`` and ``peak`` for metrics and benchmarks."""

    def __init__(self, endpoint: EndpointSettings, *, queue_timeout: float) -> None:
        self.label = endpoint.label
        self.concurrency = endpoint.concurrency
        self.queue_timeout = queue_timeout
        self._slots = asyncio.Semaphore(endpoint.concurrency)
        self._requests = AsyncLimiter(endpoint.rpm, 60.0) if endpoint.rpm else None
        self._tokens = AsyncLimiter(endpoint.tpm, 60.0) if endpoint.tpm else None
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
