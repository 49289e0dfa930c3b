"""gRPC interface URLs in agent cards: A2A 1.0 names them ``host:port``; the registry takes them."""

from __future__ import annotations

import pytest

from tests.registry.conftest import make_card
from toolmesh.protocols.cards import CardError, check_interface_url, grpc_target, parse_agent_card


@pytest.mark.parametrize(
    ("url", "target"),
    [
        ("127.0.0.1:50051", ("127.0.0.1:50051", False)),
        ("agents.example.com:443", ("agents.example.com:443", True)),
        ("[::1]:50051", ("[::1]:50051", False)),
        ("grpc://h:1", ("h:1", False)),
        ("grpcs://h", ("h:443", True)),
        ("https://grpc.example.com/a2a", ("grpc.example.com:443", True)),
    ],
)
def test_grpc_targets(url: str, target: tuple[str, bool]) -> None:
    assert grpc_target(url) == target


@pytest.mark.parametrize("url", ["", "h", "h:0", "ftp://h:1", "u:p@h:1", "h:1/path", "h :1"])
def test_bad_grpc_urls_say_what_is_wrong(url: str) -> None:
    with pytest.raises(CardError) as raised:
        grpc_target(url, field="supportedInterfaces[2].url")
    assert "supportedInterfaces[2].url" in str(raised.value)


def test_host_port_is_only_for_grpc() -> None:
    assert check_interface_url("127.0.0.1:50051", "GRPC", field="u") == "127.0.0.1:50051"
    with pytest.raises(CardError, match="http or https"):
        check_interface_url("127.0.0.1:50051", "JSONRPC", field="u")


def test_a_card_with_a_grpc_interface_parses() -> None:
    card = make_card("planner", "https://agents.example.com", bindings=("JSONRPC",))
    card["supportedInterfaces"].append(
        {"url": "agents.example.com:50051", "protocolBinding": "GRPC", "protocolVersion": "1.0"}
    )
    parsed = parse_agent_card(card)
    assert [i.url for i in parsed.supported_interfaces][-1] == "agents.example.com:50051"
