"""Answer quality of the agent mesh: realistic questions over the sample shop, graded against gold computed
from the data itself (bench/mesh_grading.py), asked through the real mesh (registry, docs/sql/code MCP
servers, planner, executor, reviewer over A2A) exactly as `toolmesh up` runs it.

The questions (bench/mesh_questions.toml) cover lookups, aggregations, joins, documents, code, stack traces,
unanswerable questions and follow-ups in one A2A context, in English and Chinese. In the same run the mesh
answers them with no model and, with ``--mode both``, behind a scripted OpenAI-compatible model server
(a test fixture for the loop's wiring: native tool calls, repair turns, grounding of the written answer —
not a measure of model quality).

Reported per mode: accuracy (overall, per category and language), wrong answers the reviewer approved,
clarifications asked, Chinese questions dropped unrouted, median latency.

    .venv/bin/python bench/mesh_quality.py [--mode none|scripted|both] [--only ID,...] [--write docs/benchmarks.md]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import statistics
import sys
import tempfile
import time
import tomllib
from collections import defaultdict
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any

import httpx
from a2a.client import A2ACardResolver
from a2a.types import Part

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_report import replace_section
from mesh_grading import grade
from toolmesh.agents.demo import demo_mesh, find_samples
from toolmesh.agents.wire import Outcome, artifact_json, new_message, stream_message

QUESTIONS = Path(__file__).with_name("mesh_questions.toml")
STATES = {
    "TASK_STATE_COMPLETED": "completed",
    "TASK_STATE_FAILED": "failed",
    "TASK_STATE_INPUT_REQUIRED": "input-required",
}


def load_questions(path: Path = QUESTIONS) -> list[dict[str, Any]]:
    return list(tomllib.loads(path.read_text(encoding="utf-8"))["question"])


async def _send(
    card: Any, http: httpx.AsyncClient, text: str, *, context_id: str = "", task_id: str = ""
) -> Outcome:
    outcome = Outcome()
    async for event in stream_message(
        card, new_message([Part(text=text)], context_id=context_id, task_id=task_id), http=http
    ):
        outcome.absorb(event)
    return outcome


def _last_verdict(outcome: Outcome) -> bool | None:
    reviews = sorted(k for k in outcome.artifacts if k.startswith("review-"))
    if not reviews:
        return None
    value = artifact_json(outcome.artifacts[reviews[-1]])
    return bool(value["verdict"]["approved"]) if isinstance(value, dict) else None


def _reviews(outcome: Outcome) -> list[str]:
    """What each review round said (its concerns), to read why an answer was turned down."""
    said: list[str] = []
    for key in sorted(k for k in outcome.artifacts if k.startswith("review-")):
        value = artifact_json(outcome.artifacts[key])
        verdict = value.get("verdict") if isinstance(value, dict) else None
        if isinstance(verdict, dict):
            concerns = [i.get("message") for i in verdict.get("issues") or [] if isinstance(i, dict)]
            said.append(f"{key}: {'approved' if verdict.get('approved') else 'rejected'}: {concerns}"[:800])
    return said


async def ask_all(
    planner_url: str, questions: list[dict[str, Any]], db: Path, shop: Path
) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    contexts: dict[str, str] = {}
    async with httpx.AsyncClient(timeout=300) as http:
        card = await A2ACardResolver(http, planner_url).get_agent_card()
        for spec in questions:
            conversation = spec.get("conversation") or ""
            started = time.perf_counter()
            outcome = await _send(
                card, http, spec["text"], context_id=contexts.get(conversation, "") if conversation else ""
            )
            clarified = outcome.state_name == "TASK_STATE_INPUT_REQUIRED"
            if clarified and spec.get("reply"):
                outcome = await _send(
                    card, http, spec["reply"], context_id=outcome.context_id, task_id=outcome.task_id
                )
            elapsed = (time.perf_counter() - started) * 1000
            follow_up = bool(conversation) and conversation in contexts  # turn 2 or later of a conversation
            if conversation:
                contexts[conversation] = outcome.context_id
            state = STATES.get(outcome.state_name, outcome.state_name)
            info = artifact_json(outcome.artifacts["outcome"]) if "outcome" in outcome.artifacts else {}
            answer_artifact = outcome.artifacts.get("answer")
            answer = answer_artifact.parts[0].text if answer_artifact is not None else outcome.status_text
            kind = str((info or {}).get("kind") or "")
            if spec.get("expect") == "clarify" and not spec.get("reply"):
                correct, why = clarified, "asked" if clarified else "did not ask"
            else:
                correct, why = grade(spec, answer, state, kind, db=db, shop=shop)
            approved = _last_verdict(outcome)
            rows.append(
                {
                    "id": spec["id"],
                    "category": spec.get("category", ""),
                    "lang": spec.get("lang", "en"),
                    "correct": correct,
                    "why": why,
                    "state": state,
                    "kind": kind,
                    "approved": approved,
                    "wrong_approved": (not correct) and state == "completed" and approved is True,
                    "clarified": clarified,
                    "follow_up": follow_up,
                    "dropped": spec.get("lang") == "zh" and int((info or {}).get("rounds") or 0) == 0,
                    "ms": round(elapsed, 1),
                    "routes": [p.get("route") for p in (info or {}).get("parts", [])],
                    "scores": (info or {}).get("scores", []),
                    "tried": (info or {}).get("tried", []),
                    "answer": answer[:1500],
                    "reviews": _reviews(outcome),
                }
            )
            mark = "ok " if correct else "BAD"
            print(f"{mark} {spec['id']:<14} {state:<15} {elapsed:7.0f} ms  {why[:90]}", flush=True)
    return rows


def summarise(rows: list[dict[str, Any]]) -> dict[str, Any]:
    by_cat: dict[str, list[bool]] = defaultdict(list)
    by_lang: dict[str, list[bool]] = defaultdict(list)
    for r in rows:
        by_cat[r["category"]].append(r["correct"])
        by_lang[r["lang"]].append(r["correct"])
    n = len(rows)
    return {
        "questions": n,
        "correct": sum(r["correct"] for r in rows),
        "accuracy": round(sum(r["correct"] for r in rows) / n, 3) if n else 0.0,
        "wrong_approved": sum(r["wrong_approved"] for r in rows),
        "wrong_approved_rate": round(sum(r["wrong_approved"] for r in rows) / n, 3) if n else 0.0,
        "clarifications": sum(r["clarified"] for r in rows),
        "chinese_dropped": sum(r["dropped"] for r in rows),
        "follow_ups": f"{sum(r['correct'] for r in rows if r.get('follow_up'))}/"
        f"{sum(1 for r in rows if r.get('follow_up'))}",
        "follow_ups_zh": f"{sum(r['correct'] for r in rows if r.get('follow_up') and r['lang'] == 'zh')}/"
        f"{sum(1 for r in rows if r.get('follow_up') and r['lang'] == 'zh')}",
        "median_ms": round(statistics.median(r["ms"] for r in rows), 1) if rows else 0.0,
        "by_category": {k: f"{sum(v)}/{len(v)}" for k, v in sorted(by_cat.items())},
        "by_language": {k: f"{sum(v)}/{len(v)}" for k, v in sorted(by_lang.items())},
    }


async def run_mode(mode: str, questions: list[dict[str, Any]]) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    samples = find_samples()
    with tempfile.TemporaryDirectory(prefix="toolmesh-quality-") as tmp:
        work = Path(tmp)
        async with AsyncExitStack() as stack:
            kwargs: dict[str, Any] = {}
            if mode == "scripted":
                from scripted_model import scripted_model_server

                base_url = await stack.enter_async_context(
                    scripted_model_server(questions, work / "shop.sqlite")
                )
                kwargs["agent_settings"] = {"model": {"base_url": base_url, "model": "scripted"}}
            mesh = await stack.enter_async_context(demo_mesh(work, samples, **kwargs))
            rows = await ask_all(mesh.planner_url, questions, work / "shop.sqlite", samples / "shop")
    return summarise(rows), rows


def table(results: dict[str, dict[str, Any]]) -> str:
    lines = [
        "| mode | questions | correct | accuracy | wrong answers approved | clarifications | Chinese dropped | median latency |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for mode, s in results.items():
        lines.append(
            f"| {mode} | {s['questions']} | {s['correct']} | {s['accuracy']:.1%} | {s['wrong_approved']} "
            f"({s['wrong_approved_rate']:.1%}) | {s['clarifications']} | {s['chinese_dropped']} | {s['median_ms']:.0f} ms |"
        )
    lines.append("")
    for mode, s in results.items():
        cats = ", ".join(f"{k} {v}" for k, v in s["by_category"].items())
        langs = ", ".join(f"{k} {v}" for k, v in s["by_language"].items())
        lines.append(
            f"- {mode}: follow-ups (turn 2 and later of a conversation) {s['follow_ups']} correct "
            f"(Chinese {s['follow_ups_zh']}); by category {cats}; by language {langs}"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--mode", choices=["none", "scripted", "both"], default="none")
    parser.add_argument("--only", default="", help="Comma-separated question ids (and their conversations).")
    parser.add_argument("--write", type=Path, default=None, help="Update this benchmarks file's section.")
    parser.add_argument("--json", type=Path, default=None, help="Write every graded answer here.")
    parser.add_argument(
        "--questions", type=Path, default=QUESTIONS, help="The question set (e.g. bench/mesh_heldout.toml)."
    )
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    questions = load_questions(args.questions)
    if args.only:
        wanted = set(args.only.split(","))
        convs = {q.get("conversation") for q in questions if q["id"] in wanted and q.get("conversation")}
        questions = [q for q in questions if q["id"] in wanted or (q.get("conversation") in convs)]
    modes = ["none", "scripted"] if args.mode == "both" else [args.mode]
    results: dict[str, dict[str, Any]] = {}
    everything: dict[str, list[dict[str, Any]]] = {}
    for mode in modes:
        summary, rows = asyncio.run(run_mode(mode, questions))
        results["no model" if mode == "none" else "scripted model"] = summary
        everything[mode] = rows
    body = table(results)
    print("\n" + body)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(
            json.dumps({"summary": results, "rows": everything}, indent=1, ensure_ascii=False)
        )
    if args.write:
        own = args.questions != QUESTIONS
        extra = f" --questions {args.questions}" if own else ""
        command = f"`.venv/bin/python bench/mesh_quality.py --mode {args.mode}{extra} --write {args.write}`"
        replace_section(
            args.write,
            f"mesh-quality-{args.questions.stem}" if own else "mesh-quality",
            f"Mesh answer quality, {args.questions.name} (bench/mesh_quality.py)",
            f"{command}\n\n{body}\n",
        )


if __name__ == "__main__":
    main()
