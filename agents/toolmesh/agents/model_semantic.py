"""The semantic cache for answer writing: a reply for a request whose text is close enough to one seen.

The request's text (its last user message: for the writer, the question, the evidence and the brief) is
embedded with the docs server's packaged embedder — the same model, not a second one — and compared by
cosine similarity with the entries of the same role; at or above ``threshold`` the stored reply is
returned. It is only for the writer by default: a written answer is still checked against the evidence
before it is used (see :mod:`toolmesh.agents.planner.writing`), so a near miss cannot smuggle in numbers.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Protocol

import anyio
import numpy as np
import numpy.typing as npt

from toolmesh.agents.model import ChatResult

__all__ = ["SemanticCache", "TextEmbedder", "request_text"]


class TextEmbedder(Protocol):
    """What the cache needs of an embedder (the docs server's satisfy it): L2-normalised rows."""

    def embed(self, texts: list[str]) -> npt.NDArray[np.float32]: ...


def request_text(messages: Sequence[Mapping[str, Any]]) -> str:
    users = [str(m.get("content") or "") for m in messages if m.get("role") == "user"]
    return users[-1] if users else ""


class SemanticCache:
    """In-process entries ``(role, vector, expires, reply)``; at most ``max_entries``, oldest dropped."""

    def __init__(
        self,
        embedder: TextEmbedder,
        *,
        threshold: float = 0.97,
        max_entries: int = 2048,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.embedder = embedder
        self.threshold = threshold
        self.max_entries = max_entries
        self.clock = clock
        self._entries: list[tuple[str, npt.NDArray[np.float32], float, str]] = []

    async def vector(self, text: str) -> npt.NDArray[np.float32]:
        rows = await anyio.to_thread.run_sync(self.embedder.embed, [text])
        return np.asarray(rows[0], dtype=np.float32)

    def get(self, role: str, vector: npt.NDArray[np.float32]) -> tuple[ChatResult, float] | None:
        now = self.clock()
        self._entries = [e for e in self._entries if e[2] >= now]
        best: tuple[float, str] | None = None
        for entry_role, stored, _, body in self._entries:
            if entry_role != role:
                continue
            score = float(np.dot(stored, vector))
            if score >= self.threshold and (best is None or score > best[0]):
                best = (score, body)
        if best is None:
            return None
        return ChatResult.model_validate_json(best[1]), best[0]

    def put(self, role: str, vector: npt.NDArray[np.float32], result: ChatResult, ttl: float) -> None:
        self._entries.append((role, vector, self.clock() + ttl, result.model_dump_json()))
        del self._entries[: max(0, len(self._entries) - self.max_entries)]
