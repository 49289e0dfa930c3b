"""A2A 1.0 agent cards and MCP server entries: parsing, validation, signatures, registry wire models.

The registry and every agent share these shapes:

- :func:`parse_agent_card` turns untrusted JSON (camelCase A2A 1.0 field names) into the SDK's protobuf
  :class:`~a2a.types.AgentCard`, with clear :class:`CardError` messages for everything the schema alone
  does not catch (required fields, http(s) URLs — ``host:port`` for gRPC — sizes).
- :class:`McpServerEntry` describes an MCP server (transport URL or stdio command, tools snapshot).
- :func:`verify_card_signatures` checks JWS card signatures against known keys.
- :class:`EntryView` / :class:`SearchPage` are what the registry's HTTP API returns and the client reads.
"""

from __future__ import annotations

import hashlib
import importlib
import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal
from urllib.parse import urlsplit

from a2a.types import AgentCard
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from toolmesh.protocols.errors import InputError, LimitExceeded

__all__ = [
    "AGENT_CARD_PATH",
    "KNOWN_BINDINGS",
    "CardError",
    "CardLimits",
    "EntryKind",
    "EntryView",
    "Health",
    "McpServerEntry",
    "McpTool",
    "SearchPage",
    "SignatureCheck",
    "SignatureStatus",
    "VersionView",
    "card_from_json",
    "card_to_dict",
    "check_http_url",
    "check_interface_url",
    "entry_id_for",
    "grpc_target",
    "interface_http_url",
    "parse_agent_card",
    "slugify",
    "verify_card_signatures",
]

AGENT_CARD_PATH = "/.well-known/agent-card.json"
KNOWN_BINDINGS = ("JSONRPC", "HTTP+JSON", "GRPC")
EntryKind = Literal["agent", "server"]
Health = Literal["unknown", "healthy", "degraded", "down"]
SignatureStatus = Literal["unsigned", "verified", "unverified", "invalid"]

# protobuf ships no type stubs; reach json_format untyped rather than depend on types-protobuf.
json_format: Any = importlib.import_module("google.protobuf.json_format")

_TOP_LEVEL_TYPES: dict[str, type] = {
    "name": str,
    "description": str,
    "version": str,
    "documentationUrl": str,
    "iconUrl": str,
    "supportedInterfaces": list,
    "skills": list,
    "defaultInputModes": list,
    "defaultOutputModes": list,
    "securityRequirements": list,
    "signatures": list,
    "capabilities": dict,
    "provider": dict,
    "securitySchemes": dict,
}
_JSON_NAMES: dict[type, str] = {str: "string", list: "array", dict: "object"}
_SLUG_RE = re.compile(r"[^a-z0-9]+")
_ID_RE = r"^[a-z0-9][a-z0-9._-]{0,127}$"


class CardError(InputError):
    """An agent card or server entry is malformed."""


@dataclass(frozen=True, slots=True)
class CardLimits:
    """Hard caps on what one card may contain."""

    max_bytes: int = 64 * 1024
    max_skills: int = 200
    max_interfaces: int = 16
    max_tags: int = 50
    max_text: int = 4096
    max_url: int = 2048


def slugify(text: str, *, max_length: int = 48) -> str:
    """A lowercase ``a-z0-9-`` slug of ``text`` (``"Docs Search!"`` -> ``"docs-search"``)."""
    slug = _SLUG_RE.sub("-", text.lower()).strip("-")[:max_length].strip("-")
    return slug or "entry"


def entry_id_for(kind: EntryKind, name: str, locator: str) -> str:
    """The stable id of an entry: its name's slug plus a short hash of where it lives.

    Two replicas of the same agent at different URLs get different ids; re-registering the same
    card at the same URL updates the same entry.
    """
    digest = hashlib.sha256(f"{kind}\n{locator}".encode()).hexdigest()[:10]
    return f"{slugify(name)}-{digest}"


def check_http_url(value: str, *, field: str, max_length: int = 2048) -> str:
    """``value`` if it is an absolute http(s) URL with a host and no credentials, else :class:`CardError`."""
    if not isinstance(value, str) or not value:
        raise CardError(f"{field} must be a non-empty URL string")
    if len(value) > max_length:
        raise CardError(f"{field} is longer than {max_length} characters")
    if any(ord(ch) < 0x21 or ch == "\x7f" for ch in value):
        raise CardError(f"{field} contains whitespace or control characters")
    try:
        parts = urlsplit(value)
        port = parts.port
    except ValueError as exc:
        raise CardError(f"{field} is not a valid URL: {exc}") from exc
    if parts.scheme not in ("http", "https"):
        raise CardError(f"{field} must use http or https, not {parts.scheme or 'no scheme'!r}")
    if not parts.hostname:
        raise CardError(f"{field} has no host: {value!r}")
    if parts.username is not None or parts.password is not None:
        raise CardError(f"{field} must not carry credentials (user:password@)")
    if port == 0:
        raise CardError(f"{field} has port 0")
    return value


