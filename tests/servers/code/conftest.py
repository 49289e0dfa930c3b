"""Fixtures for the code server: a fresh copy of the multi-language fixture repo per test."""

from __future__ import annotations

import shutil
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from fastmcp import Client

from toolmesh.servers.code.server import build_server
from toolmesh.servers.code.service import CodeService
from toolmesh.servers.code.settings import CodeSettings

FIXTURE_REPO = Path(__file__).parent / "fixture_repo"


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """A writable copy of the fixture repository (tests add symlinks, FIFOs, secrets, ... to it)."""
    root = tmp_path / "repo"
    shutil.copytree(FIXTURE_REPO, root)
    return root


@pytest.fixture
def settings(repo: Path, tmp_path: Path) -> CodeSettings:
    return CodeSettings(root=repo, index_path=tmp_path / "index" / "code.sqlite")


@pytest.fixture
def service(settings: CodeSettings) -> CodeService:
    svc = CodeService(settings)
    svc.refresh_now()
    return svc


@pytest_asyncio.fixture
async def client(settings: CodeSettings) -> AsyncIterator[Client[Any]]:
    async with Client(build_server(settings)) as c:
        yield c
