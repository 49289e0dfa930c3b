"""The installed toolmesh version: what every server and agent card reports, from the package metadata
(one place, not a constant per server)."""

from __future__ import annotations

from functools import lru_cache
from importlib.metadata import PackageNotFoundError, version

__all__ = ["package_version"]


@lru_cache(maxsize=1)
def package_version() -> str:
    try:
        return version("toolmesh")
    except PackageNotFoundError:  # running from a source tree that is not installed
        return "0+unknown"
