"""Prometheus metrics of the model gateway: requests, tokens, latency, cache, retries, fallbacks, cost.

One :class:`ModelMetrics` per gateway, with its own registry; each agent serves it at ``/metrics``.
"""

from __future__ import annotations

from collections.abc import Iterable

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)
from prometheus_client.metrics_core import Metric
from prometheus_client.registry import Collector
from starlette.requests import Request
from starlette.responses import Response

__all__ = ["ModelMetrics"]


class _Forward(Collector):
    def __init__(self, registry: CollectorRegistry) -> None:
        self._registry = registry

    def collect(self) -> Iterable[Metric]:
        return self._registry.collect()


_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120)


class ModelMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.requests = Counter(
            "toolmesh_model_requests", "Model calls by endpoint, role and outcome",
            ["endpoint", "role", "outcome"], registry=r,
        )  # fmt: skip
        self.tokens = Counter(
            "toolmesh_model_tokens", "Tokens by endpoint, role and kind (prompt, completion)",
            ["endpoint", "role", "kind"], registry=r,
        )  # fmt: skip
        self.latency = Histogram(
            "toolmesh_model_latency_seconds", "Model call latency (retries included)",
            ["endpoint", "role"], buckets=_BUCKETS, registry=r,
        )  # fmt: skip
        self.cache = Counter(
            "toolmesh_model_cache", "Response cache lookups by role and result (hit, miss)",
            ["role", "result"], registry=r,
        )  # fmt: skip
        self.retries = Counter(
            "toolmesh_model_retries", "HTTP retries the SDK made", ["endpoint", "role"], registry=r
        )
        self.fallbacks = Counter(
            "toolmesh_model_fallbacks", "Endpoints passed over for the next one, by reason",
            ["endpoint", "role", "reason"], registry=r,
        )  # fmt: skip
        self.cost = Counter(
            "toolmesh_model_cost_usd", "Estimated cost (the endpoints' configured prices)",
            ["endpoint", "role"], registry=r,
        )  # fmt: skip
        self.in_flight = Gauge(
            "toolmesh_model_in_flight", "Requests in flight per endpoint", ["endpoint"], registry=r
        )

    def collector(self) -> Collector:
        """These metrics as one collector, to serve in another registry (an agent's /metrics)."""
        return _Forward(self.registry)

    def value(self, name: str, **labels: str) -> float:
        """One sample's value (0 when absent): for tests and the benchmark."""
        return self.registry.get_sample_value(name, labels) or 0.0

    async def endpoint(self, request: Request) -> Response:
        return Response(generate_latest(self.registry), media_type=CONTENT_TYPE_LATEST)
