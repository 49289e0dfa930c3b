"""A scripted OpenAI-compatible chat-completions server: the model seam's test fixture.

It answers ``POST /v1/chat/completions`` from a script — a function of the request body returning a
:class:`Reply` (an assistant message, or an HTTP fault: a status, headers, a body, a delay). Tests and
benchmarks use it to drive the planner's loop through real HTTP, native tool calls, repair turns, timeouts
and error statuses without a model; every request is kept in :attr:`ScriptedModel.requests`.

    async with scripted_server(lambda body: Reply.text("hello")) as base_url:
        ...  # TOOLMESH_AGENTS_MODEL__BASE_URL=base_url
"""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

import anyio
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from toolmesh.protocols.serving import running
from toolmesh.protocols.settings import ServingSettings

__all__ = ["Reply", "Script", "ScriptedModel", "scripted_server"]


@dataclass(slots=True)
class Reply:
    content: str | None = None
    tool_calls: list[dict[str, Any]] = field(default_factory=list)
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    body: Any = None  # a raw error body (non-200)
    delay: float = 0.0
    finish_reason: str | None = None

    @classmethod
    def text(cls, content: str) -> Reply:
        return cls(content=content)

    @classmethod
    def calls(cls, *calls: tuple[str, dict[str, Any]]) -> Reply:
        return cls(
            tool_calls=[
                {"id": f"call_{i}", "type": "function", "function": {"name": n, "arguments": json.dumps(a)}}
                for i, (n, a) in enumerate(calls)
            ]
        )

    @classmethod
    def fault(
        cls, status: int, *, retry_after: float | None = None, message: str = "scripted fault"
    ) -> Reply:
        headers = {"retry-after": f"{retry_after:g}"} if retry_after is not None else {}
        return cls(status=status, headers=headers, body={"error": {"message": message}})


Script = Callable[[dict[str, Any]], Reply]


class ScriptedModel:
    """The ASGI app and what it has been asked."""

    def __init__(self, script: Script, *, context_tokens: int | None = None) -> None:
        self.script = script
        self.context_tokens = context_tokens  # served at /props as llama.cpp does, when set
        self.requests: list[dict[str, Any]] = []
        self.in_flight = 0
        self.peak = 0  # the most requests it was answering at once (limits are checked against it)
        self.app = Starlette(
            routes=[
                Route("/v1/chat/completions", self._complete, methods=["POST"]),
                Route("/v1/models", self._models, methods=["GET"]),
                Route("/props", self._props, methods=["GET"]),
            ]
        )

    async def _models(self, request: Request) -> Response:
        return JSONResponse({"object": "list", "data": [{"id": "scripted", "object": "model"}]})

    async def _props(self, request: Request) -> Response:
        if self.context_tokens is None:
            return JSONResponse({"error": {"message": "not found"}}, status_code=404)
        return JSONResponse({"default_generation_settings": {"n_ctx": self.context_tokens}})

    async def _complete(self, request: Request) -> Response:
        self.in_flight += 1
        self.peak = max(self.peak, self.in_flight)
        try:
            return await self._answer(request)
        finally:
            self.in_flight -= 1

    async def _answer(self, request: Request) -> Response:
        body = await request.json()
        self.requests.append(body)
        reply = self.script(body)
        if reply.delay:
            await anyio.sleep(reply.delay)
        if reply.status != 200:
            return JSONResponse(
                reply.body or {"error": {"message": "error"}}, status_code=reply.status, headers=reply.headers
            )
        message: dict[str, Any] = {"role": "assistant", "content": reply.content}
        if reply.tool_calls:
            message["tool_calls"] = reply.tool_calls
        prompt = len(json.dumps(body.get("messages", []))) // 4
        completion = len(json.dumps(message)) // 4
        return JSONResponse(
            {
                "id": f"chatcmpl-{len(self.requests)}",
                "object": "chat.completion",
                "created": int(time.time()),
                "model": body.get("model", "scripted"),
                "choices": [
                    {
                        "index": 0,
                        "message": message,
                        "finish_reason": reply.finish_reason
                        or ("tool_calls" if reply.tool_calls else "stop"),
                    }
                ],
                "usage": {
                    "prompt_tokens": prompt,
                    "completion_tokens": completion,
                    "total_tokens": prompt + completion,
                },
            },
            headers=reply.headers,
        )


@contextlib.asynccontextmanager
async def scripted_server(script: Script | ScriptedModel) -> AsyncIterator[str]:
    """Serve ``script`` on an ephemeral loopback port; yields the base URL (``…/v1``)."""
    model = script if isinstance(script, ScriptedModel) else ScriptedModel(script)
    settings = ServingSettings(transport="http", host="127.0.0.1", port=0)
    async with running(model.app, settings) as url:
        yield f"{url}/v1"