def grpc_target(value: str, *, field: str = "url", max_length: int = 2048) -> tuple[str, bool]:
    """``(host:port, tls)`` of a GRPC interface URL, else :class:`CardError`.

    A2A 1.0 names gRPC endpoints ``host:port`` (no scheme; TLS when the port is 443); ``grpc://`` and
    ``grpcs://host:port`` and ``http(s)://host[:port]`` are taken too (as some SDKs and the proto's own
    example write them; a path there is not part of the gRPC target).
    """
    if not isinstance(value, str) or not value:
        raise CardError(f"{field} must be a non-empty host:port string")
    scheme, sep, rest = value.partition("://")
    if not sep:
        scheme, rest = "", value
    tls = {"": None, "grpc": False, "http": False, "grpcs": True, "https": True}
    if scheme.lower() not in tls:
        raise CardError(f"{field} of a GRPC interface must be host:port (A2A 1.0), not {value[:80]!r}")
    secure = tls[scheme.lower()]
    url = f"{'https' if secure else 'http'}://{rest.rstrip('/')}"
    check_http_url(url, field=field, max_length=max_length)
    parts = urlsplit(url)
    if not scheme and (parts.path or parts.query or parts.fragment):
        raise CardError(f"{field} of a GRPC interface is host:port, without a path: {value[:80]!r}")
    port = parts.port or (443 if secure else None)
    if port is None:
        raise CardError(f"{field} of a GRPC interface needs a port: {value[:80]!r}", hint="Write host:port.")
    host = parts.hostname or ""
    shown = f"[{host}]" if ":" in host else host
    return f"{shown}:{port}", secure if secure is not None else port == 443


def check_interface_url(value: str, binding: str, *, field: str, max_length: int = 2048) -> str:
    """``value`` if it is a valid URL for ``binding``: ``host:port`` for GRPC, an http(s) URL otherwise."""
    if binding.strip().upper() == "GRPC":
        grpc_target(value, field=field, max_length=max_length)
        return value
    return check_http_url(value, field=field, max_length=max_length)


def interface_http_url(value: str, binding: str) -> str:
    """An interface URL as an http(s) URL (a GRPC ``host:port`` as ``http(s)://host:port``), for checks
    written for URLs (which hosts may be reached)."""
    if binding.strip().upper() != "GRPC":
        return value
    target, tls = grpc_target(value)
    return f"{'https' if tls else 'http'}://{target}"


def _text(value: str, field: str, limits: CardLimits, *, required: bool) -> None:
    if required and not value.strip():
        raise CardError(f"agent card field {field} is required and must not be empty")
    if len(value) > limits.max_text:
        raise LimitExceeded(f"agent card field {field} is longer than {limits.max_text} characters")


def card_from_json(data: Any) -> AgentCard:
    """Parse a JSON object (A2A 1.0 camelCase names) into an :class:`AgentCard`; schema errors only."""
    if not isinstance(data, dict):
        raise CardError(f"an agent card must be a JSON object, not {type(data).__name__}")
    for field, expected in _TOP_LEVEL_TYPES.items():
        if field in data and data[field] is not None and not isinstance(data[field], expected):
            raise CardError(f"agent card field {field} must be a JSON {_JSON_NAMES[expected]}")
    try:
        # Unknown fields are tolerated (cards from newer protocol revisions), wrong types are not.
        card: AgentCard = json_format.ParseDict(
            data, AgentCard(), ignore_unknown_fields=True, max_recursion_depth=32
        )
        return card
    except (json_format.ParseError, ValueError, TypeError, RecursionError) as exc:
        message = str(exc).split("\n", 1)[0][:300]
        raise CardError(
            f"not a valid A2A 1.0 agent card: {message}",
            hint="Field names are camelCase (supportedInterfaces, protocolBinding, defaultInputModes, ...).",
        ) from exc


