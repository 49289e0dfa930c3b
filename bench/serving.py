"""Serving-core overhead: a trivial tool through toolmesh's serving core vs a bare FastMCP server.

Both servers run side by side and calls alternate between them one by one (bursts alternate too), so
machine drift and other load hit both sides equally.
Transports: in-memory, stdio (child process) and Streamable HTTP (child process, stateless, JSON responses).
Prints p50/p99 latency of sequential calls and calls/s with concurrent callers, and the core/bare ratios.

    python bench/serving.py [--calls 400] [--rounds 3] [--concurrency 16] [--write docs/benchmarks.md]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import signal
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from fastmcp import Client, FastMCP
from fastmcp.client.transports import StdioTransport

ROOT = Path(__file__).resolve().parents[1]
KINDS = ("bare", "core")


def build(kind: str) -> FastMCP[Any]:
    if kind == "bare":
        server: FastMCP[Any] = FastMCP("bench")
    else:
        from toolmesh.protocols.serving import new_server

        server = new_server("bench")

    @server.tool
    async def add(a: int, b: int) -> int:
        """Add two integers."""
        return a + b

    return server


def serve_child(kind: str, transport: str, port: int) -> None:
    """Child-process entry: serve ``kind`` over ``transport``."""
    server = build(kind)
    if kind == "core":
        from toolmesh.protocols.serving import serve
        from toolmesh.protocols.settings import ServingSettings

        serve(server, ServingSettings(transport="http" if transport == "http" else "stdio", port=port))
        return
    if transport == "stdio":
        server.run(transport="stdio", show_banner=False)
        return
    import uvicorn

    app = server.http_app(path="/mcp", stateless_http=True, json_response=True)
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", access_log=False, lifespan="on")


@dataclass
class Sample:
    latencies: list[float]
    throughputs: list[float]


async def measure(
    clients: dict[str, Client[Any]], calls: int, rounds: int, concurrency: int
) -> dict[str, Sample]:
    """Alternate bare and core call by call (and burst by burst), so load drift hits both sides equally."""
    samples = {kind: Sample([], []) for kind in clients}
    for client in clients.values():
        for _ in range(20):  # warm-up
            await client.call_tool("add", {"a": 1, "b": 2})
    order = list(clients)
    for i in range(calls * rounds):
        for kind in order if i % 2 == 0 else reversed(order):
            started = time.perf_counter()
            result = await clients[kind].call_tool("add", {"a": i, "b": 1})
            samples[kind].latencies.append(time.perf_counter() - started)
            assert result.data == i + 1
    per_worker = max(1, calls // concurrency)
    for r in range(rounds * 3):
        for kind in order if r % 2 == 0 else reversed(order):
            client = clients[kind]

            async def worker(client: Client[Any] = client) -> None:
                for i in range(per_worker):
                    await client.call_tool("add", {"a": i, "b": 2})

            started = time.perf_counter()
            await asyncio.gather(*(worker() for _ in range(concurrency)))
            samples[kind].throughputs.append(per_worker * concurrency / (time.perf_counter() - started))
    return samples


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


CHILD_ENV = {**os.environ, "FASTMCP_LOG_LEVEL": "WARNING"}


@asynccontextmanager
async def memory_client(kind: str) -> AsyncIterator[Client[Any]]:
    async with Client(build(kind)) as client:
        yield client


@asynccontextmanager
async def stdio_client(kind: str) -> AsyncIterator[Client[Any]]:
    transport = StdioTransport(
        sys.executable,
        [__file__, "--serve", kind, "--transport", "stdio"],
        keep_alive=False,
        cwd=str(ROOT),
        env=CHILD_ENV,
    )
    async with Client(transport) as client:
        yield client


@asynccontextmanager
async def http_client(kind: str) -> AsyncIterator[Client[Any]]:
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, __file__, "--serve", kind, "--transport", "http", "--port", str(port)],
        cwd=ROOT,
        env=CHILD_ENV,
    )
    try:
        deadline = time.monotonic() + 60
        async with httpx.AsyncClient() as http:
            while True:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"{kind} HTTP server did not start")
                try:
                    # Both servers answer a GET on /mcp (405 in stateless mode) once they are up.
                    await http.get(f"http://127.0.0.1:{port}/mcp", timeout=1)
                    break
                except httpx.HTTPError:
                    await asyncio.sleep(0.05)
        async with Client(f"http://127.0.0.1:{port}/mcp") as client:
            yield client
    finally:
        proc.send_signal(signal.SIGTERM)  # graceful in uvicorn, and no KeyboardInterrupt traceback
        proc.wait(timeout=30)


OPENERS: dict[str, Callable[[str], AbstractAsyncContextManager[Client[Any]]]] = {
    "in-memory": memory_client,
    "stdio": stdio_client,
    "http": http_client,
}


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


async def run(calls: int, rounds: int, concurrency: int) -> list[dict[str, Any]]:
    rows = []
    for transport, opener in OPENERS.items():
        async with AsyncExitStack() as stack:
            clients = {kind: await stack.enter_async_context(opener(kind)) for kind in KINDS}
            samples = await measure(clients, calls, rounds, concurrency)
        stats: dict[str, dict[str, float]] = {}
        for kind in KINDS:
            stats[kind] = {
                "p50": pct(samples[kind].latencies, 0.5) * 1000,
                "p99": pct(samples[kind].latencies, 0.99) * 1000,
                "rps": statistics.median(samples[kind].throughputs),
            }
        rows.append({"transport": transport, **{f"{k}_{m}": v for k in KINDS for m, v in stats[k].items()}})
    return rows


def render(rows: list[dict[str, Any]], command: str) -> str:
    lines = [
        "| transport | bare p50 ms | core p50 ms | p50 ratio | bare p99 ms | core p99 ms | p99 ratio "
        "| bare calls/s | core calls/s | throughput ratio |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['transport']} | {r['bare_p50']:.2f} | {r['core_p50']:.2f} | {r['core_p50'] / r['bare_p50']:.3f} "
            f"| {r['bare_p99']:.2f} | {r['core_p99']:.2f} | {r['core_p99'] / r['bare_p99']:.3f} "
            f"| {r['bare_rps']:.0f} | {r['core_rps']:.0f} | {r['bare_rps'] / r['core_rps']:.3f} |"
        )
    header = (
        f"Command: `{command}` — {platform.python_version()}, {os.cpu_count()} cores, "
        f"{time.strftime('%Y-%m-%d')}. Ratios are core/bare for latency and bare/core for throughput "
        "(above 1.0 = the core is slower)."
    )
    return header + "\n\n" + "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--calls", type=int, default=400)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--write", type=Path, help="replace the serving section of this markdown file")
    parser.add_argument("--serve", choices=KINDS, help=argparse.SUPPRESS)
    parser.add_argument("--transport", default="stdio", help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, default=0, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve_child(args.serve, args.transport, args.port)
        return
    command = "python bench/serving.py " + " ".join(sys.argv[1:])
    table = render(asyncio.run(run(args.calls, args.rounds, args.concurrency)), command.strip())
    print(table)
    if args.write:
        from bench_report import replace_section

        replace_section(args.write, "serving", "Serving core overhead (bench/serving.py)", table)


if __name__ == "__main__":
    main()
