from __future__ import annotations

import pytest

from toolmesh.protocols.text import count_tokens, split_sentences
from toolmesh.servers.docs.chunking import ChunkingConfig, chunk_text
from toolmesh.servers.docs.embedders import HashingEmbedder
from toolmesh.servers.docs.errors import DocsInputError
from toolmesh.servers.docs.structure import parse_blocks

from .conftest import API_RST, GUIDE_MD

WORDS = " ".join(f"w{i}" for i in range(100))


def texts(text: str, syntax: str, **config: object) -> list[str]:
    spans = chunk_text(text, syntax, ChunkingConfig(**config))  # type: ignore[arg-type]
    return [text[s.start : s.end] for s in spans]


def test_fixed_windows_have_exact_token_counts() -> None:
    chunks = texts(WORDS, "plain", strategy="fixed", tokens=30, overlap=0)
    assert [count_tokens(c) for c in chunks] == [30, 30, 30, 10]
    assert chunks[0].startswith("w0 ") and chunks[1].startswith("w30 ")


def test_sliding_windows_overlap() -> None:
    chunks = texts(WORDS, "plain", strategy="sliding", tokens=30, overlap=10)
    assert chunks[1].startswith("w20 ") and chunks[2].startswith("w40 ")
    assert chunks[-1].endswith("w99")
    assert all(count_tokens(c) <= 30 for c in chunks)


def test_english_and_chinese_sentence_ends() -> None:
    text = "Dr. Smith arrived. He was late! Why? 今天天气很好。我们去公园吧？好的！ The end."
    sentences = [text[s:e] for s, e in split_sentences(text)]
    assert sentences == [
        "Dr. Smith arrived.",
        "He was late!",
        "Why?",
        "今天天气很好。",
        "我们去公园吧？",
        "好的！",
        "The end.",
    ]


def test_sentence_chunks_never_cut_a_sentence() -> None:
    text = "One two three four five. Six seven eight nine ten. Eleven twelve. 中文句子一。中文句子二。"
    chunks = texts(text, "plain", strategy="sentence", tokens=12, overlap=0)
    # 5 + 5 + 2 tokens fill the first chunk; each CJK character is one token (5 per Chinese sentence).
    assert chunks == [
        "One two three four five. Six seven eight nine ten. Eleven twelve.",
        "中文句子一。中文句子二。",
    ]
    chunks = texts(text, "plain", strategy="sentence", tokens=8, overlap=0)
    assert chunks == [
        "One two three four five.",
        "Six seven eight nine ten. Eleven twelve.",
        "中文句子一。",
        "中文句子二。",
    ]


def test_markdown_blocks() -> None:
    blocks = parse_blocks(GUIDE_MD, "markdown")
    kinds = [(b.kind, b.title) for b in blocks if b.kind != "paragraph"]
    assert kinds == [
        ("heading", "Install guide"),
        ("heading", "Installing on Linux"),
        ("code", ""),
        ("heading", "Configuration"),
        ("table", ""),
    ]


def test_rst_headings_and_literal_blocks() -> None:
    blocks = parse_blocks(API_RST, "rst")
    headings = [(b.level, b.title) for b in blocks if b.kind == "heading"]
    assert headings == [(1, "API reference"), (2, "Authentication"), (2, "Errors")]
    code = [API_RST[b.start : b.end] for b in blocks if b.kind == "code"]
    assert code == ['    client = Client(token="abc")\n    client.connect()']


def test_heading_chunks_carry_paths_and_keep_code_and_tables_whole() -> None:
    spans = chunk_text(GUIDE_MD, "markdown", ChunkingConfig(strategy="heading", tokens=20, overlap=0))
    by_text = {GUIDE_MD[s.start : s.end]: s.heading_path for s in spans}
    fence = next(t for t in by_text if "pip install toolmesh" in t)
    assert fence.count("```") == 2, "a code block must not be split"
    assert by_text[fence] == ("Install guide", "Installing on Linux")
    table = next(t for t in by_text if "TOOLMESH_DOCS_ROOTS" in t)
    assert table.count("|") >= 6 and "|---|---|" in table
    assert by_text[table] == ("Install guide", "Configuration")
    # The "# a comment" line inside the fence is not a heading.
    assert all("a comment inside the fence" not in " ".join(p) for p in by_text.values())


