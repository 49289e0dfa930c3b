"""Path races and hard links (issue 15 item 4, issue 14 item 3), run against both file-reading servers.

Each race is made deterministic by a trap: the first matching ``os.open`` / ``io.open`` (or the ripgrep spawn)
swaps the tree under the server just before the open goes through, as an attacker with write access would.
Every case asserts that the outside canary never shows up in any answer or index, and that the server still
answers afterwards.
"""

from __future__ import annotations

import contextlib
import io
import os
import socket
import stat
import subprocess
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from toolmesh.protocols.errors import ToolmeshError
from toolmesh.servers.code.search import SearchRequest, ripgrep_path
from toolmesh.servers.code.service import CodeService
from toolmesh.servers.code.settings import CodeSettings
from toolmesh.servers.docs.service import DocsService
from toolmesh.servers.docs.settings import DocsSettings

CANARY = "CANARY7f3a"
SERVERS = ("code", "docs")


def _body(ext: str, inside: bool) -> str:
    word = "inside_content" if inside else CANARY
    if ext == ".py":
        return f'def {word}_fn():\n    return "{word} here"\n'
    return f"# {word}\n\n{word} here\n"


@dataclass
class Tree:
    repo: Path
    outside: Path
    ext: str

    @property
    def victim(self) -> str:
        return f"pkg/sub/victim{self.ext}"


def _tree(tmp_path: Path, ext: str) -> Tree:
    repo, outside = tmp_path / "repo", tmp_path / "outside"
    for base, inside in ((repo, True), (outside, False)):
        (base / "pkg" / "sub").mkdir(parents=True)
        (base / "sub").mkdir()
        (base / "pkg" / "sub" / f"victim{ext}").write_text(_body(ext, inside))
        (base / "sub" / f"victim{ext}").write_text(_body(ext, inside))
        (base / f"canary{ext}").write_text(_body(ext, inside))
    (repo / "README.md").write_text("# readme\n\nhello inside world\n")
    (repo / ".env").write_text(f"API_KEY={CANARY}\n")
    return Tree(repo, outside, ext)


class Trap:
    """Runs ``action`` once, right before the first open (or ripgrep spawn) that ``when`` matches."""

    def __init__(
        self, monkeypatch: pytest.MonkeyPatch, when: Callable[[str, bool], bool], action: Callable[[], None]
    ):
        self.fired = False
        real_os_open, real_io_open, real_popen = os.open, io.open, subprocess.Popen

        def fire(path: object, relative: bool) -> None:
            if (
                not self.fired
                and isinstance(path, (str, bytes, os.PathLike))
                and when(os.fsdecode(path), relative)
            ):
                self.fired = True
                action()

        def os_open(path: Any, flags: int, mode: int = 0o777, *, dir_fd: int | None = None) -> int:
            fire(path, dir_fd is not None)
            return real_os_open(path, flags, mode, dir_fd=dir_fd)

        def io_open(file: Any, *args: Any, **kwargs: Any) -> Any:
            fire(file, False)
            return real_io_open(file, *args, **kwargs)

        def popen(*args: Any, **kwargs: Any) -> Any:
            fire("<spawn>", False)
            return real_popen(*args, **kwargs)

        monkeypatch.setattr(os, "open", os_open)
        monkeypatch.setattr(io, "open", io_open)
        monkeypatch.setattr(subprocess, "Popen", popen)


def _flip(place: Path, target: Path) -> Callable[[], None]:
    def action() -> None:
        place.rename(place.with_name(place.name + ".orig"))
        place.symlink_to(target, target_is_directory=target.is_dir())

    return action


def _to_fifo(place: Path) -> Callable[[], None]:
    def action() -> None:
        place.unlink()
        os.mkfifo(place)

    return action


@dataclass(frozen=True)
class Form:
    """One race or link form: how the tree is set up or swapped, and which path a client names."""

    name: str
    path: Callable[[Tree], str]
    setup: Callable[[Tree], None] | None = None
    trigger: str | None = None  # swap at: the first open under the root, opening 'sub', opening the file
    action: Callable[[Tree], Callable[[], None]] | None = None


def _first_open(t: Tree) -> Callable[[str, bool], bool]:
    return lambda path, relative: relative or path.startswith(str(t.repo))


def _at_name(name: str) -> Callable[[Tree], Callable[[str, bool], bool]]:
    def trigger(t: Tree) -> Callable[[str, bool], bool]:
        def when(path: str, relative: bool) -> bool:
            if relative:  # openat(dir_fd, name): the sandbox
                return path == name
            return path.startswith(str(t.repo)) and (f"/{name}/" in path or path.endswith(f"/{name}"))

        return when

    return trigger


