"""The registry's JSON API (``/api/v1``) and its OpenAPI 3.1 document (``/openapi.json``)."""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from sqlalchemy.exc import DBAPIError
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from toolmesh.protocols.cards import EntryView, McpServerEntry, SearchPage
from toolmesh.protocols.errors import InputError, NotFoundError, ToolmeshError, UnavailableError, wire_code
from toolmesh.registry.auth import Authenticator, Unauthenticated
from toolmesh.registry.service import Registry

__all__ = ["api_routes", "error_response", "openapi_document"]

logger = logging.getLogger(__name__)
Handler = Callable[[Request], Awaitable[Response]]
_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


def error_response(exc: ToolmeshError) -> JSONResponse:
    """``{"error": {"type", "message", "hint"}}`` with the status of the error's wire code."""
    status = 401 if isinstance(exc, Unauthenticated) else wire_code(exc).http
    headers = {"www-authenticate": 'Bearer realm="toolmesh-registry"'} if status == 401 else None
    body = {"error": {"type": type(exc).__name__, "message": exc.message, "hint": exc.hint}}
    return JSONResponse(body, status_code=status, headers=headers)


def _guarded(handler: Handler) -> Handler:
    async def run(request: Request) -> Response:
        try:
            return await handler(request)
        except ToolmeshError as exc:
            return error_response(exc)
        except DBAPIError as exc:
            logger.warning("registry database error: %s", str(exc).split("\n", 1)[0])
            return error_response(
                UnavailableError("the registry database is unavailable", hint="Retry shortly.")
            )

    return run


def _reject_constant(value: str) -> Any:
    raise ValueError(f"{value} is not valid JSON")


async def read_json(request: Request) -> Any:
    content_type = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if content_type != "application/json":
        raise InputError(
            f"expected Content-Type application/json, got {content_type or 'none'!r}",
            hint="Send the body as JSON with Content-Type: application/json.",
        )
    raw = await request.body()
    try:
        return json.loads(raw, parse_constant=_reject_constant)
    except (ValueError, UnicodeDecodeError, RecursionError) as exc:
        raise InputError(f"the body is not valid JSON: {exc}"[:300]) from exc


def _param(request: Request, name: str) -> str | None:
    values = request.query_params.getlist(name)
    if len(values) > 1:
        raise InputError(f"query parameter {name!r} was given {len(values)} times")
    return values[0] if values else None


def _int(request: Request, name: str, default: int) -> int:
    raw = _param(request, name)
    if raw is None:
        return default
    try:
        return int(raw)
    except ValueError as exc:
        raise InputError(f"query parameter {name!r} must be an integer, not {raw[:40]!r}") from exc


def _bool(request: Request, name: str) -> bool:
    raw = (_param(request, name) or "").lower()
    if raw in _TRUE:
        return True
    if raw in _FALSE:
        return False
    raise InputError(f"query parameter {name!r} must be true or false, not {raw[:40]!r}")


