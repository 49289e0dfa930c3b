"""``toolmesh agents ...``: run the mesh (``up``), ask it (``ask``), serve one agent (``serve``), the demo.

``up_command``, ``init_command`` and ``ask_command`` are plain typer commands so the umbrella CLI can also
mount them at the top level (``toolmesh up``, ``toolmesh init``, ``toolmesh ask``).
"""

from __future__ import annotations

import asyncio
import json
import signal
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Literal

import typer
from rich.console import Console

from toolmesh.protocols.errors import ToolmeshError

if TYPE_CHECKING:
    from a2a.types import StreamResponse

    from toolmesh.agents.approvals import ApprovalRequest
    from toolmesh.agents.config import MeshConfig
    from toolmesh.agents.mesh import MeshHandle
    from toolmesh.agents.wire import Outcome

# Each command imports what it runs inside its body: `toolmesh ask` must not pay for the mesh, the model
# gateway or the servers it never starts (the whole slice took ~10 s to import).

__all__ = ["app", "ask_command", "demo_command", "init_command", "serve_command", "up_command"]

out = Console(soft_wrap=True)
err = Console(stderr=True)
app = typer.Typer(
    help="The A2A agent mesh: planner, executor, reviewer (settings: TOOLMESH_AGENTS_*).",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

DEFAULT_PLANNER = "http://127.0.0.1:8810"  # `toolmesh up` serves its planner here


def _print_mesh(mesh: MeshHandle, token_source: str, join: str) -> None:
    out.print(f"registry  {mesh.registry_url}", highlight=False)
    out.print(f"token     {mesh.registry_token}  ({token_source})", markup=False, highlight=False)
    for name, url in mesh.servers.items():
        out.print(f"mcp       {name:<8} {url}", highlight=False)
    for role, agent in mesh.agents.items():
        grpc = f"  (gRPC {agent.agent.grpc.address})" if agent.agent.grpc is not None else ""
        out.print(f"agent     {role:<8} {agent.url}{grpc}", highlight=False)
    out.print("\njoin it with another executor (any machine that reaches the registry):", highlight=False)
    out.print(f"  {join}", markup=False, highlight=False)
    if "planner" in mesh.agents:
        out.print(f'ask it:   toolmesh ask --planner {mesh.planner_url} "..."', markup=False, highlight=False)


async def _wait_for_signal() -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()


@app.command("up")
def up_command(
    config: Annotated[
        Path | None,
        typer.Option(help="The mesh's config file (default: ./toolmesh.toml; without one, the samples)."),
    ] = None,
    workdir: Annotated[
        Path | None,
        typer.Option(
            help="Where the registry, task stores and indexes live (default: the config's, .toolmesh)."
        ),
    ] = None,
    samples: Annotated[
        Path | None,
        typer.Option(help="Serve this sample folder (handbook/ + shop/) instead of a config file."),
    ] = None,
    planner_port: Annotated[
        int | None, typer.Option(min=0, max=65535, help="Planner port (0 picks a free one; default 8810).")
    ] = None,
    registry_port: Annotated[
        int | None, typer.Option(min=0, max=65535, help="Registry port (0 picks a free one; default 8700).")
    ] = None,
) -> None:
    """Start the registry, the MCP servers and the agents of ./toolmesh.toml (or the samples, without one)."""
    from toolmesh.agents.config import CONFIG_NAME, load_config, sample_config
    from toolmesh.agents.demo import find_samples
    from toolmesh.agents.errors import MeshConfigError
    from toolmesh.agents.settings import AgentSettings
    from toolmesh.agents.stack import join_command, launch_stack, mesh_token
    from toolmesh.agents.tracing import configure_tracing
    from toolmesh.protocols.logs import configure_logging

    configure_logging("WARNING")
    env = AgentSettings()
    configure_tracing(
        service_name="toolmesh-mesh", console=env.trace_console, otlp_endpoint=env.otlp_endpoint
    )

    def configured() -> MeshConfig:
        path = config or (Path(CONFIG_NAME) if samples is None and Path(CONFIG_NAME).is_file() else None)
        if path is not None and samples is not None:
            raise MeshConfigError("--samples serves the sample folder, not a config file", hint="Drop one.")
        if path is None:
            err.print(
                f"toolmesh up: no {CONFIG_NAME} here, serving the bundled samples "
                "(`toolmesh init` writes a config for this folder)",
                highlight=False,
                soft_wrap=True,
            )
            found = sample_config((workdir or Path(".toolmesh")).resolve(), find_samples(samples))
            return _with_flags(
                found,
                planner_port=8810 if planner_port is None else planner_port,
                registry_port=8700 if registry_port is None else registry_port,
            )
        err.print(f"toolmesh up: {path}", highlight=False, soft_wrap=True)
        found = load_config(path, workdir=workdir.resolve() if workdir is not None else None)
        return _with_flags(found, planner_port=planner_port, registry_port=registry_port)

    async def main(mesh_config: MeshConfig, token: str, source: str) -> None:
        async with launch_stack(mesh_config, token=token) as mesh:
            _print_mesh(mesh, source, join_command(mesh_config, mesh))
            out.print("[dim]Ctrl-C stops everything.[/]")
            await _wait_for_signal()

    try:
        mesh_config = configured()
        token, source = mesh_token(mesh_config)
        asyncio.run(main(mesh_config, token, source))
    except ToolmeshError as exc:
        err.print(f"[red]error:[/] {exc}", markup=True, highlight=False)
        raise typer.Exit(2) from exc


def _with_flags(config: MeshConfig, *, planner_port: int | None, registry_port: int | None) -> MeshConfig:
    """The config with the command line's --planner-port and --registry-port over it."""
    from toolmesh.protocols.settings import override

    update: dict[str, object] = {}
    if registry_port is not None:
        update["registry"] = override(config.registry, port=registry_port)
    if planner_port is not None and "planner" in config.agents:
        planner = override(config.agents["planner"], port=planner_port)
        update["agents"] = {**config.agents, "planner": planner}
        update["keys"] = {**config.keys, "agents.planner": config.keys["agents.planner"] | {"port"}}
    return override(config, **update)


@app.command("init")
def init_command(
    force: Annotated[bool, typer.Option(help="Overwrite an existing toolmesh.toml.")] = False,
) -> None:
    """Write a commented toolmesh.toml into the current folder, with defaults that need no services."""
    from toolmesh.agents.config import CONFIG_NAME
    from toolmesh.agents.template import render_config

    target = Path(CONFIG_NAME)
    if target.exists() and not force:
        err.print(f"[red]error:[/] {target.resolve()} exists; --force overwrites it.")
        raise typer.Exit(1)
    target.write_text(render_config(Path.cwd()), encoding="utf-8")
    err.print(f"wrote {target.resolve()}; start it with `toolmesh up`.", highlight=False, soft_wrap=True)


@app.command("ask")
def ask_command(
    question: Annotated[
        str | None, typer.Argument(help="The request, in plain words (omit with --chat).")
    ] = None,
    planner: Annotated[
        str, typer.Option(envvar="TOOLMESH_PLANNER_URL", help="Planner base URL.")
    ] = DEFAULT_PLANNER,
    interactive: Annotated[bool, typer.Option(help="Answer the planner's questions at the prompt.")] = True,
    token: Annotated[
        str | None,
        typer.Option(envvar="TOOLMESH_PLANNER_TOKEN", help="Bearer token, when the planner's auth is on."),
    ] = None,
    context: Annotated[
        str | None,
        typer.Option(help="Continue this conversation (the context id an earlier answer printed)."),
    ] = None,
    chat: Annotated[
        bool, typer.Option(help="A conversation at the prompt: follow-ups build on earlier turns.")
    ] = False,
) -> None:
    """Send a request to the planner and stream the handoffs live; --chat holds a conversation."""
    from a2a.types import TaskState

    from toolmesh.agents.client import ask_planner, describe_event

    async def show(event: StreamResponse) -> None:
        line = describe_event(event)
        if line:
            out.print(line, markup=False, highlight=False)

    async def answer(question_text: str) -> str | None:
        if not interactive:
            return None
        out.print(f"\n[bold]planner asks:[/] {question_text}")
        reply = await asyncio.to_thread(input, "> ")
        return reply.strip() or None

    async def approve(request: ApprovalRequest) -> bool:
        out.print("\n[bold]approval needed[/] for calls that are not read-only:")
        calls = [
            f"{c.step_id}: {c.server}.{c.tool} {json.dumps(c.arguments, ensure_ascii=False)}"
            for c in request.calls
        ]
        for line in calls:
            out.print(f"  {line}", markup=False, highlight=False)
        if interactive and sys.stdin.isatty():
            reply = await asyncio.to_thread(input, "run them? [y/N] ")
            if reply.strip().lower() in {"y", "yes"}:
                return True
            err.print("denied: " + "; ".join(calls), markup=False)
        else:
            err.print("denied (not an interactive terminal): " + "; ".join(calls), markup=False)
        return False

    def turn(text: str, context_id: str) -> Outcome:
        try:
            return asyncio.run(
                ask_planner(
                    planner,
                    text,
                    on_event=show,
                    answer=answer,
                    token=token,
                    context_id=context_id,
                    approve=approve,
                )
            )
        except ToolmeshError as exc:
            err.print(f"[red]error:[/] {exc}")
            raise typer.Exit(2) from exc
        except OSError as exc:
            err.print(f"[red]error:[/] cannot reach the planner at {planner}: {exc}")
            raise typer.Exit(2) from exc

    if not chat and not question:
        err.print("[red]error:[/] give a question, or --chat for a conversation")
        raise typer.Exit(2)
    context_id = context or ""
    pending = question
    while True:
        if pending is None:
            try:
                pending = input("\nyou> ").strip()
            except EOFError:
                break
            if not pending or pending in {"exit", "quit", ":q"}:
                break
        outcome = turn(pending, context_id)
        context_id = outcome.context_id or context_id
        _print_outcome(outcome)
        if not chat:
            raise typer.Exit(0 if outcome.state == TaskState.TASK_STATE_COMPLETED else 1)
        err.print(f"[dim](context {context_id})[/]")
        pending = None


def _print_outcome(outcome: Outcome) -> None:
    from toolmesh.agents.wire import artifact_json

    answer_artifact = outcome.artifacts.get("answer")
    out.print("")
    out.print(answer_artifact.parts[0].text if answer_artifact else outcome.status_text, markup=False)
    evidence = artifact_json(outcome.artifacts["evidence"]) if "evidence" in outcome.artifacts else None
    if isinstance(evidence, list) and evidence:
        out.print("\nEvidence:")
        for item in evidence:
            out.print(f"  [{item.get('n')}] {item.get('kind')}: {item.get('source')}", markup=False)
    if outcome.context_id:
        out.print(
            f"\ncontext: {outcome.context_id}  (follow up with --context {outcome.context_id})", markup=False
        )


@app.command("serve")
def serve_command(
    role: Annotated[Literal["planner", "executor", "reviewer"], typer.Argument(help="Which agent.")],
    host: Annotated[str | None, typer.Option(help="Bind address.")] = None,
    port: Annotated[int | None, typer.Option(help="Port.")] = None,
    grpc_port: Annotated[
        int | None,
        typer.Option(help="A2A gRPC port (0 picks a free one; TOOLMESH_AGENTS_GRPC_ENABLED=false: none)."),
    ] = None,
) -> None:
    """Serve one agent; it registers in TOOLMESH_AGENTS_REGISTRY_URL and finds its peers there."""
    from toolmesh.agents.gateway import Gateway
    from toolmesh.agents.mesh import run_agent
    from toolmesh.agents.model import build_model
    from toolmesh.agents.settings import AgentSettings
    from toolmesh.agents.tracing import configure_tracing
    from toolmesh.protocols.logs import configure_logging

    given = {"host": host, "port": port, "grpc_port": grpc_port}
    overrides = {k: v for k, v in given.items() if v is not None}
    from toolmesh.protocols.settings import override

    settings = override(AgentSettings(), **overrides)
    configure_logging(settings.log_level)
    configure_tracing(
        service_name=f"toolmesh-{role}", console=settings.trace_console, otlp_endpoint=settings.otlp_endpoint
    )

    async def main() -> None:
        model = build_model(settings.model)
        try:
            async with run_agent(role, settings, model=model) as agent:
                grpc = f", gRPC {agent.agent.grpc.address}" if agent.agent.grpc is not None else ""
                err.print(f"{role} on {agent.url}{grpc} (card: {agent.url}/.well-known/agent-card.json)")
                await _wait_for_signal()
        finally:
            if isinstance(model, Gateway):
                await model.aclose()

    try:
        asyncio.run(main())
    except ToolmeshError as exc:
        err.print(f"[red]error:[/] {exc}")
        raise typer.Exit(2) from exc


@app.command("demo")
def demo_command(
    question: Annotated[
        str | None, typer.Argument(help="The question (default: one needing docs, SQL and code).")
    ] = None,
) -> None:
    """Start everything embedded, ask one real multi-tool question, print the answer with its evidence."""
    from a2a.types import TaskState

    from toolmesh.agents.demo import DEMO_QUESTION, run_demo
    from toolmesh.protocols.logs import configure_logging

    question = question or DEMO_QUESTION
    configure_logging("WARNING")
    try:
        outcome = asyncio.run(
            run_demo(question, echo=lambda line: out.print(line, markup=False, highlight=False))
        )
    except ToolmeshError as exc:
        err.print(f"[red]error:[/] {exc}")
        raise typer.Exit(2) from exc
    raise typer.Exit(0 if outcome.state == TaskState.TASK_STATE_COMPLETED else 1)
