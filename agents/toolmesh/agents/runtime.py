"""Serving one agent: its card, request handler, durable task store, auth, registry presence, recovery.

:func:`build_agent` returns an :class:`AgentApp` (the Starlette app plus its parts). The app's lifespan
opens the agent's own task store (:mod:`~toolmesh.agents.task_store`, scoped to its stable id from
:mod:`~toolmesh.agents.identity`), marks tasks it left running when it last stopped as failed (with the
reason, so the store shows what happened to them), registers the card in the registry and heartbeats
until shutdown, then drains running tasks.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

from a2a.helpers import new_task_from_user_message
from a2a.server.agent_execution import AgentExecutor, RequestContext
from a2a.server.events import EventQueue
from a2a.server.routes import create_agent_card_routes, create_jsonrpc_routes, create_rest_routes
from a2a.server.tasks import (
    DatabaseTaskStore,
    InMemoryPushNotificationConfigStore,
    TaskStore,
    TaskUpdater,
)
from a2a.server.tasks.base_push_notification_sender import BasePushNotificationSender
from a2a.types import (
    AgentCapabilities,
    AgentCard,
    AgentInterface,
    AgentSkill,
    HTTPAuthSecurityScheme,
    SecurityRequirement,
    SecurityScheme,
    StringList,
    Task,
)
from a2a.utils.push_url_validator import validate_push_notification_url
from prometheus_client.registry import Collector
from starlette.applications import Starlette
from starlette.middleware import Middleware as AsgiMiddleware
from starlette.types import ASGIApp, Receive, Scope, Send

from toolmesh.agents.grpc_server import GrpcFace, grpc_address
from toolmesh.agents.handler import AgentRequestHandler
from toolmesh.agents.identity import Identity, resolve_identity
from toolmesh.agents.settings import AgentSettings
from toolmesh.agents.task_store import build_task_store, legacy_instance_id, recover_interrupted, stamp
from toolmesh.agents.tracing import traced_httpx_client
from toolmesh.protocols.auth import TokenCheck, build_auth, check_bearer
from toolmesh.protocols.egress import PublicOnlyBackend, PublicOnlyTransport
from toolmesh.protocols.presence import Registrant
from toolmesh.protocols.registry_client import RegistryClient
from toolmesh.protocols.serving import a2a_http_app
from toolmesh.protocols.settings import env_prefix
from toolmesh.protocols.version import package_version

__all__ = [
    "AgentApp",
    "agent_identity",
    "build_agent",
    "build_card",
    "new_task",
    "updater_for",
]

logger = logging.getLogger(__name__)

JSONRPC_PATH = "/a2a/jsonrpc"
REST_PATH = "/a2a/rest"
CARD_CACHE_CONTROL = "public, max-age=60, must-revalidate"
_OPEN_PATHS = ("/.well-known/agent-card.json", "/healthz")
_PUSH_HINT = "Use a webhook on a public address, or set TOOLMESH_AGENTS_ALLOW_PRIVATE_PUSH=true."


def build_card(
    *,
    name: str,
    description: str,
    base_url: str,
    skills: Sequence[AgentSkill],
    auth: bool,
    version: str | None = None,
) -> AgentCard:
    """An A2A 1.0 card: JSON-RPC and HTTP+JSON interfaces, streaming and push, bearer scheme with auth on.

    :func:`build_agent` appends the gRPC interface (``host:port``, last: HTTP stays preferred) once its
    port is bound."""
    card = AgentCard(
        name=name,
        description=description,
        version=version or package_version(),
        supported_interfaces=[
            AgentInterface(
                url=f"{base_url}{JSONRPC_PATH}", protocol_binding="JSONRPC", protocol_version="1.0"
            ),
            AgentInterface(
                url=f"{base_url}{REST_PATH}", protocol_binding="HTTP+JSON", protocol_version="1.0"
            ),
        ],
        capabilities=AgentCapabilities(streaming=True, push_notifications=True),
        # exactly what the skills take (executor, reviewer: only JSON); the handler refuses the rest
        default_input_modes=sorted({m for s in skills for m in s.input_modes})
        or ["text/plain", "application/json"],
        default_output_modes=["text/plain", "application/json"],
        skills=list(skills),
    )
    if auth:
        card.security_schemes["bearer"].CopyFrom(
            SecurityScheme(http_auth_security_scheme=HTTPAuthSecurityScheme(scheme="Bearer"))
        )
        card.security_requirements.append(SecurityRequirement(schemes={"bearer": StringList(list=[])}))
    return card


def updater_for(context: RequestContext, queue: EventQueue) -> TaskUpdater:
    """The task updater of the request's task."""
    return TaskUpdater(queue, context.task_id or "", context.context_id or "")


