"""Staying registered: the loop behind :meth:`RegistryClient.keep_registered`, and what it tells the operator.

:class:`Presence` registers, heartbeats every TTL/3, registers again when the registry lost the entry or
comes back, and backs off (exponential with jitter, capped) while it cannot. Every agent and every MCP
server that registers itself goes through it, so they fail the same loud way: a registration that does not
succeed is logged at start-up, on stderr (WARNING while the registry is unreachable, ERROR when it refuses),
with the registry's reason and the setting that fixes it (:class:`Registrant` names them); each distinct
failure is logged once, not at every retry, and the registration that ends a failure is logged too.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from ipaddress import ip_address
from typing import TYPE_CHECKING, Literal
from urllib.parse import urlsplit

from toolmesh.protocols.cards import EntryView
from toolmesh.protocols.egress import is_public_address
from toolmesh.protocols.errors import NotFoundError, ToolmeshError, UnavailableError
from toolmesh.protocols.registry_client import RegistryUnauthorized

if TYPE_CHECKING:
    from toolmesh.protocols.registry_client import RegistryClient

__all__ = ["Presence", "Registrant"]

logger = logging.getLogger(__name__)

Sleep = Callable[[float], Awaitable[None]]
Failure = Literal["unreachable", "unauthorized", "refused", "no-api", "broken"]

_LOOPBACK_NAMES = ("localhost", "localhost.localdomain", "ip6-localhost", "ip6-loopback")


@dataclass(frozen=True, slots=True)
class Registrant:
    """Who registers, so that a failure says what to change.

    ``what`` names it in messages ("the executor agent", "the MCP server 'sql'"), ``url`` is the URL it
    advertises, and ``env_prefix`` is the prefix of its settings (``TOOLMESH_AGENTS_``, ``TOOLMESH_SQL_``):
    its ``REGISTRY_URL``, ``REGISTRY_TOKEN`` and ``PUBLIC_URL`` are the settings the messages name.
    """

    what: str = "this entry"
    url: str | None = None
    env_prefix: str | None = None

    def setting(self, name: str, fallback: str) -> str:
        return f"{self.env_prefix}{name}" if self.env_prefix else fallback

    @property
    def named(self) -> str:
        return f"{self.what} at {self.url}" if self.url else self.what

    def advertises_private_url(self) -> bool:
        """True when the advertised URL's host is a loopback name or a non-public address literal."""
        host = (urlsplit(self.url or "").hostname or "").rstrip(".").lower()
        if not host:
            return False
        if host in _LOOPBACK_NAMES or host.endswith(".localhost"):
            return True
        try:
            return not is_public_address(ip_address(host))
        except ValueError:
            return False  # a name: only the registry knows what it resolves to

    def explain(
        self, failure: Failure, error: BaseException, *, registry: str, token_sent: bool, retry: str
    ) -> str:
        """The operator's message for a failed attempt: what happened, why, what to set, what happens now.

        Where this side knows the fix better than the registry's generic hint (a token, a private URL, a
        wrong registry URL), the registry's message is kept and its hint replaced."""
        message = getattr(error, "message", None) or f"{type(error).__name__}: {error}"
        message = message.rstrip(".")
        full = (str(error) if isinstance(error, ToolmeshError) else message).rstrip(".")
        url_setting = self.setting("REGISTRY_URL", "the registry URL")
        token_setting = self.setting("REGISTRY_TOKEN", "the registry token")
        what = self.what[:1].upper() + self.what[1:]
        meanwhile = f"{what} keeps serving, unregistered (peers cannot find it), and keeps trying {retry}."
        if failure == "unreachable":
            return (
                f"cannot register {self.named}: {message}. Start the registry, or point {url_setting} at "
                f"it. {meanwhile}"
            )
        if failure == "no-api":
            return (
                f"cannot register {self.named}: {registry} is not a registry ({message}). Set "
                f"{url_setting} to the registry's base URL (e.g. http://HOST:8700). {meanwhile}"
            )
        if failure == "broken":
            return f"cannot register {self.named} in the registry at {registry}: {message}. {meanwhile}"
        refused = f"the registry at {registry} refused {self.named}"
        if failure == "unauthorized":
            which = "No registry token is set" if not token_sent else "The registry does not know this token"
            return (
                f"{refused}: {message}. {which}: set {token_setting} to a publisher token whose SHA-256 "
                "(`toolmesh token hash TOKEN`) is in the registry's TOOLMESH_REGISTRY_PUBLISHERS. "
                f"{meanwhile}"
            )
        if self.advertises_private_url() or "refusing to reach" in message:
            return (
                f"{refused}: {message}. Start the registry with TOOLMESH_REGISTRY_ALLOW_PRIVATE_TARGETS=true "
                f"(a private mesh), or advertise a URL it can reach with "
                f"{self.setting('PUBLIC_URL', 'the public URL setting')}. {meanwhile}"
            )
        token_hint = "token" in str(getattr(error, "hint", "") or "").lower()
        check = f" Check {token_setting}." if token_hint else ""
        return f"{refused}: {full}.{check} {meanwhile}"


