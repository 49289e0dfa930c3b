"""Hundreds of malformed or malicious requests: each answered 4xx with a JSON error, the registry unharmed."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from typing import Any

import anyio
import httpx
import pytest

from tests.registry.conftest import PUBLISHER_A, auth, make_card, make_server_entry, serving, settings_for
from toolmesh.registry.app import build_app

PUBLIC = "https://agents.example.com"
Case = tuple[str, str, str, dict[str, Any]]  # (name, method, path, httpx request kwargs)


def card() -> dict[str, Any]:
    return make_card("target", PUBLIC)


def mutate(fn: Callable[[dict[str, Any]], None]) -> dict[str, Any]:
    c = card()
    fn(c)
    return c


def with_field(field: str, value: Any) -> dict[str, Any]:
    c = card()
    c[field] = copy.deepcopy(value)
    return c


def without_field(field: str) -> dict[str, Any]:
    c = card()
    c.pop(field)
    return c


def with_iface(key: str, value: str) -> dict[str, Any]:
    c = card()
    c["supportedInterfaces"][0][key] = value
    return c


def agent_case(name: str, body: Any) -> Case:
    return (
        name,
        "POST",
        "/api/v1/agents",
        {"content": json.dumps(body).encode(), "headers": _json_headers()},
    )


def server_case(name: str, body: Any) -> Case:
    return (
        name,
        "POST",
        "/api/v1/servers",
        {"content": json.dumps(body).encode(), "headers": _json_headers()},
    )


def _json_headers() -> dict[str, str]:
    return {**auth(PUBLISHER_A), "content-type": "application/json"}


PRIVATE_HOSTS = [
    "127.0.0.1",
    "127.1",
    "localhost",
    "LOCALHOST.",
    "foo.localhost",
    "10.0.0.5",
    "10.255.255.255",
    "172.16.3.4",
    "172.31.0.1",
    "192.168.1.1",
    "169.254.169.254",
    "169.254.0.1",
    "0.0.0.0",  # noqa: S104
    "100.64.0.1",
    "224.0.0.1",
    "240.0.0.1",
    "255.255.255.255",
    "[::1]",
    "[::]",
    "[fe80::1]",
    "[fc00::1]",
    "[fd12:3456::1]",
    "[::ffff:127.0.0.1]",
    "[::ffff:10.0.0.1]",
    "0x7f000001",
    "2130706433",
    "0177.0.0.1",
    "017700000001",
    "198.18.0.1",
    "192.0.2.10",
]
BAD_URLS = [
    "ftp://agents.example.com/a",
    "file:///etc/passwd",
    "javascript:alert(1)",
    "data:text/plain,hi",
    "gopher://x/",
    "http://",
    "https:///nohost",
    "//agents.example.com/a",
    "agents.example.com/a",
    "http://user:pw@agents.example.com/",
    "http://agents.example.com:0/",
    "http://agents.example.com:99999/",
    "http://agents example.com/",
    "http://a\x00b.com/",
    "http://agents.example.com/\n",
    "",
    "http://" + "a" * 2100 + ".com/",
    "http://[::1/",
    "ws://agents.example.com/",
]


def cases() -> list[Case]:
    out: list[Case] = []
    h = _json_headers()
    # 1. bytes that are not (acceptable) JSON
    for i, raw in enumerate(
        [
            b"",
            b"{",
            b"}",
            b"[",
            b"{'card': 1}",
            b'{"card": }',
            b"nul",
            b"\xff\xfe\x00",
            b'{"card": NaN}',
            b'{"card": Infinity}',
            b"[" * 100_000,
            b'{"a":' * 50_000,
            b'"\\ud800"',
            b'{"card": 1e999999}',
            b"\x00" * 100,
            '{"card": "\u2028"}'.encode("utf-16"),
        ]
    ):
        out.append((f"bad-json-{i}", "POST", "/api/v1/agents", {"content": raw, "headers": h}))
        out.append((f"bad-json-server-{i}", "POST", "/api/v1/servers", {"content": raw, "headers": h}))
    # 2. wrong content types
    for i, ctype in enumerate(
        ["text/plain", "application/x-www-form-urlencoded", "multipart/form-data", "", "application/jsonx"]
    ):
        headers = {**auth(PUBLISHER_A), "content-type": ctype}
        out.append(
            (
                f"content-type-{i}",
                "POST",
                "/api/v1/agents",
                {"content": json.dumps({"card": card()}).encode(), "headers": headers},
            )
        )
    # 3. wrong shapes of the registration body
    body: Any
    for i, body in enumerate(
        [
            [],
            "card",
            42,
            None,
            True,
            {},
            {"card": card(), "card_url": PUBLIC},
            {"card": card(), "extra": 1},
            {"card_url": 5},
            {"card_url": None},
            {"card_url": ["http://a.example.com"]},
            {"card": card(), "id": 7},
            {"card": card(), "id": ""},
            {"card": card(), "id": "UPPER"},
            {"card": card(), "id": "../etc"},
            {"card": card(), "id": "a" * 200},
            {"card": card(), "id": "-leading"},
            {"card": card(), "id": "sp ace"},
            {"card": card(), "id": "ünïcode"},
            {"card": "not an object"},
            {"card": [card()]},
            {"card": None},
        ]
    ):
        out.append(agent_case(f"body-shape-{i}", body))
    # 4. required card fields missing, empty or of the wrong type
    for field in [
        "name",
        "description",
        "version",
        "supportedInterfaces",
        "skills",
        "defaultInputModes",
        "defaultOutputModes",
    ]:
        out.append(agent_case(f"missing-{field}", {"card": without_field(field)}))
        for j, value in enumerate(
            [None, 5, True, {"x": 1}, "", []]
            if field not in ("supportedInterfaces", "skills")
            else [None, 5, "x", {}, [], [5], ["s"]]
        ):
            bad = with_field(field, value)
            out.append(agent_case(f"wrong-{field}-{j}", {"card": bad}))
    out.append(
        agent_case("capabilities-string", {"card": mutate(lambda c: c.__setitem__("capabilities", "all"))})
    )
    out.append(
        agent_case(
            "capabilities-streaming-str",
            {"card": mutate(lambda c: c["capabilities"].__setitem__("streaming", "yes"))},
        )
    )
    # 5. interfaces: bad URLs, missing binding/version, too many
    for i, url in enumerate(BAD_URLS):
        out.append(
            agent_case(
                f"iface-url-{i}",
                {"card": with_iface("url", url)},
            )
        )
    out.append(
        agent_case(
            "iface-no-binding", {"card": mutate(lambda c: c["supportedInterfaces"][0].pop("protocolBinding"))}
        )
    )
    out.append(
        agent_case(
            "iface-no-version", {"card": mutate(lambda c: c["supportedInterfaces"][0].pop("protocolVersion"))}
        )
    )
    out.append(
        agent_case(
            "iface-long-binding",
            {"card": mutate(lambda c: c["supportedInterfaces"][0].__setitem__("protocolBinding", "X" * 100))},
        )
    )
    out.append(
        agent_case(
            "iface-too-many",
            {"card": mutate(lambda c: c.__setitem__("supportedInterfaces", c["supportedInterfaces"] * 17))},
        )
    )
    out.append(
        agent_case(
            "doc-url-js", {"card": mutate(lambda c: c.__setitem__("documentationUrl", "javascript:x"))}
        )
    )
    out.append(
        agent_case("icon-url-file", {"card": mutate(lambda c: c.__setitem__("iconUrl", "file:///x.png"))})
    )
    out.append(
        agent_case(
            "provider-url-bad",
            {"card": mutate(lambda c: c.__setitem__("provider", {"url": "nope", "organization": "x"}))},
        )
    )
    # 6. SSRF: interface URLs and card URLs in private, loopback, link-local ... ranges
    for i, host in enumerate(PRIVATE_HOSTS):
        out.append(
            agent_case(
                f"ssrf-iface-{i}",
                {"card": with_iface("url", f"http://{host}:8080/rpc")},
            )
        )
        out.append(
            agent_case(f"ssrf-card-url-{i}", {"card_url": f"http://{host}/.well-known/agent-card.json"})
        )
        out.append(server_case(f"ssrf-server-{i}", make_server_entry("evil", f"http://{host}:9000/mcp")))
    # 7. skills
    skill = {"id": "s", "name": "S", "description": "d", "tags": ["t"]}
    for i, skills in enumerate(
        [
            [],
            [{"name": "no id"}],
            [{"id": "no-name"}],
            [skill, skill],
            [{**skill, "tags": "t"}],
            [{**skill, "tags": [""]}],
            [{**skill, "tags": ["t"] * 51}],
            [{**skill, "id": i_} for i_ in map(str, range(201))],
            [{**skill, "description": "x" * 5000}],
            [{**skill, "tags": [5]}],
            [{**skill, "id": 5}],
            [{**skill, "examples": "x"}],
            [{**skill, "tags": ["x" * 101]}],
        ]
    ):
        out.append(agent_case(f"skills-{i}", {"card": with_field("skills", skills)}))
    # 8. sizes
    out.append(
        agent_case("oversized-card", {"card": mutate(lambda c: c.__setitem__("description", "x" * 70_000))})
    )
    out.append(agent_case("long-name", {"card": mutate(lambda c: c.__setitem__("name", "n" * 5000))}))
    out.append(
        (
            "oversized-body",
            "POST",
            "/api/v1/agents",
            {"content": b'{"card": "' + b"x" * (5 * 1024 * 1024) + b'"}', "headers": h},
        )
    )
    out.append(
        server_case(
            "oversized-server", {**make_server_entry("big", f"{PUBLIC}/mcp"), "description": "d" * 70_000}
        )
    )
    huge_tool = {"name": "t", "input_schema": {"type": "object", "description": "s" * 600_000}}
    out.append(
        server_case(
            "oversized-server-schemas", {**make_server_entry("big", f"{PUBLIC}/mcp"), "tools": [huge_tool]}
        )
    )
    # 9. MCP server entries
    good = make_server_entry("srv", f"{PUBLIC}/mcp")
    for i, body in enumerate(
        [
            {**good, "url": None},
            {k: v for k, v in good.items() if k != "url"},
            {**good, "command": ["x"]},
            {**good, "transport": "sse"},
            {**good, "transport": "stdio"},
            {**good, "transport": "stdio", "url": None, "command": []},
            {**good, "transport": "stdio", "url": None, "command": ["a\x00b"]},
            {**good, "transport": "stdio", "url": None, "command": "ls -la"},
            {**good, "url": "ftp://x.example.com/"},
            {**good, "url": "http://user:pw@example.com/mcp"},
            {**good, "name": ""},
            {**good, "name": 5},
            {**good, "tools": "all"},
            {**good, "tools": [{"name": "a b"}]},
            {**good, "tools": [{"name": ""}]},
            {**good, "tools": [{"name": "t"}, {"name": "t"}]},
            {**good, "tools": [{"name": f"t{i_}"} for i_ in range(501)]},
            {**good, "extra": True},
            {**good, "id": "BAD ID"},
            {**good, "tags": [""]},
            {**good, "tags": "x"},
            [],
            "server",
            None,
            {**good, "tools": [{"name": "t", "description": "d" * 5000}]},
            {**good, "command": ["x"] * 65},
        ]
    ):
        out.append(server_case(f"server-{i}", body))
    # 10. hostile ids and query parameters on reads and writes
    for i, entry_id in enumerate(
        ["UPPER", "..", "a..%2F..%2Fetc", "%00", "x" * 300, "-x", "ünï", "a%20b", "a'or'1'='1"]
    ):
        out.append((f"get-id-{i}", "GET", f"/api/v1/entries/{entry_id}", {}))
        out.append(
            (f"beat-id-{i}", "POST", f"/api/v1/entries/{entry_id}/heartbeat", {"headers": auth(PUBLISHER_A)})
        )
        out.append(
            (f"delete-id-{i}", "DELETE", f"/api/v1/entries/{entry_id}", {"headers": auth(PUBLISHER_A)})
        )
    for i, params in enumerate(
        [
            {"limit": "0"},
            {"limit": "-1"},
            {"limit": "abc"},
            {"limit": "100000"},
            {"include_down": "maybe"},
            {"capability": "flying"},
            {"health": "zombie"},
            {"health": "healthy,zombie"},
            {"cursor": "!!!"},
            {"cursor": "AAAA"},
            {"kind": "robot"},
            {"q": "x" * 600},
            {"skill": ""},
            {"skill": "s" * 200},
            {"history": "-1"},
            [("skill", "a"), ("skill", "b")],
            {"limit": "1e3"},
            {"tag": " "},
        ]
    ):
        path = (
            "/api/v1/entries/some-id"
            if isinstance(params, dict) and "history" in params
            else "/api/v1/entries"
        )
        out.append((f"query-{i}", "GET", path, {"params": params}))
    return out


CASES = cases()


def test_there_are_at_least_200_cases() -> None:
    assert len(CASES) >= 200
    assert len({name for name, *_ in CASES}) == len(CASES)


@pytest.mark.asyncio
async def test_hostile_registrations_get_4xx_and_leave_the_registry_unharmed() -> None:
    app = build_app(settings_for(allow_private_targets=False))
    failures: list[str] = []
    with anyio.fail_after(120):
        async with serving(app) as client:
            baseline = await client.post(
                "/api/v1/agents", json={"card": make_card("baseline", PUBLIC)}, headers=auth(PUBLISHER_A)
            )
            assert baseline.status_code == 201, baseline.text
            before = (
                await client.get("/api/v1/entries", params={"include_down": "true", "limit": 100})
            ).json()
            for name, method, path, kwargs in CASES:
                try:
                    response = await client.request(method, path, **kwargs)
                except httpx.HTTPError as exc:  # pragma: no cover - reported below
                    failures.append(f"{name}: transport error {exc!r}")
                    continue
                if not 400 <= response.status_code < 500:
                    failures.append(f"{name}: HTTP {response.status_code} {response.text[:200]}")
                    continue
                if response.status_code not in (404, 405) or path.startswith("/api/v1/entries/"):
                    try:
                        error = response.json()["error"]
                        assert error["message"] and error["type"]
                    except (ValueError, KeyError, TypeError, AssertionError):
                        if response.status_code != 413:
                            failures.append(f"{name}: not a JSON error: {response.text[:200]}")
            assert not failures, "\n".join(failures)
            after = (
                await client.get("/api/v1/entries", params={"include_down": "true", "limit": 100})
            ).json()
            assert after == before, "a rejected request changed the registry"
            assert (await client.get("/healthz")).status_code == 200
            again = await client.post(
                "/api/v1/agents", json={"card": make_card("baseline", PUBLIC)}, headers=auth(PUBLISHER_A)
            )
            assert again.status_code == 200
    assert not failures, "\n".join(failures)
