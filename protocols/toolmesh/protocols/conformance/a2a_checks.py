"""A2A 1.0 checks, runnable against any agent: the card, then every operation on each advertised binding.

The card checks run once; the operation checks run once per reachable interface (JSON-RPC, HTTP+JSON
and gRPC). Messages are plain text chosen by the user (``--message``); the
kit never assumes skill names. Checks that need a behaviour the agent may not have (a running task to
cancel, an input-required turn) skip with a reason unless the user supplies a message that triggers it.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urljoin, urlsplit

import anyio
import httpx
from a2a.client import ClientCallContext, ClientConfig, ClientFactory
from a2a.types import Message, Role, SendMessageRequest, a2a_pb2
from google.protobuf.json_format import ParseDict  # type: ignore[import-untyped]

from toolmesh.protocols.cards import CardError, check_interface_url
from toolmesh.protocols.conformance.a2a_grpc import GrpcBinding, grpc_error_codes
from toolmesh.protocols.conformance.a2a_wire import (
    TERMINAL_STATES,
    Binding,
    JsonRpcBinding,
    Reply,
    RestBinding,
    proto_problem,
    user_message,
)
from toolmesh.protocols.conformance.report import CheckResult, Outcome, Report
from toolmesh.protocols.conformance.runner import (
    CheckRegistry,
    Finding,
    failed,
    passed,
    run_checks,
    skipped,
)

__all__ = [
    "A2A_BINDING_CHECKS",
    "A2A_CARD_CHECKS",
    "A2aOptions",
    "BindingContext",
    "CardContext",
    "card_url",
    "check_a2a",
]

WELL_KNOWN = "/.well-known/agent-card.json"
_STATES = frozenset(a2a_pb2.TaskState.keys()) - {"TASK_STATE_UNSPECIFIED"}
_BINDINGS: dict[str, type[Binding]] = {
    "JSONRPC": JsonRpcBinding,
    "HTTP+JSON": RestBinding,
    "GRPC": GrpcBinding,
}
_PUSH_URL = "https://push.example.invalid/toolmesh-conformance"

A2A_CARD_CHECKS: CheckRegistry[CardContext] = CheckRegistry("a2a")
A2A_BINDING_CHECKS: CheckRegistry[BindingContext] = CheckRegistry("a2a")


@dataclass(frozen=True, slots=True)
class A2aOptions:
    message: str = "Hello from the toolmesh conformance kit. Please reply briefly."
    # A message that makes the agent work long enough to be cancelled (e.g. "please wait"); default: message.
    slow_message: str | None = None
    # A message that makes the agent ask for input, and the reply that answers it.
    input_message: str | None = None
    input_reply: str = "yes"
    timeout: float = 30.0
    bindings: frozenset[str] | None = None  # only these protocolBindings
    headers: dict[str, str] = field(default_factory=dict)
    only: frozenset[str] | None = None
    # The webhook URL used to exercise the push-config methods. The default never resolves, so an agent that
    # screens webhook URLs (as it should) refuses it; give a URL that agent accepts to check those methods.
    push_url: str = _PUSH_URL


@dataclass(slots=True)
class CardContext:
    url: str  # where the card was fetched
    client: httpx.AsyncClient
    options: A2aOptions
    status: int | None = None
    content_type: str = ""
    cache_control: str | None = None
    card: dict[str, Any] | None = None
    problem: str | None = None

    def interfaces(self) -> list[dict[str, Any]]:
        items = (self.card or {}).get("supportedInterfaces")
        return [i for i in items if isinstance(i, dict)] if isinstance(items, list) else []


def _state(task: dict[str, Any] | None) -> str | None:
    status = (task or {}).get("status")
    state = status.get("state") if isinstance(status, dict) else None
    return state if isinstance(state, str) else None


class BindingContext:
    """The per-binding state the operation checks share: the first task and its settled form."""

    def __init__(self, binding: Binding, card: dict[str, Any], options: A2aOptions):
        self.binding = binding
        self.card = card
        self.options = options
        self._first: Reply | None = None
        self._resumed: dict[str, Reply] = {}
        self.tasks_seen: list[dict[str, Any]] = []

    @property
    def capabilities(self) -> dict[str, Any]:
        caps = self.card.get("capabilities")
        return caps if isinstance(caps, dict) else {}

    @property
    def input_modes(self) -> set[str]:
        """Every media type the card says the agent takes (its defaults and each skill's)."""
        modes = {m for m in self.card.get("defaultInputModes") or [] if isinstance(m, str)}
        for skill in self.card.get("skills") or []:
            if isinstance(skill, dict):
                modes.update(m for m in skill.get("inputModes") or [] if isinstance(m, str))
        return modes

    def request(
        self, text: str, *, task_id: str = "", context_id: str = "", blocking: bool = True
    ) -> dict[str, Any]:
        """SendMessage params for ``text``: a text part, or a JSON one for an agent that takes only JSON."""
        modes = self.input_modes
        part = None
        if modes and "text/plain" not in modes and "*/*" not in modes and "application/json" in modes:
            part = {"data": {"message": text}, "mediaType": "application/json"}
        message = user_message(text, task_id=task_id, context_id=context_id, part=part)
        return {"message": message, "configuration": {"returnImmediately": not blocking}}

    async def first(self) -> Reply:
        """SendMessage of the user's message (once per binding)."""
        if self._first is None:
            self._first = await self.binding.send_message(self.request(self.options.message))
            if (task := (self._first.result or {}).get("task")) and isinstance(task, dict):
                self.tasks_seen.append(task)
        return self._first

    async def first_task(self) -> dict[str, Any] | Finding:
        """The first task, polled with GetTask until it is terminal or interrupted (bounded)."""
        reply = await self.first()
        if not reply.ok:
            return failed(f"SendMessage failed: {reply.describe()}")
        task = (reply.result or {}).get("task")
        if not isinstance(task, dict):
            return skipped("the agent answered with a Message, not a Task")
        return await self.settle(task)

    async def settle(self, task: dict[str, Any]) -> dict[str, Any]:
        with anyio.move_on_after(self.options.timeout):
            while _state(task) not in TERMINAL_STATES and _state(task) not in (
                "TASK_STATE_INPUT_REQUIRED",
                "TASK_STATE_AUTH_REQUIRED",
            ):
                await anyio.sleep(0.2)  # polling a remote agent: there is no event to wait on
                reply = await self.binding.get_task(str(task.get("id")))
                if not reply.ok or reply.result is None:
                    break
                task = reply.result
        self.tasks_seen.append(task)
        return task

    async def resume(self, task: dict[str, Any]) -> Reply:
        """Answer an input-required task with the user's reply (once per task)."""
        task_id = str(task.get("id"))
        if task_id not in self._resumed:
            context_id = str(task.get("contextId"))
            request = self.request(self.options.input_reply, task_id=task_id, context_id=context_id)
            self._resumed[task_id] = await self.binding.send_message(request)
        return self._resumed[task_id]

    async def terminal_task(self) -> dict[str, Any] | Finding:
        """The first task once terminal; an input-required first task is answered first."""
        task = await self.first_task()
        if isinstance(task, Finding):
            return task
        if _state(task) == "TASK_STATE_INPUT_REQUIRED":
            reply = await self.resume(task)
            resumed = (reply.result or {}).get("task") if reply.ok else None
            if isinstance(resumed, dict) and resumed.get("id") == task.get("id"):
                task = await self.settle(resumed)
        if _state(task) not in TERMINAL_STATES:
            return skipped(f"the first task did not reach a terminal state ({_state(task)})")
        return task


def _reason_ok(reply: Reply, *reasons: str) -> bool:
    return not reply.ok and reply.reason in reasons


# --------------------------------------------------------------------------- the card


@A2A_CARD_CHECKS.check("A2A-CARD-WELL-KNOWN")
async def check_well_known(ctx: CardContext) -> Finding:
    if ctx.card is None:
        return failed(ctx.problem or "no card")
    if not urlsplit(ctx.url).path.endswith(WELL_KNOWN):
        return failed(f"card fetched from {ctx.url}, not the well-known path")
    if "json" not in ctx.content_type:
        return failed(f"served with content-type {ctx.content_type!r}, not JSON")
    return passed(f"HTTP {ctx.status} {ctx.content_type}")


@A2A_CARD_CHECKS.check("A2A-CARD-FIELDS")
async def check_card_fields(ctx: CardContext) -> Finding:
    card = ctx.card
    if card is None:
        return failed(ctx.problem or "no card")
    problems: list[str] = []
    for key in ("name", "description", "version"):
        if not isinstance(card.get(key), str) or not card.get(key):
            problems.append(f"{key} missing")
    for key in ("defaultInputModes", "defaultOutputModes"):
        if not isinstance(card.get(key), list) or not card.get(key):
            problems.append(f"{key} missing or empty")
    if not isinstance(card.get("capabilities"), dict):
        problems.append("capabilities missing")
    interfaces = ctx.interfaces()
    if not interfaces:
        problems.append("supportedInterfaces missing or empty")
    for iface in interfaces:
        url = iface.get("url")
        try:  # http(s) URLs; host:port for GRPC (A2A 1.0)
            check_interface_url(str(url or ""), str(iface.get("protocolBinding") or ""), field="url")
        except CardError as exc:
            problems.append(f"interface url {url!r}: {exc.message}")
        for key in ("protocolBinding", "protocolVersion"):
            if not isinstance(iface.get(key), str) or not iface.get(key):
                problems.append(f"interface {url}: {key} missing")
    if (problem := proto_problem(card, a2a_pb2.AgentCard)) is not None:
        problems.append(f"does not parse as an AgentCard: {problem}")
    if problems:
        return failed("; ".join(problems[:6]))
    return passed(f"{card.get('name')} {card.get('version')}: {len(interfaces)} interface(s)")


@A2A_CARD_CHECKS.check("A2A-CARD-SKILLS")
async def check_card_skills(ctx: CardContext) -> Finding:
    if ctx.card is None:
        return failed(ctx.problem or "no card")
    skills = ctx.card.get("skills")
    if not isinstance(skills, list) or not skills:
        return failed("the card lists no skills")
    problems: list[str] = []
    ids = [s.get("id") for s in skills if isinstance(s, dict)]
    for skill in skills:
        if not isinstance(skill, dict):
            problems.append("a skill is not an object")
            continue
        for key in ("id", "name", "description"):
            if not isinstance(skill.get(key), str) or not skill.get(key):
                problems.append(f"skill {skill.get('id')!r}: {key} missing")
        if not isinstance(skill.get("tags"), list) or not skill.get("tags"):
            problems.append(f"skill {skill.get('id')!r}: tags missing")
    dupes = sorted({str(i) for i in ids if ids.count(i) > 1})
    if dupes:
        problems.append(f"duplicate skill ids: {', '.join(dupes)}")
    if problems:
        return failed("; ".join(problems[:6]))
    return passed(f"{len(skills)} skill(s): {', '.join(str(i) for i in ids[:6])}")


@A2A_CARD_CHECKS.check("A2A-INTERFACES-REACHABLE", timeout=60)
async def check_interfaces(ctx: CardContext) -> Finding:
    if ctx.card is None:
        return failed(ctx.problem or "no card")
    interfaces = ctx.interfaces()
    if not interfaces:
        return failed("no interfaces advertised")
    notes: list[str] = []
    problems: list[str] = []
    for iface in interfaces:
        binding_name, url = str(iface.get("protocolBinding")), str(iface.get("url"))
        cls = _BINDINGS.get(binding_name)
        if cls is None:
            notes.append(f"{binding_name} {url}: not checked (the kit speaks JSONRPC, HTTP+JSON and GRPC)")
            continue
        binding = cls(url, ctx.client, timeout=ctx.options.timeout)
        try:
            reply = await binding.probe()
        except httpx.HTTPError as exc:
            problems.append(f"{binding_name} {url}: {type(exc).__name__}: {exc}")
            continue
        finally:
            await binding.aclose()
        if reply.reason == "TASK_NOT_FOUND":
            notes.append(f"{binding_name} {url}: answers")
        else:
            problems.append(f"{binding_name} {url}: GetTask(unknown id) gave {reply.describe()}")
    if problems:
        return failed("; ".join(problems[:4]))
    return passed("; ".join(notes))


# --------------------------------------------------------------------------- operations


async def _sdk_send(ctx: BindingContext) -> str | None:
    """Send the message with the official a2a-sdk client pinned to this interface; the problem, if any."""
    card = a2a_pb2.AgentCard()
    ParseDict(ctx.card, card, ignore_unknown_fields=True)
    del card.supported_interfaces[:]
    card.supported_interfaces.add(
        url=ctx.binding.url, protocol_binding=ctx.binding.name, protocol_version="1.0"
    )
    config = ClientConfig(
        streaming=False, supported_protocol_bindings=[ctx.binding.name], **ctx.binding.sdk_config()
    )
    message = Message(role=Role.ROLE_USER, message_id=str(uuid.uuid4()))
    ParseDict({"parts": ctx.request(ctx.options.message)["message"]["parts"]}, message)
    metadata = ctx.binding.sdk_metadata()
    call = ClientCallContext(service_parameters=metadata) if metadata else None
    try:
        client = ClientFactory(config).create(card)
        try:
            request = SendMessageRequest(message=message)
            events = [event async for event in client.send_message(request, context=call)]
        finally:
            if ctx.binding.name == "GRPC":  # its own channel; the HTTP client is the kit's
                await client.close()
    except Exception as exc:  # any failure of the reference client is the finding
        return f"{type(exc).__name__}: {exc}"
    if not events or events[-1].WhichOneof("payload") not in ("task", "message"):
        return f"it got {[e.WhichOneof('payload') for e in events]} instead of a task or message"
    return None


@A2A_BINDING_CHECKS.check("A2A-SEND-MESSAGE", timeout=90)
async def check_send_message(ctx: BindingContext) -> Finding:
    reply = await ctx.first()
    if not reply.ok or reply.result is None:
        return failed(f"SendMessage: {reply.describe()}")
    if (problem := proto_problem(reply.result, a2a_pb2.SendMessageResponse)) is not None:
        return failed(f"result is not a SendMessageResponse: {problem}")
    result = reply.result
    if ("task" in result) == ("message" in result):
        return failed("result must hold exactly one of task and message")
    if (problem := await _sdk_send(ctx)) is not None:
        return failed(f"the official a2a-sdk client could not use this interface: {problem}")
    if isinstance(task := result.get("task"), dict):
        if not task.get("id") or not task.get("contextId"):
            return failed("the task has no id or no contextId")
        if _state(task) not in _STATES:
            return failed(f"the task state {_state(task)!r} is not a TaskState")
        return passed(f"task {str(task['id'])[:12]}… {_state(task)}")
    message = result["message"]
    if message.get("role") != "ROLE_AGENT" or not message.get("parts"):
        return failed("the reply message is not an agent message with parts")
    return passed("agent replied with a Message")


@A2A_BINDING_CHECKS.check("A2A-STREAMING", timeout=90)
async def check_streaming(ctx: BindingContext) -> Finding:
    request = ctx.request(ctx.options.message)
    reply = await ctx.binding.stream_message(request)
    if not ctx.capabilities.get("streaming"):
        if reply.ok and reply.events:
            return failed("the card says streaming is off, yet SendStreamingMessage streamed")
        if _reason_ok(reply, "UNSUPPORTED_OPERATION"):
            return passed("streaming is off and the request is refused with UnsupportedOperationError")
        return failed(f"streaming is off; expected UnsupportedOperationError, got {reply.describe()}")
    if not reply.ok:
        return failed(f"SendStreamingMessage: {reply.describe()}")
    if not reply.content_type.startswith(ctx.binding.stream_media):
        return failed(f"not a stream ({ctx.binding.stream_media}): {reply.content_type!r}")
    if not reply.events:
        return failed("the stream carried no events")
    task_ids: set[str] = set()
    last_state: str | None = None
    for number, event in enumerate(reply.events, 1):
        if (problem := proto_problem(event, a2a_pb2.StreamResponse)) is not None:
            return failed(f"event {number} is not a StreamResponse: {problem}")
        kinds = [k for k in ("task", "message", "statusUpdate", "artifactUpdate") if k in event]
        if len(kinds) != 1:
            return failed(f"event {number} holds {kinds or 'no payload'}, not exactly one")
        payload = event[kinds[0]]
        if kinds[0] == "task":
            task_ids.add(str(payload.get("id")))
            last_state = _state(payload) or last_state
            ctx.tasks_seen.append(payload)
        elif kinds[0] in ("statusUpdate", "artifactUpdate"):
            task_ids.add(str(payload.get("taskId")))
            if kinds[0] == "statusUpdate":
                last_state = _state(payload) or last_state
    if not ({"task", "message"} & set(reply.events[0])):
        return failed(f"the first event is {', '.join(reply.events[0])}, not a task or message")
    if len(task_ids) > 1:
        return failed(f"events name {len(task_ids)} different tasks")
    if "message" in reply.events[-1]:
        return passed(f"{len(reply.events)} event(s), ended with a message")
    if last_state not in TERMINAL_STATES and last_state not in (
        "TASK_STATE_INPUT_REQUIRED",
        "TASK_STATE_AUTH_REQUIRED",
    ):
        return failed(f"the stream ended in {last_state}, not a terminal or interrupted state")
    return passed(f"{len(reply.events)} event(s), ended in {last_state}")


@A2A_BINDING_CHECKS.check("A2A-GET-TASK", timeout=90)
async def check_get_task(ctx: BindingContext) -> Finding:
    task = await ctx.first_task()
    if isinstance(task, Finding):
        return task
    task_id = str(task.get("id"))
    reply = await ctx.binding.get_task(task_id, history_length=1)
    if not reply.ok or reply.result is None:
        return failed(f"GetTask({task_id[:12]}…): {reply.describe()}")
    if (problem := proto_problem(reply.result, a2a_pb2.Task)) is not None:
        return failed(f"not a Task: {problem}")
    if reply.result.get("id") != task_id:
        return failed(f"asked for {task_id}, got {reply.result.get('id')}")
    history = reply.result.get("history") or []
    if len(history) > 1:
        return failed(f"historyLength=1 returned {len(history)} messages")
    unknown = await ctx.binding.get_task(f"toolmesh-conformance-{uuid.uuid4()}")
    if not _reason_ok(unknown, "TASK_NOT_FOUND"):
        return failed(f"GetTask(unknown id): expected TaskNotFoundError, got {unknown.describe()}")
    return passed(
        f"task found ({_state(reply.result)}); historyLength honoured; unknown id: TaskNotFoundError"
    )


@A2A_BINDING_CHECKS.check("A2A-LIST-TASKS", timeout=60)
async def check_list_tasks(ctx: BindingContext) -> Finding:
    task = await ctx.first_task()
    if isinstance(task, Finding):
        return task
    context_id = str(task.get("contextId"))
    reply = await ctx.binding.list_tasks(context_id=context_id, page_size=50)
    if not reply.ok or reply.result is None:
        return failed(f"ListTasks: {reply.describe()}")
    if (problem := proto_problem(reply.result, a2a_pb2.ListTasksResponse)) is not None:
        return failed(f"not a ListTasksResponse: {problem}")
    tasks = reply.result.get("tasks") or []
    others = [t for t in tasks if t.get("contextId") != context_id]
    if others:
        return failed(f"{len(others)} task(s) from other contexts returned for contextId={context_id[:12]}…")
    if task.get("id") not in {t.get("id") for t in tasks}:
        return failed("the task just created is not listed in its context")
    page = await ctx.binding.list_tasks(context_id=context_id, page_size=1)
    if not page.ok or len((page.result or {}).get("tasks") or []) > 1:
        return failed(
            f"pageSize=1: {page.describe()} with {len((page.result or {}).get('tasks') or [])} tasks"
        )
    return passed(f"{len(tasks)} task(s) in the context; pageSize honoured")


@A2A_BINDING_CHECKS.check("A2A-CANCEL-TASK", timeout=90)
async def check_cancel_task(ctx: BindingContext) -> Finding:
    notes: list[str] = []
    unknown = await ctx.binding.cancel_task(f"toolmesh-conformance-{uuid.uuid4()}")
    if not _reason_ok(unknown, "TASK_NOT_FOUND"):
        return failed(f"CancelTask(unknown id): expected TaskNotFoundError, got {unknown.describe()}")
    notes.append("unknown id: TaskNotFoundError")
    task = await ctx.terminal_task()
    if isinstance(task, dict):
        done = await ctx.binding.cancel_task(str(task.get("id")))
        if not _reason_ok(done, "TASK_NOT_CANCELABLE"):
            return failed(
                f"CancelTask({_state(task)} task): expected TaskNotCancelableError, got {done.describe()}"
            )
        notes.append(f"{_state(task)} task: TaskNotCancelableError")
    slow = ctx.options.slow_message or ctx.options.message
    started = await ctx.binding.send_message(ctx.request(slow, blocking=False))
    running = (started.result or {}).get("task") if started.ok else None
    if not isinstance(running, dict) or _state(running) in TERMINAL_STATES:
        notes.append("no running task to cancel (pass --slow-message)")
        return passed("; ".join(notes))
    reply = await ctx.binding.cancel_task(str(running.get("id")))
    if reply.ok:
        state = _state(reply.result)
        settled = await ctx.settle(reply.result or {})
        if state != "TASK_STATE_CANCELED" and _state(settled) != "TASK_STATE_CANCELED":
            return failed(f"CancelTask of a {_state(running)} task answered state {state}")
        notes.append("running task: canceled")
    elif reply.reason == "TASK_NOT_CANCELABLE":
        after = await ctx.binding.get_task(str(running.get("id")))
        if _state(after.result) not in TERMINAL_STATES:
            return failed(f"TaskNotCancelableError, yet the task is {_state(after.result)}")
        notes.append("running task finished first: TaskNotCancelableError")
    else:
        return failed(f"CancelTask of a running task: {reply.describe()}")
    return passed("; ".join(notes))


@A2A_BINDING_CHECKS.check("A2A-SUBSCRIBE", timeout=60)
async def check_subscribe(ctx: BindingContext) -> Finding:
    notes: list[str] = []
    unknown = await ctx.binding.subscribe(f"toolmesh-conformance-{uuid.uuid4()}")
    if unknown.ok:
        return failed(f"SubscribeToTask of an unknown id was accepted ({len(unknown.events)} events)")
    if ctx.capabilities.get("streaming") and unknown.reason != "TASK_NOT_FOUND":
        return failed(f"SubscribeToTask(unknown id): expected TaskNotFoundError, got {unknown.describe()}")
    notes.append(f"unknown id: {unknown.reason}")
    task = await ctx.terminal_task()
    if isinstance(task, dict):
        reply = await ctx.binding.subscribe(str(task.get("id")))
        if reply.ok:
            return failed(
                f"SubscribeToTask of a {_state(task)} task was accepted ({len(reply.events)} events)"
            )
        if reply.reason != "UNSUPPORTED_OPERATION":
            return failed(f"{_state(task)} task: expected UnsupportedOperationError, got {reply.describe()}")
        notes.append(f"{_state(task)} task: UnsupportedOperationError")
    if ctx.capabilities.get("streaming") and ctx.options.slow_message:
        started = await ctx.binding.send_message(ctx.request(ctx.options.slow_message, blocking=False))
        running = (started.result or {}).get("task") if started.ok else None
        if isinstance(running, dict) and _state(running) not in TERMINAL_STATES:
            task_id = str(running.get("id"))
            live = await ctx.binding.subscribe(task_id, max_events=1)
            await ctx.binding.cancel_task(task_id)  # do not leave the slow task running
            first = live.events[0] if live.ok and live.events else {}
            snapshot = first.get("task") if isinstance(first.get("task"), dict) else None
            if snapshot is None or snapshot.get("id") != task_id:
                return failed(
                    f"SubscribeToTask of a running task: first event is not its Task ({live.describe()})"
                )
            notes.append("running task: first event is its Task snapshot")
    if len(notes) == 1 and not ctx.capabilities.get("streaming"):
        return passed(f"streaming is off; {notes[0]}")
    return passed("; ".join(notes))


@A2A_BINDING_CHECKS.check("A2A-PUSH-CONFIG", timeout=60)
async def check_push_config(ctx: BindingContext) -> Finding:
    task = await ctx.first_task()
    if isinstance(task, Finding):
        return task
    task_id = str(task.get("id"))
    token = uuid.uuid4().hex
    push_url = ctx.options.push_url
    created = await ctx.binding.create_push(task_id, push_url, token)
    if not ctx.capabilities.get("pushNotifications"):
        if _reason_ok(created, "PUSH_NOTIFICATION_NOT_SUPPORTED", "UNSUPPORTED_OPERATION"):
            return passed(f"push notifications are off: {created.reason}")
        return failed(f"push is off; expected PushNotificationNotSupportedError, got {created.describe()}")
    if not created.ok and "url" in created.describe().lower() and "invalid" in created.describe().lower():
        # Screening webhook URLs is right (SSRF); the agent refused the one we offered.
        return skipped(
            f"the agent refused the webhook URL {push_url!r} ({created.describe()}); "
            "pass --push-url with a URL it accepts to check the push-config methods"
        )
    if not created.ok or created.result is None:
        return failed(f"CreateTaskPushNotificationConfig: {created.describe()}")
    config_id = str(created.result.get("id") or "")
    if created.result.get("url") != push_url or not config_id:
        return failed(f"the created config has url {created.result.get('url')!r}, id {config_id!r}")
    got = await ctx.binding.get_push(task_id, config_id)
    if not got.ok or (got.result or {}).get("url") != push_url:
        return failed(f"GetTaskPushNotificationConfig: {got.describe()}")
    listed = await ctx.binding.list_push(task_id)
    configs = (listed.result or {}).get("configs") or []
    if not listed.ok or config_id not in {c.get("id") for c in configs}:
        return failed(f"ListTaskPushNotificationConfigs does not list it: {listed.describe()}")
    deleted = await ctx.binding.delete_push(task_id, config_id)
    if not deleted.ok:
        return failed(f"DeleteTaskPushNotificationConfig: {deleted.describe()}")
    after = await ctx.binding.list_push(task_id)
    if config_id in {c.get("id") for c in (after.result or {}).get("configs") or []}:
        return failed("the deleted config is still listed")
    return passed("create, get, list and delete work")


@A2A_BINDING_CHECKS.check("A2A-TERMINAL-STATE", timeout=60)
async def check_terminal_state(ctx: BindingContext) -> Finding:
    task = await ctx.terminal_task()
    if isinstance(task, Finding):
        return task
    state = _state(task)
    follow = await ctx.binding.send_message(
        ctx.request(ctx.options.message, task_id=str(task.get("id")), context_id=str(task.get("contextId")))
    )
    if follow.ok:
        new = (follow.result or {}).get("task") or {}
        return failed(f"a follow-up to a {state} task was accepted (now {_state(new)})")
    after = await ctx.binding.get_task(str(task.get("id")))
    if _state(after.result) != state:
        return failed(f"after a refused follow-up the task moved from {state} to {_state(after.result)}")
    return passed(f"follow-up refused ({follow.reason}); task still {state}")


@A2A_BINDING_CHECKS.check("A2A-ERROR-CODES")
async def check_error_codes(ctx: BindingContext) -> Finding:
    binding = ctx.binding
    expected: list[tuple[str, Reply, str, int]] = []
    bad_params = await binding.send_message({"message": "not-a-message"})
    malformed = await binding.malformed()
    if isinstance(binding, GrpcBinding):
        return await grpc_error_codes(binding, malformed)
    if isinstance(binding, JsonRpcBinding):
        unknown = await binding.call("toolmesh/NoSuchMethod", {})
        expected = [
            ("unknown method", unknown, "METHOD_NOT_FOUND", -32601),
            ("malformed JSON", malformed, "PARSE_ERROR", -32700),
            ("invalid params", bad_params, "INVALID_PARAMS", -32602),
        ]
        problems = [
            f"{label}: expected {code}, got {reply.describe()}"
            for label, reply, _, code in expected
            if reply.code != code
        ]
    else:
        missing = await binding.get_task(f"toolmesh-conformance-{uuid.uuid4()}")
        expected = [
            ("malformed JSON", malformed, "", 400),
            ("invalid params", bad_params, "", 400),
            ("unknown task", missing, "TASK_NOT_FOUND", 404),
        ]
        problems = [
            f"{label}: expected HTTP {status}, got {reply.describe()}"
            for label, reply, _, status in expected
            if reply.status != status
        ]
    if problems:
        return failed("; ".join(problems))
    return passed(", ".join(f"{label}: {reply.code}" for label, reply, _, _ in expected))


@A2A_BINDING_CHECKS.check("A2A-VERSION", timeout=60)
async def check_version(ctx: BindingContext) -> Finding:
    task = await ctx.first_task()
    if isinstance(task, Finding):
        return task
    task_id = str(task.get("id"))
    current = await ctx.binding.get_task(task_id, version="1.0")
    if not current.ok:
        return failed(f"A2A-Version: 1.0 refused: {current.describe()}")
    future = await ctx.binding.get_task(task_id, version="99.0")
    if future.ok:
        return failed("A2A-Version: 99.0 was served instead of refused")
    if future.reason != "VERSION_NOT_SUPPORTED":
        return failed(f"A2A-Version: 99.0: expected VersionNotSupportedError, got {future.describe()}")
    return passed("1.0 accepted; 99.0 refused with VersionNotSupportedError")


@A2A_BINDING_CHECKS.check("A2A-CONTEXT", timeout=90)
async def check_context(ctx: BindingContext) -> Finding:
    first = await ctx.first()
    if not first.ok or first.result is None:
        return failed(f"SendMessage failed: {first.describe()}")
    payload = first.result.get("task") or first.result.get("message") or {}
    context_id = payload.get("contextId")
    if not context_id:
        return skipped("the first reply carries no contextId")
    reply = await ctx.binding.send_message(ctx.request(ctx.options.message, context_id=str(context_id)))
    if not reply.ok or reply.result is None:
        return failed(f"follow-up in the context: {reply.describe()}")
    payload = reply.result.get("task") or reply.result.get("message") or {}
    if isinstance(task := reply.result.get("task"), dict):
        ctx.tasks_seen.append(task)
    if payload.get("contextId") != context_id:
        return failed(f"follow-up with contextId {context_id} came back in {payload.get('contextId')}")
    return passed(f"follow-up stayed in context {str(context_id)[:12]}…")


@A2A_BINDING_CHECKS.check("A2A-INPUT-REQUIRED", timeout=90)
async def check_input_required(ctx: BindingContext) -> Finding:
    asking = [t for t in ctx.tasks_seen if _state(t) == "TASK_STATE_INPUT_REQUIRED"]
    if not asking and ctx.options.input_message:
        reply = await ctx.binding.send_message(ctx.request(ctx.options.input_message))
        task = (reply.result or {}).get("task") if reply.ok else None
        if isinstance(task, dict):
            task = await ctx.settle(task)
            if _state(task) == "TASK_STATE_INPUT_REQUIRED":
                asking = [task]
    if not asking:
        return skipped("the agent never asked for input (pass --input-message to trigger it)")
    task = asking[0]
    task_id, context_id = str(task.get("id")), str(task.get("contextId"))
    reply = await ctx.binding.send_message(
        ctx.request(ctx.options.input_reply, task_id=task_id, context_id=context_id)
    )
    if not reply.ok:
        return failed(f"the answer to an input-required task was refused: {reply.describe()}")
    resumed = (reply.result or {}).get("task")
    if not isinstance(resumed, dict):
        return failed("the answer to an input-required task came back without the task")
    if resumed.get("id") != task_id:
        return failed(f"the answer went to task {resumed.get('id')} instead of {task_id}")
    if resumed.get("contextId") != context_id:
        return failed(f"the answer came back in context {resumed.get('contextId')} instead of {context_id}")
    resumed = await ctx.settle(resumed)
    return passed(f"resumed the same task; now {_state(resumed)}")


@A2A_BINDING_CHECKS.check("A2A-ARTIFACTS", timeout=60)
async def check_artifacts(ctx: BindingContext) -> Finding:
    artifacts: list[dict[str, Any]] = []
    for task in ctx.tasks_seen:
        artifacts.extend(a for a in task.get("artifacts") or [] if isinstance(a, dict))
    fetched = await ctx.first_task()
    if isinstance(fetched, dict):
        reply = await ctx.binding.get_task(str(fetched.get("id")))
        artifacts.extend(a for a in (reply.result or {}).get("artifacts") or [] if isinstance(a, dict))
    artifacts = list({str(a.get("artifactId")) + repr(a.get("parts")): a for a in artifacts}.values())
    if not artifacts:
        return skipped("no task produced artifacts")
    problems: list[str] = []
    for artifact in artifacts:
        if not artifact.get("artifactId"):
            problems.append("an artifact has no artifactId")
        if not artifact.get("parts"):
            problems.append(f"artifact {artifact.get('artifactId')!r} has no parts")
        if (problem := proto_problem(artifact, a2a_pb2.Artifact)) is not None:
            problems.append(f"artifact {artifact.get('artifactId')!r}: {problem}")
    if problems:
        return failed("; ".join(sorted(set(problems))[:4]))
    return passed(f"{len(artifacts)} artifact(s) well formed")


# --------------------------------------------------------------------------- run


def card_url(url: str) -> str:
    """The card URL for what the user gave: the card itself, or a base URL."""
    if urlsplit(url).path.endswith(".json"):
        return url
    return urljoin(url.rstrip("/") + "/", WELL_KNOWN.lstrip("/"))


@A2A_CARD_CHECKS.check("A2A-CARD-CACHING")
async def check_card_caching(ctx: CardContext) -> Finding:
    if ctx.card is None:
        return skipped(ctx.problem or "no card")
    if not ctx.cache_control:
        return failed("the card is served without Cache-Control (caches can only guess how long it holds)")
    return passed(f"Cache-Control: {ctx.cache_control}")


_UNSUPPORTED_MEDIA = "application/x-toolmesh-conformance-unsupported"


@A2A_BINDING_CHECKS.check("A2A-CONTENT-TYPE", timeout=60)
async def check_content_type(ctx: BindingContext) -> Finding:
    modes = ctx.input_modes
    if not modes or "*/*" in modes:
        return skipped("the card accepts every media type")
    message = user_message("", part={"raw": "AAAA", "mediaType": _UNSUPPORTED_MEDIA})
    reply = await ctx.binding.send_message({"message": message})
    if _reason_ok(reply, "CONTENT_TYPE_NOT_SUPPORTED"):
        return passed(f"a {_UNSUPPORTED_MEDIA} part: ContentTypeNotSupportedError")
    if reply.ok:
        task = (reply.result or {}).get("task")
        state = _state(task) if isinstance(task, dict) else "a message"
        return failed(f"a part of a media type the card does not declare was accepted ({state})")
    return failed(
        f"a part of an undeclared media type: expected ContentTypeNotSupportedError, got {reply.describe()}"
    )


async def _asking_task(ctx: BindingContext) -> dict[str, Any] | None:
    """A fresh input-required task (from --input-message), or None."""
    if not ctx.options.input_message:
        return None
    reply = await ctx.binding.send_message(ctx.request(ctx.options.input_message))
    task = (reply.result or {}).get("task") if reply.ok else None
    if not isinstance(task, dict):
        return None
    task = await ctx.settle(task)
    return task if _state(task) == "TASK_STATE_INPUT_REQUIRED" else None


@A2A_BINDING_CHECKS.check("A2A-FOLLOW-UP-TASK-ID", timeout=90)
async def check_follow_up_by_task_id(ctx: BindingContext) -> Finding:
    asking = await _asking_task(ctx)
    target = asking or await ctx.terminal_task()
    if isinstance(target, Finding):
        return target
    task_id, context_id = str(target.get("id")), str(target.get("contextId"))
    reply = await ctx.binding.send_message(ctx.request(ctx.options.input_reply, task_id=task_id))
    if asking is None:  # a terminal task: the follow-up must be refused, not answered elsewhere
        if reply.ok:
            resumed = (reply.result or {}).get("task") or (reply.result or {}).get("message") or {}
            if resumed.get("contextId") not in (None, context_id):
                return failed(f"a taskId-only follow-up came back in context {resumed.get('contextId')}")
        return passed(f"a taskId-only follow-up to a {_state(target)} task: {reply.describe()}")
    if not reply.ok:
        return failed(f"a taskId-only answer to an input-required task was refused: {reply.describe()}")
    resumed = (reply.result or {}).get("task")
    if not isinstance(resumed, dict) or resumed.get("id") != task_id:
        return failed("a taskId-only answer did not come back as the same task")
    if resumed.get("contextId") != context_id:
        return failed(
            f"a taskId-only answer came back in context {resumed.get('contextId')}, not {context_id}"
        )
    settled = await ctx.settle(resumed)
    if _state(settled) == "TASK_STATE_FAILED":
        return failed(f"the task failed after a taskId-only answer: {settled.get('status')}")
    fetched = await ctx.binding.get_task(task_id)
    task = fetched.result if fetched.ok and fetched.result else settled
    messages = [*(task.get("history") or []), (task.get("status") or {}).get("message") or {}]
    stray = {str(m.get("contextId")) for m in messages if isinstance(m, dict) and m.get("contextId")}
    stray.discard(context_id)
    if stray:
        return failed(f"after a taskId-only answer the task's messages carry context(s) {', '.join(stray)}")
    return passed(f"a taskId-only answer kept context {context_id[:12]}…; now {_state(settled)}")


@A2A_BINDING_CHECKS.check("A2A-STREAM-FOLLOW-UP", timeout=90)
async def check_streamed_follow_up(ctx: BindingContext) -> Finding:
    if not ctx.capabilities.get("streaming"):
        return skipped("streaming is off")
    asking = await _asking_task(ctx)
    if asking is None:
        return skipped("no input-required task to follow up (pass --input-message to trigger one)")
    task_id, context_id = str(asking.get("id")), str(asking.get("contextId"))
    request = ctx.request(ctx.options.input_reply, task_id=task_id, context_id=context_id)
    reply = await ctx.binding.stream_message(request)
    if not reply.ok or not reply.events:
        return failed(f"a streamed follow-up: {reply.describe()}")
    first = reply.events[0]
    if "task" not in first:
        return failed(f"a streamed follow-up began with {', '.join(first)}, not the task (A2A §3.1.2)")
    if first["task"].get("id") != task_id:
        return failed(f"a streamed follow-up began with task {first['task'].get('id')}, not {task_id}")
    return passed(f"a streamed follow-up began with the task; {len(reply.events)} event(s)")


@A2A_BINDING_CHECKS.check("A2A-TASKS-SUCCEED", timeout=30)
async def check_tasks_succeed(ctx: BindingContext) -> Finding:
    # the last state seen of each task that ended, leaving out those the kit itself cancelled
    states = {str(t.get("id")): _state(t) for t in ctx.tasks_seen}
    states = {k: v for k, v in states.items() if v in TERMINAL_STATES and v != "TASK_STATE_CANCELED"}
    if not states:
        return skipped("no task the kit created was seen to end")
    if all(state == "TASK_STATE_FAILED" for state in states.values()):
        return failed(
            f"every task the kit created ({len(states)}) ended FAILED: the other checks saw only failures; "
            "pass a --message the agent can carry out"
        )
    return passed(
        f"{sum(s != 'TASK_STATE_FAILED' for s in states.values())} of {len(states)} task(s) did not fail"
    )


async def _fetch_card(ctx: CardContext) -> None:
    try:
        response = await ctx.client.get(ctx.url, timeout=ctx.options.timeout)
    except httpx.HTTPError as exc:
        ctx.problem = f"GET {ctx.url}: {type(exc).__name__}: {exc}"
        return
    ctx.status = response.status_code
    ctx.content_type = response.headers.get("content-type", "")
    ctx.cache_control = response.headers.get("cache-control")
    if response.status_code != 200:
        ctx.problem = f"GET {ctx.url}: HTTP {response.status_code}"
        return
    try:
        card = response.json()
    except ValueError:
        ctx.problem = f"GET {ctx.url}: not JSON"
        return
    if not isinstance(card, dict):
        ctx.problem = f"GET {ctx.url}: not a JSON object"
        return
    ctx.card = card


async def check_a2a(url: str, options: A2aOptions | None = None) -> Report:
    """Run every A2A check against the agent at ``url`` (its base URL or its card URL)."""
    options = options or A2aOptions()
    report = Report("a2a", url)
    only = set(options.only) if options.only is not None else None
    async with httpx.AsyncClient(headers=options.headers, follow_redirects=True) as client:
        card_ctx = CardContext(card_url(url), client, options)
        await _fetch_card(card_ctx)
        report.results.extend(await run_checks(A2A_CARD_CHECKS.checks, card_ctx, variant="card", only=only))
        if card_ctx.card is None:
            for check in A2A_BINDING_CHECKS.checks:
                report.results.append(CheckResult(check.requirement_id, Outcome.SKIP, "no agent card"))
            return report
        report.details["agent"] = f"{card_ctx.card.get('name')} {card_ctx.card.get('version')}"
        seen: set[tuple[str, str]] = set()
        ran = 0
        for iface in card_ctx.interfaces():
            binding_name, iface_url = str(iface.get("protocolBinding")), str(iface.get("url"))
            cls = _BINDINGS.get(binding_name)
            if cls is None or (binding_name, iface_url) in seen:
                continue
            if options.bindings is not None and binding_name not in options.bindings:
                continue
            seen.add((binding_name, iface_url))
            version = str(iface.get("protocolVersion") or "1.0")
            if not version.startswith("1."):
                continue
            ctx = BindingContext(cls(iface_url, client, timeout=options.timeout), card_ctx.card, options)
            try:
                report.results.extend(
                    await run_checks(A2A_BINDING_CHECKS.checks, ctx, variant=binding_name, only=only)
                )
            finally:
                await ctx.binding.aclose()
            ran += 1
        if not ran:
            for check in A2A_BINDING_CHECKS.checks:
                report.results.append(
                    CheckResult(
                        check.requirement_id, Outcome.SKIP, "no A2A 1.x JSONRPC, HTTP+JSON or GRPC interface"
                    )
                )
        report.details["bindings"] = ", ".join(name for name, _ in sorted(seen)) or "none"
    return report