def api_routes(registry: Registry, auth: Authenticator) -> list[BaseRoute]:
    """The ``/api/v1`` routes and ``/openapi.json``."""

    def _entry(view: EntryView, status: int = 200) -> JSONResponse:
        return JSONResponse(view.model_dump(mode="json", exclude_none=True), status_code=status)

    async def register_agent(request: Request) -> Response:
        actor = auth.writer(request)
        result = await registry.register_agent(await read_json(request), actor)
        return _entry(result.entry, 201 if result.created else 200)

    async def register_server(request: Request) -> Response:
        actor = auth.writer(request)
        result = await registry.register_server(await read_json(request), actor)
        return _entry(result.entry, 201 if result.created else 200)

    async def search(request: Request, kind: str | None) -> Response:
        auth.reader(request)
        health = _param(request, "health")
        query = registry.query(
            kind=kind or _param(request, "kind"),
            skill=_param(request, "skill"),
            tag=_param(request, "tag"),
            tool=_param(request, "tool"),
            binding=_param(request, "binding"),
            capability=_param(request, "capability"),
            text=_param(request, "q"),
            health=[h.strip() for h in health.split(",") if h.strip()] if health else None,
            owner=_param(request, "owner"),
            include_down=_bool(request, "include_down"),
            limit=_int(request, "limit", 20),
            cursor=_param(request, "cursor"),
        )
        return Response(await registry.search_json(query), media_type="application/json")

    async def list_entries(request: Request) -> Response:
        return await search(request, None)

    async def list_agents(request: Request) -> Response:
        return await search(request, "agent")

    async def list_servers(request: Request) -> Response:
        return await search(request, "server")

    async def get_entry(request: Request) -> Response:
        auth.reader(request)
        history = _int(request, "history", 10)
        if not 0 <= history <= registry.settings.history_limit:
            raise InputError(f"history must be between 0 and {registry.settings.history_limit}")
        return _entry(await registry.get(request.path_params["entry_id"], history=history))

    async def get_card(request: Request) -> Response:
        auth.reader(request)
        view = await registry.get(request.path_params["entry_id"])
        if view.kind != "agent":
            raise NotFoundError(f"entry {view.id!r} is an MCP server and has no agent card")
        return JSONResponse(view.document)

    async def heartbeat(request: Request) -> Response:
        actor = auth.writer(request)
        view = await registry.heartbeat(request.path_params["entry_id"], actor)
        return JSONResponse(
            {"id": view.id, "expires_at": view.expires_at, "ttl_seconds": registry.settings.ttl_seconds}
        )

    async def deregister(request: Request) -> Response:
        actor = auth.writer(request)
        await registry.deregister(request.path_params["entry_id"], actor)
        return Response(status_code=204)

    async def no_route(request: Request) -> Response:
        raise NotFoundError(
            f"no API route {request.method} {request.url.path[:200]}",
            hint="See /openapi.json for the routes.",
        )

    document = openapi_document()

    async def openapi(request: Request) -> Response:
        return JSONResponse(document)

    return [
        Route("/openapi.json", _guarded(openapi), methods=["GET"]),
        Route("/api/v1/agents", _guarded(register_agent), methods=["POST"]),
        Route("/api/v1/agents", _guarded(list_agents), methods=["GET"]),
        Route("/api/v1/servers", _guarded(register_server), methods=["POST"]),
        Route("/api/v1/servers", _guarded(list_servers), methods=["GET"]),
        Route("/api/v1/entries", _guarded(list_entries), methods=["GET"]),
        Route("/api/v1/entries/{entry_id}", _guarded(get_entry), methods=["GET"]),
        Route("/api/v1/entries/{entry_id}", _guarded(deregister), methods=["DELETE"]),
        Route("/api/v1/entries/{entry_id}/card", _guarded(get_card), methods=["GET"]),
        Route("/api/v1/entries/{entry_id}/heartbeat", _guarded(heartbeat), methods=["POST"]),
        Route("/api/{rest:path}", _guarded(no_route), methods=["GET", "POST", "PUT", "PATCH", "DELETE"]),
    ]


def _schemas() -> dict[str, Any]:
    schemas: dict[str, Any] = {}
    for model in (EntryView, SearchPage, McpServerEntry):
        schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
        schemas.update(schema.pop("$defs", {}))
        schemas[model.__name__] = schema
    schemas["Error"] = {
        "type": "object",
        "required": ["error"],
        "properties": {
            "error": {
                "type": "object",
                "required": ["type", "message"],
                "properties": {
                    "type": {"type": "string"},
                    "message": {"type": "string"},
                    "hint": {"type": ["string", "null"]},
                },
            }
        },
    }
    schemas["AgentRegistration"] = {
        "type": "object",
        "description": "Exactly one of card (A2A 1.0 agent card JSON) or card_url (fetched by the registry).",
        "properties": {
            "card": {"type": "object", "description": "A2A 1.0 AgentCard, camelCase field names."},
            "card_url": {"type": "string", "format": "uri"},
            "id": {"type": "string", "pattern": "^[a-z0-9][a-z0-9._-]{0,127}$"},
        },
        "additionalProperties": False,
    }
    return schemas


def _ref(name: str) -> dict[str, Any]:
    return {"$ref": f"#/components/schemas/{name}"}


