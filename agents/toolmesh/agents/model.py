"""The model seam: the :class:`ChatModel` interface and one endpoint through the ``openai`` SDK.

One client works with OpenAI, vLLM, Ollama (``/v1``), llama.cpp servers, a LiteLLM proxy or anything else
speaking ``POST {base_url}/chat/completions``. Each role (planner, reviewer, writer) has its own
temperature, top-p and top-k. :mod:`toolmesh.agents.gateway` puts several endpoints behind one
:class:`ChatModel` (fallback, routing, limits, cache, metrics). With no model configured the mesh runs
deterministically; tests inject any object satisfying :class:`ChatModel`, or run the scripted server.
"""

from __future__ import annotations

import contextvars
import json
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, Literal, Protocol, runtime_checkable

import httpx2
from opentelemetry import propagate
from pydantic import BaseModel, Field, SecretStr

from toolmesh.agents.errors import ModelError, ModelTimeout, ModelTruncated

if TYPE_CHECKING:
    from openai import APIStatusError

__all__ = [
    "ChatModel",
    "ChatResult",
    "EndpointSettings",
    "ModelCall",
    "ModelSettings",
    "OpenAIChatModel",
    "Role",
    "ToolSpec",
    "Usage",
    "build_model",
    "parse_json_object",
    "request_body",
]

Role = Literal["planner", "reviewer", "writer"]


class EndpointSettings(BaseModel):
    """One OpenAI-compatible endpoint of the gateway: where it is, which roles it serves, its limits."""

    base_url: str
    model: str
    name: str | None = None  # default "model@host"
    api_key: SecretStr | None = None
    # Roles it serves (empty: every role) and the largest prompt it takes (routing by size: a small model
    # takes short review and lookup prompts, longer ones go on to the next endpoint).
    roles: list[Role] = Field(default_factory=list)
    max_prompt_tokens: int | None = Field(default=None, ge=1)
    timeout: float = Field(default=120.0, gt=0)
    retries: int = Field(default=2, ge=0, le=10)  # the SDK's retries: backoff, honouring Retry-After
    concurrency: int = Field(default=4, ge=1, le=1024)
    rpm: float | None = Field(default=None, gt=0)  # requests per minute
    tpm: float | None = Field(default=None, gt=0)  # tokens per minute (prompt estimate + max_tokens)
    cost_in: float = Field(default=0.0, ge=0)  # USD per million prompt tokens
    cost_out: float = Field(default=0.0, ge=0)  # USD per million completion tokens

    @property
    def label(self) -> str:
        return self.name or f"{self.model}@{self.base_url.split('//')[-1].split('/')[0]}"


