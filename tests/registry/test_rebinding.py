"""DNS rebinding: the address the registry checks is the address it connects to.

A scripted resolver plays the rebinding DNS server (first answer public, second answer loopback); a real
loopback server counts what reaches it. Nothing here needs the network.
"""

from __future__ import annotations

import asyncio
import datetime
import ssl
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from pathlib import Path
from urllib.parse import urlsplit

import anyio
import httpcore
import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from tests.registry.conftest import PUBLISHER_A, auth, make_card, register, serving, settings_for
from toolmesh.protocols.egress import PublicOnlyBackend, PublicOnlyTransport
from toolmesh.protocols.errors import PermissionDenied, UpstreamError
from toolmesh.protocols.serving import running
from toolmesh.protocols.settings import ServingSettings
from toolmesh.registry.app import build_app
from toolmesh.registry.validation import Fetcher, TargetGuard

CARD_PATH = "/.well-known/agent-card.json"
PUBLIC = "93.184.216.34"


class Scripted:
    """A resolver that gives its answers in turn (then repeats the last), and counts the look-ups."""

    def __init__(self, *answers: list[str]) -> None:
        self.answers = list(answers)
        self.calls: list[str] = []

    async def __call__(self, host: str, port: int) -> list[str]:
        self.calls.append(host)
        return self.answers[min(len(self.calls), len(self.answers)) - 1]


class Target:
    """A loopback agent that counts the requests reaching it and remembers their Host headers."""

    def __init__(self) -> None:
        self.hosts: list[str] = []
        self.base = ""

    async def card(self, request: Request) -> Response:
        self.hosts.append(request.headers.get("host", ""))
        return JSONResponse(make_card("target", self.base or "http://127.0.0.1:9"))

    def app(self) -> Starlette:
        return Starlette(routes=[Route(CARD_PATH, self.card)])


@asynccontextmanager
async def target_at() -> AsyncIterator[tuple[Target, int]]:
    target = Target()
    async with running(target.app(), ServingSettings(transport="http", port=0)) as base:
        port = urlsplit(base).port
        assert port is not None
        yield target, port


@asynccontextmanager
async def fetcher_for(guard: TargetGuard) -> AsyncIterator[Fetcher]:
    fetcher = Fetcher(guard, timeout=5)
    try:
        yield fetcher
    finally:
        await fetcher.aclose()


@pytest.mark.asyncio
async def test_a_rebinding_host_passes_the_check_but_is_refused_at_connect_time() -> None:
    dns = Scripted([PUBLIC], ["127.0.0.1"])
    with anyio.fail_after(20):
        async with (
            target_at() as (target, port),
            fetcher_for(TargetGuard(allow_private=False, resolve=dns)) as f,
        ):
            url = f"http://rebind.example:{port}{CARD_PATH}"
            with pytest.raises(PermissionDenied, match=r"'rebind\.example' resolves to 127\.0\.0\.1") as info:
                await f.get(url, max_bytes=10_000)
    assert dns.calls == ["rebind.example", "rebind.example"]  # the early check, then the connect
    assert target.hosts == []  # nothing reached the loopback server
    assert info.value.hint and "ALLOW_PRIVATE_TARGETS" in info.value.hint


@pytest.mark.asyncio
async def test_registration_and_probing_of_a_rebinding_host_reach_nothing() -> None:
    with anyio.fail_after(30):
        async with target_at() as (target, port):
            url = f"http://rebind.example:{port}"
            dns = Scripted([PUBLIC], ["169.254.169.254"], [PUBLIC], ["127.0.0.1"])
            fetcher = Fetcher(TargetGuard(allow_private=False, resolve=dns), timeout=5)
            app = build_app(settings_for(allow_private_targets=False), fetcher=fetcher)
            async with serving(app) as client:
                refused = await client.post(
                    "/api/v1/agents", json={"card_url": url}, headers=auth(PUBLISHER_A)
                )
                assert refused.status_code == 403, refused.text
                assert "169.254.169.254" in refused.text
                entry = await register(client, make_card("rebound", url))  # by body: nothing fetched yet
                assert await app.state.prober.probe_once() == 1
                state = (await client.get(f"/api/v1/entries/{entry['id']}")).json()
                assert state["health"] == "degraded"
                assert "resolves to 127.0.0.1, which is not a public address" in state["health_detail"]
    assert len(dns.calls) == 4
    assert target.hosts == []


@pytest.mark.asyncio
async def test_a_private_answer_is_refused_at_connect_time_even_without_the_early_check() -> None:
    for answer in (["10.1.2.3"], [PUBLIC, "127.0.0.1"], ["::ffff:127.0.0.1"], ["::1"], ["not-an-ip"]):
        dns = Scripted(answer)
        with anyio.fail_after(20):
            async with (
                target_at() as (target, port),
                fetcher_for(TargetGuard(allow_private=False, resolve=dns)) as f,
            ):
                with pytest.raises(PermissionDenied, match="which is not a public address"):
                    await f.client.get(f"http://agent.example:{port}{CARD_PATH}")  # skips guard.check
        assert dns.calls == ["agent.example"]
        assert target.hosts == [], answer


@pytest.mark.asyncio
async def test_ip_literals_are_checked_at_connect_time_too() -> None:
    dns = Scripted([PUBLIC])
    with anyio.fail_after(20):
        async with (
            target_at() as (target, port),
            fetcher_for(TargetGuard(allow_private=False, resolve=dns)) as f,
        ):
            for host in ("127.0.0.1", "[::ffff:127.0.0.1]", "[::ffff:169.254.169.254]", "[::1]"):
                with pytest.raises(PermissionDenied, match="is not a public address"):
                    await f.client.get(f"http://{host}:{port}{CARD_PATH}")
            with pytest.raises(PermissionDenied):  # the early check agrees on the mapped form
                await f.get(f"http://[::ffff:127.0.0.1]:{port}{CARD_PATH}", max_bytes=10_000)
    assert dns.calls == []  # a literal is never resolved, so it cannot be rebound
    assert target.hosts == []


