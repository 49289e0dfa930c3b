"""The model gateway against the scripted OpenAI-compatible server with injected faults, in one run.

Each workload runs twice, side by side: through the bare seam (one endpoint, one request per call, no
retries — what the seam did before the gateway) and through the gateway (the same endpoint with SDK
retries honouring Retry-After, a healthy second endpoint to fall over to, limits, the exact cache).

1. faults:    the main endpoint answers, per 10 requests, two 429s (Retry-After 0.05 s), one 500 and one
              reply slower than the 1 s timeout; success rate and latency (mean, p95) of each.
2. overhead:  a healthy endpoint, cache off: the latency the gateway adds per call (ratio to the bare seam).
3. cache:     200 calls drawn from 25 distinct prompts: hit rate and requests that reached the server.
4. limits:    50 concurrent calls, each answered after 0.1 s, with a concurrency limit of 4: the most
              requests the server saw in flight at once (the bare seam has no limit).

    .venv/bin/python bench/model_gateway.py [--calls 100] [--write docs/benchmarks.md]
"""

from __future__ import annotations

import argparse
import asyncio
import platform
import random
import statistics
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.bench_report import replace_section

from toolmesh.agents.errors import ModelError
from toolmesh.agents.gateway import Gateway
from toolmesh.agents.model import ChatModel, EndpointSettings, ModelSettings, OpenAIChatModel
from toolmesh.agents.scripted import Reply, ScriptedModel, scripted_server


def faulty() -> ScriptedModel:
    count = [0]

    def script(body: dict[str, Any]) -> Reply:
        count[0] += 1
        slot = count[0] % 10
        if slot in (1, 5):
            return Reply.fault(429, retry_after=0.05, message="rate limited")
        if slot == 3:
            return Reply.fault(500, message="overloaded")
        if slot == 7:
            return Reply(content="late", delay=1.5)
        return Reply.text("ok")

    return ScriptedModel(script)


async def run(model: ChatModel, prompts: list[str], concurrency: int) -> tuple[int, list[float]]:
    gate = asyncio.Semaphore(concurrency)
    latencies: list[float] = []
    ok = 0

    async def one(prompt: str) -> None:
        nonlocal ok
        async with gate:
            started = time.perf_counter()
            try:
                await model.chat([{"role": "user", "content": prompt}], role="planner")
                ok += 1
                latencies.append(time.perf_counter() - started)
            except ModelError:
                pass

    await asyncio.gather(*[one(p) for p in prompts])
    return ok, latencies


def p95(values: list[float]) -> float:
    return sorted(values)[int(0.95 * (len(values) - 1))] if values else float("nan")


def bare(url: str, **update: Any) -> OpenAIChatModel:
    settings = ModelSettings(base_url=url, model="main", retries=0, timeout=1.0, **update)
    return OpenAIChatModel.single(settings)


def gateway(*urls: str, cache: str = "off", concurrency: int = 16) -> Gateway:
    endpoints = [
        EndpointSettings(base_url=u, model=n, name=n, retries=2, timeout=1.0, concurrency=concurrency)
        for u, n in zip(urls, ["main", "backup"], strict=False)
    ]
    return Gateway.from_settings(ModelSettings(endpoints=endpoints, cache_url=cache))


async def closing(model: ChatModel, work: Callable[[ChatModel], Awaitable[Any]]) -> Any:
    try:
        return await work(model)
    finally:
        close = getattr(model, "aclose", None)
        if close is not None:
            await close()


async def bench(calls: int) -> list[str]:
    rows: list[str] = []
    prompts = [f"question {i}" for i in range(calls)]
    # 1. faults
    async with scripted_server(faulty()) as main, scripted_server(lambda b: Reply.text("ok")) as backup:
        ok_b, lat_b = await closing(bare(main), lambda m: run(m, prompts, 8))
    async with scripted_server(faulty()) as main, scripted_server(lambda b: Reply.text("ok")) as backup:
        ok_g, lat_g = await closing(gateway(main, backup), lambda m: run(m, prompts, 8))
    rows.append(
        f"| faults: success rate | {ok_b / calls:.0%} | {ok_g / calls:.0%} | 40% of the main endpoint's "
        "replies are faults |"
    )
    rows.append(
        f"| faults: latency mean / p95 of successes | {statistics.mean(lat_b) * 1000:.0f} / "
        f"{p95(lat_b) * 1000:.0f} ms | {statistics.mean(lat_g) * 1000:.0f} / {p95(lat_g) * 1000:.0f} ms | "
        "the gateway's includes retries, Retry-After waits and timeouts before falling over |"
    )
    # 2. overhead on a healthy endpoint
    async with scripted_server(lambda b: Reply.text("ok")) as url:
        _, lat_b = await closing(bare(url), lambda m: run(m, prompts, 1))
        _, lat_g = await closing(gateway(url), lambda m: run(m, prompts, 1))
    mean_b, mean_g = statistics.mean(lat_b), statistics.mean(lat_g)
    rows.append(
        f"| healthy endpoint: latency mean | {mean_b * 1000:.2f} ms | {mean_g * 1000:.2f} ms | "
        f"×{mean_g / mean_b:.2f} (+{(mean_g - mean_b) * 1000:.2f} ms per call, cache off) |"
    )
    # 3. cache on a repeated workload
    r = random.Random(7)
    repeated = [f"repeated question {r.randrange(25)}" for _ in range(200)]
    server = ScriptedModel(lambda b: Reply.text("ok"))
    async with scripted_server(server) as url:
        model = gateway(url, cache="memory://")
        await closing(model, lambda m: run(m, repeated, 1))
    hits = model.metrics.value("toolmesh_model_cache_total", role="planner", result="hit")
    rows.append(
        f"| repeated workload (200 calls, 25 prompts): server requests | 200 | {len(server.requests)} | "
        f"cache hit rate {hits / 200:.0%} |"
    )
    # 4. limits under 50 concurrent calls
    slow_b = ScriptedModel(lambda b: Reply(content="ok", delay=0.1))
    slow_g = ScriptedModel(lambda b: Reply(content="ok", delay=0.1))
    fifty = [f"concurrent {i}" for i in range(50)]
    async with scripted_server(slow_b) as url:
        await closing(bare(url), lambda m: run(m, fifty, 50))
    async with scripted_server(slow_g) as url:
        ok_l, _ = await closing(gateway(url, concurrency=4), lambda m: run(m, fifty, 50))
    rows.append(
        f"| 50 concurrent calls, limit 4: most in flight at the server | {slow_b.peak} | {slow_g.peak} | "
        f"{ok_l}/50 answered through the gateway |"
    )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--calls", type=int, default=100)
    parser.add_argument("--write", type=Path, default=None, help="markdown file to write the table into")
    args = parser.parse_args()
    rows = asyncio.run(bench(args.calls))
    table = "\n".join(["| workload | bare seam | gateway | note |", "| --- | --- | --- | --- |", *rows])
    print(table)
    if args.write:
        body = (
            f"`.venv/bin/python bench/model_gateway.py --calls {args.calls} --write docs/benchmarks.md` "
            f"on {platform.python_implementation()} {platform.python_version()}, "
            f"{platform.machine()}, one process, loopback HTTP (2 shared cores).\n\n{table}\n"
        )
        replace_section(args.write, "model-gateway", "Model gateway (bench/model_gateway.py)", body)


if __name__ == "__main__":
    main()
