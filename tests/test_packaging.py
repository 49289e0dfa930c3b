"""The wheel carries every slice of the namespace package and no toolmesh/__init__.py."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_wheel_contains_every_slice(tmp_path: Path) -> None:
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "-q",
            "-w",
            str(tmp_path),
            str(ROOT),
        ],
        check=True,
        timeout=300,
    )
    wheel = next(tmp_path.glob("toolmesh-*.whl"))
    names = zipfile.ZipFile(wheel).namelist()
    for slice_name in ("protocols", "servers", "agents", "registry"):
        assert f"toolmesh/{slice_name}/__init__.py" in names, slice_name
    assert "toolmesh/__init__.py" not in names
    assert not any(name.startswith(("tests/", "bench/", "examples/")) for name in names)
    # the samples `toolmesh up` and `toolmesh init` fall back to (package data, not examples/)
    assert "toolmesh/agents/samples/handbook/refunds.md" in names
    assert "toolmesh/agents/samples/shop/refunds.py" in names
    entry_points = next(n for n in names if n.endswith("entry_points.txt"))
    text = zipfile.ZipFile(wheel).read(entry_points).decode()
    assert "toolmesh = toolmesh.protocols.cli:main" in text
    assert "[toolmesh.servers]" in text
