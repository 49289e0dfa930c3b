"""A circuit breaker per MCP server: closed -> open after repeated transient failures -> half-open trial."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from toolmesh.agents.errors import CircuitOpen

__all__ = ["Breaker", "BreakerBoard", "BreakerState"]

BreakerState = Literal["closed", "open", "half-open"]


@dataclass(slots=True)
class Breaker:
    """Opens after ``threshold`` consecutive failures; lets one trial call through after ``cooldown`` s."""

    threshold: int = 3
    cooldown: float = 15.0
    failures: int = 0
    opened_at: float | None = None
    trial_in_flight: bool = False

    def state(self, now: float) -> BreakerState:
        if self.opened_at is None:
            return "closed"
        if now - self.opened_at >= self.cooldown:
            return "half-open"
        return "open"

    def admit(self, now: float) -> bool:
        state = self.state(now)
        if state == "closed":
            return True
        if state == "half-open" and not self.trial_in_flight:
            self.trial_in_flight = True
            return True
        return False

    def success(self) -> None:
        self.failures = 0
        self.opened_at = None
        self.trial_in_flight = False

    def failure(self, now: float) -> None:
        self.trial_in_flight = False
        self.failures += 1
        if self.opened_at is not None or self.failures >= self.threshold:
            self.opened_at = now


class BreakerBoard:
    """The breakers of every server, by server id."""

    def __init__(
        self, *, threshold: int = 3, cooldown: float = 15.0, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.threshold = threshold
        self.cooldown = cooldown
        self.clock = clock
        self._breakers: dict[str, Breaker] = {}

    def _get(self, server_id: str) -> Breaker:
        breaker = self._breakers.get(server_id)
        if breaker is None:
            breaker = self._breakers[server_id] = Breaker(self.threshold, self.cooldown)
        return breaker

    def check(self, server_id: str) -> None:
        """Raise :class:`CircuitOpen` unless a call to ``server_id`` may go ahead now."""
        breaker = self._get(server_id)
        if not breaker.admit(self.clock()):
            assert breaker.opened_at is not None
            wait = max(0.0, breaker.cooldown - (self.clock() - breaker.opened_at))
            raise CircuitOpen(
                f"server {server_id!r} is failing ({breaker.failures} failures in a row); circuit open",
                hint=f"Calls resume in {wait:.1f} s, or use another server offering the tool.",
            )

    def success(self, server_id: str) -> None:
        self._get(server_id).success()

    def failure(self, server_id: str) -> None:
        self._get(server_id).failure(self.clock())

    def state(self, server_id: str) -> BreakerState:
        return self._get(server_id).state(self.clock())
