"""Start-up: how long `toolmesh` commands take before they do anything, beside `import fastmcp`.

Every command runs as a fresh process, interleaved round by round with the baselines (`python -c pass`,
`python -c "import fastmcp"`), so machine load hits all of them alike; medians and the ratio to the
fastmcp import are printed. `toolmesh ask` is timed against a planner address that refuses connections,
which is its whole overhead (parse, imports, the first connect); an agent's start is timed from spawn to
the line it prints once it listens.

    python bench/startup.py [--rounds 5] [--write docs/benchmarks.md]
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
PY = sys.executable
TOOLMESH = shutil.which("toolmesh", path=str(Path(PY).parent)) or "toolmesh"

COMMANDS: dict[str, list[str]] = {
    "python -c pass": [PY, "-c", "pass"],
    'python -c "import fastmcp"': [PY, "-c", "import fastmcp"],
    "toolmesh --help": [TOOLMESH, "--help"],
    "toolmesh version": [TOOLMESH, "version"],
    "toolmesh ask (dead planner)": [TOOLMESH, "ask", "--planner", "http://127.0.0.1:9", "hi"],
    "toolmesh sql --help": [TOOLMESH, "sql", "--help"],
}
AGENTS = ("reviewer", "executor", "planner")


def _timed(argv: list[str]) -> float:
    started = time.perf_counter()
    subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=120, check=False)
    return time.perf_counter() - started


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _start_registry() -> tuple[subprocess.Popen[bytes], str]:
    """A registry for the executor and planner to find each other in (they refuse to start without)."""
    port = _free_port()
    env = {
        **os.environ,
        "TOOLMESH_REGISTRY_ALLOW_PRIVATE_TARGETS": "true",
        "TOOLMESH_REGISTRY_PROBE_INTERVAL": "0",
    }
    process = subprocess.Popen(
        [TOOLMESH, "registry", "serve", "--port", str(port), "--database-url", "memory://"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:  # a benchmark's set-up, not a test: polling is fine here
        try:
            if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                return process, url
        except httpx.HTTPError:
            time.sleep(0.2)
    process.kill()
    raise SystemExit("the registry did not start within 120 s")


def _agent_listening(role: str, workdir: Path, registry: str) -> float:
    """Seconds from spawn to the agent's "ROLE on URL" line (it is listening then)."""
    env = {
        **os.environ,
        "TOOLMESH_AGENTS_TASK_DB_URL": "memory://",
        "TOOLMESH_AGENTS_REGISTRY_URL": registry,
    }
    started = time.perf_counter()
    process = subprocess.Popen(
        [TOOLMESH, "agents", "serve", role, "--port", "0"],
        stderr=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        env=env,
        cwd=workdir,
        text=True,
    )
    try:
        assert process.stderr is not None
        deadline = started + 120
        for line in process.stderr:
            if line.startswith(f"{role} on "):
                return time.perf_counter() - started
            if time.perf_counter() > deadline:
                break
        return float("nan")
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()


def run(rounds: int) -> str:
    times: dict[str, list[float]] = {name: [] for name in COMMANDS}
    times.update({f"agents serve {role} (to listening)": [] for role in AGENTS})
    workdir = ROOT / ".bench-startup"
    workdir.mkdir(exist_ok=True)
    registry, registry_url = _start_registry()
    try:
        for _ in range(rounds):
            for name, argv in COMMANDS.items():
                times[name].append(_timed(argv))
            for role in AGENTS:
                times[f"agents serve {role} (to listening)"].append(
                    _agent_listening(role, workdir, registry_url)
                )
    finally:
        registry.terminate()
        registry.wait(timeout=30)
        shutil.rmtree(workdir, ignore_errors=True)
    floor = statistics.median(times['python -c "import fastmcp"'])
    lines = [
        f"{platform.python_implementation()} {platform.python_version()}, {os.cpu_count()} cores, "
        f"{rounds} rounds, interleaved. Command: `python bench/startup.py --rounds {rounds}`.",
        "",
        "| command | median s | min s | × `import fastmcp` |",
        "|---|---:|---:|---:|",
    ]
    for name, values in times.items():
        median = statistics.median(values)
        lines.append(f"| `{name}` | {median:.2f} | {min(values):.2f} | {median / floor:.2f} |")
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--write", type=Path, help="replace the start-up section of this markdown file")
    args = parser.parse_args()
    table = run(args.rounds)
    print(table)
    if args.write:
        sys.path.insert(0, str(Path(__file__).parent))
        from bench_report import replace_section

        replace_section(args.write, "startup", "Start-up (bench/startup.py)", table)


if __name__ == "__main__":
    main()