def agent_identity(settings: AgentSettings, role: str) -> Identity:
    """The agent's id, folder and task store URL from its settings (the id file is created once)."""
    return resolve_identity(
        role=role, workdir=settings.workdir, agent_id=settings.agent_id, store_url=settings.task_db_url
    )


def new_task(context: RequestContext, instance: str) -> Task:
    """The task for a first message, stamped with the agent's id (for recovery after a crash)."""
    assert context.message is not None
    return stamp(new_task_from_user_message(context.message), instance)


class BearerGuard:
    """Requires a valid bearer token on every route except the agent card and health."""

    def __init__(self, app: ASGIApp, verify: TokenCheck) -> None:
        self.app = app
        self.verify = verify

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] in _OPEN_PATHS:
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])}
        access = await check_bearer(self.verify, headers.get("authorization", ""))
        if access is None:
            body = (
                b'{"error":{"message":"a valid bearer token is required",'
                b'"hint":"Send Authorization: Bearer <token>."}}'
            )
            await send(
                {
                    "type": "http.response.start",
                    "status": 401,
                    "headers": [
                        (b"content-type", b"application/json"),
                        (b"www-authenticate", b'Bearer realm="toolmesh"'),
                    ],
                }
            )
            await send({"type": "http.response.body", "body": body})
            return
        from starlette.authentication import AuthCredentials, SimpleUser

        scope["user"] = SimpleUser(str(getattr(access, "client_id", "client")))
        scope["auth"] = AuthCredentials(list(getattr(access, "scopes", []) or []))
        await self.app(scope, receive, send)


@dataclass
class AgentApp:
    """A built agent: serve ``app``; the rest is for tests and the CLI."""

    app: Starlette
    card: AgentCard
    handler: AgentRequestHandler
    store: TaskStore
    instance: str = ""
    recovered: list[str] = field(default_factory=list)
    presence: Any = None
    grpc: GrpcFace | None = None


