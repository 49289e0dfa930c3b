"""An agent's durable task store, scoped to the agent: it sees its own tasks only, and fails those it left
running when it last stopped.

Rows (a2a-sdk's ``DatabaseTaskStore``, schema version 2 of our task metadata):

- the ``owner`` column is ``<agent id>:<caller>``, so GetTask, ListTasks, save and delete only ever touch
  this agent's tasks, even when several agents share one store (SQLite file or PostgreSQL);
- ``metadata.instance`` is the agent id and ``metadata.schema`` is 2.

Version 1 rows (before agent ids) have ``owner`` = the caller and ``metadata.instance`` = ``name@base_url``
(:func:`legacy_instance_id`). An agent serving at that URL adopts them at start-up (re-stamps them as
version 2 with its id), so its interrupted old tasks are still recovered and its finished ones still
answer GetTask; rows of other URLs are left for their agents.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from a2a.auth.user import User
from a2a.server.context import ServerCallContext
from a2a.server.tasks import DatabaseTaskStore, InMemoryTaskStore, TaskStore
from a2a.types import Message, Part, Role, Task, TaskState
from sqlalchemy import event, select, update
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

__all__ = [
    "SCHEMA_VERSION",
    "build_task_store",
    "legacy_instance_id",
    "owner_scope",
    "recover_interrupted",
    "stamp",
]

logger = logging.getLogger(__name__)

SCHEMA_VERSION = 2
_INTERRUPTIBLE = ("TASK_STATE_SUBMITTED", "TASK_STATE_WORKING")


def legacy_instance_id(name: str, base_url: str) -> str:
    """How schema-1 tasks were stamped: ``name@base_url`` (changed with the port, hence agent ids)."""
    return f"{name}@{base_url}"


def owner_scope(agent_id: str) -> Callable[[ServerCallContext], str]:
    """The store's owner of a request: this agent, then the caller (each caller still sees only its own)."""

    def resolve(context: ServerCallContext) -> str:
        return f"{agent_id}:{context.user.user_name}"

    return resolve


def stamp(task: Task, agent_id: str) -> Task:
    """Mark ``task`` as run by ``agent_id`` (what recovery after a crash looks for)."""
    task.metadata.update({"instance": agent_id, "schema": SCHEMA_VERSION})
    return task


def build_task_store(url: str, *, agent_id: str) -> tuple[TaskStore, AsyncEngine | None]:
    """``memory://``, or a SQLAlchemy async URL (SQLite by default, PostgreSQL in production), holding the
    tasks of ``agent_id`` only. The caller owns the engine (dispose it when done)."""
    if url == "memory://":
        return InMemoryTaskStore(owner_resolver=owner_scope(agent_id)), None
    store = DatabaseTaskStore(_engine(url), create_table=True, owner_resolver=owner_scope(agent_id))
    return store, store.engine


def _engine(url: str) -> AsyncEngine:
    """An async engine; SQLite gets WAL and a busy timeout so concurrent tasks wait instead of failing."""
    if not url.startswith("sqlite"):
        return create_async_engine(url, pool_pre_ping=True)
    engine = create_async_engine(url, connect_args={"timeout": 30})

    @event.listens_for(engine.sync_engine, "connect")
    def _pragmas(dbapi_connection: Any, _record: Any) -> None:
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.close()

    return engine


class _Caller(User):
    def __init__(self, name: str) -> None:
        self._name = name

    @property
    def is_authenticated(self) -> bool:
        return bool(self._name)

    @property
    def user_name(self) -> str:
        return self._name


async def adopt_legacy(store: DatabaseTaskStore, *, agent_id: str, legacy: str) -> list[str]:
    """Re-stamp the schema-1 rows of ``legacy`` (``name@base_url``) as this agent's; their ids."""
    await store.initialize()
    model = store.task_model
    prefix = f"{agent_id}:"
    async with store.async_session_maker.begin() as session:
        rows = (await session.execute(select(model.id, model.owner, model.task_metadata))).all()
        adopted = []
        for task_id, owner, meta in rows:
            if not isinstance(meta, dict) or meta.get("instance") != legacy or meta.get("schema"):
                continue
            await session.execute(
                update(model)
                .where(model.id == task_id)
                .values(
                    owner=prefix + (owner or ""),
                    task_metadata={**meta, "instance": agent_id, "schema": SCHEMA_VERSION},
                )
            )
            adopted.append(task_id)
    if adopted:
        logger.info("adopted %d task(s) stamped %s as agent %s", len(adopted), legacy, agent_id)
    return adopted


async def recover_interrupted(
    store: TaskStore, *, agent_id: str, reason: str, legacy: str | None = None
) -> list[str]:
    """Mark the tasks ``agent_id`` left submitted/working (it died) as failed with ``reason``; their ids.

    Only this agent's rows are touched, so replicas and other agents sharing one store keep their live
    tasks. ``legacy`` (the ``name@base_url`` the agent had before ids) adopts schema-1 rows first.
    """
    if not isinstance(store, DatabaseTaskStore):
        return []  # an in-memory store starts empty: nothing was interrupted
    if legacy is not None:
        await adopt_legacy(store, agent_id=agent_id, legacy=legacy)
    await store.initialize()
    model = store.task_model
    prefix = f"{agent_id}:"
    async with store.async_session_maker() as session:
        query = select(model.id, model.owner, model.status).where(
            model.owner.startswith(prefix, autoescape=True)
        )
        rows = (await session.execute(query)).all()
    recovered: list[str] = []
    for task_id, owner, status in rows:
        if not isinstance(status, dict) or status.get("state") not in _INTERRUPTIBLE:
            continue
        context = ServerCallContext(user=_Caller(owner[len(prefix) :]))
        task = await store.get(task_id, context)
        if task is None:
            continue
        task.status.state = TaskState.TASK_STATE_FAILED
        task.status.message.CopyFrom(
            Message(
                role=Role.ROLE_AGENT,
                message_id=f"recovered-{task_id}",
                task_id=task_id,
                context_id=task.context_id,
                parts=[Part(text=reason)],
            )
        )
        task.status.timestamp.FromDatetime(datetime.now(UTC))
        task.metadata.update({"interrupted": True, "interrupted_reason": reason})
        await store.save(task, context)
        recovered.append(task_id)
    if recovered:
        logger.warning("marked %d interrupted task(s) failed: %s", len(recovered), ", ".join(recovered))
    return recovered