def test_heading_chunk_starts_at_its_heading() -> None:
    spans = chunk_text(GUIDE_MD, "markdown", ChunkingConfig(strategy="heading", tokens=200, overlap=0))
    starts = [GUIDE_MD[s.start : s.end].split("\n")[0] for s in spans]
    assert starts == ["# Install guide", "## Installing on Linux", "## Configuration"]


def test_semantic_split_at_topic_change() -> None:
    text = (
        "Cats purr when content. Cats sleep most of the day. Cats chase mice at night. "
        "Stock markets fell sharply. Stock investors sold shares. Stock prices dropped again."
    )
    spans = chunk_text(
        text,
        "plain",
        ChunkingConfig(strategy="semantic", tokens=100, overlap=0, semantic_percentile=20),
        embed=HashingEmbedder().embed,
    )
    chunks = [text[s.start : s.end] for s in spans]
    assert chunks == [
        "Cats purr when content. Cats sleep most of the day. Cats chase mice at night.",
        "Stock markets fell sharply. Stock investors sold shares. Stock prices dropped again.",
    ]


def test_book_chapters_sections_windows() -> None:
    chapter = " ".join(f"word{i}" for i in range(50))
    novel = (
        f"CHAPTER I. The Beginning\n\n{chapter}\n\nCHAPTER II. The Middle\n\n{chapter}\n\n"
        f"第三章 结局\n\n{chapter}\n"
    )
    spans = chunk_text(novel, "plain", ChunkingConfig(strategy="book", tokens=30, overlap=5))
    paths = [s.heading_path for s in spans]
    assert ("CHAPTER I. The Beginning",) in paths and ("第三章 结局",) in paths
    for span in spans:  # windows never cross a chapter boundary
        body = novel[span.start : span.end]
        assert body.count("CHAPTER") + body.count("第三章") <= 1
        assert count_tokens(body) <= 30
    markdown_book = "# Part One\n\n## Chapter 1\n\n" + chapter + "\n\n## Chapter 2\n\n" + chapter
    spans = chunk_text(markdown_book, "markdown", ChunkingConfig(strategy="book", tokens=30, overlap=5))
    assert {s.heading_path for s in spans} >= {("Part One", "Chapter 1"), ("Part One", "Chapter 2")}


def test_huge_code_block_is_only_split_past_the_hard_cap() -> None:
    code = "```\n" + "\n".join(f"line_{i} = {i}" for i in range(400)) + "\n```"
    spans = chunk_text(code, "markdown", ChunkingConfig(strategy="heading", tokens=50, overlap=0))
    assert len(spans) > 1
    assert all(count_tokens(code[s.start : s.end]) <= 50 * 8 + 5 for s in spans)


@pytest.mark.parametrize("config", [dict(strategy="nope"), dict(tokens=4), dict(tokens=20, overlap=20)])
def test_bad_config_is_rejected(config: dict[str, object]) -> None:
    with pytest.raises(DocsInputError):
        ChunkingConfig(**config)  # type: ignore[arg-type]


@pytest.mark.parametrize("strategy", ["fixed", "sliding", "sentence", "heading", "semantic", "book"])
def test_every_strategy_covers_all_words_and_handles_empty_text(strategy: str) -> None:
    assert chunk_text("   \n", "markdown", ChunkingConfig(strategy=strategy)) == []  # type: ignore[arg-type]
    spans = chunk_text(GUIDE_MD, "markdown", ChunkingConfig(strategy=strategy, tokens=16, overlap=4))  # type: ignore[arg-type]
    covered = " ".join(GUIDE_MD[s.start : s.end] for s in spans)
    for word in ("installer", "toolmesh", "TOOLMESH_DOCS_ROOTS", "Set", "roots"):
        assert word in covered
