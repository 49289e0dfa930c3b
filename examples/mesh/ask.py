"""Ask a running planner (``toolmesh agents up``) a question and print each hop as it streams.

python examples/mesh/ask.py [--planner http://127.0.0.1:8810] "What does the handbook say about refunds?"
"""

from __future__ import annotations

import argparse
import asyncio

from a2a.types import StreamResponse

from toolmesh.agents.client import ask_planner, describe_event
from toolmesh.agents.wire import artifact_json


async def main(planner: str, question: str) -> None:
    async def show(event: StreamResponse) -> None:
        line = describe_event(event)
        if line:
            print(line)

    outcome = await ask_planner(planner, question, on_event=show)
    answer = outcome.artifacts.get("answer")
    print("\n" + (answer.parts[0].text if answer else outcome.status_text))
    for item in artifact_json(outcome.artifacts["evidence"]) if "evidence" in outcome.artifacts else []:
        print(f"  [{item['n']}] {item['kind']}: {item['source']}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--planner", default="http://127.0.0.1:8810")
    parser.add_argument("question")
    args = parser.parse_args()
    asyncio.run(main(args.planner, args.question))
