"""Build and run the three agents, alone or as a whole mesh (registry + MCP servers + agents) in one process.

- :func:`build_executor`, :func:`build_reviewer`, :func:`build_planner` make one agent's app.
- :func:`run_agent` serves one agent on a pre-bound socket until the block exits.
- :func:`launch_mesh` starts a registry, the MCP servers (registered in the registry, heartbeating) and
  the three agents (registering themselves), all on ephemeral ports by default: ``toolmesh up``, the
  demo, the end-to-end tests and the benchmark all use it.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import secrets
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import anyio

from toolmesh.agents.approvals import ApprovalPolicy
from toolmesh.agents.discovery import Discovery, RegistryDiscovery
from toolmesh.agents.errors import MeshConfigError
from toolmesh.agents.model import ChatModel, ModelSettings, build_model
from toolmesh.agents.runtime import AgentApp, agent_identity, build_agent
from toolmesh.agents.settings import AgentSettings, peer_headers
from toolmesh.agents.tracing import traced_httpx_client
from toolmesh.protocols.registration import registered
from toolmesh.protocols.registry_client import RegistryClient
from toolmesh.protocols.serving import bind_socket, mcp_http_app, running
from toolmesh.protocols.settings import ServingSettings, hash_token, override

if TYPE_CHECKING:
    from fastmcp import FastMCP
    from prometheus_client.registry import Collector

    from toolmesh.agents.mcp import McpPool

# Each builder imports its own role's modules: an agent started alone (`toolmesh agents serve reviewer`)
# does not import the other two (start-up time, bench/startup.py).

__all__ = [
    "AgentRole",
    "MeshHandle",
    "RunningAgent",
    "build_executor",
    "build_planner",
    "build_reviewer",
    "launch_mesh",
    "registry_discovery",
    "run_agent",
]

AgentRole = Literal["planner", "executor", "reviewer"]
ROLES: tuple[AgentRole, ...] = ("executor", "reviewer", "planner")


def registry_discovery(settings: AgentSettings) -> tuple[Discovery, RegistryClient]:
    if not settings.registry_url:
        raise MeshConfigError(
            "the agents need a registry to find each other",
            hint="Set TOOLMESH_AGENTS_REGISTRY_URL (or use `toolmesh up`, which starts one).",
        )
    token = settings.registry_token.get_secret_value() if settings.registry_token else None
    client = RegistryClient(settings.registry_url, token=token, cache_ttl=2.0)
    return RegistryDiscovery(client), client


def build_executor(
    settings: AgentSettings, base_url: str, discovery: Discovery, *, pool: McpPool | None = None
) -> AgentApp:
    from toolmesh.agents.catalog import CatalogCache
    from toolmesh.agents.executor.agent import ExecutorAgent, executor_skills
    from toolmesh.agents.executor.breaker import BreakerBoard
    from toolmesh.agents.executor.cache import ResultCache
    from toolmesh.agents.executor.engine import Engine, EngineSettings
    from toolmesh.agents.mcp import McpPool

    pool = pool or McpPool(max_per_server=settings.max_parallel)
    engine = Engine(
        pool,
        settings=EngineSettings(
            call_timeout=settings.call_timeout,
            retries=settings.retries,
            backoff=settings.backoff,
            max_parallel=settings.max_parallel,
        ),
        breakers=BreakerBoard(threshold=settings.breaker_threshold, cooldown=settings.breaker_cooldown),
        cache=ResultCache(ttl=settings.cache_ttl, max_entries=settings.cache_entries),
    )
    http = traced_httpx_client(timeout=settings.handoff_timeout, headers=peer_headers(settings))
    identity = agent_identity(settings, "executor")
    agent = ExecutorAgent(
        engine,
        CatalogCache(pool, ttl=settings.catalog_ttl),
        discovery,
        instance=identity.id,
        http=http,
        approvals=ApprovalPolicy(settings.approvals),
    )

    async def stop() -> None:
        await pool.aclose()
        await http.aclose()

    return build_agent(
        name="executor",
        description=(
            "Runs toolmesh plans against MCP servers: parallel steps, retries, breakers, fallback, cache."
        ),
        skills=executor_skills(),
        executor=agent,
        settings=settings,
        base_url=base_url,
        on_stop=stop,
        identity=identity,
    )


def model_collectors(model: ChatModel | None) -> list[Collector]:
    """The model gateway's metrics (tokens, latency, cache hits, retries, fallbacks, cost) for /metrics."""
    from toolmesh.agents.gateway import Gateway

    return [model.metrics.collector()] if isinstance(model, Gateway) else []