@pytest.mark.asyncio
async def test_allow_private_fetches_loopback_by_name_and_by_ip_literal() -> None:
    dns = Scripted(["127.0.0.1"])
    with anyio.fail_after(20):
        async with (
            target_at() as (target, port),
            fetcher_for(TargetGuard(allow_private=True, resolve=dns)) as f,
        ):
            by_name = await f.get_json(f"http://agent.example:{port}{CARD_PATH}", max_bytes=10_000)
            by_ip = await f.get_json(f"http://127.0.0.1:{port}{CARD_PATH}", max_bytes=10_000)
    assert by_name["name"] == by_ip["name"] == "target"
    assert dns.calls == ["agent.example"]
    # connected to 127.0.0.1, but the Host header still names the URL's host
    assert target.hosts == [f"agent.example:{port}", f"127.0.0.1:{port}"]


class Recording(httpcore.AsyncNetworkBackend):
    """An inner backend that records where it is asked to connect and refuses, like an unreachable net."""

    def __init__(self) -> None:
        self.hosts: list[str] = []

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        self.hosts.append(host)
        raise httpcore.ConnectError(f"no route to {host}")


@pytest.mark.asyncio
async def test_public_answers_are_connected_to_by_the_checked_address_in_order() -> None:
    dns = Scripted([PUBLIC, "2606:2800:220:1:248:1893:25c8:1946"], ["127.0.0.1"])
    inner = Recording()
    backend = PublicOnlyBackend(resolve=dns, backend=inner)
    with anyio.fail_after(10):
        async with httpx.AsyncClient(transport=PublicOnlyTransport(backend)) as client:
            with pytest.raises(httpx.ConnectError, match="no route to 2606:"):
                await client.get("https://agent.example/card")
            assert inner.hosts == [PUBLIC, "2606:2800:220:1:248:1893:25c8:1946"]  # literals, never the name
            with pytest.raises(PermissionDenied):  # the next look-up is rebound: no connect at all
                await client.get("https://agent.example/card")
    assert len(inner.hosts) == 2


@pytest.mark.asyncio
async def test_resolver_failures_are_upstream_errors_and_slow_resolvers_time_out() -> None:
    async def broken(host: str, port: int) -> list[str]:
        raise OSError("Name or service not known")

    never = asyncio.Event()

    async def hanging(host: str, port: int) -> list[str]:
        await never.wait()
        return []

    async def empty(host: str, port: int) -> list[str]:
        return []

    with anyio.fail_after(10):
        async with fetcher_for(TargetGuard(allow_private=False, resolve=broken)) as f:
            with pytest.raises(httpx.ConnectError, match=r"cannot resolve host 'agent\.example'"):
                await f.client.get("http://agent.example/")
        for resolve in (broken, empty):
            transport = PublicOnlyTransport(PublicOnlyBackend(resolve=resolve))
            async with httpx.AsyncClient(transport=transport) as client:
                with pytest.raises(httpx.ConnectError):
                    await client.get("http://agent.example/")
        transport = PublicOnlyTransport(PublicOnlyBackend(resolve=hanging))
        async with httpx.AsyncClient(transport=transport, timeout=httpx.Timeout(5, connect=0.2)) as client:
            with pytest.raises(httpx.ConnectTimeout, match=r"resolving 'agent\.example'"):
                await client.get("http://agent.example/")
        async with fetcher_for(TargetGuard(allow_private=False, resolve=empty)) as f:
            with pytest.raises(UpstreamError, match="resolved to no address"):  # check() lets [] through
                await f.get("http://agent.example/", max_bytes=10)
    with pytest.raises(PermissionDenied, match="unix socket"):
        await PublicOnlyBackend().connect_unix_socket("/run/docker.sock")


def _self_signed(name: str) -> tuple[bytes, bytes]:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(hours=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(name)]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    key_pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    return cert.public_bytes(serialization.Encoding.PEM), key_pem


@pytest.mark.asyncio
async def test_tls_verifies_the_url_hostname_not_the_address_connected_to(tmp_path: Path) -> None:
    folder = tmp_path
    cert_pem, key_pem = _self_signed("agent.example")
    (folder / "cert.pem").write_bytes(cert_pem)
    (folder / "key.pem").write_bytes(key_pem)
    server_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_ctx.load_cert_chain(folder / "cert.pem", folder / "key.pem")
    sni: list[str | None] = []
    server_ctx.sni_callback = lambda sock, name, ctx: sni.append(name)

    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\nconnection: close\r\n\r\nok")
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(answer, "127.0.0.1", 0, ssl=server_ctx)
    port = server.sockets[0].getsockname()[1]
    client_ctx = ssl.create_default_context(cadata=cert_pem.decode())
    try:
        with anyio.fail_after(10):
            for host, ok in (("agent.example", True), ("other.example", False)):
                backend = PublicOnlyBackend(allow_private=True, resolve=Scripted(["127.0.0.1"]))
                transport = PublicOnlyTransport(backend, verify=client_ctx)
                async with httpx.AsyncClient(transport=transport) as client:
                    if ok:
                        response = await client.get(f"https://{host}:{port}/")
                        assert response.text == "ok"
                    else:
                        with pytest.raises(httpx.ConnectError, match=r"(?i)certificate"):
                            await client.get(f"https://{host}:{port}/")
    finally:
        server.close()
        await server.wait_closed()
    assert sni == ["agent.example", "other.example"]  # SNI is the URL's host, never 127.0.0.1
