"""A package's public names loaded on first use (PEP 562), so importing the package imports none of them.

Every ``toolmesh`` command imports ``toolmesh.protocols``, and each agent imports a module or two of the
other roles' packages; neither should pay for a whole serving stack or MCP client it never uses.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from typing import Any

__all__ = ["lazy_exports"]


def lazy_exports(package: str, homes: Mapping[str, str]) -> Callable[[str], Any]:
    """A module ``__getattr__`` for ``package`` that imports ``package.homes[name]`` when ``name`` is read."""

    def __getattr__(name: str) -> Any:
        module = homes.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        return getattr(importlib.import_module(f"{package}.{module}"), name)

    return __getattr__
