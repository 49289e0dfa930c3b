"""The mesh demo: one real question that needs the docs, sql and code servers, answered through the agents.

Everything runs embedded on ephemeral ports (registry, three MCP servers, three agents) with no model:
the sample handbook and shop code shipped in the package (``toolmesh/agents/samples``) and the generated
sample shop database.
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

from toolmesh.agents.client import ask_planner, describe_event
from toolmesh.agents.config import SAMPLES, sample_config
from toolmesh.agents.errors import MeshConfigError
from toolmesh.agents.mesh import MeshHandle
from toolmesh.agents.stack import launch_stack
from toolmesh.agents.wire import Outcome, artifact_json

__all__ = ["DEMO_QUESTION", "demo_mesh", "find_samples", "main", "run_demo"]

# Documents, an aggregation with a filter and a join (invoices → orders → customers), and code, in one go.
DEMO_QUESTION = (
    'What does the handbook say about the "refund window", what was the total revenue from customers in '
    "Germany in 2024, and where is `refund_order` defined?"
)


def find_samples(start: Path | None = None) -> Path:
    """The sample folder (``handbook/`` + ``shop/``): ``start`` when given, else the one in the package."""
    path = start if start is not None else SAMPLES
    if (path / "handbook").is_dir() and (path / "shop").is_dir():
        return path
    raise MeshConfigError(
        f"no sample data in {path} (it needs the folders handbook/ and shop/)",
        hint="Pass a folder holding both, or reinstall toolmesh (the wheel ships them).",
    )


@asynccontextmanager
async def demo_mesh(workdir: Path, samples: Path, **kwargs: Any) -> AsyncIterator[MeshHandle]:
    """The whole mesh over the sample data, with the handbook indexed (``kwargs``: see ``launch_mesh``)."""
    async with launch_stack(sample_config(workdir, samples), **kwargs) as mesh:
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