def build_reviewer(settings: AgentSettings, base_url: str, *, model: ChatModel | None = None) -> AgentApp:
    from toolmesh.agents.reviewer.agent import ReviewerAgent, reviewer_skills

    identity = agent_identity(settings, "reviewer")
    return build_agent(
        name="reviewer",
        description="Reviews answers against their evidence and returns a structured verdict.",
        skills=reviewer_skills(),
        executor=ReviewerAgent(instance=identity.id, model=model),
        settings=settings,
        base_url=base_url,
        identity=identity,
        collectors=model_collectors(model),
    )


def build_planner(
    settings: AgentSettings, base_url: str, discovery: Discovery, *, model: ChatModel | None = None
) -> AgentApp:
    from toolmesh.agents.catalog import CatalogCache
    from toolmesh.agents.mcp import McpPool
    from toolmesh.agents.planner.agent import PlannerAgent, planner_skills
    from toolmesh.agents.planner.loop import Budget
    from toolmesh.agents.task_store import build_task_store
    from toolmesh.protocols.glossary import Glossary

    pool = McpPool()
    http = traced_httpx_client(timeout=settings.handoff_timeout, headers=peer_headers(settings))
    identity = agent_identity(settings, "planner")
    store, engine = build_task_store(identity.store_url, agent_id=identity.id)
    agent = PlannerAgent(
        discovery=discovery,
        catalogs=CatalogCache(pool, ttl=settings.catalog_ttl),
        instance=identity.id,
        http=http,
        model=model,
        max_rounds=settings.max_rounds,
        handoff_timeout=settings.handoff_timeout,
        task_store=store,
        glossary=Glossary.load(settings.glossary) if settings.glossary else None,
        budget=Budget(
            rounds=settings.loop_rounds, seconds=settings.loop_seconds, tokens=settings.loop_tokens
        ),
        memory_tokens=settings.memory_tokens,
    )

    async def stop() -> None:
        await pool.aclose()
        await http.aclose()
        if engine is not None:
            await engine.dispose()

    return build_agent(
        name="planner",
        description=(
            "Plans tool use over the mesh's MCP servers, delegates, has answers reviewed, "
            "answers with evidence."
        ),
        skills=planner_skills(),
        executor=agent,
        settings=settings,
        base_url=base_url,
        on_stop=stop,
        identity=identity,
        task_store=store,
        collectors=model_collectors(model),
    )


@dataclass
class RunningAgent:
    role: AgentRole
    url: str
    agent: AgentApp


@contextlib.asynccontextmanager
async def run_agent(
    role: AgentRole,
    settings: AgentSettings,
    *,
    discovery: Discovery | None = None,
    model: ChatModel | None = None,
    executor_pool: McpPool | None = None,
) -> AsyncIterator[RunningAgent]:
    """Serve one agent (discovery defaults to the registry in ``settings``) until the block exits."""
    sock = bind_socket(settings.host, settings.port)
    host, port = sock.getsockname()[:2]
    base_url = settings.public_url or f"http://{host}:{port}"
    async with contextlib.AsyncExitStack() as stack:
        if discovery is None and role != "reviewer":
            discovery, client = registry_discovery(settings)
            await stack.enter_async_context(client)
        if role == "executor":
            assert discovery is not None
            built = build_executor(settings, base_url, discovery, pool=executor_pool)
        elif role == "reviewer":
            built = build_reviewer(settings, base_url, model=model)
        else:
            assert discovery is not None
            built = build_planner(settings, base_url, discovery, model=model)
        url = await stack.enter_async_context(running(built.app, settings, sock=sock))
        warming = None
        if role != "executor":  # the question analysers' dictionaries (jieba: seconds), once it listens
            from toolmesh.agents.question import warm

            warming = asyncio.get_running_loop().run_in_executor(None, warm)
        yield RunningAgent(role=role, url=url, agent=built)
        if warming is not None:
            await warming


@dataclass
class MeshHandle:
    """Where everything runs."""

    registry_url: str
    registry_token: str
    servers: dict[str, str] = field(default_factory=dict)
    agents: dict[str, RunningAgent] = field(default_factory=dict)

    @property
    def planner_url(self) -> str:
        return self.agents["planner"].url


async def _registered(presence: Any, name: str, within: float = 30.0) -> None:
    try:
        with anyio.fail_after(within):
            await presence.registered.wait()
    except TimeoutError as exc:
        raise MeshConfigError(f"{name} could not register in the registry: {presence.last_error}") from exc


def _load_spec(name: str) -> Any:
    try:
        module = importlib.import_module(f"toolmesh.servers.{name}")
    except ImportError as exc:
        raise MeshConfigError(f"the MCP server {name!r} is not installed: {exc}") from exc
    return module.SPEC


