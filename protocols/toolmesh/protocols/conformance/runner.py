"""Runs registered checks against a target: one bounded, isolated coroutine per requirement."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import Generic, TypeVar

import anyio

from toolmesh.protocols.conformance.manifest import requirement
from toolmesh.protocols.conformance.report import CheckResult, Outcome

__all__ = [
    "Check",
    "CheckRegistry",
    "Finding",
    "errored",
    "failed",
    "passed",
    "run_checks",
    "skipped",
    "warned",
]

C = TypeVar("C")


@dataclass(frozen=True, slots=True)
class Finding:
    """What a check saw: an outcome and a sentence a user can act on."""

    outcome: Outcome
    observed: str


def passed(observed: str) -> Finding:
    return Finding(Outcome.PASS, observed)


def failed(observed: str) -> Finding:
    return Finding(Outcome.FAIL, observed)


def warned(observed: str) -> Finding:
    return Finding(Outcome.WARN, observed)


def skipped(reason: str) -> Finding:
    return Finding(Outcome.SKIP, reason)


def errored(observed: str) -> Finding:
    return Finding(Outcome.ERROR, observed)


@dataclass(frozen=True, slots=True)
class Check(Generic[C]):
    """One check of one requirement; ``fn`` gets the run's context object."""

    requirement_id: str
    fn: Callable[[C], Awaitable[Finding]]
    timeout: float
    # False for checks that only look at what the transport saw (they run even when negotiation failed).
    needs_session: bool = True


class CheckRegistry(Generic[C]):
    """The ordered checks of one protocol. ``@registry.check("MCP-X")`` registers a coroutine."""

    def __init__(self, protocol: str) -> None:
        self.protocol = protocol
        self.checks: list[Check[C]] = []

    def check(
        self, rid: str, *, timeout: float = 30.0, needs_session: bool = True
    ) -> Callable[[Callable[[C], Awaitable[Finding]]], Callable[[C], Awaitable[Finding]]]:
        req = requirement(rid)  # unknown ids fail at import time
        if req.protocol != self.protocol:
            raise ValueError(f"{rid} is an {req.protocol} requirement, not {self.protocol}")

        def register(fn: Callable[[C], Awaitable[Finding]]) -> Callable[[C], Awaitable[Finding]]:
            if any(existing.requirement_id == rid for existing in self.checks):
                raise ValueError(f"{rid} already has a check")
            self.checks.append(Check(rid, fn, timeout, needs_session))
            return fn

        return register

    @property
    def requirement_ids(self) -> list[str]:
        return [check.requirement_id for check in self.checks]


async def run_checks(
    checks: Iterable[Check[C]],
    ctx: C,
    *,
    variant: str = "",
    only: set[str] | None = None,
    timeout_scale: float = 1.0,
    fatal: tuple[type[Exception], ...] = (),
) -> list[CheckResult]:
    """Run ``checks`` in order; a check that raises or overruns its time is an ERROR, never a crash.

    A request that times out inside a check, and exceptions of the ``fatal`` types (the target went away
    mid-check), are the target's fault: FAIL.
    """
    results: list[CheckResult] = []
    for check in checks:
        if only is not None and check.requirement_id not in only:
            continue
        started = time.monotonic()
        limit = check.timeout * timeout_scale
        scope = anyio.CancelScope(deadline=anyio.current_time() + limit)
        try:
            with scope:
                finding = await check.fn(ctx)
            if scope.cancelled_caught:
                finding = errored(f"check did not finish within {limit:.0f}s")
        except TimeoutError:  # a request inside the check got no answer within its own limit
            finding = failed("the target did not answer a request within the request timeout")
        except fatal as exc:
            finding = failed(f"the target went away during the check: {exc}")
        except Exception as exc:  # a check must never take the run down
            finding = errored(f"check raised {type(exc).__name__}: {exc}")
        outcome = finding.outcome
        if outcome is Outcome.FAIL and requirement(check.requirement_id).level == "SHOULD":
            outcome = Outcome.WARN
        results.append(
            CheckResult(
                check.requirement_id,
                outcome,
                finding.observed,
                variant=variant,
                seconds=time.monotonic() - started,
            )
        )
    return results