def parse_agent_card(data: Any, *, limits: CardLimits | None = None) -> AgentCard:
    """Validate untrusted card JSON fully: schema, required fields, URLs and size caps."""
    limits = limits or CardLimits()
    if isinstance(data, dict):
        size = len(json.dumps(data, ensure_ascii=False, default=str).encode())
        if size > limits.max_bytes:
            raise LimitExceeded(
                f"agent card is {size} bytes, over the {limits.max_bytes}-byte limit",
                hint="Trim descriptions and examples, or move detail to documentationUrl.",
            )
    card = card_from_json(data)
    _text(card.name, "name", limits, required=True)
    _text(card.description, "description", limits, required=True)
    _text(card.version, "version", limits, required=True)
    if not card.supported_interfaces:
        raise CardError(
            "agent card has no supportedInterfaces",
            hint='Add at least one {"url": ..., "protocolBinding": "JSONRPC", "protocolVersion": "1.0"}.',
        )
    if len(card.supported_interfaces) > limits.max_interfaces:
        raise LimitExceeded(f"agent card lists more than {limits.max_interfaces} supportedInterfaces")
    for index, iface in enumerate(card.supported_interfaces):
        where = f"supportedInterfaces[{index}]"
        check_interface_url(
            iface.url, iface.protocol_binding, field=f"{where}.url", max_length=limits.max_url
        )
        if not iface.protocol_binding.strip():
            raise CardError(
                f"{where}.protocolBinding is required", hint=f"One of {', '.join(KNOWN_BINDINGS)}."
            )
        if len(iface.protocol_binding) > 64 or len(iface.protocol_version) > 32:
            raise CardError(f"{where} has an over-long protocolBinding or protocolVersion")
        if not iface.protocol_version.strip():
            raise CardError(f"{where}.protocolVersion is required", hint='Use "1.0" for A2A 1.0.')
    if not card.default_input_modes or not card.default_output_modes:
        raise CardError(
            "agent card needs defaultInputModes and defaultOutputModes",
            hint='For example ["text/plain"].',
        )
    if not card.skills:
        raise CardError("agent card has no skills", hint="Peers find agents by skill; declare at least one.")
    if len(card.skills) > limits.max_skills:
        raise LimitExceeded(f"agent card has more than {limits.max_skills} skills")
    seen: set[str] = set()
    for index, skill in enumerate(card.skills):
        where = f"skills[{index}]"
        _text(skill.id, f"{where}.id", limits, required=True)
        _text(skill.name, f"{where}.name", limits, required=True)
        _text(skill.description, f"{where}.description", limits, required=False)
        if skill.id in seen:
            raise CardError(f"{where}.id {skill.id!r} is declared twice")
        seen.add(skill.id)
        if len(skill.tags) > limits.max_tags:
            raise LimitExceeded(f"{where} has more than {limits.max_tags} tags")
        for tag in skill.tags:
            if not tag.strip() or len(tag) > 100:
                raise CardError(f"{where} has an empty or over-long tag")
    for field, url in (("documentationUrl", card.documentation_url), ("iconUrl", card.icon_url)):
        if url:
            check_http_url(url, field=field, max_length=limits.max_url)
    if card.provider.url:
        check_http_url(card.provider.url, field="provider.url", max_length=limits.max_url)
    return card


def card_to_dict(card: AgentCard) -> dict[str, Any]:
    """The card as A2A 1.0 JSON (camelCase), as served at ``/.well-known/agent-card.json``."""
    data: dict[str, Any] = json_format.MessageToDict(card)
    return data


class McpTool(BaseModel):
    """One tool in a server's ``tools/list`` snapshot."""

    model_config = ConfigDict(extra="ignore")

    name: str = Field(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9_.\-/]+$")
    title: str | None = Field(default=None, max_length=256)
    description: str = Field(default="", max_length=4096)
    input_schema: dict[str, Any] | None = None
    read_only: bool | None = None


class McpServerEntry(BaseModel):
    """An MCP server as registered: how to reach it and what tools it offers."""

    model_config = ConfigDict(extra="forbid")

    id: str | None = Field(
        default=None, pattern=_ID_RE, description="Optional stable id; derived when absent."
    )
    name: str = Field(min_length=1, max_length=128)
    description: str = Field(default="", max_length=4096)
    transport: Literal["streamable-http", "stdio"] = "streamable-http"
    url: str | None = Field(
        default=None, max_length=2048, description="Streamable HTTP endpoint (transport=http)."
    )
    command: list[str] | None = Field(default=None, max_length=64, description="argv for transport=stdio.")
    tools: list[McpTool] = Field(default_factory=list, max_length=500)
    tags: list[str] = Field(default_factory=list, max_length=50)
    version: str = Field(default="", max_length=64)

    @field_validator("tags")
    @classmethod
    def _tags(cls, value: list[str]) -> list[str]:
        for tag in value:
            if not tag.strip() or len(tag) > 100:
                raise ValueError("tags must be non-empty strings of at most 100 characters")
        return value

    @field_validator("command")
    @classmethod
    def _command(cls, value: list[str] | None) -> list[str] | None:
        if value is not None and (
            not value or any(not arg or len(arg) > 1024 or "\x00" in arg for arg in value)
        ):
            raise ValueError(
                "command must be a non-empty argv list of non-empty strings (max 1024 chars each)"
            )
        return value

    @model_validator(mode="after")
    def _locator(self) -> McpServerEntry:
        if self.transport == "streamable-http":
            if not self.url:
                raise ValueError("transport streamable-http needs url")
            if self.command:
                raise ValueError("give either url (streamable-http) or command (stdio), not both")
            try:
                check_http_url(self.url, field="url")
            except CardError as exc:
                raise ValueError(exc.message) from exc
        else:
            if not self.command:
                raise ValueError("transport stdio needs command")
            if self.url:
                raise ValueError("give either url (streamable-http) or command (stdio), not both")
        names = [tool.name for tool in self.tools]
        if len(names) != len(set(names)):
            raise ValueError("tool names must be unique")
        return self

    @property
    def locator(self) -> str:
        return self.url if self.url else json.dumps(self.command)


