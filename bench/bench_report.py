"""Write a benchmark's table into docs/benchmarks.md, replacing its previous section (HTML-comment markers)."""

from __future__ import annotations

from pathlib import Path


def replace_section(path: Path, key: str, title: str, body: str) -> None:
    begin, end = f"<!-- bench:{key} -->", f"<!-- /bench:{key} -->"
    block = f"{begin}\n## {title}\n\n{body}\n{end}"
    text = path.read_text(encoding="utf-8") if path.exists() else "# Benchmarks\n"
    if begin in text and end in text:
        head, rest = text.split(begin, 1)
        text = head + block + rest.split(end, 1)[1]
    else:
        text = text.rstrip("\n") + "\n\n" + block + "\n"
    path.write_text(text, encoding="utf-8")
