"""Optional cross-encoder reranking over a standard ONNX model directory (model.onnx + tokenizer.json).

Any sequence-classification cross-encoder in ONNX works: by hub name (``ms-marco-MiniLM-L-6-v2``,
``owner/name``, fetched once into the hub cache) or as a directory (e.g. cross-encoder/ms-marco-MiniLM-L-6-v2
or BAAI/bge-reranker-base exported with ``optimum-cli export onnx``). The score is the relevance logit.
"""

from __future__ import annotations

import importlib
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from toolmesh.servers.docs.errors import DocsConfigError
from toolmesh.servers.docs.hub import hub_model, is_hub_name, onnx_files
from toolmesh.servers.docs.search import Reranker

__all__ = ["OnnxCrossEncoder", "RerankerChoice", "resolve_reranker"]


class OnnxCrossEncoder:
    def __init__(
        self, directory: Path, *, max_length: int = 512, batch_size: int = 16, name: str | None = None
    ) -> None:
        directory = directory.expanduser()
        files = onnx_files(directory)
        if files is None:
            raise DocsConfigError(
                f"{directory} is not an ONNX cross-encoder directory (model.onnx and tokenizer.json)",
                hint="Export one with optimum-cli, or unset TOOLMESH_DOCS_RERANKER.",
            )
        onnx, tokenizer_path = files
        ort = importlib.import_module("onnxruntime")
        options = ort.SessionOptions()
        options.log_severity_level = 3
        # No busy-waiting worker threads: on a shared machine spinning burns the cores the other work needs.
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        self._session: Any = ort.InferenceSession(str(onnx), options, providers=["CPUExecutionProvider"])
        self._inputs = {i.name for i in self._session.get_inputs()}
        self._tokenizer: Any = importlib.import_module("tokenizers").Tokenizer.from_file(str(tokenizer_path))
        self._tokenizer.enable_truncation(max_length=max_length)
        self._tokenizer.no_padding()
        self._batch = batch_size
        self._name = name or directory.name
        self._lock = threading.Lock()

    @property
    def name(self) -> str:
        return self._name

    def score(self, query: str, passages: list[str]) -> list[float]:
        out: list[float] = []
        for lo in range(0, len(passages), self._batch):
            batch = passages[lo : lo + self._batch]
            encodings = self._tokenizer.encode_batch([(query, p) for p in batch])
            length = max(len(e.ids) for e in encodings)
            ids = np.zeros((len(batch), length), dtype=np.int64)
            mask = np.zeros_like(ids)
            types = np.zeros_like(ids)
            for row, enc in enumerate(encodings):
                n = len(enc.ids)
                ids[row, :n] = enc.ids
                mask[row, :n] = 1
                types[row, :n] = enc.type_ids
            feeds = {"input_ids": ids, "attention_mask": mask}
            if "token_type_ids" in self._inputs:
                feeds["token_type_ids"] = types
            with self._lock:
                logits = np.asarray(self._session.run(None, feeds)[0], dtype=np.float32)
            if logits.ndim != 2:
                raise DocsConfigError(
                    f"{self._name} is not a cross-encoder: it returns {logits.ndim}-D output, not logits",
                    hint="Point TOOLMESH_DOCS_RERANKER at a sequence-classification model.",
                )
            out.extend(float(x) for x in logits[:, -1 if logits.shape[1] == 2 else 0])
        return out


@dataclass(frozen=True, slots=True)
class RerankerChoice:
    reranker: Reranker | None
    status: str


def resolve_reranker(
    spec: str | None, *, cache_dir: Path | None = None, download: bool = True
) -> RerankerChoice:
    """``None``/``none``, a hub name (``ms-marco-MiniLM-L-6-v2``, ``owner/name``) or an ONNX directory."""
    if not spec or spec.strip().lower() in ("none", "off"):
        return RerankerChoice(
            None, "off (set TOOLMESH_DOCS_RERANKER to a cross-encoder: a hub name or an ONNX directory)"
        )
    spec = spec.strip()
    if is_hub_name(spec):
        model, directory = hub_model(spec, "reranker", cache_dir=cache_dir, download=download)
        reranker = OnnxCrossEncoder(directory, name=model.repo)
        return RerankerChoice(reranker, f"cross-encoder {reranker.name} (hub cache)")
    reranker = OnnxCrossEncoder(Path(spec))
    return RerankerChoice(reranker, f"cross-encoder {reranker.name}")