class ModelSettings(BaseModel):
    """The model gateway: endpoints in fallback order, per-role sampling, limits, cache.

    ``base_url``/``model`` (the first endpoint) and ``endpoints`` (the rest, in order) are the endpoints;
    none of them set means no model (deterministic planning and review).
    """

    base_url: str | None = None
    model: str | None = None
    api_key: SecretStr | None = None
    timeout: float = Field(default=120.0, gt=0)
    retries: int = Field(default=2, ge=0, le=10)
    concurrency: int = Field(default=4, ge=1, le=1024)
    rpm: float | None = Field(default=None, gt=0)
    tpm: float | None = Field(default=None, gt=0)
    endpoints: list[EndpointSettings] = Field(default_factory=list)
    # Seed's table: near 0 for SQL and code (the planner, the reviewer), higher for writing.
    temperature: dict[str, float] = Field(
        default_factory=lambda: {"planner": 0.2, "reviewer": 0.0, "writer": 0.3}
    )
    top_p: dict[str, float] = Field(default_factory=lambda: {"planner": 1.0, "reviewer": 1.0, "writer": 0.9})
    top_k: dict[str, int] = Field(default_factory=dict)  # sent as extra body (vLLM, llama.cpp, Ollama)
    max_tokens: int = Field(default=2048, ge=16)
    # A request waits this long for an endpoint's concurrency slot and rate buckets, then fails clearly.
    queue_timeout: float = Field(default=30.0, gt=0)
    # rpm/tpm buckets in Redis (redis://HOST:PORT/DB), shared by every replica; unset: per process.
    limits_url: str | None = None
    breaker_threshold: int = Field(default=3, ge=1, le=100)
    breaker_cooldown: float = Field(default=30.0, gt=0)
    # Exact response cache: sqlite:///PATH (default), redis://HOST:PORT/DB, memory://, or off.
    cache_url: str = "sqlite:///toolmesh-model-cache.db"
    cache_ttl: float = Field(default=3600.0, ge=0)
    no_cache: list[Role] = Field(default_factory=list)  # roles whose replies are never cached
    # Semantic cache (the docs server's packaged embedder) for these roles, at this cosine similarity.
    semantic_roles: list[Role] = Field(default_factory=list)
    semantic_threshold: float = Field(default=0.97, gt=0, le=1)
    # Probe each endpoint once before its first call (tool calling, structured output, context length).
    probe: bool = False

    @property
    def configured(self) -> bool:
        return bool(self.base_url and self.model) or bool(self.endpoints)

    def endpoint_list(self) -> list[EndpointSettings]:
        first = (
            [
                EndpointSettings(
                    base_url=self.base_url,
                    model=self.model,
                    api_key=self.api_key,
                    timeout=self.timeout,
                    retries=self.retries,
                    concurrency=self.concurrency,
                    rpm=self.rpm,
                    tpm=self.tpm,
                )
            ]
            if self.base_url and self.model
            else []
        )
        return first + list(self.endpoints)

    def timeout_setting(self, index: int) -> str:
        """The environment variable that sets endpoint ``index``'s timeout (named in timeout errors)."""
        if self.base_url and self.model:
            if index == 0:
                return "TOOLMESH_AGENTS_MODEL__TIMEOUT"
            index -= 1
        return f"TOOLMESH_AGENTS_MODEL__ENDPOINTS (entry {index}, 'timeout')"


class ToolSpec(BaseModel):
    """A function the model may call (OpenAI ``tools`` entry)."""

    name: str
    description: str = ""
    parameters: dict[str, Any] = Field(default_factory=lambda: {"type": "object", "properties": {}})


class ModelCall(BaseModel):
    """One tool call the model asked for."""

    id: str = ""
    name: str
    arguments: dict[str, Any] = Field(default_factory=dict)


class Usage(BaseModel):
    prompt_tokens: int = 0
    completion_tokens: int = 0

    @property
    def total(self) -> int:
        return self.prompt_tokens + self.completion_tokens


class ChatResult(BaseModel):
    content: str | None = None
    tool_calls: list[ModelCall] = Field(default_factory=list)
    finish_reason: str | None = None
    usage: Usage = Field(default_factory=Usage)
    # Filled by the gateway: which endpoint answered, from cache or not, retries, endpoints skipped, cost.
    endpoint: str | None = None
    cached: bool = False
    retries: int = 0
    fallbacks: list[str] = Field(default_factory=list)
    cost: float = 0.0

    @property
    def truncated(self) -> bool:
        return self.finish_reason == "length"

    def record(self, role: Role) -> dict[str, Any]:
        """What a task's metadata keeps of this call."""
        return {
            "role": role,
            "endpoint": self.endpoint,
            "cached": self.cached,
            "prompt_tokens": self.usage.prompt_tokens,
            "completion_tokens": self.usage.completion_tokens,
            "retries": self.retries,
            "fallbacks": self.fallbacks,
            "cost": round(self.cost, 6),
            "finish_reason": self.finish_reason,
        }