class SignatureCheck(BaseModel):
    """Outcome of checking a card's JWS signatures."""

    status: SignatureStatus
    key_id: str | None = None
    detail: str = ""


KeyResolver = Callable[[str | None, str | None], Any]


def verify_card_signatures(
    card: AgentCard, keys: Mapping[str, Any], *, algorithms: list[str] | None = None
) -> SignatureCheck:
    """Check ``card.signatures`` against ``keys`` (kid -> key: a secret, PEM string or PyJWK).

    ``unsigned``: no signatures. ``verified``: one verifies with a known key. ``unverified``: signed,
    but with keys we do not know. ``invalid``: a known key does not verify it (the card was altered).
    """
    from a2a.utils.signing import (
        InvalidSignaturesError,
        SignatureVerificationError,
        create_signature_verifier,
    )
    from jwt.utils import base64url_decode

    if not card.signatures:
        return SignatureCheck(status="unsigned")
    known: list[str] = []
    for signature in card.signatures:
        try:
            header = json.loads(base64url_decode(signature.protected.encode()).decode())
        except (ValueError, UnicodeDecodeError):
            continue
        kid = header.get("kid") if isinstance(header, dict) else None
        if isinstance(kid, str) and kid in keys:
            known.append(kid)
    if not known:
        return SignatureCheck(status="unverified", detail="signed with keys this registry does not know")
    used: list[str] = []

    def provider(kid: str | None, jku: str | None) -> Any:
        if kid is None or kid not in keys:
            raise InvalidSignaturesError(f"unknown key id {kid!r}")
        used.append(kid)
        return keys[kid]

    verifier = create_signature_verifier(
        provider, algorithms or ["RS256", "ES256", "EdDSA", "PS256", "HS256", "RS384", "ES384", "RS512"]
    )
    try:
        verifier(card)
    except SignatureVerificationError as exc:
        return SignatureCheck(status="invalid", detail=str(exc) or "no valid signature")
    except Exception as exc:  # a broken key or header must not take the registry down
        return SignatureCheck(status="invalid", detail=f"signature check failed: {type(exc).__name__}")
    return SignatureCheck(status="verified", key_id=used[-1] if used else known[0])


class VersionView(BaseModel):
    """One past version of an entry's document."""

    version: int
    updated_at: float
    updated_by: str
    document: dict[str, Any]


class EntryView(BaseModel):
    """An entry as the registry's API shows it."""

    id: str
    kind: EntryKind
    name: str
    description: str
    owner: str
    version: int
    url: str | None = Field(default=None, description="Card URL (agents) or MCP endpoint (servers).")
    document: dict[str, Any] = Field(description="The agent card (A2A 1.0 JSON) or the MCP server entry.")
    skills: list[str] = Field(default_factory=list)
    tags: list[str] = Field(default_factory=list)
    tools: list[str] = Field(default_factory=list)
    bindings: list[str] = Field(default_factory=list)
    capabilities: list[str] = Field(default_factory=list)
    health: Health = "unknown"
    health_detail: str = ""
    signature: SignatureCheck = Field(default_factory=lambda: SignatureCheck(status="unsigned"))
    created_at: float
    updated_at: float
    last_heartbeat: float
    expires_at: float
    last_probe: float | None = None
    history: list[VersionView] | None = None

    def card(self) -> AgentCard:
        """The agent card of an agent entry."""
        if self.kind != "agent":
            raise CardError(f"entry {self.id!r} is an MCP server, not an agent")
        return card_from_json(self.document)

    def server(self) -> McpServerEntry:
        """The server entry of an MCP server entry."""
        if self.kind != "server":
            raise CardError(f"entry {self.id!r} is an agent, not an MCP server")
        return McpServerEntry.model_validate(self.document)


class SearchPage(BaseModel):
    """One page of search results."""

    items: list[EntryView]
    next_cursor: str | None = None
    stale: bool = Field(
        default=False,
        description="Set by the client: served from its cache while the registry was unreachable.",
    )
