"""What an OpenAI-compatible endpoint supports, found by asking it with tiny requests.

Local servers differ: one rejects ``response_format: json_schema`` and accepts ``json_object`` with a
``schema``; one never yields a tool call under ``tool_choice: auto`` but does for a named function; one has
a 2,048-token context. :func:`probe` sends each a request of a few tokens (``max_tokens`` small) and reads
the context length from llama.cpp's ``/props`` (or the 400 an over-long prompt gets); the gateway keeps
the answer per endpoint and routes around what an endpoint lacks (see :mod:`toolmesh.agents.gateway`).
"""

from __future__ import annotations

import re
from typing import Any

import httpx
from pydantic import BaseModel

from toolmesh.agents.model import EndpointSettings

__all__ = ["Capabilities", "probe"]

_SCHEMA = {"type": "object", "properties": {"ok": {"type": "boolean"}}, "required": ["ok"]}
_TOOL = {
    "type": "function",
    "function": {
        "name": "echo",
        "description": "Echo the text back.",
        "parameters": {"type": "object", "properties": {"text": {"type": "string"}}, "required": ["text"]},
    },
}
_N_CTX = re.compile(r'"n_ctx"\s*:\s*(\d+)')


class Capabilities(BaseModel):
    """None: not known (the probe could not tell)."""

    tools_auto: bool | None = None  # tool_choice "auto" yields a tool call
    tools_named: bool | None = None  # a named tool_choice yields a tool call
    json_schema: bool | None = None  # response_format json_schema is accepted
    json_object_schema: bool | None = None  # response_format json_object + schema is accepted
    context_tokens: int | None = None
    notes: list[str] = []

    @property
    def structured_output(self) -> str:
        """The best way to constrain output here, in the order the gateway degrades."""
        if self.json_schema:
            return "json_schema"
        if self.json_object_schema:
            return "json_object+schema"
        return "json_object"

    @property
    def tool_calling(self) -> bool | None:
        if self.tools_auto is None and self.tools_named is None:
            return None
        return bool(self.tools_auto or self.tools_named)


async def probe(endpoint: EndpointSettings) -> Capabilities:
    """Ask ``endpoint`` what it supports (a few short requests).

    A request the endpoint refuses (4xx, or a 500 that names the unsupported input, as llama.cpp's does)
    means "not supported"; one it cannot answer (unreachable, another 5xx) leaves the answer unknown.
    """
    headers = {"authorization": f"Bearer {endpoint.api_key.get_secret_value()}"} if endpoint.api_key else {}
    base = endpoint.base_url.rstrip("/")
    caps = Capabilities()
    ask = [{"role": "user", "content": "Reply with JSON."}]
    async with httpx.AsyncClient(timeout=endpoint.timeout, headers=headers, trust_env=False) as http:

        async def chat(**body: Any) -> dict[str, Any] | bool | None:
            """The reply; False when the endpoint refused the request; None when it could not be asked."""
            body = {"model": endpoint.model, "messages": ask, "max_tokens": 24, "temperature": 0, **body}
            try:
                response = await http.post(f"{base}/chat/completions", json=body)
            except httpx.HTTPError as exc:
                caps.notes.append(f"unreachable: {exc!r}")
                return None
            if response.status_code >= 400:
                caps.notes.append(f"HTTP {response.status_code}: {response.text[:160]}")
                return False if response.status_code < 500 or "Input should be" in response.text else None
            try:
                value = response.json()
            except ValueError:
                return False
            return value if isinstance(value, dict) else False

        def accepted(reply: dict[str, Any] | bool | None) -> bool | None:
            return None if reply is None else reply is not False

        def has_call(reply: dict[str, Any] | bool | None) -> bool | None:
            if not isinstance(reply, dict):
                return accepted(reply)
            choices = reply.get("choices") or [{}]
            return bool((choices[0].get("message") or {}).get("tool_calls"))

        schema_format = {"type": "json_schema", "json_schema": {"name": "r", "schema": _SCHEMA}}
        caps.json_schema = accepted(await chat(response_format=schema_format))
        caps.json_object_schema = accepted(
            await chat(response_format={"type": "json_object", "schema": _SCHEMA})
        )
        caps.tools_auto = has_call(await chat(tools=[_TOOL], tool_choice="auto"))
        named = {"type": "function", "function": {"name": "echo"}}
        caps.tools_named = has_call(await chat(tools=[_TOOL], tool_choice=named))
        caps.context_tokens = await _context(http, base)
    return caps


async def _context(http: httpx.AsyncClient, base: str) -> int | None:
    """llama.cpp's ``/props`` (beside ``/v1``) names the slot context; other servers do not say."""
    root = base.removesuffix("/v1")
    for url in (f"{root}/props", f"{base}/props"):
        try:
            response = await http.get(url)
        except httpx.HTTPError:
            continue
        if response.status_code == 200:
            found = _N_CTX.search(response.text)
            if found:
                return int(found.group(1))
    return None
