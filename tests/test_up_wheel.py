"""`toolmesh init && toolmesh up` from a wheel install, in an empty folder, and a second executor started
with the printed command joins the mesh.

The wheel is built from this tree and installed with --no-deps into a fresh venv; its dependencies come
from the test's own environment through a .pth line (that directory's own .pth files, among them the
editable install's, are not processed, so `toolmesh` is imported from the wheel alone).
"""

from __future__ import annotations

import json
import os
import queue
import shlex
import signal
import subprocess
import sys
import sysconfig
import threading
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DEADLINE = 240.0


@pytest.fixture(scope="module")
def wheel_venv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    build = tmp_path_factory.mktemp("wheel")
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check", "-q"]
    subprocess.run(
        [*pip, "wheel", "--no-deps", "--no-build-isolation", "-w", str(build), str(ROOT)],
        check=True,
        timeout=300,
    )
    wheel = next(build.glob("toolmesh-*.whl"))
    venv = tmp_path_factory.mktemp("venv")
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=120)
    python = venv / "bin" / "python"
    site = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    ).stdout.strip()
    Path(site, "deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n", encoding="utf-8")
    subprocess.run(
        [*pip, "--python", str(python), "install", "--no-deps", "--no-index", str(wheel)],
        check=True,
        timeout=300,
    )
    return venv


class Process:
    """A child process whose output lines are read by threads, so waiting on a line has a deadline."""

    def __init__(self, argv: list[str], cwd: Path, env: dict[str, str]) -> None:
        self.proc = subprocess.Popen(
            argv, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        self.lines: queue.Queue[str] = queue.Queue()
        self.seen: list[str] = []
        for stream in (self.proc.stdout, self.proc.stderr):
            threading.Thread(target=self._pump, args=(stream,), daemon=True).start()

    def _pump(self, stream: object) -> None:
        for line in stream:  # type: ignore[attr-defined]
            self.lines.put(line.rstrip("\n"))

    def wait_for(self, text: str, deadline: float) -> list[str]:
        while True:
            if text in "\n".join(self.seen):
                return self.seen
            remaining = deadline - time.monotonic()
            if remaining <= 0 or (self.proc.poll() is not None and self.lines.empty()):
                raise AssertionError(f"no {text!r} in the output:\n" + "\n".join(self.seen))
            try:
                self.seen.append(self.lines.get(timeout=remaining))
            except queue.Empty:
                continue

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=30)


@pytest.fixture
def processes() -> Iterator[list[Process]]:
    started: list[Process] = []
    yield started
    for process in reversed(started):
        process.stop()


def _executors(registry_url: str) -> list[str]:
    with urllib.request.urlopen(f"{registry_url}/api/v1/entries?skill=execute-plan", timeout=10) as answer:  # noqa: S310
        return [item["id"] for item in json.load(answer)["items"]]


@pytest.mark.slow
def test_init_and_up_from_a_wheel_and_an_executor_joins(
    wheel_venv: Path, tmp_path: Path, processes: list[Process]
) -> None:
    deadline = time.monotonic() + DEADLINE
    folder = tmp_path / "empty"
    folder.mkdir()
    bin_dir = wheel_venv / "bin"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TOOLMESH_", "PYTHONPATH"))}
    env["PATH"] = f"{bin_dir}{os.pathsep}{env.get('PATH', '')}"
    env["XDG_CACHE_HOME"] = str(tmp_path / "cache")  # the code server's index: nowhere shared
    located = subprocess.run(
        [str(bin_dir / "python"), "-c", "import toolmesh.agents as a; print(a.__file__)"],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
        env=env,
    ).stdout
    assert located.startswith(str(wheel_venv)), located  # the wheel, not the source tree

    init = subprocess.run(
        ["toolmesh", "init"], cwd=folder, env=env, capture_output=True, text=True, timeout=120
    )
    assert init.returncode == 0, init.stderr
    assert (folder / "toolmesh.toml").is_file()

    up = Process(["toolmesh", "up", "--registry-port", "0", "--planner-port", "0"], folder, env)
    processes.append(up)
    lines = up.wait_for("Ctrl-C stops everything.", deadline)
    fields = {line.split()[0]: line.split()[1:] for line in lines if line.strip()}
    registry_url = fields["registry"][0]
    token_line = next(line for line in lines if line.startswith("token"))
    assert str(folder / ".toolmesh" / "mesh-token") in token_line  # where the generated token is kept
    token = (folder / ".toolmesh" / "mesh-token").read_text(encoding="utf-8").strip()
    assert token in token_line
    assert {line.split()[1] for line in lines if line.startswith("mcp ")} == {"docs", "sql", "code", "memory"}
    join = next(line.strip() for line in lines if line.strip().endswith("toolmesh agents serve executor"))
    assert f"TOOLMESH_AGENTS_REGISTRY_URL={registry_url}" in join and token in join

    first = _executors(registry_url)
    assert len(first) == 1
    words = shlex.split(join)
    join_env = dict(w.split("=", 1) for w in words if "=" in w and w.split("=", 1)[0].isupper())
    argv = [w for w in words if w not in {f"{k}={v}" for k, v in join_env.items()}]
    joined = Process(argv, folder, {**env, **join_env})
    processes.append(joined)
    joined.wait_for("executor on http://", deadline)
    while len(found := _executors(registry_url)) < 2:  # it registers right after it starts serving
        assert time.monotonic() < deadline, f"the second executor never registered: {found}"
        time.sleep(0.2)
    assert set(first) < set(found)
    # its own id and task store, beside the mesh's executor's (not the same ones)
    own = folder / ".toolmesh" / "agents" / join_env["TOOLMESH_AGENTS_AGENT_ID"]
    assert (own / "tasks.db").is_file()
    assert (folder / ".toolmesh" / "agents" / "executor" / "tasks.db").is_file()
