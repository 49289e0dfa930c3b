"""Query rewriting from a user glossary: synonyms, slang and jargon → the canonical terms the data uses.

One glossary format for every slice: the docs server rewrites search queries with it, the planner rewrites
questions with it before retrieval.

A glossary file is TOML or JSON (or ``term = canonical`` lines). Each entry is either ``"slang" =
"canonical"`` or ``"canonical" = ["slang", "other slang"]``. Latin terms match whole words,
case-insensitively; CJK terms match anywhere. Longer terms win over shorter overlapping ones.
"""

from __future__ import annotations

import json
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from toolmesh.protocols.errors import ConfigError
from toolmesh.protocols.text import contains_cjk

__all__ = ["Glossary", "Rewrite"]


@dataclass(frozen=True, slots=True)
class Rewrite:
    original: str
    canonical: str


class Glossary:
    def __init__(self, mapping: Mapping[str, str]) -> None:
        self.mapping = {
            k.strip().casefold(): v.strip() for k, v in mapping.items() if k.strip() and v.strip()
        }
        terms = sorted(self.mapping, key=len, reverse=True)
        parts = [re.escape(t) if contains_cjk(t) else rf"(?<![\w]){re.escape(t)}(?![\w])" for t in terms]
        self._pattern = re.compile("|".join(parts), re.IGNORECASE) if parts else None

    def __len__(self) -> int:
        return len(self.mapping)

    @classmethod
    def from_entries(cls, entries: Mapping[str, object]) -> Glossary:
        mapping: dict[str, str] = {}
        for key, value in entries.items():
            if isinstance(value, str):
                mapping[key] = value
            elif isinstance(value, list) and all(isinstance(v, str) for v in value):
                for synonym in value:
                    mapping[str(synonym)] = key
            elif isinstance(value, dict):  # a TOML table of entries, e.g. [glossary]
                mapping.update(cls.from_entries(value).mapping)
            else:
                raise ConfigError(f"glossary entry {key!r} must be a string or a list of strings")
        return cls(mapping)

    @classmethod
    def load(cls, path: Path) -> Glossary:
        try:
            raw = path.read_text("utf-8")
        except OSError as exc:
            raise ConfigError(
                f"cannot read glossary {path}: {exc}", hint="Fix TOOLMESH_DOCS_GLOSSARY."
            ) from exc
        try:
            if path.suffix == ".json":
                data = json.loads(raw)
            elif path.suffix == ".toml":
                data = tomllib.loads(raw)
            else:
                data = {}
                for line in raw.splitlines():
                    line = line.strip()
                    if line and not line.startswith("#"):
                        key, sep, value = line.partition("=")
                        if not sep:
                            raise ValueError(f"line without '=': {line!r}")
                        data[key.strip()] = value.strip()
        except (ValueError, tomllib.TOMLDecodeError) as exc:
            raise ConfigError(f"glossary {path} is malformed: {exc}") from exc
        if not isinstance(data, dict):
            raise ConfigError(f"glossary {path} must be a mapping")
        return cls.from_entries(data)

    def rewrite(self, query: str) -> tuple[str, list[Rewrite]]:
        """``query`` with every glossary term replaced by its canonical form, and what was replaced."""
        if self._pattern is None:
            return query, []
        applied: list[Rewrite] = []

        def swap(match: re.Match[str]) -> str:
            canonical = self.mapping[match.group().casefold()]
            applied.append(Rewrite(match.group(), canonical))
            return canonical

        return self._pattern.sub(swap, query), applied
