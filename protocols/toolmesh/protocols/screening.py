"""Screening untrusted text: instructions aimed at a model (prompt injection) and secrets.

- :func:`find_injections`: the sentences of a text that read as instructions to an agent ("ignore previous
  instructions", "you are now ...", a fake ``system:`` turn), in English and Chinese. Tool output and stored
  memories are data; a caller flags or redacts what this finds instead of following it.
- :func:`find_secrets`: credentials in free text (provider API keys, tokens, private keys, ``password=...``,
  URLs with a password). Findings name the kind of secret, never its value, so they are safe to log and to
  put in an error message.

The patterns trade recall for few false alarms: each needs a shape (a key prefix, an assignment, a value
with digits) rather than a lone word like "password".
"""

from __future__ import annotations

import re
from dataclasses import dataclass

__all__ = ["INJECTION_PATTERNS", "SecretFinding", "find_injections", "find_secrets", "redact_injections"]

INJECTION_PATTERNS: tuple[re.Pattern[str], ...] = tuple(
    re.compile(p, re.IGNORECASE)
    for p in (
        r"\b(ignore|disregard|forget|override)\b[^.\n]{0,40}\b(previous|prior|above|earlier|all|any|your)\b"
        r"[^.\n]{0,20}\b(instructions?|prompts?|rules|directions|guidelines)\b",
        r"\byou are now\b",
        r"\b(new|updated|real) (system )?instructions?\s*:",
        r"\bsystem prompt\b",
        r"<\|?(im_start|im_end|system|endoftext)\|?>",
        r"^\s*(system|assistant)\s*:",
        r"\bdo not (tell|inform|mention)[^.\n]{0,30}\b(user|anyone)\b",
        r"\b(reveal|print|send|exfiltrate|leak)\b[^.\n]{0,40}"
        r"\b(api[ _-]?key|password|secret|token|credentials)\b",
        r"\b(run|execute)\b[^.\n]{0,20}\b(command|shell|script)\b",
        r"\b(curl|wget)\s+https?://",
        r"\binstead,? (answer|respond|reply|say)\b",
        # Chinese: "ignore the previous instructions", "you are now", "system prompt".
        r"(忽略|无视|忘记|忽视).{0,10}(之前|以上|先前|前面|所有|全部).{0,10}(指令|指示|提示|规则|要求)",
        r"你现在是",
        r"系统提示",
    )
)

_FRAGMENT = re.compile(r"(?<=[.!?])\s+|(?<=[。！？])|\n|\\n|\"")


def find_injections(text: str) -> list[str]:
    """The sentences of ``text`` that look like instructions aimed at an agent (each at most 300 chars)."""
    found: list[str] = []
    for fragment in _FRAGMENT.split(text):
        fragment = fragment.strip()
        if fragment and any(p.search(fragment) for p in INJECTION_PATTERNS):
            found.append(fragment[:300])
    return list(dict.fromkeys(found))


def redact_injections(text: str) -> str:
    """``text`` with every instruction-like sentence replaced by a marker (for quoting untrusted text)."""
    for fragment in find_injections(text):
        text = text.replace(fragment, "[instruction removed]")
    return text


@dataclass(frozen=True, slots=True)
class SecretFinding:
    """One secret found in a text: what kind it is and where (the value itself is never kept)."""

    kind: str
    start: int
    end: int


# A value that is a placeholder, not a secret: <token>, ${VAR}, ****, xxxx, "changeme"-style words.
_PLACEHOLDER = re.compile(r"^(<[^>]*>|\$\{?\w+\}?|\*+|x+|\.+|redacted|none|null|changeme|example)$", re.I)
_ASSIGNED = re.compile(
    r"\b(password|passwd|pwd|passphrase|secret|client[_-]?secret|api[_-]?key|apikey|access[_-]?key|"
    r"access[_-]?token|auth[_-]?token|refresh[_-]?token|private[_-]?key|token)\b[\"']?\s*[:=]\s*[\"']?"
    r"(?P<value>[^\s\"',;]{6,})",
    re.I,
)
_SAID = re.compile(
    r"\b(password|passcode|passphrase|pin code|api key|token)\s+(is|was|=)\s+[\"'“]?"
    r"(?P<value>(?=\S*\d)\S{4,}|\S{12,})",
    re.I,
)
_SAID_ZH = re.compile(r"(密码|口令|密钥|令牌)\s*(是|为|:|：)\s*(?P<value>[^\s，。,]{4,})")
_SHAPED: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("private key", re.compile(r"-----BEGIN (?:[A-Z]+ )*PRIVATE KEY(?: BLOCK)?-----")),
    ("Anthropic API key", re.compile(r"\bsk-ant-[A-Za-z0-9_-]{20,}")),
    ("OpenAI-style API key", re.compile(r"\bsk-(?:proj-|live-|test-|svcacct-)?[A-Za-z0-9_-]{20,}")),
    ("AWS access key id", re.compile(r"\b(?:AKIA|ASIA)[0-9A-Z]{16}\b")),
    ("GitHub token", re.compile(r"\b(?:gh[pousr]_[A-Za-z0-9]{36,}|github_pat_[A-Za-z0-9_]{22,})")),
    ("GitLab token", re.compile(r"\bglpat-[A-Za-z0-9_-]{20,}")),
    ("Slack token", re.compile(r"\bxox[abprse]-[A-Za-z0-9-]{10,}")),
    ("Google API key", re.compile(r"\bAIza[0-9A-Za-z_-]{35}\b")),
    ("Stripe key", re.compile(r"\b[sr]k_(?:live|test)_[0-9A-Za-z]{16,}")),
    ("JSON web token", re.compile(r"\beyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}")),
    ("bearer token", re.compile(r"\bbearer\s+[A-Za-z0-9._~+/-]{20,}=*", re.I)),
    ("password in a URL", re.compile(r"\b[a-z][a-z0-9+.-]*://[^/\s:@]+:[^/\s@]{3,}@", re.I)),
)


def find_secrets(text: str) -> list[SecretFinding]:
    """The secrets in ``text``, in order of position. A key with a known shape is reported under its own
    kind even when it is also the value of an assignment (``api_key=sk-...``)."""
    kept: list[SecretFinding] = []

    def claim(finding: SecretFinding) -> None:
        if not any(finding.start < k.end and k.start < finding.end for k in kept):
            kept.append(finding)

    for kind, pattern in _SHAPED:
        for m in pattern.finditer(text):
            claim(SecretFinding(kind, m.start(), m.end()))
    for pattern in (_ASSIGNED, _SAID, _SAID_ZH):
        for m in pattern.finditer(text):
            if not _PLACEHOLDER.match(m.group("value")):
                claim(SecretFinding("password or secret value", m.start(), m.end()))
    return sorted(kept, key=lambda f: f.start)
