"""W3C trace context across the mesh: one task is one trace.

- :func:`configure_tracing` installs an SDK tracer provider with a console and/or OTLP exporter (the OTLP
  exporter needs ``opentelemetry-exporter-otlp``; without it the setting fails with a clear error).
- :func:`inject_headers` / :func:`extract_context` carry ``traceparent``/``tracestate`` over A2A HTTP hops;
  the fastmcp client already puts the current context into each MCP request's ``_meta``.
- :func:`traced_httpx_client` is an ``httpx.AsyncClient`` (the a2a-sdk's stack) that stamps every request
  with the caller's current context.
"""

from __future__ import annotations

import importlib
import logging
from collections.abc import Mapping
from typing import Any

import httpx
from opentelemetry import context as otel_context
from opentelemetry import propagate, trace

from toolmesh.agents.errors import MeshConfigError

__all__ = [
    "TRACER_NAME",
    "configure_tracing",
    "extract_context",
    "inject_headers",
    "traced_httpx_client",
    "tracer",
]

TRACER_NAME = "toolmesh.agents"
logger = logging.getLogger(__name__)
_configured = False


def tracer() -> trace.Tracer:
    return trace.get_tracer(TRACER_NAME)


def inject_headers(headers: dict[str, str] | None = None) -> dict[str, str]:
    """``headers`` plus the current trace context (``traceparent``, ``tracestate``)."""
    carrier = dict(headers or {})
    propagate.inject(carrier)
    return carrier


def extract_context(headers: Mapping[str, Any] | None) -> otel_context.Context:
    """The trace context a caller sent in ``headers`` (case-insensitive), or an empty one."""
    carrier = {str(k).lower(): str(v) for k, v in (headers or {}).items()}
    return propagate.extract(carrier)


async def _stamp(request: httpx.Request) -> None:
    carrier: dict[str, str] = {}
    propagate.inject(carrier)
    for key, value in carrier.items():
        request.headers[key] = value


def traced_httpx_client(
    *,
    timeout: float = 300.0,
    headers: Mapping[str, str] | None = None,
    transport: httpx.AsyncBaseTransport | None = None,
) -> httpx.AsyncClient:
    """An httpx client that sends the current trace context with every request (over ``transport``)."""
    return httpx.AsyncClient(
        timeout=httpx.Timeout(timeout, connect=10.0),
        headers=dict(headers or {}),
        event_hooks={"request": [_stamp]},
        trust_env=False,
        transport=transport,
    )


def configure_tracing(*, service_name: str, console: bool = False, otlp_endpoint: str | None = None) -> bool:
    """Install an SDK tracer provider once per process; returns whether any exporter was installed."""
    global _configured
    if _configured or not (console or otlp_endpoint):
        return _configured
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor, ConsoleSpanExporter

    provider = TracerProvider(resource=Resource.create({"service.name": service_name}))
    if console:
        provider.add_span_processor(BatchSpanProcessor(ConsoleSpanExporter()))
    if otlp_endpoint:
        try:
            module = importlib.import_module("opentelemetry.exporter.otlp.proto.http.trace_exporter")
        except ImportError as exc:
            raise MeshConfigError(
                "an OTLP endpoint is configured but the OTLP exporter is not installed",
                hint="pip install opentelemetry-exporter-otlp-proto-http",
            ) from exc
        provider.add_span_processor(BatchSpanProcessor(module.OTLPSpanExporter(endpoint=otlp_endpoint)))
    trace.set_tracer_provider(provider)
    _configured = True
    logger.info("tracing on for %s", service_name)
    return True
