"""Real services for tests: PostgreSQL and MariaDB on this machine.

A test that needs one skips with the reason when it is down, unless TOOLMESH_REQUIRE_SERVICES=1 (CI),
where a missing service is a failure.
"""

from __future__ import annotations

import os
import socket

import pytest

__all__ = ["MYSQL_URL", "POSTGRES_URL", "require_service"]

POSTGRES_URL = os.environ.get("TOOLMESH_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")
MYSQL_URL = os.environ.get("TOOLMESH_TEST_MYSQL_URL", "mysql://root@127.0.0.1:3306/test")


def _reachable(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=1.0):
            return True
    except OSError:
        return False


def require_service(name: str, host: str, port: int) -> None:
    """Skip (or fail under TOOLMESH_REQUIRE_SERVICES=1) when ``host:port`` does not answer."""
    if _reachable(host, port):
        return
    reason = f"{name} is not reachable at {host}:{port}"
    if os.environ.get("TOOLMESH_REQUIRE_SERVICES") == "1":
        pytest.fail(f"{reason}, and TOOLMESH_REQUIRE_SERVICES=1 requires it (start it; see .ci/run)")
    pytest.skip(f"{reason}; start it to run this test")
