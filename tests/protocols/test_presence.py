"""Loud registration: a registration that fails says why and what to set, once per distinct failure, keeps
trying with capped backoff, and says so when it finally succeeds (a real registry over HTTP)."""

from __future__ import annotations

import asyncio
import logging
import socket
from collections.abc import Callable

import anyio
import pytest

from tests.registry.conftest import PUBLISHER_A, make_card, make_server_entry, settings_for
from toolmesh.protocols.cards import McpServerEntry
from toolmesh.protocols.presence import Registrant
from toolmesh.protocols.registry_client import RegistryClient
from toolmesh.protocols.serving import bind_socket, running
from toolmesh.protocols.settings import hash_token
from toolmesh.registry.app import build_app

LOGGER = "toolmesh.protocols.presence"
EXECUTOR = Registrant("the executor agent", "http://127.0.0.1:9001", "TOOLMESH_AGENTS_")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


async def until(predicate: Callable[[], bool], timeout: float = 20.0) -> None:
    with anyio.fail_after(timeout):
        while not predicate():
            await asyncio.sleep(0.01)


class Backoff:
    """The presence loop's injected sleep: records each requested delay and returns almost at once."""

    def __init__(self) -> None:
        self.delays: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.delays.append(seconds)
        await asyncio.sleep(0.002)


def loud(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name == LOGGER and r.levelno >= logging.WARNING]


@pytest.mark.asyncio
async def test_a_refused_private_url_says_why_and_what_to_set_once_then_logs_the_registration(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG, logger=LOGGER)
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    backoff = Backoff()
    strict = build_app(settings_for(allow_private_targets=False))
    with anyio.fail_after(60):
        async with (
            RegistryClient(base, token=PUBLISHER_A, timeout=2) as registry,
            registry.keep_registered(
                lambda c: c.register_agent(make_card("executor")),
                max_backoff=8,
                sleep=backoff,
                registrant=EXECUTOR,
            ) as presence,
        ):
            async with running(strict, sock=bind_socket("127.0.0.1", port)):
                await until(lambda: presence.failures >= 3)  # it keeps trying
            refusals = [r for r in loud(caplog) if "refused" in r.getMessage()]
            assert len(refusals) == 1, [r.getMessage() for r in loud(caplog)]  # once, not at every retry
            refusal = refusals[0]
            message = refusal.getMessage()
            assert refusal.levelno == logging.ERROR
            assert f"the registry at {base} refused the executor agent at http://127.0.0.1:9001" in message
            assert "127.0.0.1 is not a public address" in message  # the registry's reason
            assert "TOOLMESH_REGISTRY_ALLOW_PRIVATE_TARGETS=true" in message  # what to set there
            assert "TOOLMESH_AGENTS_PUBLIC_URL" in message  # or here
            assert "keeps serving, unregistered" in message
            assert all(d <= 8 for d in backoff.delays) and max(backoff.delays) >= 4  # refusals: capped
            # the operator restarts the registry for a private mesh: the next attempt registers, and says so
            async with running(build_app(settings_for()), sock=bind_socket("127.0.0.1", port)):
                await until(presence.registered.is_set)
                recovered = loud(caplog)[-1].getMessage()
            assert f"is registered in the registry at {base} now (entry {presence.entry_id})" in recovered


@pytest.mark.asyncio
@pytest.mark.parametrize(
    ("token", "said"),
    [
        ("not-a-publisher", "The registry does not know this token: set TOOLMESH_AGENTS_REGISTRY_TOKEN"),
        (None, "No registry token is set: set TOOLMESH_AGENTS_REGISTRY_TOKEN"),
    ],
)
async def test_an_unauthorised_registration_names_the_token_setting(
    caplog: pytest.LogCaptureFixture, token: str | None, said: str
) -> None:
    caplog.set_level(logging.INFO, logger=LOGGER)
    port = free_port()
    backoff = Backoff()
    with anyio.fail_after(60):
        async with (
            RegistryClient(f"http://127.0.0.1:{port}", token=token, timeout=2) as registry,
            registry.keep_registered(
                lambda c: c.register_agent(make_card("executor")),
                max_backoff=4,
                sleep=backoff,
                registrant=EXECUTOR,
            ) as presence,
        ):
            async with running(build_app(settings_for()), sock=bind_socket("127.0.0.1", port)):
                await until(lambda: presence.failures >= 3)
                [record] = loud(caplog)  # once for three attempts
            message = record.getMessage()
            assert record.levelno == logging.ERROR
            assert said in message and "TOOLMESH_REGISTRY_PUBLISHERS" in message
            assert "toolmesh token hash" in message
            if token is None:
                return
            publishers = {hash_token(token): "late-team"}
            async with running(
                build_app(settings_for(publishers=publishers)), sock=bind_socket("127.0.0.1", port)
            ):
                await until(presence.registered.is_set)
                assert "is registered in the registry" in loud(caplog)[-1].getMessage()


@pytest.mark.asyncio
async def test_an_unreachable_registry_is_a_warning_with_backoff_and_the_registration_is_logged(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger=LOGGER)
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    backoff = Backoff()
    server = Registrant("the MCP server 'sql'", "http://127.0.0.1:8000/mcp", "TOOLMESH_SQL_")
    with anyio.fail_after(60):
        async with (
            RegistryClient(base, token=PUBLISHER_A, timeout=2) as registry,
            registry.keep_registered(
                lambda c: c.register_server(McpServerEntry.model_validate(make_server_entry("sql"))),
                initial_backoff=1,
                max_backoff=8,
                sleep=backoff,
                registrant=server,
            ) as presence,
        ):
            await until(lambda: presence.failures >= 6)
            [warning] = loud(caplog)  # one line for six failed attempts
            message = warning.getMessage()
            assert warning.levelno == logging.WARNING
            assert (
                f"cannot register the MCP server 'sql' at http://127.0.0.1:8000/mcp: registry {base}"
                in message
            )
            assert "is unreachable" in message and "point TOOLMESH_SQL_REGISTRY_URL at it" in message
            assert "waiting up to 8 s between attempts" in message
            # exponential with jitter, capped: 1, 2, 4, 8, 8, ... times [0.5, 1)
            assert 0.5 <= backoff.delays[0] < 1 and 1 <= backoff.delays[1] < 2
            assert all(d < 8 for d in backoff.delays)
            async with running(build_app(settings_for()), sock=bind_socket("127.0.0.1", port)):
                await until(presence.registered.is_set)
                [_, registered] = loud(caplog)
            assert registered.levelno == logging.WARNING
            assert registered.getMessage().startswith(
                "the MCP server 'sql' at http://127.0.0.1:8000/mcp is registered in the registry at "
                f"{base} now"
            )
            assert "failed attempt(s)" in registered.getMessage()


@pytest.mark.asyncio
async def test_a_registry_url_without_the_api_is_named(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger=LOGGER)
    backoff = Backoff()
    with anyio.fail_after(60):
        async with (
            running(build_app(settings_for())) as base,
            RegistryClient(f"{base}/api/v1", token=PUBLISHER_A, timeout=2) as registry,  # one level too deep
            registry.keep_registered(
                lambda c: c.register_agent(make_card("executor")), sleep=backoff, registrant=EXECUTOR
            ) as presence,
        ):
            await until(lambda: presence.failures >= 2)
            [record] = loud(caplog)
    assert record.levelno == logging.ERROR
    assert "is not a registry" in record.getMessage()
    assert "Set TOOLMESH_AGENTS_REGISTRY_URL to the registry's base URL" in record.getMessage()
