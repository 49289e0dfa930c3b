"""The requirement manifest: every requirement the kit checks, tied to the spec sections it comes from.

Each requirement has a stable id (``MCP-TOOLS-LIST``, ``A2A-CARD-FIELDS``), a level (``MUST`` failures fail
the verdict, ``SHOULD`` failures are reported as warnings) and one or more spec references. The checks in
:mod:`.mcp_checks` and :mod:`.a2a_checks` register against these ids;
``tests/conformance/test_kit_manifest.py`` proves the mapping is one-to-one.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

__all__ = ["REQUIREMENTS", "Level", "Protocol", "Requirement", "SpecRef", "requirement", "requirements_for"]

Level = Literal["MUST", "SHOULD"]
Protocol = Literal["mcp", "a2a"]

MCP_NEW = "MCP 2026-07-28"
MCP_OLD = "MCP 2025-11-25"
A2A = "A2A 1.0"
_MCP_NEW_URL = "https://modelcontextprotocol.io/specification/2026-07-28"
_MCP_OLD_URL = "https://modelcontextprotocol.io/specification/2025-11-25"
_A2A_URL = "https://a2a-protocol.org/v1.0.0/specification/"


@dataclass(frozen=True, slots=True)
class SpecRef:
    """One section of one specification."""

    spec: str
    section: str
    url: str


@dataclass(frozen=True, slots=True)
class Requirement:
    """A testable statement of a specification."""

    id: str
    protocol: Protocol
    level: Level
    title: str
    refs: tuple[SpecRef, ...]

    @property
    def link(self) -> str:
        """The first spec link (the table shows one; JSON and JUnit carry all)."""
        return self.refs[0].url


def _mcp(path: str, section: str, *, new: bool = True, old: bool = True) -> tuple[SpecRef, ...]:
    refs: list[SpecRef] = []
    if new:
        refs.append(SpecRef(MCP_NEW, section, f"{_MCP_NEW_URL}/{path}"))
    if old:
        refs.append(SpecRef(MCP_OLD, section, f"{_MCP_OLD_URL}/{path}"))
    return tuple(refs)


def _a2a(section: str) -> tuple[SpecRef, ...]:
    return (SpecRef(A2A, section, _A2A_URL),)


def _req(rid: str, level: Level, title: str, refs: tuple[SpecRef, ...]) -> Requirement:
    protocol: Protocol = "mcp" if rid.startswith("MCP-") else "a2a"
    return Requirement(rid, protocol, level, title, refs)


REQUIREMENTS: tuple[Requirement, ...] = (
    # --- MCP: base protocol and lifecycle ---
    _req(
        "MCP-LIFECYCLE",
        "MUST",
        "Version negotiation (server/discover, or the initialize handshake) returns a supported version "
        "and the server's capabilities",
        _mcp("basic/lifecycle", "Lifecycle"),
    ),
    _req(
        "MCP-JSONRPC",
        "MUST",
        "Every response is a JSON-RPC 2.0 response: same id as the request, exactly one of result/error, "
        "errors with an integer code and a message",
        _mcp("basic", "Base protocol: messages"),
    ),
    _req(
        "MCP-UNKNOWN-METHOD",
        "MUST",
        "An unknown method is answered with JSON-RPC error -32601 (method not found)",
        _mcp("basic", "Base protocol: error codes"),
    ),
    # --- MCP: stdio transport ---
    _req(
        "MCP-STDIO-FRAMING",
        "MUST",
        "stdio: every stdout line is exactly one JSON-RPC message (newline-delimited, no embedded newlines)",
        _mcp("basic/transports#stdio", "Transports: stdio"),
    ),
    _req(
        "MCP-STDIO-LOGGING",
        "MUST",
        "stdio: the server writes nothing but MCP messages to stdout; logs go to stderr",
        _mcp("basic/transports#stdio", "Transports: stdio"),
    ),
    _req(
        "MCP-STDIO-SHUTDOWN",
        "SHOULD",
        "stdio: the server exits when the client closes its stdin",
        _mcp("basic/lifecycle#shutdown", "Lifecycle: shutdown"),
    ),
    # --- MCP: Streamable HTTP ---
    _req(
        "MCP-HTTP-ORIGIN",
        "MUST",
        "Streamable HTTP: a request with a foreign Origin header is refused (403), against DNS rebinding",
        _mcp("basic/transports#security-warning", "Transports: Streamable HTTP security"),
    ),
    # --- MCP: tools ---
    _req(
        "MCP-TOOLS-LIST",
        "MUST",
        "tools/list returns a tools array the SDK's ListToolsResult accepts; every tool has a unique name "
        "and an inputSchema object",
        _mcp("server/tools#listing-tools", "Tools: listing tools"),
    ),
    _req(
        "MCP-TOOL-INPUT-SCHEMA",
        "MUST",
        "Every tool's inputSchema is a valid JSON Schema whose type is object",
        _mcp("server/tools#tool", "Tools: tool definition"),
    ),
    _req(
        "MCP-TOOL-OUTPUT-SCHEMA",
        "MUST",
        "Every declared outputSchema is a valid JSON Schema whose type is object",
        _mcp("server/tools#output-schema", "Tools: output schema"),
    ),
    _req(
        "MCP-TOOL-STRUCTURED",
        "MUST",
        "Tool results are valid CallToolResults, and a tool with an outputSchema returns structuredContent "
        "that validates against it",
        _mcp("server/tools#structured-content", "Tools: structured content"),
    ),
    _req(
        "MCP-TOOL-ANNOTATIONS",
        "SHOULD",
        "Every tool carries annotations (readOnlyHint, destructiveHint, ...) with boolean values",
        _mcp("server/tools#tool-annotations", "Tools: annotations"),
    ),
    _req(
        "MCP-UNKNOWN-TOOL",
        "SHOULD",
        "Calling a tool that does not exist is a protocol error (-32602), not a successful result",
        _mcp("server/tools#error-handling", "Tools: error handling"),
    ),
    # --- MCP: utilities ---
    _req(
        "MCP-PAGINATION",
        "MUST",
        "List results are paginated with opaque cursors: following nextCursor terminates without duplicates; "
        "an invalid cursor is answered with -32602 (SHOULD)",
        _mcp("server/utilities/pagination", "Utilities: pagination"),
    ),
    _req(
        "MCP-CACHING",
        "MUST",
        "2026-07-28: server/discover, the list results and resources/read carry ttlMs (integer >= 0) and "
        "cacheScope (public or private)",
        _mcp("server/utilities/caching", "Utilities: caching", old=False),
    ),
    _req(
        "MCP-PROGRESS",
        "MUST",
        "Progress notifications reference the request's progressToken and their progress increases",
        _mcp("basic/utilities/progress", "Utilities: progress"),
    ),
    _req(
        "MCP-CANCELLATION",
        "MUST",
        "Cancelling an in-flight or unknown request is tolerated: no response to the notification, the "
        "server keeps serving",
        _mcp("basic/utilities/cancellation", "Utilities: cancellation"),
    ),
    # --- MCP: hostile input ---
    _req(
        "MCP-HOSTILE-MALFORMED",
        "MUST",
        "Malformed JSON is answered with a parse error (-32700, SHOULD) and the server stays up (MUST)",
        _mcp("basic", "Base protocol: error codes"),
    ),
    _req(
        "MCP-HOSTILE-INVALID-REQUEST",
        "MUST",
        "JSON that is not a valid JSON-RPC request is answered with an error (-32600) and the server "
        "stays up",
        _mcp("basic", "Base protocol: requests"),
    ),
    _req(
        "MCP-HOSTILE-WRONG-TYPES",
        "MUST",
        "Tool arguments that violate the inputSchema are answered with an error (-32602 or isError) and the "
        "server stays up",
        _mcp("server/tools#error-handling", "Tools: error handling"),
    ),
    _req(
        "MCP-HOSTILE-OVERSIZED",
        "MUST",
        "An oversized request (megabytes) is answered with an error or a limit, and the server stays up",
        _mcp("basic/transports", "Transports"),
    ),
    # --- A2A: discovery ---
    _req(
        "A2A-CARD-WELL-KNOWN",
        "MUST",
        "The agent card is served as JSON at /.well-known/agent-card.json",
        _a2a("Agent discovery: well-known URI"),
    ),
    _req(
        "A2A-CARD-FIELDS",
        "MUST",
        "The card has name, description, version, supportedInterfaces (url, protocolBinding, "
        "protocolVersion; an http(s) URL, host:port for GRPC), capabilities, defaultInputModes and "
        "defaultOutputModes, and parses as an AgentCard",
        _a2a("AgentCard"),
    ),
    _req(
        "A2A-CARD-SKILLS",
        "MUST",
        "The card lists at least one skill; every skill has a unique id, a name, a description and tags",
        _a2a("AgentSkill"),
    ),
    _req(
        "A2A-INTERFACES-REACHABLE",
        "MUST",
        "Every advertised interface answers A2A requests at its URL with its binding",
        _a2a("AgentInterface"),
    ),
    # --- A2A: operations (per binding) ---
    _req(
        "A2A-SEND-MESSAGE",
        "MUST",
        "SendMessage returns a Task (id, contextId, valid state) or a Message, and the official a2a-sdk "
        "client can send through the interface",
        _a2a("Send Message"),
    ),
    _req(
        "A2A-STREAMING",
        "MUST",
        "SendStreamingMessage streams StreamResponse events for one task, ending in a terminal or "
        "interrupted state (or is refused when the card says streaming is off)",
        _a2a("Send Streaming Message"),
    ),
    _req(
        "A2A-GET-TASK",
        "MUST",
        "GetTask returns the task by id; an unknown id is TaskNotFoundError",
        _a2a("Get Task"),
    ),
    _req(
        "A2A-LIST-TASKS",
        "MUST",
        "ListTasks returns the tasks of a context, honouring pageSize",
        _a2a("List Tasks"),
    ),
    _req(
        "A2A-CANCEL-TASK",
        "MUST",
        "CancelTask cancels a running task or answers TaskNotCancelableError for a terminal one; unknown ids "
        "are TaskNotFoundError",
        _a2a("Cancel Task"),
    ),
    _req(
        "A2A-SUBSCRIBE",
        "MUST",
        "SubscribeToTask streams a running task starting with its Task snapshot, refuses a terminal task "
        "(UnsupportedOperationError) and an unknown one (TaskNotFoundError)",
        _a2a("Subscribe to Task"),
    ),
    _req(
        "A2A-PUSH-CONFIG",
        "MUST",
        "Push-notification config methods create/get/list/delete a config when the card advertises push "
        "notifications, and answer PushNotificationNotSupportedError when it does not",
        _a2a("Push notification config"),
    ),
    _req(
        "A2A-TERMINAL-STATE",
        "MUST",
        "A task in a terminal state never leaves it: a follow-up message to it is refused and GetTask still "
        "shows the terminal state",
        _a2a("TaskState / task immutability"),
    ),
    _req(
        "A2A-ERROR-CODES",
        "MUST",
        "Errors use the binding's codes: -32601 unknown method, -32700 malformed JSON, -32602 invalid params "
        "(JSON-RPC); HTTP 4xx statuses (HTTP+JSON); UNIMPLEMENTED, INVALID_ARGUMENT, NOT_FOUND (gRPC)",
        _a2a("Error code mappings"),
    ),
    _req(
        "A2A-VERSION",
        "MUST",
        "A2A-Version: 1.0 is accepted; an unsupported version is refused with VersionNotSupportedError",
        _a2a("Versioning"),
    ),
    _req(
        "A2A-CONTEXT",
        "MUST",
        "A follow-up message that carries a contextId stays in that context",
        _a2a("Multi-turn interactions: contextId"),
    ),
    _req(
        "A2A-ARTIFACTS",
        "MUST",
        "Task artifacts have an artifactId and at least one part",
        _a2a("Artifact"),
    ),
    _req(
        "A2A-INPUT-REQUIRED",
        "MUST",
        "A task in input-required continues on a follow-up with the same taskId and contextId",
        _a2a("Multi-turn interactions: input required"),
    ),
    _req(
        "A2A-CARD-CACHING",
        "SHOULD",
        "The agent card is served with Cache-Control beside its ETag",
        _a2a("Agent card caching"),
    ),
    _req(
        "A2A-CONTENT-TYPE",
        "MUST",
        "A part of a media type the card does not declare is refused with ContentTypeNotSupportedError, "
        "before any task exists",
        _a2a("Content types: input modes"),
    ),
    _req(
        "A2A-FOLLOW-UP-TASK-ID",
        "MUST",
        "A follow-up naming only its taskId continues that task in the task's context",
        _a2a("Multi-turn interactions: taskId without contextId"),
    ),
    _req(
        "A2A-STREAM-FOLLOW-UP",
        "MUST",
        "A streamed follow-up to a task begins with the Task object",
        _a2a("SendStreamingMessage: first event"),
    ),
    _req(
        "A2A-TASKS-SUCCEED",
        "SHOULD",
        "Not every task the kit created ended FAILED (else the other checks saw only failures)",
        _a2a("Kit sanity: the message can be carried out"),
    ),
)

_BY_ID = {req.id: req for req in REQUIREMENTS}


def requirement(rid: str) -> Requirement:
    """The requirement with id ``rid`` (KeyError names the id)."""
    return _BY_ID[rid]


def requirements_for(protocol: Protocol) -> tuple[Requirement, ...]:
    return tuple(req for req in REQUIREMENTS if req.protocol == protocol)
