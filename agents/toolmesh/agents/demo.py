"""The mesh demo: one real question that needs the docs, sql and code servers, answered through the agents.

Everything runs embedded on ephemeral ports (registry, three MCP servers, three agents) with no model:
the sample handbook and shop code in ``examples/mesh`` and the generated sample shop database.
``python -m toolmesh.agents.demo`` or :func:`run_demo` (``make demo``).
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from a2a.types import StreamResponse, TaskState
from fastmcp import Client

from toolmesh.agents.client import ask_planner, describe_event
from toolmesh.agents.errors import MeshConfigError
from toolmesh.agents.mesh import MeshHandle, launch_mesh
from toolmesh.agents.wire import Outcome, artifact_json

__all__ = ["DEMO_QUESTION", "demo_mesh", "find_samples", "main", "run_demo"]

# Documents, an aggregation with a filter and a join (invoices → orders → customers), and code, in one go.
DEMO_QUESTION = (
    'What does the handbook say about the "refund window", what was the total revenue from customers in '
    "Germany in 2024, and where is `refund_order` defined?"
)


def find_samples(start: Path | None = None) -> Path:
    """The ``examples/mesh`` folder (handbook + shop code), searched from the source tree and the cwd."""
    candidates = [Path(__file__).resolve().parents[3] / "examples" / "mesh", Path.cwd() / "examples" / "mesh"]
    if start is not None:
        candidates.insert(0, start)
    for path in candidates:
        if (path / "handbook").is_dir() and (path / "shop").is_dir():
            return path
    raise MeshConfigError(
        "the demo's sample data (examples/mesh/handbook and examples/mesh/shop) was not found",
        hint="Run from the toolmesh checkout, or pass the folder explicitly.",
    )


@asynccontextmanager
async def demo_mesh(workdir: Path, samples: Path, **kwargs: Any) -> AsyncIterator[MeshHandle]:
    """The whole mesh over the sample data, with the handbook indexed."""
    server_settings: dict[str, dict[str, Any]] = {
        "docs": {"roots": [samples / "handbook"], "index_path": workdir / "docs.sqlite", "embedder": "none"},
        "sql": {"sample_path": workdir / "shop.sqlite"},
        "code": {"root": samples / "shop", "index_path": workdir / "code.sqlite"},
        # the conversation's long-term memory, in the work folder (BM25 recall: no model to load)
        "memory": {"store": f"sqlite:///{workdir / 'memory.sqlite'}", "embedder": "none"},
    }
    async with launch_mesh(workdir, server_settings=server_settings, **kwargs) as mesh:
        async with Client(mesh.servers["docs"]) as docs:
            await docs.call_tool("index", {"paths": [str(samples / "handbook")], "collection": "handbook"})
        yield mesh


def _print_evidence(outcome: Outcome, echo: Callable[[str], None]) -> None:
    evidence = artifact_json(outcome.artifacts["evidence"]) if "evidence" in outcome.artifacts else None
    if not isinstance(evidence, list):
        return
    echo("\nEvidence:")
    for item in evidence:
        if isinstance(item, dict):
            echo(f"  [{item.get('n')}] {item.get('kind')}: {item.get('source')}")


async def run_demo(
    question: str = DEMO_QUESTION,
    *,
    samples: Path | None = None,
    workdir: Path | None = None,
    echo: Callable[[str], None] = print,
) -> Outcome:
    """Start the mesh, ask ``question``, stream the hops, print the answer and its evidence."""
    sample_dir = find_samples(samples)
    with tempfile.TemporaryDirectory(prefix="toolmesh-demo-") as tmp:
        root = workdir or Path(tmp)
        echo("starting registry, docs/sql/code servers and planner/executor/reviewer agents ...")
        async with demo_mesh(root, sample_dir) as mesh:
            echo(f"registry {mesh.registry_url} | planner {mesh.planner_url}")
            echo(f"\n> {question}\n")

            async def show(event: StreamResponse) -> None:
                line = describe_event(event)
                if (line and event.WhichOneof("payload") != "status_update") or (
                    line and event.status_update.status.state == TaskState.TASK_STATE_WORKING
                ):
                    echo(line)

            outcome = await ask_planner(mesh.planner_url, question, on_event=show)
        echo(f"\n=== {outcome.state_name.removeprefix('TASK_STATE_').lower()} ===\n")
        answer = outcome.artifacts.get("answer")
        echo(answer.parts[0].text if answer is not None and answer.parts else outcome.status_text)
        _print_evidence(outcome, echo)
        return outcome


def main() -> None:
    question = " ".join(sys.argv[1:]) or DEMO_QUESTION
    outcome = asyncio.run(run_demo(question))
    sys.exit(0 if outcome.state == TaskState.TASK_STATE_COMPLETED else 1)


if __name__ == "__main__":
    main()