@contextlib.asynccontextmanager
async def launch_mesh(
    workdir: Path,
    *,
    servers: Mapping[str, FastMCP[Any]] | None = None,
    server_names: Sequence[str] = ("docs", "sql", "code", "memory"),
    server_settings: Mapping[str, Mapping[str, Any] | ServingSettings] | None = None,
    agent_settings: Mapping[str, Any] | None = None,
    role_settings: Mapping[str, Mapping[str, Any]] | None = None,
    model: ChatModel | None = None,
    host: str = "127.0.0.1",
    registry_port: int = 0,
    registry_overrides: Mapping[str, Any] | None = None,
    registry_token: str | None = None,
    agent_ports: Mapping[str, int] | None = None,
    roles: Sequence[AgentRole] = ROLES,
) -> AsyncIterator[MeshHandle]:
    """A registry, MCP servers and the three agents, registered and heartbeating, until the block exits.

    ``servers`` gives ready FastMCP servers by name; otherwise each of ``server_names`` is built from its
    installed spec with ``server_settings[name]`` applied on top of its environment settings (or, when it is
    a settings object, with exactly those settings, served with them too). ``registry_overrides`` and
    ``role_settings[role]`` (over ``agent_settings``) override the mesh's defaults; ``registry_token`` is
    the token the mesh's members register with (default: a new random one).
    """
    from toolmesh.agents.gateway import Gateway
    from toolmesh.registry.app import build_app
    from toolmesh.registry.settings import RegistrySettings

    await anyio.Path(workdir).mkdir(parents=True, exist_ok=True)
    token = registry_token or secrets.token_urlsafe(24)
    overrides = dict(registry_overrides or {})
    publishers = {**overrides.pop("publishers", {}), hash_token(token): "toolmesh-mesh"}
    registry_settings = RegistrySettings(
        **{
            "host": host,
            "port": registry_port,
            "database_url": f"sqlite+aiosqlite:///{workdir / 'registry.db'}",
            "allow_private_targets": True,
            "probe_interval": 0,
            "ttl_seconds": 60.0,
            **overrides,
            "publishers": publishers,
        }
    )
    async with contextlib.AsyncExitStack() as stack:
        registry_url = await stack.enter_async_context(
            running(build_app(registry_settings), registry_settings)
        )
        handle = MeshHandle(registry_url=registry_url, registry_token=token)
        built: dict[str, FastMCP[Any]] = dict(servers or {})
        served: dict[str, ServingSettings] = {}
        if servers is None:
            for name in server_names:
                spec = _load_spec(name)
                given = (server_settings or {}).get(name, {})
                if isinstance(given, ServingSettings):
                    settings = served[name] = given
                else:
                    settings = spec.load_settings(**{"transport": "http", "host": host, "port": 0, **given})
                built[name] = spec.build_server(settings)
        for name, server in built.items():
            serving = served.get(name) or ServingSettings(transport="http", host=host, port=0)
            url = await stack.enter_async_context(running(mcp_http_app(server, serving), serving))
            handle.servers[name] = f"{url}/mcp"
            # the same registration as `toolmesh serve NAME --register`: loud, retried, named settings
            presence = await stack.enter_async_context(
                registered(
                    server,
                    name=name,
                    url=f"{url}/mcp",
                    registry_url=registry_url,
                    token=token,
                    env_prefix=str(serving.model_config.get("env_prefix", "TOOLMESH_")),
                    interval=20.0,
                )
            )
            await _registered(presence, name)
        for role in [r for r in ROLES if r in roles]:
            values: dict[str, Any] = {
                "host": host,
                "port": (agent_ports or {}).get(role, 0),
                "registry_url": registry_url,
                "registry_token": token,
                "workdir": workdir / "agents",  # each role its own id and store: agents/ROLE/
                "heartbeat_interval": 20.0,
            }
            own_settings = (role_settings or {}).get(role, {})
            settings = AgentSettings(**{**values, **dict(agent_settings or {}), **own_settings})
            if settings.model.cache_url == ModelSettings.model_fields["cache_url"].default:
                # the mesh's files stay in its workdir, the model cache too, unless set otherwise
                cache = f"sqlite:///{workdir / 'model-cache.db'}"
                settings = override(settings, model=override(settings.model, cache_url=cache))
            own = build_model(settings.model) if model is None else None
            if isinstance(own, Gateway):
                stack.push_async_callback(own.aclose)  # after the agent stops (LIFO)
            running_agent = await stack.enter_async_context(
                run_agent(role, settings, model=model if model is not None else own)
            )
            handle.agents[role] = running_agent
            if running_agent.agent.presence is not None:
                await _registered(running_agent.agent.presence, role)
        yield handle
