"""locate_traceback on real stack traces produced by running code (Python, Node, Java) and on Go's format."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from fastmcp import Client

from toolmesh.servers.code.tracebacks import parse_traceback


def _run(argv: list[str], cwd: Path) -> str:
    proc = subprocess.run(argv, cwd=cwd, capture_output=True, text=True, timeout=60, check=False)
    assert proc.returncode != 0, proc.stdout
    return proc.stderr


async def _locate(client: Client[Any], text: str) -> dict[str, Any]:
    result = await client.call_tool("locate_traceback", {"text": text})
    assert result.structured_content is not None
    return result.structured_content


def _frames(result: dict[str, Any]) -> list[tuple[str | None, int, str | None]]:
    return [
        (f["path"], f["line"], f["symbol"]["qualname"] if f["symbol"] else None) for f in result["frames"]
    ]


@pytest.mark.asyncio
async def test_python_traceback(client: Client[Any], repo: Path) -> None:
    (repo / "run.py").write_text(
        "from pkg.models import build_inventory\nfrom pkg.report import explode\n\n\n"
        "def main() -> None:\n    explode(build_inventory(['a', 'b']))\n\n\nmain()\n"
    )
    trace = _run([sys.executable, "run.py"], repo)
    assert "ValueError: negative amount: -1" in trace
    result = await _locate(client, trace)
    assert result["language"] == "python"
    assert result["error"] == "ValueError: negative amount: -1"
    assert _frames(result) == [
        ("run.py", 9, None),
        ("run.py", 6, "main"),
        ("pkg/report.py", 12, "explode"),
        ("pkg/models.py", 36, "Inventory.restock_all"),
        ("pkg/models.py", 19, "Item.restock"),
        ("pkg/models.py", 48, "validate_amount"),
    ]
    last = result["frames"][-1]
    assert '>    48          raise ValueError(f"negative amount: {amount}")' in last["snippet"]
    assert result["resolved"] == 6

    # The same trace from another machine (CI, a colleague's checkout) maps by path suffix.
    moved = trace.replace(str(repo), "/home/ci/builds/project")
    assert _frames(await _locate(client, moved)) == _frames(result)


@pytest.mark.asyncio
@pytest.mark.skipif(shutil.which("node") is None, reason="node is not installed")
async def test_node_traceback(client: Client[Any], repo: Path) -> None:
    (repo / "web" / "boom.js").write_text(
        "const { Cart, totalQuantity } = require('./cart.js');\n"
        "function checkout(cart) {\n  return totalQuantity(cart.missing);\n}\n"
        "checkout(new Cart());\n"
    )
    trace = _run(["node", "web/boom.js"], repo)
    result = await _locate(client, trace)
    assert result["language"] == "javascript"
    assert result["error"] is not None and "TypeError" in result["error"]
    frames = [f for f in _frames(result) if f[0] is not None]
    assert frames[:3] == [
        ("web/cart.js", 19, "totalQuantity"),
        ("web/boom.js", 3, "checkout"),
        ("web/boom.js", 5, None),
    ]
    internal = [f for f in result["frames"] if f["file"].startswith("node:")]
    assert all(f["path"] is None for f in internal)


@pytest.mark.asyncio
@pytest.mark.slow
@pytest.mark.skipif(shutil.which("javac") is None or shutil.which("java") is None, reason="no JDK")
async def test_java_traceback(client: Client[Any], repo: Path, tmp_path: Path) -> None:
    (repo / "jvm" / "Crash.java").write_text(
        "package com.example.jvm;\n\npublic class Crash {\n"
        "    static int depth(String s) {\n        return s.length();\n    }\n\n"
        "    public static void main(String[] args) {\n        depth(null);\n    }\n}\n"
    )
    out = tmp_path / "classes"
    subprocess.run(
        ["javac", "-d", str(out), "jvm/Crash.java", "jvm/Greeter.java"], cwd=repo, check=True, timeout=120
    )
    trace = _run(["java", "-cp", str(out), "com.example.jvm.Crash"], repo)
    result = await _locate(client, trace)
    assert result["language"] == "java"
    assert "NullPointerException" in (result["error"] or "")
    assert _frames(result) == [("jvm/Crash.java", 5, "Crash.depth"), ("jvm/Crash.java", 9, "Crash.main")]


GO_PANIC = """panic: runtime error: integer divide by zero

goroutine 1 [running]:
example.com/native.greet(...)
\t/home/dev/src/example/native/server.go:28
example.com/native.(*Server).Handle(0xc000012345, {0x4b2c1e, 0x3})
\t/home/dev/src/example/native/server.go:24 +0x1d
main.main()
\t/home/dev/src/example/cmd/main.go:9 +0x25
exit status 2
"""


@pytest.mark.asyncio
async def test_go_panic_format(client: Client[Any]) -> None:
    # No Go toolchain here: this is the exact format `go run` prints for a panic.
    result = await _locate(client, GO_PANIC)
    assert result["language"] == "go"
    assert result["error"] == "panic: runtime error: integer divide by zero"
    assert _frames(result) == [
        ("native/server.go", 28, "greet"),
        ("native/server.go", 24, "Server.Handle"),
        (None, 9, None),
    ]
    assert result["frames"][1]["function"] == "example.com/native.(*Server).Handle"


def test_unknown_text_has_no_frames() -> None:
    trace = parse_traceback("nothing to see here\njust words")
    assert (trace.language, trace.frames) == ("unknown", [])
