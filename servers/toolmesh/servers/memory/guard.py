"""What may be stored: bounded, non-empty text without secrets; instructions aimed at a model are flagged.

Memories come from conversations and tool output, so they are untrusted text that will later be put in
front of a model. A secret (API key, password, token) is refused outright: memory is long-lived, searchable
and shown to whoever recalls it. A text that reads as instructions ("ignore previous instructions", "you
are now ...") is kept — it may be a real thing the user said — but flagged, and every recall carries the flag.
"""

from __future__ import annotations

from toolmesh.protocols.screening import find_injections, find_secrets
from toolmesh.servers.memory.errors import MemoryInputError, MemoryLimitExceeded, SecretRefused

__all__ = ["INSTRUCTIONS_FLAG", "check_label", "check_text"]

INSTRUCTIONS_FLAG = "possible-instructions"


def check_text(text: str, *, max_chars: int, what: str = "text") -> tuple[str, tuple[str, ...]]:
    """The stripped text and its flags; raises when it is empty, too long or holds a secret."""
    if not isinstance(text, str):
        raise MemoryInputError(f"{what} must be a string, got {type(text).__name__}")
    cleaned = text.replace("\x00", " ").strip()
    if not cleaned:
        raise MemoryInputError(f"{what} is empty", hint="Pass the sentence to remember.")
    if len(cleaned) > max_chars:
        raise MemoryLimitExceeded(
            f"{what} has {len(cleaned)} characters; the limit is {max_chars}",
            hint="Store one fact per memory: split it, or summarise it first.",
        )
    secrets = find_secrets(cleaned)
    if secrets:
        kinds = ", ".join(dict.fromkeys(s.kind for s in secrets))
        raise SecretRefused(
            f"{what} contains what looks like a secret ({kinds}); secrets are never stored",
            hint="Remove the secret and remember where it is kept instead (e.g. 'the deploy key is in the "
            "team vault').",
        )
    flags = (INSTRUCTIONS_FLAG,) if find_injections(cleaned) else ()
    return cleaned, flags


def check_label(value: str | None, *, what: str, max_chars: int = 100) -> str | None:
    """A short label (source, topic, tag, entity type, relation type): stripped, bounded, single line."""
    if value is None:
        return None
    cleaned = " ".join(str(value).split())
    if len(cleaned) > max_chars:
        raise MemoryLimitExceeded(f"{what} has {len(cleaned)} characters; the limit is {max_chars}")
    if find_secrets(cleaned):
        raise SecretRefused(f"{what} contains what looks like a secret; secrets are never stored")
    return cleaned or None
