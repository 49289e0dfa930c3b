"""The model gateway: several endpoints behind one :class:`ChatModel`.

Per request: the exact cache first (unless the role opts out); then the endpoints that serve the role and
take a prompt of this size, in the configured order. An endpoint is passed over — and the next one tried
— when its circuit breaker is open, its limit's queue wait runs out, or it fails after the SDK's retries
(errors, 429s past ``Retry-After``, timeouts). Every call is a span and lands in :class:`ModelMetrics`;
the reply says which endpoint answered, whether from cache, the retries, the endpoints passed over and
the estimated cost.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from toolmesh.agents.errors import CircuitOpen, MeshConfigError, ModelBusy, ModelError, ModelTruncated
from toolmesh.agents.executor.breaker import BreakerBoard
from toolmesh.agents.model import (
    ChatModel,
    ChatResult,
    EndpointSettings,
    ModelSettings,
    OpenAIChatModel,
    Role,
    ToolSpec,
    request_body,
)
from toolmesh.agents.model_cache import ResponseCache, build_cache, cache_key
from toolmesh.agents.model_limits import EndpointLimit
from toolmesh.agents.model_metrics import ModelMetrics
from toolmesh.agents.model_probe import Capabilities, probe
from toolmesh.agents.model_semantic import SemanticCache, request_text
from toolmesh.agents.tracing import tracer

__all__ = ["Gateway", "Route", "estimate_tokens"]


def estimate_tokens(messages: Sequence[Mapping[str, Any]], tools: Sequence[ToolSpec] | None) -> int:
    """About four characters a token: enough for routing by size and the token buckets."""
    size = len(json.dumps([dict(m) for m in messages], ensure_ascii=False, default=str))
    size += sum(len(t.model_dump_json()) for t in tools or [])
    return size // 4 + 1


@dataclass
class Route:
    """One endpoint of the gateway: its settings, its client and its limit."""

    endpoint: EndpointSettings
    model: ChatModel
    limit: EndpointLimit
    caps: Capabilities | None = None  # what the probe found (None: not probed)

    def lacks(self, tokens: int, max_tokens: int, tools: bool) -> str | None:
        """Why the probed endpoint cannot take this request, or None."""
        caps = self.caps
        if caps is None:
            return None
        if caps.context_tokens is not None and tokens + max_tokens > caps.context_tokens:
            return (
                f"a prompt of about {tokens} tokens plus max_tokens={max_tokens} exceeds its "
                f"{caps.context_tokens}-token context"
            )
        if tools and caps.tool_calling is False:
            return "it yields no tool calls (probed)"
        return None

    def serves(self, role: Role, tokens: int) -> bool:
        roles = self.endpoint.roles
        limit = self.endpoint.max_prompt_tokens
        return (not roles or role in roles) and (limit is None or tokens <= limit)


class Gateway:
    """Fallback, routing by role and size, limits, cache, metrics and spans over ``routes``."""

    def __init__(
        self,
        routes: Sequence[Route],
        settings: ModelSettings,
        *,
        cache: ResponseCache | None = None,
        semantic: SemanticCache | None = None,
        metrics: ModelMetrics | None = None,
    ) -> None:
        if not routes:
            raise ModelError(
                "the model gateway has no endpoints", hint="Set base_url and model, or endpoints."
            )
        self.routes = list(routes)
        self.settings = settings
        self.cache = cache
        self.semantic = semantic
        self.metrics = metrics or ModelMetrics()
        self.breakers = BreakerBoard(threshold=settings.breaker_threshold, cooldown=settings.breaker_cooldown)
        self._probing = asyncio.Lock()

    async def probe(self) -> dict[str, Capabilities]:
        """Probe every endpoint not probed yet; what each supports, by endpoint label."""
        async with self._probing:
            for route in self.routes:
                if route.caps is None:
                    route.caps = await probe(route.endpoint)
        return {r.endpoint.label: r.caps for r in self.routes if r.caps is not None}

    @classmethod
    def from_settings(cls, settings: ModelSettings) -> Gateway:
        routes = [
            Route(
                endpoint=e,
                model=OpenAIChatModel(e, settings, timeout_setting=settings.timeout_setting(i)),
                limit=EndpointLimit(e, queue_timeout=settings.queue_timeout, shared_url=settings.limits_url),
            )
            for i, e in enumerate(settings.endpoint_list())
        ]
        return cls(routes, settings, cache=build_cache(settings.cache_url), semantic=_semantic(settings))

    async def aclose(self) -> None:
        for route in self.routes:
            close = getattr(route.model, "aclose", None)
            if close is not None:
                await close()
        if self.cache is not None:
            await self.cache.aclose()

    async def tool_calling(self, role: Role) -> bool:
        """False only when every endpoint for ``role`` was probed and yields no tool calls."""
        if self.settings.probe:
            await self.probe()
        routes = [r for r in self.routes if not r.endpoint.roles or role in r.endpoint.roles]
        return not routes or any(r.caps is None or r.caps.tool_calling is not False for r in routes)

    async def chat(
        self,
        messages: Sequence[Mapping[str, Any]],
        *,
        role: Role,
        tools: Sequence[ToolSpec] | None = None,
        json_mode: bool = False,
    ) -> ChatResult:
        tokens = estimate_tokens(messages, tools)
        key = None
        if self.cache is not None and role not in self.settings.no_cache:
            body = request_body(messages, role=role, settings=self.settings, tools=tools, json_mode=json_mode)
            key = cache_key(role, body)
            hit = await self.cache.get(key)
            self.metrics.cache.labels(role, "hit" if hit else "miss").inc()
            if hit is not None:
                return hit.model_copy(update={"cached": True, "retries": 0, "fallbacks": [], "cost": 0.0})
        vector = None
        if self.semantic is not None and role in self.settings.semantic_roles:
            vector = await self.semantic.vector(request_text(messages))
            near = self.semantic.get(role, vector)
            self.metrics.cache.labels(role, "semantic_hit" if near else "semantic_miss").inc()
            if near is not None:
                return near[0].model_copy(update={"cached": True, "retries": 0, "fallbacks": [], "cost": 0.0})
        for_role = [r for r in self.routes if not r.endpoint.roles or role in r.endpoint.roles]
        if not for_role:
            raise ModelError(
                f"no model endpoint serves the {role} role",
                hint="Add the role to an endpoint's roles, or leave an endpoint's roles empty.",
            )
        routes = [r for r in for_role if r.serves(role, tokens)]
        if not routes:
            largest = max(r.endpoint.max_prompt_tokens or 0 for r in for_role)
            raise ModelError(
                f"the {role} prompt is about {tokens} tokens; the largest endpoint for it takes {largest}",
                hint="Shorten the conversation (TOOLMESH_AGENTS_LOOP_TOKENS) or add a larger endpoint.",
            )
        if self.settings.probe and any(r.caps is None for r in routes):
            await self.probe()
        passed: list[str] = []
        reasons: list[str] = []
        for route in routes:
            label = route.endpoint.label
            lacking = route.lacks(tokens, self.settings.max_tokens, bool(tools))
            if lacking is not None:
                self._pass(route, role, "capability", lacking, passed, reasons)
                continue
            try:
                self.breakers.check(label)
            except CircuitOpen as exc:
                self._pass(route, role, "breaker", str(exc), passed, reasons)
                continue
            try:
                result = await self._call(route, messages, role, tools, json_mode, tokens)
            except ModelTruncated:
                self.breakers.success(label)  # the endpoint works; the budget was too small
                raise
            except ModelBusy as exc:
                self._pass(route, role, "busy", str(exc), passed, reasons)
                continue
            except ModelError as exc:
                self.breakers.failure(label)
                self._pass(
                    route, role, "error", f"{exc}" + (f" ({exc.hint})" if exc.hint else ""), passed, reasons
                )
                continue
            self.breakers.success(label)
            result.fallbacks = passed
            if key is not None and self.cache is not None and not result.truncated:
                await self.cache.put(key, result, self.settings.cache_ttl)
            if vector is not None and self.semantic is not None and not result.truncated:
                self.semantic.put(role, vector, result, self.settings.cache_ttl)
            return result
        raise ModelError(
            f"every model endpoint for the {role} role failed: " + "; ".join(reasons),
            hint="Check the endpoints, or add another to TOOLMESH_AGENTS_MODEL__ENDPOINTS.",
        )

    def _pass(
        self, route: Route, role: Role, reason: str, text: str, passed: list[str], reasons: list[str]
    ) -> None:
        passed.append(route.endpoint.label)
        reasons.append(f"{route.endpoint.label}: {text}")
        self.metrics.fallbacks.labels(route.endpoint.label, role, reason).inc()

    async def _call(
        self,
        route: Route,
        messages: Sequence[Mapping[str, Any]],
        role: Role,
        tools: Sequence[ToolSpec] | None,
        json_mode: bool,
        tokens: int,
    ) -> ChatResult:
        endpoint = route.endpoint
        label = endpoint.label
        m = self.metrics
        async with route.limit.slot(tokens + self.settings.max_tokens):
            m.in_flight.labels(label).inc()
            started = time.perf_counter()
            with tracer().start_as_current_span(
                "model.chat",
                attributes={"model.endpoint": label, "model.role": role, "model.prompt_estimate": tokens},
            ) as span:
                try:
                    result = await route.model.chat(messages, role=role, tools=tools, json_mode=json_mode)
                except ModelError as exc:
                    m.requests.labels(label, role, "error").inc()
                    m.retries.labels(label, role).inc(getattr(route.model, "last_retries", 0))
                    span.set_attribute("model.error", str(exc))
                    raise
                finally:
                    m.in_flight.labels(label).dec()
                    m.latency.labels(label, role).observe(time.perf_counter() - started)
                usage = result.usage
                result.endpoint = result.endpoint or label
                result.cost = (
                    usage.prompt_tokens * endpoint.cost_in + usage.completion_tokens * endpoint.cost_out
                ) / 1_000_000
                span.set_attribute("model.prompt_tokens", usage.prompt_tokens)
                span.set_attribute("model.completion_tokens", usage.completion_tokens)
                span.set_attribute("model.retries", result.retries)
        m.requests.labels(label, role, "truncated" if result.truncated else "ok").inc()
        m.tokens.labels(label, role, "prompt").inc(usage.prompt_tokens)
        m.tokens.labels(label, role, "completion").inc(usage.completion_tokens)
        m.retries.labels(label, role).inc(result.retries)
        m.cost.labels(label, role).inc(result.cost)
        return result


def _semantic(settings: ModelSettings) -> SemanticCache | None:
    """The semantic cache over the docs server's packaged embedder (the one model the mesh ships)."""
    if not settings.semantic_roles:
        return None
    from toolmesh.servers.docs.embedders import resolve_embedder  # loaded only when asked for

    choice = resolve_embedder("auto")
    if choice.embedder is None:
        raise MeshConfigError(
            f"the semantic model cache needs an embedder: {choice.status}",
            hint="Install toolmesh[docs-models], or unset TOOLMESH_AGENTS_MODEL__SEMANTIC_ROLES.",
        )
    return SemanticCache(choice.embedder, threshold=settings.semantic_threshold)
