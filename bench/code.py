"""Benchmark the code server on real codebases: Django's source (PyPI) and RxJS (npm), in one run.

    .venv/bin/python bench/code.py [--runs 5] [--workers 1] [--write docs/benchmarks-code.md]

Needs: Django installed in the venv (`pip install django`), npm (RxJS is installed into a cache dir), and
for the baselines universal-ctags and ripgrep (Debian packages `universal-ctags`, `ripgrep`).

Measured against the issue's targets:
- full index time vs `ctags -R` on the same tree (target <= 2x);
- incremental re-index after changing one file (target < 1 s);
- find_symbol p50 (target < 10 ms);
- search_text vs `rg` run directly (target <= 1.3x);
- definition recall@1 vs a gold set from Python's `ast` for unique names (target >= 99%).
"""

from __future__ import annotations

import argparse
import ast
import importlib.util
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from toolmesh.servers.code import lookup
from toolmesh.servers.code.search import SearchRequest
from toolmesh.servers.code.service import CodeService
from toolmesh.servers.code.settings import CodeSettings


@dataclass
class Row:
    tree: str
    metric: str
    ours: str
    baseline: str = ""
    ratio: str = ""
    target: str = ""
    met: str = ""


@dataclass
class Report:
    rows: list[Row] = field(default_factory=list)

    def add(self, *cells: str) -> None:
        self.rows.append(Row(*cells))
        print(" | ".join(cells), flush=True)


