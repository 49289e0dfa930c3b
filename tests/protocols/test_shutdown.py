"""Graceful shutdown over a real socket: SIGTERM lets the in-flight call finish, then the process exits."""

from __future__ import annotations

import asyncio
import signal
import socket
import subprocess
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path

import anyio
import httpx
import pytest

HERE = Path(__file__).resolve().parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def poll(check: Callable[[], Awaitable[bool]], timeout: float = 20.0) -> None:
    """Bounded polling for a condition another process makes true."""
    with anyio.fail_after(timeout):
        while not await check():
            await asyncio.sleep(0.02)


@pytest.mark.asyncio
async def test_sigterm_drains_in_flight_calls(tmp_path: Path) -> None:
    port = free_port()
    marker = tmp_path / "started"
    proc = subprocess.Popen(
        [sys.executable, str(HERE / "slow_server.py"), str(port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:

        async def healthy() -> bool:
            try:
                async with httpx.AsyncClient() as http:
                    return (await http.get(f"http://127.0.0.1:{port}/healthz")).status_code == 200
            except httpx.HTTPError:
                return proc.poll() is not None  # stop polling if it died

        await poll(healthy)
        assert proc.poll() is None
        # A raw request: the in-flight call itself must complete after SIGTERM.
        call_body = {
            "jsonrpc": "2.0",
            "id": 1,
            "method": "tools/call",
            "params": {"name": "sleep", "arguments": {"seconds": 1.0, "marker": str(marker)}},
        }
        headers = {
            "accept": "application/json, text/event-stream",
            "mcp-protocol-version": "2025-11-25",
        }
        async with httpx.AsyncClient(timeout=30) as http:
            call = asyncio.create_task(
                http.post(f"http://127.0.0.1:{port}/mcp", json=call_body, headers=headers)
            )

            async def started() -> bool:
                return marker.exists()

            await poll(started)
            proc.send_signal(signal.SIGTERM)
            with anyio.fail_after(20):
                response = await call
        assert response.status_code == 200
        assert response.json()["result"]["structuredContent"] == {"result": "done"}
        with anyio.fail_after(20):
            while proc.poll() is None:
                await asyncio.sleep(0.02)
        stdout, stderr = proc.communicate(timeout=5)
        assert proc.returncode in (0, -signal.SIGTERM)
        assert stdout == b""  # logs never go to stdout
        assert b"serving slow on http://127.0.0.1" in stderr
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
