"""Regular expressions compiled within bounds: the expansion of counted repeats is measured before compiling.

The ``regex`` module expands counted repeats while compiling: ``(?:(?:(?:a{100}){100}){100}){100}z`` — 37
characters — asks for 10^8 copies of ``a`` and grew the process to 16.5 GB before any match timeout could run.
So every pattern is measured first: how many items it would hold with each ``{m,n}`` written out (``m``
copies: ``regex`` writes out the required part and loops over the optional rest), nested repeats
multiplying. The standard library's parser gives the exact tree for patterns it understands; for the rest
(``regex``-only syntax such as ``\\p{L}`` or fuzzy matching) an upper bound is used: every lower count in the
pattern multiplied together, times its length.
"""

from __future__ import annotations

import math
import re
from re import _parser as sre  # type: ignore[attr-defined]  # the stdlib parser; only its tree is read
from typing import Any

import regex

from toolmesh.servers.code.errors import CodeInputError

__all__ = ["MAX_EXPANSION", "compile_pattern", "expansion"]

# Items a compiled pattern may hold once counted repeats are written out (measured: under 0.1 s and 15-30 MB
# to compile at this size; a{1000000} takes 0.8 s and 270 MB).
MAX_EXPANSION = 50_000

_REPEATS = (sre.MAX_REPEAT, sre.MIN_REPEAT, getattr(sre, "POSSESSIVE_REPEAT", sre.MAX_REPEAT))
_COUNT = re.compile(r"\{\s*(\d*)\s*(?:,\s*(\d*)\s*)?\}")


def _tree_size(items: Any) -> int:
    """Items in a parsed (sub)pattern with its counted repeats written out."""
    total = 0
    for op, av in items:
        if op in _REPEATS:
            low, _high, item = av
            total += max(low, 1) * _tree_size(item)
        elif op is sre.SUBPATTERN:
            total += _tree_size(av[3])
        elif op is sre.BRANCH:
            total += sum(_tree_size(branch) for branch in av[1])
        elif op in (sre.ASSERT, sre.ASSERT_NOT):
            total += _tree_size(av[1])
        elif op is getattr(sre, "ATOMIC_GROUP", None):
            total += _tree_size(av)
        elif op is sre.GROUPREF_EXISTS:
            total += _tree_size(av[1]) + (_tree_size(av[2]) if av[2] is not None else 0)
        else:
            total += 1
    return total


def _upper_bound(pattern: str) -> int:
    """Every lower count in ``pattern`` multiplied together, times its length: no nesting expands further."""
    product = 1
    for match in _COUNT.finditer(pattern):
        product *= max(int(match.group(1) or 0), 1)
        if product > MAX_EXPANSION:
            break
    return product * len(pattern)


def expansion(pattern: str) -> int:
    """How many items ``pattern`` holds with its counted repeats written out (an upper bound when the
    standard library cannot parse it)."""
    try:
        return _tree_size(sre.parse(pattern, 0))
    except (re.error, RecursionError, OverflowError, ValueError):
        return _upper_bound(pattern)


def compile_pattern(source: str, flags: int) -> regex.Pattern[str]:
    """``regex.compile(source, flags)``, refused with an actionable message when it would be too big."""
    size = expansion(source)
    if size > MAX_EXPANSION:
        shown = f"about 10^{int(math.log10(size))}" if size >= 10**7 else f"{size:,}"
        raise CodeInputError(
            f"the regular expression is too big once its counted repeats are expanded ({shown} items; "
            f"the limit is {MAX_EXPANSION:,})",
            hint="Use smaller {m,n} counts or fewer nested repeats: e.g. a+ or a{2,} instead of a{1000}, "
            "or search for a shorter literal.",
        )
    try:
        return regex.compile(source, flags)
    except regex.error as exc:
        raise CodeInputError(
            f"invalid regular expression: {exc}", hint="Check the syntax, or pass regex=false."
        ) from exc
    except RecursionError as exc:
        raise CodeInputError(
            "the regular expression nests groups too deeply to compile",
            hint="Use fewer nested groups.",
        ) from exc