def _mknod(t: Tree) -> None:
    try:
        os.mknod(t.repo / f"zero{t.ext}", stat.S_IFCHR | 0o600, os.makedev(1, 5))
    except (PermissionError, OSError):
        pytest.skip("creating a device file needs CAP_MKNOD")


def _socket(t: Tree) -> None:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.bind(str(t.repo / f"sock{t.ext}"))
    _SOCKETS.append(sock)


_SOCKETS: list[socket.socket] = []

FORMS = [
    # A directory on the path flipped to a symlink between resolving and opening (the campaign's 19/450).
    Form("dir-flipped-before-open", lambda t: t.victim, None, "first",
         lambda t: _flip(t.repo / "pkg", t.outside / "pkg")),
    # The same flip, of the middle component, at the moment it is opened.
    Form("middle-dir-flipped-at-open", lambda t: t.victim, None, "sub",
         lambda t: _flip(t.repo / "pkg" / "sub", t.outside / "sub")),
    # The file itself replaced by a symlink after the walk, right before it is read.
    Form("file-flipped-after-walk", lambda t: t.victim, None, "victim",
         lambda t: _flip(t.repo / t.victim, t.outside / f"canary{t.ext}")),
    # A FIFO swapped in where a file was (a stat()-then-open() reader blocks forever).
    Form("fifo-swapped-in", lambda t: t.victim, None, "victim",
         lambda t: _to_fifo(t.repo / t.victim)),
    Form("symlink-middle-component", lambda t: f"pkg/mid/victim{t.ext}",
         lambda t: (t.repo / "pkg" / "mid").symlink_to(t.outside / "sub", target_is_directory=True)),
    Form("symlink-root-child", lambda t: f"ext/canary{t.ext}",
         lambda t: (t.repo / "ext").symlink_to(t.outside, target_is_directory=True)),
    Form("hardlink-outside", lambda t: f"pkg/linked{t.ext}",
         lambda t: os.link(t.outside / f"canary{t.ext}", t.repo / "pkg" / f"linked{t.ext}")),
    Form("hardlink-env", lambda t: f"notes{t.ext}",
         lambda t: os.link(t.repo / ".env", t.repo / f"notes{t.ext}")),
    Form("device-file", lambda t: f"zero{t.ext}", _mknod),
    Form("socket", lambda t: f"sock{t.ext}", _socket),
    Form("tilde", lambda t: f"~/canary{t.ext}"),
    Form("dotdot", lambda t: f"pkg/../../outside/canary{t.ext}"),
    Form("dotdot-through-link", lambda t: f"up/outside/canary{t.ext}",
         lambda t: (t.repo / "up").symlink_to("..", target_is_directory=True)),
    Form("absolute-outside", lambda t: str(t.outside / f"canary{t.ext}")),
]  # fmt: skip


def _fix_trigger(form: Form, t: Tree) -> Callable[[str, bool], bool] | None:
    if form.trigger is None:
        return None
    if form.trigger == "first":
        return _first_open(t)
    return _at_name("sub" if form.trigger == "sub" else f"victim{t.ext}")(t)


def _bounded(work: Callable[[], str], seconds: float = 30) -> str:
    out: list[str] = []
    thread = threading.Thread(target=lambda: out.append(work()), daemon=True)
    thread.start()
    thread.join(seconds)
    assert not thread.is_alive(), "the server blocked (a FIFO or device was opened without O_NONBLOCK?)"
    return out[0] if out else ""


def _quiet(call: Callable[[], object]) -> str:
    try:
        result = call()
    except ToolmeshError as exc:
        return f"refused: {exc}"
    dump = getattr(result, "model_dump_json", None)
    return str(dump() if dump is not None else result)


# ----------------------------------------------------------------------------------------------- code server
CODE_OPS = ("read", "search-python", "search-ripgrep", "index")
_CANARY_SEARCH = SearchRequest(CANARY[:-1] + f"[{CANARY[-1]}]", regex=True)  # not echoed verbatim


def _code_service(t: Tree, tmp_path: Path) -> CodeService:
    settings = CodeSettings(root=t.repo, index_path=tmp_path / "idx" / "code.sqlite", refresh_interval=3600)
    return CodeService(settings)


def _code_index_dump(service: CodeService) -> str:
    conn = service.index.reader()
    rows = conn.execute("SELECT name, signature, doc FROM symbols").fetchall()
    paths = conn.execute("SELECT path FROM files").fetchall()
    return repr(rows) + repr(paths)


def _code_op(op: str, service: CodeService, t: Tree, path: str) -> str:
    if op == "read":
        return _quiet(lambda: service.read_file(path, 1, None))
    if op.startswith("search"):
        service.use_ripgrep = op == "search-ripgrep"
        return _quiet(lambda: service.search(_CANARY_SEARCH))
    stats = service.refresh_now()
    return repr(stats) + _code_index_dump(service) + _quiet(lambda: _python_search(service))