def build_agent(
    *,
    name: str,
    description: str,
    skills: Sequence[AgentSkill],
    executor: AgentExecutor,
    settings: AgentSettings,
    base_url: str,
    on_start: Callable[[], Awaitable[None]] | None = None,
    on_stop: Callable[[], Awaitable[None]] | None = None,
    task_store: TaskStore | None = None,
    identity: Identity | None = None,
    collectors: Sequence[Collector] = (),
) -> AgentApp:
    """The agent's app, ready to serve at ``base_url`` (pre-bind the socket to know it).

    ``collectors`` join the agent's ``/metrics`` (the model gateway's).

    ``identity`` (default: :func:`agent_identity` of ``settings`` and ``name``) gives the id that stamps
    and owns the tasks this agent runs, and its store; the executor passed in must stamp new tasks with
    the same id (see :func:`new_task`). A ``task_store`` passed in must be scoped to that id, and is the
    caller's to close.
    """
    identity = identity or agent_identity(settings, name)
    instance = identity.id
    provider = build_auth(settings.auth)
    verify: TokenCheck | None = provider.verify_token if provider is not None else None
    store, engine = (
        (task_store, None)
        if task_store is not None
        else build_task_store(identity.store_url, agent_id=instance)
    )
    push_store = InMemoryPushNotificationConfigStore()
    # Webhook URLs come from callers: screen them (no loopback, private, link-local or metadata addresses)
    # when they are registered and before each POST, and connect only to the addresses checked at connect
    # time, so a rebinding DNS answer between the screen and the POST cannot reach a private address.
    screen = None if settings.allow_private_push else validate_push_notification_url
    guarded = PublicOnlyTransport(PublicOnlyBackend(hint=_PUSH_HINT)) if screen is not None else None
    push_http = traced_httpx_client(timeout=10.0, transport=guarded)
    card = build_card(
        name=name, description=description, base_url=base_url, skills=skills, auth=settings.auth.enabled
    )
    handler = AgentRequestHandler(
        agent_executor=executor,
        task_store=store,
        agent_card=card,
        push_config_store=push_store,
        push_sender=BasePushNotificationSender(push_http, push_store, push_url_validator=screen),
        push_url_validator=screen,
        push_hint=_PUSH_HINT,
    )
    face = None
    if settings.grpc_enabled:
        # the same handler (task store, push, A2A gaps closed) and the same token check as HTTP
        face = GrpcFace(
            handler,
            host=settings.host,
            port=settings.grpc_port,
            verify=verify,
            max_message_bytes=settings.max_body_bytes,
            grace=settings.graceful_timeout,
        )
        host = urlsplit(base_url).hostname or settings.host
        public = settings.grpc_public_url or grpc_address(host, face.port)
        card.supported_interfaces.append(
            AgentInterface(url=public, protocol_binding="GRPC", protocol_version="1.0")
        )
    routes = [
        # cards change when an agent moves or gains skills: cached briefly, revalidated by ETag after that
        *create_agent_card_routes(card, cache_control=CARD_CACHE_CONTROL),
        *create_jsonrpc_routes(handler, rpc_url=JSONRPC_PATH),
        *create_jsonrpc_routes(handler, rpc_url=f"{JSONRPC_PATH}/"),  # clients that join URLs with a slash
        *create_rest_routes(handler, path_prefix=REST_PATH),
    ]
    built = AgentApp(app=Starlette(), card=card, handler=handler, store=store, instance=instance, grpc=face)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        if isinstance(store, DatabaseTaskStore):
            await store.initialize()
        built.recovered = await recover_interrupted(
            store,
            agent_id=instance,
            legacy=legacy_instance_id(name, base_url),  # tasks stamped before agent ids
            reason=f"interrupted: the {name} agent stopped while this task was running "
            f"(recovered at start-up, {datetime.now(UTC).isoformat(timespec='seconds')})",
        )
        if on_start is not None:
            await on_start()
        async with contextlib.AsyncExitStack() as stack:
            if face is not None:  # served before the card is registered: every interface it lists answers
                await face.start()
                stack.push_async_callback(face.stop)  # if registering fails
            if settings.registry_url:
                token = settings.registry_token.get_secret_value() if settings.registry_token else None
                registry = await stack.enter_async_context(RegistryClient(settings.registry_url, token=token))
                built.presence = await stack.enter_async_context(
                    registry.keep_registered(
                        lambda c: c.register_agent(card),
                        interval=settings.heartbeat_interval,
                        registrant=Registrant(f"the {name} agent", base_url, env_prefix(settings)),
                    )
                )
            try:
                yield
            finally:
                if face is not None:
                    await face.stop()  # no new gRPC calls while the handler drains
                await handler.aclose()
                if on_stop is not None:
                    await on_stop()
                await push_http.aclose()
                if engine is not None:
                    await engine.dispose()

    middleware: list[AsgiMiddleware] = []
    if verify is not None:
        middleware.append(AsgiMiddleware(BearerGuard, verify=verify))
    built.app = a2a_http_app(
        routes, settings, name=name, lifespan=lifespan, middleware=middleware, collectors=collectors
    )
    return built
