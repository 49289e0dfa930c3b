"""The model seam: an OpenAI-compatible chat-completions client with tool calling.

One client works with OpenAI, vLLM, Ollama (``/v1``), a LiteLLM proxy or anything else speaking
``POST {base_url}/chat/completions``. Each role (planner, reviewer, writer) has its own temperature and
top-p. With no model configured the mesh runs deterministically (see the planner and reviewer); tests
inject any object satisfying :class:`ChatModel` and never reach a real endpoint.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any, Literal, Protocol, runtime_checkable

import httpx
from pydantic import BaseModel, Field, SecretStr

from toolmesh.agents.errors import ModelError

__all__ = [
    "ChatModel",
    "ChatResult",
    "ModelCall",
    "ModelSettings",
    "OpenAIChatModel",
    "Role",
    "ToolSpec",
    "Usage",
    "build_model",
    "parse_json_object",
]

Role = Literal["planner", "reviewer", "writer"]


class ModelSettings(BaseModel):
    """Where the model is and how each role samples from it. Unset ``base_url``/``model``: no model."""

    base_url: str | None = None
    model: str | None = None
    api_key: SecretStr | None = None
    timeout: float = Field(default=120.0, gt=0)
    temperature: dict[str, float] = Field(
        default_factory=lambda: {"planner": 0.2, "reviewer": 0.0, "writer": 0.3}
    )
    top_p: dict[str, float] = Field(default_factory=lambda: {"planner": 1.0, "reviewer": 1.0, "writer": 0.9})
    max_tokens: int = Field(default=2048, ge=16)

    @property
    def configured(self) -> bool:
        return bool(self.base_url and self.model)


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


class OpenAIChatModel:
    """``POST {base_url}/chat/completions`` with bearer auth, per-role sampling, tool calling."""

    def __init__(self, settings: ModelSettings, *, client: httpx.AsyncClient | None = None) -> None:
        if not settings.configured:
            raise ModelError("no model configured", hint="Set base_url and model.")
        self.settings = settings
        self._own = client is None
        self._http = client or httpx.AsyncClient(timeout=httpx.Timeout(settings.timeout), trust_env=False)

    async def aclose(self) -> None:
        if self._own:
            await self._http.aclose()

    def _body(
        self,
        messages: Sequence[Mapping[str, Any]],
        role: Role,
        tools: Sequence[ToolSpec] | None,
        json_mode: bool,
    ) -> dict[str, Any]:
        body: dict[str, Any] = {
            "model": self.settings.model,
            "messages": [dict(m) for m in messages],
            "temperature": self.settings.temperature.get(role, 0.2),
            "top_p": self.settings.top_p.get(role, 1.0),
            "max_tokens": self.settings.max_tokens,
        }
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

    async def chat(
        self,
        messages: Sequence[Mapping[str, Any]],
        *,
        role: Role,
        tools: Sequence[ToolSpec] | None = None,
        json_mode: bool = False,
    ) -> ChatResult:
        url = f"{(self.settings.base_url or '').rstrip('/')}/chat/completions"
        headers = {"content-type": "application/json"}
        if self.settings.api_key is not None:
            headers["authorization"] = f"Bearer {self.settings.api_key.get_secret_value()}"
        try:
            response = await self._http.post(
                url, json=self._body(messages, role, tools, json_mode), headers=headers
            )
        except httpx.HTTPError as exc:
            raise ModelError(f"the model endpoint {url} is unreachable: {type(exc).__name__}") from exc
        if response.status_code >= 400:
            raise ModelError(
                f"the model endpoint answered HTTP {response.status_code}", hint=response.text[:300]
            )
        try:
            choice = response.json()["choices"][0]
            message = choice["message"]
        except (ValueError, KeyError, IndexError, TypeError) as exc:
            raise ModelError("the model endpoint's answer is not a chat completion") from exc
        calls: list[ModelCall] = []
        for call in message.get("tool_calls") or []:
            function = call.get("function") or {}
            raw = function.get("arguments") or "{}"
            try:
                arguments = json.loads(raw) if isinstance(raw, str) else dict(raw)
            except ValueError as exc:
                raise ModelError(f"the model's arguments for {function.get('name')!r} are not JSON") from exc
            calls.append(
                ModelCall(
                    id=str(call.get("id") or ""), name=str(function.get("name") or ""), arguments=arguments
                )
            )
        raw_usage = response.json().get("usage") or {}
        usage = Usage(
            prompt_tokens=int(raw_usage.get("prompt_tokens") or 0),
            completion_tokens=int(raw_usage.get("completion_tokens") or 0),
        )
        return ChatResult(
            content=message.get("content"),
            tool_calls=calls,
            finish_reason=choice.get("finish_reason"),
            usage=usage,
        )


def build_model(settings: ModelSettings) -> ChatModel | None:
    """The configured model, or None (deterministic mode)."""
    return OpenAIChatModel(settings) if settings.configured else None