def _python_search(service: CodeService) -> object:
    service.use_ripgrep = False
    return service.search(_CANARY_SEARCH)


@pytest.mark.parametrize("op", CODE_OPS)
@pytest.mark.parametrize("form", FORMS, ids=[f.name for f in FORMS])
def test_code_server_leaks_nothing(
    form: Form, op: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    if op == "search-ripgrep" and ripgrep_path() is None:
        pytest.skip("ripgrep is not installed (Debian package ripgrep)")
    t = _tree(tmp_path, ".py")
    monkeypatch.setenv("HOME", str(t.outside))  # so that an expanded '~' would reach the canary
    if form.setup is not None:
        form.setup(t)
    service = _code_service(t, tmp_path)
    if op != "index":
        service.refresh_now()  # indexed before the race: the swap happens under a live index
    when = _fix_trigger(form, t)
    if when is not None and form.action is not None:
        if op == "search-ripgrep":
            when = lambda path, _relative: path == "<spawn>"  # noqa: E731 - during the ripgrep run
        Trap(monkeypatch, when, form.action(t))
    out = _bounded(lambda: _code_op(op, service, t, form.path(t)))
    monkeypatch.undo()
    assert CANARY not in out, out
    if op == "read":
        assert out.startswith("refused:") or "inside_content" in out, out
    if form.name in ("tilde", "dotdot", "absolute-outside", "dotdot-through-link") and op == "read":
        assert "outside" in out or "'~'" in out, out
    answer = service.read_file("README.md", 1, None)  # the server still answers
    assert "hello inside world" in answer.text
    assert CANARY not in _code_index_dump(service)


# ----------------------------------------------------------------------------------------------- docs server
DOCS_OPS = ("index-dir", "index-file")


def _docs_service(t: Tree, tmp_path: Path) -> DocsService:
    settings = DocsSettings(roots=[t.repo], index_path=tmp_path / "idx" / "docs.sqlite", embedder="none")
    return DocsService(settings, embedder=None)


def _docs_dump(service: DocsService) -> str:
    texts = []
    for key in service.store.document_states("default"):
        doc = service.store.get_document("default", key)
        texts.append(f"{key}: {doc.text if doc else ''}")
    hits = service.search(CANARY, mode="bm25").hits
    return "\n".join(texts) + "".join(hit.model_dump_json() for hit in hits)


def _docs_op(op: str, service: DocsService, t: Tree, path: str) -> str:
    target = [str(t.repo)] if op == "index-dir" else [path]
    return _quiet(lambda: service.index(target)) + _docs_dump(service)


@pytest.mark.parametrize("op", DOCS_OPS)
@pytest.mark.parametrize("form", FORMS, ids=[f.name for f in FORMS])
def test_docs_server_leaks_nothing(
    form: Form, op: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    t = _tree(tmp_path, ".md")
    monkeypatch.setenv("HOME", str(t.repo))  # an expanded '~' would land inside the root: still refused
    if form.setup is not None:
        form.setup(t)
    service = _docs_service(t, tmp_path)
    when = _fix_trigger(form, t)
    if when is not None and form.action is not None:
        Trap(monkeypatch, when, form.action(t))
    out = _bounded(lambda: _docs_op(op, service, t, form.path(t)))
    monkeypatch.undo()
    assert CANARY not in out, out
    if form.name == "tilde" and op == "index-file":
        assert "refused" in out and "'~'" in out, out
    with contextlib.suppress(ToolmeshError):
        service.index([str(t.repo / "README.md")])
    assert service.search("hello inside world", mode="bm25").hits  # the server still answers
    assert CANARY not in _docs_dump(service)


@pytest.fixture(autouse=True)
def _close_sockets() -> Iterator[None]:
    yield
    while _SOCKETS:
        _SOCKETS.pop().close()


# ----------------------------------------------------------------------------------------------- deep trees
def _deep_tree(tmp_path: Path, ext: str, depth: int = 1300) -> tuple[Path, str]:
    """``depth`` nested directories (made through descriptors, as no path could name the bottom one)."""
    repo = tmp_path / "repo"
    repo.mkdir()
    (repo / f"top{ext}").write_text(_body(ext, True))
    fd = os.open(repo, os.O_RDONLY | os.O_DIRECTORY)
    for _ in range(depth):
        os.mkdir("d", dir_fd=fd)
        below = os.open("d", os.O_RDONLY | os.O_DIRECTORY, dir_fd=fd)
        os.close(fd)
        fd = below
    leaf = os.open(f"deep{ext}", os.O_WRONLY | os.O_CREAT, 0o644, dir_fd=fd)
    os.write(leaf, _body(ext, True).replace("inside_content", "deep_content").encode())
    os.close(leaf)
    os.close(fd)
    return repo, "d/" * depth + f"deep{ext}"


def _flatten(repo: Path) -> None:
    """Remove the nested chain level by level (shutil.rmtree, and so pytest's cleanup, recurse and fail)."""
    while (top := repo / "d").exists():
        if (top / "d").exists():
            (top / "d").rename(repo / "d.next")
        for child in top.iterdir():
            child.unlink()
        top.rmdir()
        if (repo / "d.next").exists():
            (repo / "d.next").rename(top)


@pytest.fixture
def deep_trees() -> Iterator[list[Path]]:
    made: list[Path] = []
    yield made
    for repo in made:
        _flatten(repo)


@pytest.mark.slow  # 1,300 directories made and walked per server
@pytest.mark.parametrize("server", SERVERS)
def test_1300_nested_directories_are_walked_without_recursion(
    server: str, tmp_path: Path, deep_trees: list[Path]
) -> None:
    repo, deep = _deep_tree(tmp_path, ".py" if server == "code" else ".md")
    deep_trees.append(repo)
    if server == "code":
        service = CodeService(
            CodeSettings(root=repo, index_path=tmp_path / "i.sqlite", refresh_interval=3600)
        )
        stats = service.refresh_now()  # the recursive walker raised RecursionError here
        assert stats.files == 2 and deep in service.indexed_files()
        assert "deep_content" in service.read_file(deep, 1, None).text
    else:
        docs = DocsService(DocsSettings(roots=[repo], index_path=tmp_path / "d.sqlite"), embedder=None)
        report = docs.index([str(repo)])
        assert report.indexed == 2, report
        assert docs.search("deep_content", mode="bm25").hits


@pytest.mark.parametrize("server", SERVERS)
def test_directories_past_the_depth_limit_are_skipped_with_a_reason(
    server: str, tmp_path: Path, deep_trees: list[Path]
) -> None:
    repo, _deep = _deep_tree(tmp_path, ".py" if server == "code" else ".md", depth=150)
    deep_trees.append(repo)
    if server == "code":
        settings = CodeSettings(
            root=repo, index_path=tmp_path / "i.sqlite", refresh_interval=3600, max_depth=100
        )
        stats = CodeService(settings).refresh_now()
        assert stats.files == 1 and stats.skipped.get("deep") == 1, stats
    else:
        settings_d = DocsSettings(roots=[repo], index_path=tmp_path / "d.sqlite", max_depth=100)
        report = DocsService(settings_d, embedder=None).index([str(repo)])
        assert report.indexed == 1
        assert [r.reason for r in report.skipped] == [
            "d deeper than the directory depth limit (TOOLMESH_DOCS_MAX_DEPTH); not walked"
        ]


@pytest.mark.parametrize("server", SERVERS)
def test_hard_links_are_served_when_allowed(server: str, tmp_path: Path) -> None:
    t = _tree(tmp_path, ".py" if server == "code" else ".md")
    os.link(t.repo / "README.md", t.repo / "pkg" / "again.md")
    if server == "code":
        settings = CodeSettings(root=t.repo, index_path=tmp_path / "i.sqlite", allow_hardlinks=True)
        assert "hello inside world" in CodeService(settings).read_file("pkg/again.md", 1, None).text
        refused = _quiet(lambda: _code_service(t, tmp_path).read_file("pkg/again.md", 1, None))
        assert "2 hard links" in refused and "TOOLMESH_CODE_ALLOW_HARDLINKS" in refused, refused
    else:
        settings_d = DocsSettings(roots=[t.repo], index_path=tmp_path / "d.sqlite", allow_hardlinks=True)
        assert DocsService(settings_d, embedder=None).index(["pkg/again.md"]).indexed == 1
        report = _docs_service(t, tmp_path).index(["pkg/again.md"])
        assert report.indexed == 0 and "TOOLMESH_DOCS_ALLOW_HARDLINKS" in report.skipped[0].reason


def test_docs_watch_filter_keeps_secrets_out(tmp_path: Path) -> None:
    """Secrets left the docs EXCLUDE list for the shared secret list; the watcher still passes them over."""
    from toolmesh.servers.docs.roots import Roots

    t = _tree(tmp_path, ".md")
    roots = Roots([t.repo])
    assert roots.served(t.repo / "README.md")
    for secret in (".env", ".git/config", "keys/id_rsa", "conf/server.pem"):
        assert not roots.served(t.repo / secret), secret
    assert not roots.served(t.outside / "canary.md")