@runtime_checkable
class ChatModel(Protocol):
    """What the agents need from a model."""

    async def chat(
        self,
        messages: Sequence[Mapping[str, Any]],
        *,
        role: Role,
        tools: Sequence[ToolSpec] | None = None,
        json_mode: bool = False,
    ) -> ChatResult: ...


def parse_json_object(text: str | None) -> dict[str, Any]:
    """The JSON object in a model's answer (bare, or inside a ```json fence); ModelError otherwise."""
    if not text:
        raise ModelError("the model answered with no content")
    body = text.strip()
    if body.startswith("```"):
        body = body.split("\n", 1)[1] if "\n" in body else ""
        body = body.rsplit("```", 1)[0]
    start, end = body.find("{"), body.rfind("}")
    if start < 0 or end < start:
        raise ModelError("the model's answer holds no JSON object", hint=text[:200])
    try:
        value = json.loads(body[start : end + 1])
    except ValueError as exc:
        raise ModelError(f"the model's JSON does not parse: {exc}") from exc
    if not isinstance(value, dict):
        raise ModelError("the model's JSON is not an object")
    return value


_attempts: contextvars.ContextVar[list[int] | None] = contextvars.ContextVar("model_attempts", default=None)


async def _count_attempt(request: httpx2.Request) -> None:
    # One hook per HTTP attempt: the SDK's retries are attempts - 1; also carries the trace context.
    counter = _attempts.get()
    if counter is not None:
        counter[0] += 1
    carrier: dict[str, str] = {}
    propagate.inject(carrier)
    for key, value in carrier.items():
        request.headers[key] = value


def request_body(
    messages: Sequence[Mapping[str, Any]],
    *,
    role: Role,
    settings: ModelSettings,
    tools: Sequence[ToolSpec] | None = None,
    json_mode: bool = False,
) -> dict[str, Any]:
    """The chat-completions body (without the model name): messages first, stable parts unchanged."""
    body: dict[str, Any] = {
        "messages": [dict(m) for m in messages],
        "temperature": settings.temperature.get(role, 0.2),
        "top_p": settings.top_p.get(role, 1.0),
        "max_tokens": settings.max_tokens,
    }
    if role in settings.top_k:
        body["extra_body"] = {"top_k": settings.top_k[role]}
    if tools:
        body["tools"] = [
            {
                "type": "function",
                "function": {"name": t.name, "description": t.description, "parameters": t.parameters},
            }
            for t in tools
        ]
        body["tool_choice"] = "auto"
    if json_mode:
        body["response_format"] = {"type": "json_object"}
    return body


