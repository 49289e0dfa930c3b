"""Which agent gets the next piece of work, among the healthy ones offering a skill.

The one with the least work in flight from this caller (the tasks it has open on each), ties broken by the
order discovery returns them in (the registry's health ranking: healthiest first). Each caller (planner,
executor) holds its own :class:`Balancer`: the counts are what that process sent, nothing shared.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Collection
from types import TracebackType

from a2a.types import AgentCard

from toolmesh.agents.discovery import Discovery
from toolmesh.agents.errors import AgentNotFound

__all__ = ["Balancer", "Lease", "agent_url"]


def agent_url(card: AgentCard) -> str:
    """The key an agent is known by here: its first interface's URL (its name when it lists none)."""
    return card.supported_interfaces[0].url if card.supported_interfaces else card.name


class Lease:
    """One piece of work open on ``card``: counted from creation until the ``with`` block exits."""

    def __init__(self, balancer: Balancer, card: AgentCard) -> None:
        self.card = card
        self.url = agent_url(card)
        self._balancer = balancer
        self._open = True
        balancer._open[self.url] += 1

    def release(self) -> None:
        if self._open:
            self._open = False
            self._balancer._open[self.url] -= 1
            if self._balancer._open[self.url] <= 0:
                del self._balancer._open[self.url]

    def __enter__(self) -> Lease:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.release()


class Balancer:
    """Spreads work over the agents discovery finds for a skill (see the module docstring)."""

    def __init__(self, discovery: Discovery) -> None:
        self.discovery = discovery
        self._open: Counter[str] = Counter()

    def in_flight(self, card: AgentCard) -> int:
        """The work this caller has open on ``card`` now."""
        return self._open[agent_url(card)]

    def choose(self, cards: list[AgentCard], *, avoid: Collection[str] = ()) -> AgentCard | None:
        """The least busy of ``cards`` (in health order) whose URL is not in ``avoid``; None if none is."""
        candidates = [c for c in cards if agent_url(c) not in avoid]
        if not candidates:
            return None
        # min() keeps the first of equals: the healthier one wins a tie
        return min(candidates, key=self.in_flight)

    def hold(self, card: AgentCard) -> Lease:
        """Count work on a card chosen elsewhere (the executor that holds a task's pending approval)."""
        return Lease(self, card)

    async def lease(self, skill: str, *, avoid: Collection[str] = ()) -> Lease:
        """Choose an agent for ``skill`` and count the work on it at once (so concurrent choices see it).

        AgentNotFound when none offers it, or every one found is in ``avoid`` (lost already).
        """
        cards = await self.discovery.find_agents(skill)
        card = self.choose(cards, avoid=avoid)
        if card is None:
            raise AgentNotFound(
                f"every agent offering {skill!r} was lost: {', '.join(sorted(avoid))}",
                hint="Start another one; it registers itself.",
            )
        return Lease(self, card)

    async def find(self, skill: str, url: str) -> AgentCard:
        """The agent for ``skill`` at ``url`` (AgentNotFound when it is gone)."""
        for card in await self.discovery.find_agents(skill):
            if agent_url(card) == url:
                return card
        raise AgentNotFound(
            f"no agent offering {skill!r} is registered at {url} any more",
            hint="It stopped or lost its registration; ask again and the work goes to a running one.",
        )