def _json(name: str, description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": _ref(name)}}}


_ERRORS = {
    "400": _json("Error", "Invalid input (bad JSON, wrong types, failed validation, bad filter)."),
    "401": _json("Error", "Missing or unknown bearer token."),
    "403": _json("Error", "Not allowed: another publisher's entry, a read-only token, or a private target."),
    "404": _json("Error", "No such entry."),
    "413": _json("Error", "Body or card over the size limit."),
    "503": _json("Error", "The registry's database is unavailable; retry."),
}


def _query(name: str, description: str, schema: dict[str, Any] | None = None) -> dict[str, Any]:
    return {
        "name": name,
        "in": "query",
        "required": False,
        "description": description,
        "schema": schema or {"type": "string"},
    }


_ID_PARAM = {"name": "entry_id", "in": "path", "required": True, "schema": {"type": "string"}}
_SEARCH_PARAMS = [
    _query("skill", "Agent skill id (exact, case-insensitive)."),
    _query("tag", "Skill or server tag (exact, case-insensitive)."),
    _query("tool", "MCP tool name (exact, case-insensitive)."),
    _query("q", "Free text; every word must prefix-match a word of the name, description, skills or tools."),
    _query("binding", "Protocol binding: JSONRPC, HTTP+JSON, GRPC, MCP-HTTP, MCP-STDIO."),
    _query("capability", "streaming, push_notifications, extended_agent_card or signed."),
    _query("health", "Comma-separated: unknown, healthy, degraded, down."),
    _query("include_down", "Include entries that are down or whose TTL lapsed.", {"type": "boolean"}),
    _query("owner", "Publisher name."),
    _query("limit", "Page size (default 20).", {"type": "integer", "minimum": 1}),
    _query("cursor", "next_cursor of the previous page."),
]


def openapi_document() -> dict[str, Any]:
    """The OpenAPI 3.1 description of the JSON API."""
    write: list[dict[str, list[str]]] = [{"bearer": []}]
    search_op = {
        "parameters": _SEARCH_PARAMS,
        "responses": {"200": _json("SearchPage", "One page of matches, ordered by id."), **_ERRORS},
    }
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "toolmesh agent-card registry",
            "version": "1.0.0",
            "description": "Register A2A agent cards and MCP servers; find them by skill, tag, tool, text.",
        },
        "components": {
            "schemas": _schemas(),
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        },
        "paths": {
            "/api/v1/agents": {
                "post": {
                    "summary": "Register or update an A2A agent (card by body or by URL)",
                    "security": write,
                    "requestBody": {
                        "required": True,
                        "content": {"application/json": {"schema": _ref("AgentRegistration")}},
                    },
                    "responses": {
                        "200": _json("EntryView", "Updated."),
                        "201": _json("EntryView", "Created."),
                        **_ERRORS,
                        "409": _json("Error", "Conflict."),
                    },
                },
                "get": {"summary": "Search agents", **search_op},
            },
            "/api/v1/servers": {
                "post": {
                    "summary": "Register or update an MCP server",
                    "security": write,
                    "requestBody": {
                        "required": True,
                        "content": {"application/json": {"schema": _ref("McpServerEntry")}},
                    },
                    "responses": {
                        "200": _json("EntryView", "Updated."),
                        "201": _json("EntryView", "Created."),
                        **_ERRORS,
                    },
                },
                "get": {"summary": "Search MCP servers", **search_op},
            },
            "/api/v1/entries": {
                "get": {
                    "summary": "Search all entries",
                    **search_op,
                    "parameters": [*_SEARCH_PARAMS, _query("kind", "agent or server")],
                }
            },
            "/api/v1/entries/{entry_id}": {
                "get": {
                    "summary": "One entry with its version history",
                    "parameters": [
                        _ID_PARAM,
                        _query(
                            "history", "Versions to include (default 10).", {"type": "integer", "minimum": 0}
                        ),
                    ],
                    "responses": {"200": _json("EntryView", "The entry."), **_ERRORS},
                },
                "delete": {
                    "summary": "Deregister an entry (owner or admin)",
                    "security": write,
                    "parameters": [_ID_PARAM],
                    "responses": {"204": {"description": "Deregistered."}, **_ERRORS},
                },
            },
            "/api/v1/entries/{entry_id}/card": {
                "get": {
                    "summary": "The stored agent card, as A2A 1.0 JSON",
                    "parameters": [_ID_PARAM],
                    "responses": {"200": {"description": "The card."}, **_ERRORS},
                },
            },
            "/api/v1/entries/{entry_id}/heartbeat": {
                "post": {
                    "summary": "Renew an entry's TTL (owner or admin)",
                    "security": write,
                    "parameters": [_ID_PARAM],
                    "responses": {"200": {"description": "New expiry (expires_at, ttl_seconds)."}, **_ERRORS},
                },
            },
        },
    }