class OpenAIChatModel:
    """One endpoint through the official ``openai`` SDK: typed completions, tool calls, timeouts, retries.

    The SDK retries connection errors, timeouts, 408/409/429 and 5xx with exponential backoff and honours
    ``Retry-After`` (up to 60 s); what is left after the retries is a :class:`ModelError` that says which
    endpoint failed and, for a timeout, which setting to raise.
    """

    def __init__(
        self,
        endpoint: EndpointSettings,
        settings: ModelSettings,
        *,
        timeout_setting: str = "TOOLMESH_AGENTS_MODEL__TIMEOUT",
    ) -> None:
        self.endpoint = endpoint
        self.settings = settings
        self.timeout_setting = timeout_setting
        from openai import AsyncOpenAI  # imported when a model is configured: settings must not pay for it

        self._http = httpx2.AsyncClient(
            timeout=httpx2.Timeout(endpoint.timeout, connect=min(10.0, endpoint.timeout)),
            trust_env=False,
            event_hooks={"request": [_count_attempt]},
        )
        self._client = AsyncOpenAI(
            base_url=endpoint.base_url,
            api_key=endpoint.api_key.get_secret_value() if endpoint.api_key else "unused",
            timeout=endpoint.timeout,
            max_retries=endpoint.retries,
            http_client=self._http,
        )
        self.last_retries = 0

    @classmethod
    def single(cls, settings: ModelSettings) -> OpenAIChatModel:
        """The first configured endpoint alone (no gateway)."""
        endpoints = settings.endpoint_list()
        if not endpoints:
            raise ModelError("no model configured", hint="Set base_url and model, or endpoints.")
        return cls(endpoints[0], settings, timeout_setting=settings.timeout_setting(0))

    async def aclose(self) -> None:
        await self._client.close()
        await self._http.aclose()

    async def chat(
        self,
        messages: Sequence[Mapping[str, Any]],
        *,
        role: Role,
        tools: Sequence[ToolSpec] | None = None,
        json_mode: bool = False,
    ) -> ChatResult:
        from openai import APIConnectionError, APIStatusError, APITimeoutError, OpenAIError

        body = request_body(messages, role=role, settings=self.settings, tools=tools, json_mode=json_mode)
        where = f"the model endpoint {self.endpoint.label} ({self.endpoint.base_url})"
        counter = [0]
        token = _attempts.set(counter)
        try:
            completion = await self._client.chat.completions.create(model=self.endpoint.model, **body)
        except APITimeoutError as exc:
            raise ModelTimeout(
                f"{where} did not answer within {self.endpoint.timeout:g} s ({counter[0]} attempts)",
                hint=f"Raise {self.timeout_setting}, or add a faster fallback endpoint.",
            ) from exc
        except APIStatusError as exc:
            raise ModelError(
                f"{where} answered HTTP {exc.status_code} after {counter[0]} attempts",
                hint=_error_text(exc),
            ) from exc
        except APIConnectionError as exc:
            raise ModelError(f"{where} is unreachable: {exc}") from exc
        except OpenAIError as exc:
            raise ModelError(f"{where} failed: {exc}") from exc
        finally:
            _attempts.reset(token)
            self.last_retries = max(0, counter[0] - 1)
        if not completion.choices:
            raise ModelError(f"{where} answered a chat completion with no choices")
        choice = completion.choices[0]
        message = choice.message
        calls: list[ModelCall] = []
        for call in message.tool_calls or []:
            function = getattr(call, "function", None)
            if function is None:
                continue
            try:
                arguments = json.loads(function.arguments or "{}")
            except ValueError as exc:
                if choice.finish_reason == "length":
                    raise ModelTruncated(
                        f"{where} cut the arguments of {function.name!r} at "
                        f"max_tokens={self.settings.max_tokens}",
                        hint="Raise TOOLMESH_AGENTS_MODEL__MAX_TOKENS.",
                    ) from exc
                raise ModelError(f"the model's arguments for {function.name!r} are not JSON") from exc
            calls.append(
                ModelCall(
                    id=call.id or "",
                    name=function.name,
                    arguments=arguments if isinstance(arguments, dict) else {},
                )
            )
        if json_mode and choice.finish_reason == "length":
            raise ModelTruncated(
                f"{where} stopped at max_tokens={self.settings.max_tokens} before its JSON was complete",
                hint="Raise TOOLMESH_AGENTS_MODEL__MAX_TOKENS, or shorten the prompt.",
            )
        usage = completion.usage
        return ChatResult(
            content=message.content,
            tool_calls=calls,
            finish_reason=choice.finish_reason,
            usage=Usage(
                prompt_tokens=usage.prompt_tokens if usage else 0,
                completion_tokens=usage.completion_tokens if usage else 0,
            ),
            endpoint=self.endpoint.label,
            retries=self.last_retries,
        )


def _error_text(exc: APIStatusError) -> str:
    try:
        return exc.response.text[:300]
    except Exception:  # a streamed or closed body: the SDK's own message is what there is
        return str(exc)[:300]


def build_model(settings: ModelSettings) -> ChatModel | None:
    """The configured gateway over every endpoint, or None (deterministic mode)."""
    if not settings.configured:
        return None
    from toolmesh.agents.gateway import Gateway  # the gateway builds on this module

    return Gateway.from_settings(settings)