def ast_gold(root: Path) -> dict[str, tuple[str, int]]:
    found: list[tuple[str, str, int]] = []
    for path in sorted(root.rglob("*.py")):
        if "__pycache__" in path.parts:
            continue
        try:
            tree = ast.parse(path.read_bytes())
        except SyntaxError:
            continue
        rel = path.relative_to(root).as_posix()
        for node in ast.walk(tree):
            if isinstance(node, ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
                found.append((node.name, rel, node.lineno))
    counts = Counter(name for name, _, _ in found)
    return {name: (rel, line) for name, rel, line in found if counts[name] == 1}


def timed(fn: object, runs: int) -> float:
    """Median wall time of ``fn()`` over ``runs`` runs."""
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()  # type: ignore[operator]
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def django_root() -> Path:
    spec = importlib.util.find_spec("django")
    if spec is None or spec.origin is None:
        sys.exit("Django is not installed: .venv/bin/pip install django")
    return Path(spec.origin).parent


def rxjs_root(cache: Path) -> Path:
    root = cache / "node_modules" / "rxjs"
    if not root.is_dir():
        cache.mkdir(parents=True, exist_ok=True)
        npm = shutil.which("npm")
        if npm is None:
            sys.exit("npm is needed to install RxJS for the JS/TS part of the benchmark")
        subprocess.run(
            [npm, "install", "--no-audit", "--no-fund", "--silent", "rxjs@7"], cwd=cache, check=True
        )
    return root


def count_files(service: CodeService) -> tuple[int, dict[str, int]]:
    status = service.status()
    return status.files, status.languages


def bench_tree(name: str, root: Path, report: Report, runs: int, workers: int, gold: bool) -> None:
    tmp = Path(tempfile.mkdtemp(prefix="toolmesh-code-bench-"))
    try:
        # Work on a copy: the incremental step edits a file, and the installed package must stay untouched.
        root = Path(shutil.copytree(root, tmp / "tree", ignore=shutil.ignore_patterns("__pycache__")))

        # Full index (fresh file each run), ours vs ctags.
        def full(references: bool = True, w: int = workers) -> CodeService:
            db = tmp / f"full-{time.monotonic_ns()}.sqlite"
            service = CodeService(CodeSettings(root=root, index_path=db, index_references=references))
            service.refresh_now(workers=w)
            return service

        service = full()
        files, languages = count_files(service)
        langs = ", ".join(f"{k} {v}" for k, v in sorted(languages.items(), key=lambda kv: -kv[1]))
        report.add(name, "files indexed", f"{files} ({langs})")
        ours = timed(lambda: full(), runs)
        ours_syms = timed(lambda: full(references=False), runs)
        ctags = shutil.which("ctags")
        if ctags is not None:
            # ctags gets exactly the files we index (same excludes), listed on stdin.
            tags = tmp / "tags"
            listing = "\n".join(str(root / rel) for rel in service.indexed_files()).encode()
            base = timed(
                lambda: subprocess.run(
                    [ctags, "-f", str(tags), "-L", "-"], input=listing, check=True, stderr=subprocess.DEVNULL
                ),
                runs,
            )
            report.add(
                name,
                f"full index, workers={workers} (symbols+refs+calls)",
                f"{ours:.2f} s",
                f"ctags {base:.2f} s",
                f"{ours / base:.1f}x",
                "<= 2x",
                "yes" if ours / base <= 2 else "no",
            )
            report.add(
                name,
                f"full index, workers={workers} (symbols+calls, no refs)",
                f"{ours_syms:.2f} s",
                f"ctags {base:.2f} s",
                f"{ours_syms / base:.1f}x",
                "<= 2x",
                "yes" if ours_syms / base <= 2 else "no",
            )
            if workers == 1 and (os.cpu_count() or 1) > 1:
                par = timed(lambda: full(w=2), runs)
                report.add(
                    name,
                    "full index, workers=2 (symbols+refs+calls)",
                    f"{par:.2f} s",
                    f"ctags {base:.2f} s",
                    f"{par / base:.1f}x",
                    "<= 2x",
                    "yes" if par / base <= 2 else "no",
                )
        # Incremental: change one file's content, refresh.
        target = next(
            root / rel
            for rel in service.indexed_files()
            if rel.endswith((".py", ".ts")) and (root / rel).stat().st_size > 4000
        )
        original = target.read_bytes()
        noop = timed(service.refresh_now, runs)
        try:

            def touch_and_refresh() -> None:
                target.write_bytes(original + f"\n# bench {time.monotonic_ns()}\n".encode())
                stats = service.refresh_now()
                assert stats.updated == 1, stats

            incr = timed(touch_and_refresh, runs)
        finally:
            target.write_bytes(original)
            service.refresh_now()
        report.add(
            name,
            "incremental re-index, one file changed",
            f"{incr * 1000:.0f} ms",
            "",
            "",
            "< 1 s",
            "yes" if incr < 1 else "no",
        )
        report.add(name, "refresh with nothing changed (stat walk)", f"{noop * 1000:.0f} ms")
        # find_symbol latency over a sample of real names (exact, prefix and fuzzy queries).
        conn = service.index.reader()
        names = [str(r[0]) for r in conn.execute("SELECT DISTINCT name FROM symbols ORDER BY name")]
        sample = names[:: max(1, len(names) // 400)][:400]
        queries = sample + [n[: max(3, len(n) // 2)] for n in sample[:100]] + [n[::2] for n in sample[:50]]
        latencies = []
        for q in queries:
            start = time.perf_counter()
            lookup.find_symbol(service.index, q, limit=20)
            latencies.append(time.perf_counter() - start)
        latencies.sort()
        p50 = latencies[len(latencies) // 2] * 1000
        p95 = latencies[int(len(latencies) * 0.95)] * 1000
        report.add(
            name,
            f"find_symbol p50 / p95 ({len(queries)} queries)",
            f"{p50:.2f} / {p95:.2f} ms",
            "",
            "",
            "p50 < 10 ms",
            "yes" if p50 < 10 else "no",
        )
        # search_text vs rg directly.
        rg = shutil.which("rg")
        for pattern, is_regex in (
            ("get_queryset" if name == "Django" else "subscribe", False),
            (r"def \w+_field\(" if name == "Django" else r"function \w+Map\(", True),
        ):
            request = SearchRequest(pattern, regex=is_regex, limit=50)
            service.use_ripgrep = True
            ours_search = timed(lambda r=request: service.search(r), runs)
            service.use_ripgrep = False
            fallback = timed(lambda r=request: service.search(r), max(1, runs // 2))
            service.use_ripgrep = True
            total = service.search(request).total_collected
            if rg is not None:
                argv = [rg, "-n", "--no-heading"] + ([] if is_regex else ["-F"]) + ["-e", pattern, str(root)]
                base = timed(lambda a=argv: subprocess.run(a, stdout=subprocess.DEVNULL, check=False), runs)
                ratio = ours_search / base
                report.add(
                    name,
                    f"search_text {pattern!r} ({total} matches)",
                    f"{ours_search * 1000:.0f} ms",
                    f"rg {base * 1000:.0f} ms",
                    f"{ratio:.2f}x",
                    "<= 1.3x",
                    "yes" if ratio <= 1.3 else "no",
                )
            report.add(name, f"search_text {pattern!r}, Python fallback", f"{fallback * 1000:.0f} ms")
        if gold:
            gold_set = ast_gold(root)
            misses = 0
            for gname, (rel, line) in gold_set.items():
                hits = lookup.find_symbol(service.index, gname, limit=1).hits
                if not hits or (hits[0].path, hits[0].line) != (rel, line):
                    misses += 1
            recall = 1 - misses / len(gold_set)
            report.add(
                name,
                f"definition recall@1 vs ast ({len(gold_set)} unique names)",
                f"{recall * 100:.2f}%",
                "",
                "",
                ">= 99%",
                "yes" if recall >= 0.99 else "no",
            )
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


NOTES = """## Notes

- Baselines run in the same process tree, interleaved with ours, on the same files: `ctags` gets exactly the
  files we index on stdin (`ctags -f tags -L -`); `rg -n PATTERN TREE` walks the tree itself. Times are medians.
  The machine was shared with other jobs (see the load average), which inflates every figure unevenly.
- **Full index vs ctags: target not met** except RxJS without references (Django: about 19x with
  references, 10x without; RxJS: 3.3x with, 1.9x without). tree-sitter builds a complete, error-tolerant syntax tree per file and we query it for definitions,
  calls, and comment/string spans, then store signatures, doc comments, qualified names, every identifier
  occurrence and every call edge in SQLite. Universal Ctags scans each file once with hand-written C lexers and
  emits names and lines only: on Django, tree-sitter's parse alone (about 1.4 s on an idle core for the 969
  code files) already costs several times ctags' whole run. With references off
  (`TOOLMESH_CODE_INDEX_REFERENCES=false`) the time roughly halves. `--workers N` parses in N processes; on this
  shared machine it was slower (process start-up and result transfer outweigh the parsing saved), so the CLI
  default is 1. The full index is a one-off: later refreshes re-parse changed files only (the incremental row,
  well under the 1 s target), and the server answers from the persistent index meanwhile.
- search_text searches only the indexed files (no binaries, translations, ignored or excluded paths) with
  ripgrep, then sorts and pages the matches; that is why it can beat `rg` walking the whole tree.
- Recall@1: for each class/function name defined exactly once in Django (per Python's `ast`), the first
  `find_symbol` hit must be that definition (file and `def`/`class` line).
"""


def write_markdown(report: Report, path: Path, argv: list[str]) -> None:
    lines = [
        "# Benchmarks: code server",
        "",
        f"Command: `{' '.join(argv)}` — {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, "
        f"{os.cpu_count()} CPUs (shared), load average at the end {os.getloadavg()[0]:.1f}, "
        f"Python {sys.version.split()[0]}.",
        "",
        "| tree | metric | ours | baseline | ratio | target | met |",
        "|---|---|---|---|---|---|---|",
        *(
            f"| {r.tree} | {r.metric} | {r.ours} | {r.baseline} | {r.ratio} | {r.target} | {r.met} |"
            for r in report.rows
        ),
        "",
        NOTES,
    ]
    path.write_text("\n".join(lines))


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument(
        "--npm-cache", type=Path, default=Path.home() / ".cache" / "toolmesh" / "bench" / "npm"
    )
    parser.add_argument("--write", type=Path, default=None, help="Write a Markdown table here.")
    args = parser.parse_args()
    report = Report()
    print("tree | metric | ours | baseline | ratio | target | met")
    bench_tree("Django", django_root(), report, args.runs, args.workers, gold=True)
    bench_tree("RxJS (npm)", rxjs_root(args.npm_cache), report, args.runs, args.workers, gold=False)
    if args.write is not None:
        write_markdown(report, args.write, ["python", "bench/code.py", *sys.argv[1:]])


if __name__ == "__main__":
    main()
