"""Mesh overhead: what each A2A hop costs for a trivial tool, against calling the MCP tool directly.

Everything runs in one process on ephemeral ports (registry, one trivial MCP server, the three agents),
in the same run:

- direct:          fastmcp Client -> MCP server (``echo``), one call
- executor hop:    A2A (streaming) -> executor -> MCP, a one-step plan
- reviewer hop:    A2A -> reviewer, a one-step review request
- full mesh:       A2A -> planner -> executor -> MCP, then -> reviewer, answer streamed back
- throughput:      full-mesh tasks/s with N concurrent callers

Every request uses fresh arguments, so the executor's result cache never answers.

    .venv/bin/python bench/mesh.py [--requests 60] [--concurrency 20] [--write docs/benchmarks-mesh.md]
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import platform
import statistics
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Annotated

import httpx
from a2a.client import A2ACardResolver
from a2a.types import TaskState
from fastmcp import Client
from pydantic import BaseModel, Field

from toolmesh.agents.client import ask_planner
from toolmesh.agents.executor.engine import StepResult
from toolmesh.agents.mesh import launch_mesh
from toolmesh.agents.reviewer.checks import ReviewRequest
from toolmesh.agents.wire import Outcome, json_part, new_message, stream_message
from toolmesh.protocols.serving import new_server


class Echoed(BaseModel):
    text: str


def trivial_server() -> object:
    server = new_server("bench")

    @server.tool(annotations={"readOnlyHint": True, "idempotentHint": True, "openWorldHint": False})
    async def echo(text: Annotated[str, Field(description="Text to echo back.")]) -> Echoed:
        """Echo the text back."""
        return Echoed(text=text)

    return server


def _ms(samples: list[float]) -> tuple[float, float]:
    ordered = sorted(samples)
    p95 = ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]
    return statistics.median(ordered) * 1000, p95 * 1000


async def _timed(n: int, call: Callable[[int], Awaitable[None]]) -> list[float]:
    for i in range(3):  # warm-up: connections, catalogs
        await call(-1 - i)
    samples = []
    for i in range(n):
        started = time.perf_counter()
        await call(i)
        samples.append(time.perf_counter() - started)
    return samples


async def run(requests: int, concurrency: int, store: str) -> list[tuple[str, str, str, str]]:
    rows: list[tuple[str, str, str, str]] = []
    with tempfile.TemporaryDirectory(prefix="toolmesh-bench-") as tmp:
        extra = {"task_db_url": "memory://"} if store == "memory" else {}
        servers = {"bench": trivial_server()}
        async with launch_mesh(Path(tmp), servers=servers, agent_settings=extra) as mesh:  # type: ignore[arg-type]
            mcp_url = mesh.servers["bench"]
            async with Client(mcp_url) as direct:

                async def call_direct(i: int) -> None:
                    await direct.call_tool("echo", {"text": f"direct {i}"})

                rows.append(("direct MCP call", *_fmt(await _timed(requests, call_direct)), "1 MCP call"))

            async with httpx.AsyncClient(timeout=60) as http:
                executor = await A2ACardResolver(http, mesh.agents["executor"].url).get_agent_card()
                reviewer = await A2ACardResolver(http, mesh.agents["reviewer"].url).get_agent_card()

                async def call_executor(i: int) -> None:
                    plan = {
                        "goal": "bench",
                        "steps": [
                            {
                                "id": "s1",
                                "action": {
                                    "kind": "tool",
                                    "server": "bench",
                                    "tool": "echo",
                                    "arguments": {"text": f"x{i}"},
                                },
                            }
                        ],
                    }
                    outcome = Outcome()
                    async for event in stream_message(
                        executor, new_message([json_part({"plan": plan})]), http=http
                    ):
                        outcome.absorb(event)
                    assert outcome.state == TaskState.TASK_STATE_COMPLETED, outcome.status_text

                rows.append(
                    ("A2A -> executor -> MCP", *_fmt(await _timed(requests, call_executor)), "1 hop + 1 call")
                )

                result = StepResult(
                    step_id="s1",
                    kind="tool",
                    status="ok",
                    server_name="bench",
                    tool="echo",
                    structured={"text": "x"},
                )

                async def call_reviewer(i: int) -> None:
                    body = ReviewRequest(goal=f"echo {i}", answer="x [1]", results=[result])
                    outcome = Outcome()
                    async for event in stream_message(
                        reviewer, new_message([json_part(body.model_dump(mode="json"))]), http=http
                    ):
                        outcome.absorb(event)
                    assert outcome.state == TaskState.TASK_STATE_COMPLETED

                rows.append(("A2A -> reviewer", *_fmt(await _timed(requests, call_reviewer)), "1 hop"))

                async def call_planner(i: int) -> None:
                    outcome = await ask_planner(
                        mesh.planner_url, f'Echo back the text "hello {i}"', http=http
                    )
                    assert outcome.state == TaskState.TASK_STATE_COMPLETED, outcome.status_text

                rows.append(
                    (
                        "A2A -> planner -> executor -> MCP, -> reviewer",
                        *_fmt(await _timed(requests, call_planner)),
                        "3 hops + 1 call",
                    )
                )

                gate = asyncio.Semaphore(concurrency)
                total = max(requests, concurrency * 3)

                async def one(i: int) -> None:
                    async with gate:
                        await call_planner(10_000 + i)

                started = time.perf_counter()
                await asyncio.gather(*(one(i) for i in range(total)))
                elapsed = time.perf_counter() - started
                rows.append(
                    (
                        f"full mesh, {concurrency} concurrent",
                        f"{total / elapsed:.1f} tasks/s",
                        "",
                        f"{total} tasks in {elapsed:.1f} s",
                    )
                )
    return rows


def _fmt(samples: list[float]) -> tuple[str, str]:
    median, p95 = _ms(samples)
    return f"{median:.1f} ms", f"{p95:.1f} ms"


def table(rows: list[tuple[str, str, str, str]], requests: int, store: str) -> str:
    lines = [
        f"Task stores: {store}. Sequential latency over {requests} requests each (median, p95); "
        "throughput with concurrent callers.",
        "",
        "| path | median | p95 | notes |",
        "|---|---|---|---|",
    ]
    lines += [f"| {a} | {b} | {c} | {d} |" for a, b, c, d in rows]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--requests", type=int, default=60)
    parser.add_argument("--concurrency", type=int, default=20)
    parser.add_argument(
        "--store", choices=["sqlite", "memory"], default="sqlite", help="The agents' task stores."
    )
    parser.add_argument("--write", type=Path, default=None, help="Append the table to this Markdown file.")
    args = parser.parse_args()
    logging.basicConfig(level=logging.ERROR)
    rows = asyncio.run(run(args.requests, args.concurrency, args.store))
    out = table(rows, args.requests, args.store)
    print(out)
    if args.write:
        stamp = time.strftime("%Y-%m-%d %H:%M")
        header = f"\n## Run {stamp} ({platform.python_version()}, {platform.machine()})\n\n"
        with args.write.open("a", encoding="utf-8") as fh:
            fh.write(header + out + "\n")


if __name__ == "__main__":
    main()