def _classify(error: BaseException) -> Failure:
    if isinstance(error, UnavailableError):
        return "unreachable"
    if isinstance(error, RegistryUnauthorized):
        return "unauthorized"
    if isinstance(error, NotFoundError):
        return "no-api"
    if isinstance(error, ToolmeshError):
        return "refused"
    return "broken"


class Presence:
    """The state of a :meth:`RegistryClient.keep_registered` loop."""

    def __init__(
        self,
        client: RegistryClient,
        register: Callable[[RegistryClient], Awaitable[EntryView]],
        *,
        interval: float | None,
        initial_backoff: float,
        max_backoff: float,
        sleep: Sleep,
        registrant: Registrant | None = None,
    ) -> None:
        self.client = client
        self._register = register
        self.interval = interval
        self.initial_backoff = initial_backoff
        self.max_backoff = max_backoff
        self._sleep = sleep
        self.registrant = registrant or Registrant()
        self.entry_id: str | None = None
        self.entry: EntryView | None = None
        self.registrations = 0
        self.heartbeats = 0
        self.failures = 0
        self.last_error: str | None = None
        self.registered = asyncio.Event()
        self._logged: tuple[Failure, str] | None = None  # the failure last logged, until a success
        self._streak = 0  # failed attempts since the last success

    def _heartbeat_interval(self) -> float:
        if self.interval is not None:
            return self.interval
        if self.entry is not None:
            ttl = self.entry.expires_at - self.entry.last_heartbeat
            if ttl > 0:
                return max(0.05, ttl / 3)
        return 30.0

    def _succeeded(self, registered: bool) -> None:
        if self._logged is not None:
            # as loud as the failure was: whoever saw it must see that it is over
            logger.warning(
                "%s is registered in the registry at %s now (entry %s), after %d failed attempt(s)",
                self.registrant.named,
                self.client.base_url,
                self.entry_id,
                self._streak,
            )
        elif registered:
            logger.info(
                "registered %s in the registry at %s (entry %s)",
                self.registrant.named,
                self.client.base_url,
                self.entry_id,
            )
        self._logged, self._streak = None, 0

    def _failed(self, error: BaseException) -> Failure:
        failure = _classify(error)
        reason = str(error) if isinstance(error, ToolmeshError) else f"{type(error).__name__}: {error}"
        self.last_error = reason
        self.failures += 1
        self._streak += 1
        key = (failure, "" if failure == "unreachable" else reason)  # unreachable is one state, however
        if self._logged == key:
            logger.debug("registration of %s still failing: %s", self.registrant.named, reason)
            return failure
        self._logged = key
        retry = f"(waiting up to {self.max_backoff:g} s between attempts)"
        message = self.registrant.explain(
            failure, error, registry=self.client.base_url, token_sent=self.client.has_token, retry=retry
        )
        level = logging.WARNING if failure == "unreachable" else logging.ERROR
        logger.log(level, message, exc_info=error if failure == "broken" else None)
        return failure

    async def run(self) -> None:
        backoff = self.initial_backoff
        must_register = True
        while True:
            try:
                if must_register:
                    self.entry = await self._register(self.client)
                    self.entry_id = self.entry.id
                    self.registrations += 1
                    must_register = False
                    self._succeeded(registered=True)
                else:
                    assert self.entry_id is not None
                    await self.client.heartbeat(self.entry_id)
                    self.heartbeats += 1
                    self._succeeded(registered=False)
                self.registered.set()
                backoff = self.initial_backoff
                await self._sleep(self._heartbeat_interval())
                continue
            except NotFoundError as exc:
                if not must_register:
                    # The registry lost the entry (TTL purge, wiped store): register again right away.
                    self.last_error = "entry not found; registering again"
                    logger.info(
                        "the registry at %s lost %s; registering again", self.client.base_url, self.entry_id
                    )
                    must_register = True
                    continue
                self._failed(exc)  # the registration itself found no API there: a wrong registry URL
                backoff = self.max_backoff
            except UnavailableError as exc:
                self._failed(exc)
                must_register = True  # the registry may come back without our entry
                self.registered.clear()
            except ToolmeshError as exc:
                # Refused (bad card, wrong token, private URL): retrying quickly will not help.
                self._failed(exc)
                backoff = self.max_backoff
            except Exception as exc:  # a broken answer or callback must not end the presence loop
                self._failed(exc)
                must_register = True
            delay = backoff * (0.5 + random.random() / 2)
            backoff = min(backoff * 2, self.max_backoff)
            await self._sleep(delay)
