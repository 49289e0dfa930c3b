"""What a request asks: its parts, and for each part the things a tool call or a check needs.

:func:`analyse` cuts a request into parts ("what do the docs say about X, how many orders ... and where is
`f` defined?" -> three parts) and reads each one: its content terms (the one text analyser: stemmed
English, jieba-segmented Chinese), identifiers, quoted phrases, file paths, SQL text, a pasted stack trace,
the kind of answer it wants (:attr:`Part.ask`), its analytic shape (:mod:`toolmesh.agents.analytic`) and
whether it refers back to an earlier turn ("those", "the same for 2023", "它们").

The planner routes and fills tool arguments from it, the text-to-SQL translator reads its analytic shape,
and the reviewer checks evidence against it — all from the same reading of the question.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from functools import lru_cache
from typing import Literal

from toolmesh.agents.analytic import Analytic, merge_analytic, read_analytic
from toolmesh.protocols.lexicon import DEMONYMS, EN_RELATED, ZH_EN
from toolmesh.protocols.text import Analyzer, contains_cjk, segment_tagged

__all__ = [
    "ASKS_FOR_CODE",
    "Ask",
    "Part",
    "Question",
    "analyse",
    "analyse_part",
    "analyse_resolved",
    "asked_kind",
    "code_words",
    "content_terms",
    "coverage",
    "focus_terms",
    "split_parts",
    "supported",
    "terms_of",
    "warm",
    "weak",
    "without_dates",
]

Ask = Literal[
    "count", "sum", "avg", "min", "max", "top", "list", "lookup",
    "definition", "callers", "callees", "references", "trace", "sql", "explain",
]  # fmt: skip

_SENTENCE = re.compile(r"[^?？;；\n。]+?(?:[?？]+|[;；\n。]|(?<=[a-z0-9)`\"'])\.(?=\s)|$)", re.IGNORECASE)
_ASKING = re.compile(
    r"^\s*(?:and\s+|but\s+|also\s+|then\s+|so\s+|now\s+)?(?:(?:at|in|on|for|from|by|with|to|of)\s+)?(?:what|what's|whats|how|where|which|who|whom|whose|"
    r"when|why|is|are|was|were|does|do|did|can|could|should|will|would|has|have|list|show|give|find|tell|name|"
    r"describe|explain|count|compare)\b|[?？]\s*$|多少|几|哪|什么|谁|怎么|如何|为什么|是否|列出|显示|吗|呢",
    re.IGNORECASE,
)
_LEANS_BACK = re.compile(
    r"\b(?:it|its|they|them|their|those|these|there|that|this|ones)\b|^\s*(?:各|每|其|它|他|她|这|那)", re.I
)
_ANAPHOR_TERMS = frozenset(
    ["those", "these", "them", "they", "their", "it", "its", "ones", "它们", "他们", "她们", "其中"]
)
_JOIN = re.compile(
    r",\s*(?:and\s+|then\s+)?(?=(?:(?:up\s+)?(?:to|at|in|on|by|for|from|until|since|with)\s+)?"
    r"(?:what|how|where|which|who|when|show|list|find|is|are|does|do|give|can)\b)"
    r"|\s+(?:and|then)\s+(?=(?:what|how|where|which|who|when|show|list|find|give)\b)"
    r"|[，,]\s*(?:还有|以及|并且|另外)?(?=(?:哪|什么|多少|有多少|谁|怎么|如何|为什么|是否|列出))",
    re.IGNORECASE,
)
_QUOTED = re.compile(
    r"\"([^\"\n]{2,200})\"|“([^”\n]{2,200})”|「([^」\n]{1,200})」|(?<![\w])'([^'\n]{3,200})'(?![\w])"
)
_BACKTICK = re.compile(r"`([^`\n]{1,200})`")
_PATH = re.compile(
    r"(?<![\w/])((?:[\w.-]+/)+[\w.-]+\.\w{1,5}|[\w-]+\.(?:py|js|ts|tsx|go|rs|java|rb|md|rst|txt|toml|json|"
    r"yaml|yml|sql|c|h|cpp|cs|php))\b"
)
_IDENT = re.compile(
    r"\b([A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)+(?=\(|\b)|[a-z][a-z0-9]*_[a-z0-9_]+"
    r"|[a-z]+[A-Z][A-Za-z0-9]*|[A-Z][a-z0-9]+[A-Z][A-Za-z0-9]*|[A-Za-z_]\w*(?=\(\)))"
)
_SQL = re.compile(r"^\s*(select|with)\b\s.+?\bfrom\b\s.+", re.IGNORECASE | re.DOTALL)
_TRACE = re.compile(
    r"Traceback \(most recent call last\)|^\s*File \"[^\"]+\", line \d+|^\s+at [\w$.<>]+ ?\(?[^)\s]*:\d+"
    r"|^goroutine \d+ \[|\.go:\d+|Exception in thread|^\s*at [\w.$]+\([\w.]+\.java:\d+\)",
    re.MULTILINE,
)
# Words that shape the question rather than name what it is about (as analysed terms).
_QUESTION_WORDS = frozenset([
    "mani", "much", "add", "up", "show", "list", "give", "tell", "find", "get", "pleas", "want", "know",
    "look",
    "let",
    "need", "about", "exist", "there", "here", "one", "ani", "per", "some", "all", "total", "number",
    "count", "sum", "averag", "mean", "maximum", "minimum", "highest", "lowest", "most", "least", "top",
    "did", "say", "says", "said", "anyth", "someth", "thing", "wherea", "inform", "detail", "question",
    "answer", "handbook", "doc", "document", "manual", "wiki", "mention", "explain", "describ",
    "repositori", "codebas", "help", "usual", "typic", "normal", "general", "take", "happen", "still",
    "actual", "realli", "too", "also", "anyway", "those", "these", "them", "they", "their", "it", "its",
    "one", "ones", "that", "this", "有", "有没有", "什么", "怎么", "如何", "为什么", "是否", "请", "告诉",
    "一下", "吗", "呢", "多少", "几", "哪", "哪个", "哪些", "哪里", "谁", "是", "的", "了", "可以", "能",
    "能否", "会", "要", "中", "里", "中有", "个", "名", "最", "多", "少", "数量", "总数", "一共", "共有",
    "上", "另外", "此外", "请问", "数据库", "数据", "手册", "文档",
])  # fmt: skip
# Words a question may use that name no data: being, coming, placing, counting, comparing, units of money
# (surface forms; analysed with the same analyser as everything else).
_FILLER = [
    "made", "make", "come", "came", "live", "lives", "living", "located", "based", "left", "remaining",
    "ever", "currently", "now", "today", "still", "exactly", "respectively", "overall", "altogether",
    "row", "rows", "record", "records", "entri", "entries", "tabl", "table", "tables", "databas",
    "database", "data", "registered", "there", "exist", "exists", "stored", "kept", "shop", "our", "we",
    "us", "they", "everyone", "each", "per", "different", "distinct", "unique", "more", "less", "fewer",
    "greater", "than", "least", "most", "over", "under", "above", "below", "eur", "euro", "euros", "usd",
    "dollars", "有", "来自", "位于", "一共", "总共", "统计", "分别", "各", "每个", "每", "按", "所有",
    "全部", "数据", "记录", "表", "里", "中", "的", "其中", "多少个", "个", "号", "还有", "还", "张",
    "任何", "位", "件", "下", "他们", "她们", "它们", "几个", "几位", "每种", "每类", "通过", "分别",
    "不同", "超过", "大于", "小于", "少于", "至少", "最", "最高", "最低", "最多", "最少", "前", "名",
    "是", "什么", "年", "月", "日", "平均", "总", "合计", "总和", "总额", "总计", "through", "via",
    "go", "goes", "going", "went", "put", "hang", "hold", "holds", "keep", "keeps", "kept", "someone",
    "somebody", "anyone", "anybody", "everybody", "wants", "would", "could", "should", "thing", "things",
    "收到", "我们", "目前", "现在", "剩", "还剩", "剩下", "时候", "out", "up", "off",
    "being", "been", "ended", "happened", "eventually", "finally",  # "ended up being returned"
    "right",  # "right now"
    "低于", "高于", "多于", "不到", "以下", "以上",  # comparisons: the number they compare with is read apart
    "yet", "haven", "hasn", "hadn", "didn", "doesn", "isn", "aren", "wasn", "weren", "re", "ve", "ll",
    "bring", "brings", "brought", "bringing", "generate", "generates", "generated", "break", "breakdown",
    "down", "biggest", "largest", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten",
    "这些", "那些", "它们", "其中", "他们", "她们",
]  # fmt: skip
_CODE_CALLERS = re.compile(
    r"\b(?:who|what|which\s+\w+)\s+(?:calls?|invokes?|uses?)\b|\bcallers?\s+of\b|\bcall\s+sites?\b"
    r"|\b(?:is|are)\s+\S+\s+(?:called|invoked|used)\b|\bcalled\s+(?:from|by)\b|\bwhere\s+is\s+\S+\s+called"
    r"|调用了?\s*\S*\s*的|谁调用|哪些函数调用|被.{0,20}调用",
    re.IGNORECASE,
)
_CODE_CALLEES = re.compile(
    r"\bwhat\s+(?:functions?\s+|methods?\s+)?does\s+\S+\s+call\b|\bcallees\b|\bcalls\s+made\s+by\b"
    r"|\S+\s*调用了(?:哪些|什么)",
    re.IGNORECASE,
)
_CODE_REFS = re.compile(
    r"\breferences?\s+(?:to|of)\b|\bwhere\s+is\s+\S+\s+(?:referenced|mentioned)\b|引用", re.I
)
_CODE_DEF = re.compile(
    r"\b(?:defined|definition|declared|implemented|implementation|source\s+of|signature|what\s+does\s+\S+"
    r"\s+(?:do|return|raise|take|check)|which\s+(?:function|method|class)|show\s+me)\b|定义|实现|源代码|返回",
    re.IGNORECASE,
)
_ANAPHOR = re.compile(
    r"\b(?:those|these|them|they|their|it|its|ones|that one|that table|the same|same for|same as"
    r"|of them|of those)\b"
    r"|\b(?:is|was|are|were)\s+(?:that|this)\s*[?？.]?\s*$|\bthat\b(?=\s+(?:apply|applies|work|works|count|include))"
    r"|(?<!\bare )(?<!\bis )(?<!\bwere )(?<!\bwas )\bthere\b(?!\s+(?:is|are|was|were)\b)"
    r"|^\s*(?:and|what about|how about|and what about|also|now)\b|\btoo\s*[?？.]?\s*$"
    r"|\b(?:his|her|him)\b|他的|她的|它们|他们|她们|它|这些|那些|其中|同样|上面|那个|^\s*那|呢\s*[?？]?\s*$",
    re.IGNORECASE,
)


# Questions that ask for code by name ("which function …").
ASKS_FOR_CODE = re.compile(
    r"\b(?:which|what)\s+(?:\w+\s+)?(?:function|class|constant|module)s?\b"
    r"|\b(?:which|what)\s+(?:methods?|files?)\b"  # "what payment methods": the shop's, not code
    r"|\bin the (?:python )?code\b"
    r"|\bcode\s*base\b|哪个函数|哪个方法|哪个类|代码里|代码中",
    re.IGNORECASE,
)


@dataclass(frozen=True, slots=True)
class Part:
    """One clause of the request, read for routing, tool arguments and review."""

    text: str
    terms: tuple[str, ...] = ()
    lang: Literal["en", "zh"] = "en"
    words: tuple[str, ...] = ()
    quoted: tuple[str, ...] = ()
    identifiers: tuple[str, ...] = ()
    paths: tuple[str, ...] = ()
    sql: str | None = None
    traceback: bool = False
    ask: Ask = "explain"
    analytic: Analytic = field(default_factory=Analytic)
    refers_back: bool = False
    inherited: tuple[str, ...] = ()  # words carried over from the turn a follow-up refers to

    @property
    def has_code_target(self) -> bool:
        return bool(self.identifiers or self.paths)

    def with_text(self, text: str) -> Part:
        """The same part re-read from ``text`` (after a reference to an earlier turn was resolved)."""
        return replace(analyse_part(text), refers_back=self.refers_back)


@dataclass(frozen=True, slots=True)
class Question:
    text: str
    parts: tuple[Part, ...]


@lru_cache(maxsize=1)
def _analyzer() -> Analyzer:
    return Analyzer()


@lru_cache(maxsize=1)
def _ignored() -> frozenset[str]:
    return _QUESTION_WORDS | frozenset(_analyzer().terms(" ".join(_FILLER))) | frozenset(_FILLER)


def content_terms(text: str) -> tuple[str, ...]:
    """The analysed terms of ``text`` that say what it is about (question words, filler and stop words left
    out)."""
    ignored = _ignored()
    terms = [
        t
        for t in _analyzer().terms(_spaced_identifiers(_QUESTION_PHRASES.sub(" ", text)))
        if t not in ignored and not _COUNTED.fullmatch(t)
    ]
    if contains_cjk(text) and len(text) <= 200:  # a question, not a passage: drop its function words
        function = _function_words(text)
        terms = [t for t in terms if t not in function]
    return tuple(dict.fromkeys(t for t in terms if len(t) > 1 or contains_cjk(t)))


# jieba part-of-speech tags of words that say nothing about a topic: particles, prepositions,
# conjunctions, adverbs (and adjectives used as adverbs, 直接), pronouns, numerals, measure words,
# directions, interjections.
_FUNCTION_TAGS = ("u", "p", "c", "d", "ad", "r", "m", "q", "f", "y", "e", "o")


@lru_cache(maxsize=4096)
def _function_words(text: str) -> frozenset[str]:
    """The function words of a short Chinese text, and what the analyser may join of them: 会发 is 会 + 发,
    two light verbs a coarser segmentation reads as one word."""
    tagged = [(w, tag) for w, tag in segment_tagged(text) if w.strip()]
    light = [
        contains_cjk(w) and (tag.startswith(_FUNCTION_TAGS) or (len(w) == 1 and tag.startswith("v")))
        for w, tag in tagged
    ]
    out = {
        w
        for (w, tag), _ in zip(tagged, light, strict=True)
        if contains_cjk(w) and tag.startswith(_FUNCTION_TAGS)
    }
    for i in range(len(tagged)):
        for j in range(i + 2, min(i + 3, len(tagged)) + 1):
            if all(light[i:j]):
                out.add("".join(w for w, _ in tagged[i:j]))
    return frozenset(out)


def weak(term: str) -> bool:
    """A single Chinese character (开, 改): evidence when a passage has it, no gap when it does not."""
    return len(term) == 1 and contains_cjk(term)


# 三位, 五个, 两件: a number and its measure word say how many, not what about
_COUNTED = re.compile(r"[一二三四五六七八九十两几百千]+[位个名件种条家笔张次款]?")


def terms_of(text: str) -> tuple[str, ...]:
    """All analysed terms of ``text`` (identifiers split), only stop words dropped: for schema names and
    comments, where "total" or "number" is a word of the data, not of the question."""
    return tuple(dict.fromkeys(_analyzer().terms(_spaced_identifiers(text))))


def coverage(terms: tuple[str, ...] | list[str], text: str) -> float:
    """The share of ``terms`` that ``text`` contains (Chinese terms also by shared substrings and their
    English renderings, English ones also by their related words: "smallest" ~ minimum)."""
    if not terms:
        return 0.0
    found = set(content_terms(text))
    every: set[str] | None = None  # all of the text's terms, analysed only when a related word is tried
    cjk = [w for w in found if len(w) >= 2 and contains_cjk(w)]
    hit = 0
    for term in terms:
        if term in found or _shape_met(term, text):
            hit += 1
        elif contains_cjk(term):
            if weak(term):
                hit += any(term in w for w in cjk)  # 改 in 修改
            elif (
                term in text
                or any(term in w or w in term for w in cjk)
                or any(_expanded(e, True) <= found for e in _renderings(term))  # 增值税 ~ "VAT"
            ):
                hit += 1
        elif term in _related():
            every = set(terms_of(text)) if every is None else every
            hit += any(_expanded(e, False) <= every for e in _related()[term])  # smallest ~ minimum
    return hit / len(terms)


# Words that ask for a kind of value rather than name a topic: "the smallest amount" is answered by a
# passage stating amounts, "税率" (tax rate) by one stating a percentage of that tax.
_NUMBER_SHAPED = (
    "smallest largest biggest highest lowest minimum maximum cheapest dearest priciest longest shortest "
    "earliest latest min max 最低 最高 最大 最小 最多 最少 最早 最晚"
)
_A_NUMBER = re.compile(r"\d")


@lru_cache(maxsize=1)
def _number_shaped() -> frozenset[str]:
    return frozenset(content_terms(_NUMBER_SHAPED)) | frozenset(_NUMBER_SHAPED.split())


def _shape_met(term: str, text: str) -> bool:
    if term in _number_shaped():
        return bool(_A_NUMBER.search(text))
    if term in {"rate", "percentag", "percent"} or (contains_cjk(term) and term[-1:] in "率比"):
        stem = term[:-1] if contains_cjk(term) else ""
        return "%" in text and (not stem or stem in text)
    return False


@lru_cache(maxsize=4096)
def _expanded(word: str, content: bool) -> frozenset[str]:
    """The analysed terms of a lexicon word (its content terms, or all of them)."""
    return frozenset(content_terms(word) if content else terms_of(word))


@lru_cache(maxsize=1)
def _related() -> dict[str, tuple[str, ...]]:
    """EN_RELATED keyed by analysed term ("smallest" → minimum, lowest), for coverage."""
    out: dict[str, tuple[str, ...]] = {}
    for word, alternatives in EN_RELATED.items():
        for term in _analyzer().terms(word):
            out[term] = out.get(term, ()) + alternatives
    return out


@lru_cache(maxsize=4096)
def _renderings(term: str) -> tuple[str, ...]:
    """English renderings of a Chinese term (of the lexicon entries it contains)."""
    return tuple(e for key, english in ZH_EN.items() if len(key) >= 2 and key in term for e in english)


def supported(terms: tuple[str, ...] | list[str], text: str) -> bool:
    """Whether ``text`` covers ``terms`` well enough to answer from: all of up to three content terms,
    all but one of four or five, all but two of more (a long question carries words of its own telling,
    but a passage missing the one specific word of a short question does not answer it)."""
    terms = [t for t in terms if not weak(t) or coverage([t], text)]
    if not terms:
        return True
    n = len(terms)
    needed = n if n <= 3 else n - 1 if n <= 5 else n - 2
    return coverage(terms, text) * len(terms) >= needed - 1e-9


# phrases that shape a question and name nothing: "how long", "on file" (what we have recorded, not a file)
_QUESTION_PHRASES = re.compile(
    r"\bhow (?:long|often|much|many|far|soon)\b|\b(?:on|in) (?:file|record)\b", re.IGNORECASE
)


def _spaced_identifiers(text: str) -> str:
    return re.sub(r"([a-z0-9])([A-Z])", r"\1 \2", text).replace("_", " ")


def _asking(piece: str) -> bool:
    return bool(_ASKING.search(piece))


def focus_terms(part: Part) -> tuple[str, ...]:
    """The terms of the part's asking clauses when it also tells a story ("A customer's headphones
    stopped charging, is the battery covered?"): the words a passage must cover. The whole part's
    terms when every clause asks, or the asking ones say too little (fewer than two terms)."""
    clauses = [c for c in re.split(r"(?<!\d),\s+(?=[A-Z])|[.;]\s+", part.text) if c.strip()]  # sentences
    asking = [c for c in clauses if _asking(c)]
    if not asking or len(asking) == len(clauses):
        return part.terms
    terms = content_terms(without_dates(" ".join(asking)))
    return terms if len(terms) >= 2 else part.terms


def _own_terms(piece: str) -> list[str]:
    return [t for t in content_terms(piece) if t not in _ANAPHOR_TERMS]


def _standalone(piece: str) -> bool:
    """A piece that asks something of its own: a question word and enough words to say what about."""
    if not _asking(piece):
        return False
    if _IDENT.search(piece) or _QUOTED.search(piece) or _BACKTICK.search(piece):
        return True
    return len(_own_terms(piece)) >= 2


def split_parts(text: str) -> list[str]:
    """The request's parts. A piece that asks nothing ("According to the handbook", "If an item arrives
    broken") goes with the question after it; one too thin to stand alone ("and what does it cost?",
    "有多少位？") goes with the one before."""
    if _TRACE.search(text):
        return [text.strip()]  # a pasted stack trace is one part, whatever its punctuation
    pieces: list[str] = []
    for sentence in _SENTENCE.findall(text):
        for piece in _JOIN.split(sentence):
            piece = piece.strip(" ,.，、;；\n")
            if piece:
                pieces.append(piece)
    parts: list[str] = []
    waiting: list[str] = []  # pieces that ask nothing, for the next question
    for piece in pieces:
        if not _asking(piece):
            waiting.append(piece)
            continue
        if waiting:
            piece = ", ".join([*waiting, piece])
            waiting = []
            parts.append(piece)
            continue
        if parts and not _standalone(piece):
            parts[-1] = f"{parts[-1]}, {piece}"
        else:
            parts.append(piece)
    if waiting:
        if parts:
            parts[-1] = f"{parts[-1]}, {', '.join(waiting)}"
        else:
            parts.append(", ".join(waiting))
    return parts


def _words(text: str) -> tuple[str, ...]:
    """Surface words (lower-case, possessives dropped), Latin words inside Chinese text ("通过PayPal"), and
    the English renderings of Chinese words, for value matching."""
    latin = re.findall(r"[A-Za-z0-9]+(?:[-'][A-Za-z0-9]+)*", text)
    out: list[str] = [re.sub(r"'s$", "", w.lower()) for w in latin]
    for word in re.findall(r"[A-Za-z]+", text):
        out += [e.lower() for e in DEMONYMS.get(word.lower(), ())]
    for run in re.findall(r"[\u3400-\u9fff]+", text):
        for key, english in ZH_EN.items():
            if key in run:
                out.extend(e.lower() for e in english)
    return tuple(dict.fromkeys(out))


def _ask(text: str, analytic: Analytic, has_ident: bool, sql: bool, trace: bool) -> Ask:
    if trace:
        return "trace"
    if sql:
        return "sql"
    if has_ident:
        if _CODE_CALLEES.search(text):
            return "callees"
        if _CODE_CALLERS.search(text):
            return "callers"
        if _CODE_REFS.search(text):
            return "references"
        if _CODE_DEF.search(text) or re.search(r"\bwhere\b|在哪", text, re.IGNORECASE):
            return "definition"
    if analytic.top:
        return "top"
    if analytic.group or analytic.time_group:
        return analytic.aggregate or "count"
    if analytic.aggregate is not None:
        return analytic.aggregate
    if analytic.listing:
        return "list"
    if analytic.lookup:
        return "lookup"
    if has_ident:
        return "definition"
    return "explain"


def analyse_part(text: str) -> Part:
    quoted = [next(g for g in m.groups() if g) for m in _QUOTED.finditer(text)]
    ticks = [m.group(1).strip() for m in _BACKTICK.finditer(text)]
    sql = next((t for t in ticks + quoted if _SQL.match(t)), None)
    if sql is None and _SQL.match(text):
        sql = text.strip().rstrip("?？")
    trace = bool(_TRACE.search(text))
    paths = [m.group(1) for m in _PATH.finditer(text) if not m.group(1).startswith("http")]
    idents = [t for t in ticks if re.fullmatch(r"[A-Za-z_][\w.]*(?:\(\))?", t) and t not in paths]
    bare = _BACKTICK.sub(" ", _QUOTED.sub(" ", text))
    idents += [
        m.group(1) for m in _IDENT.finditer(bare) if m.group(1) not in paths and "." not in m.group(1)[-1:]
    ]
    idents = [i.removesuffix("()") for i in idents if not _is_file_like(i)]
    analytic = read_analytic(text)
    lang: Literal["en", "zh"] = "zh" if contains_cjk(text) else "en"
    identifiers = tuple(dict.fromkeys(idents))
    return Part(
        text=text.strip(),
        terms=content_terms(without_dates(text, analytic)),
        lang=lang,
        words=_words(text),
        quoted=tuple(dict.fromkeys(q for q in quoted if q != sql)),
        identifiers=identifiers,
        paths=tuple(dict.fromkeys(paths)),
        sql=sql,
        traceback=trace,
        ask=_ask(text, analytic, bool(identifiers), sql is not None, trace),
        analytic=analytic,
        refers_back=bool(_ANAPHOR.search(text)),
    )


def without_dates(text: str, analytic: Analytic | None = None) -> str:
    """``text`` with its date phrases blanked: "the first half of 2025" is a filter, not a topic."""
    analytic = analytic if analytic is not None else read_analytic(text)
    for label in sorted({d.label for d in analytic.dates}, key=len, reverse=True):
        if not label.strip().isdigit():  # a bare year stays: passages are checked for it
            text = text.replace(label, " ")
    return text


def _is_file_like(word: str) -> bool:
    return bool(re.fullmatch(r"[\w-]+\.(?:py|js|ts|md|txt|json|toml|yaml|yml|sql|rst|go|rs|java)", word))


def analyse_resolved(text: str) -> Part:
    """A part as resolved against an earlier one ("A → B"): the conditions of both, the shape B asks for."""
    if " → " not in text:
        return analyse_part(text)
    before, after = text.rsplit(" → ", 1)
    old, new = analyse_resolved(before), analyse_part(after)  # "A → B → C": C over B over A
    full = analyse_part(f"{before} {after}")
    ask = new.ask if new.ask not in {"explain", "list"} else old.ask
    if new.ask == "list" and new.analytic.listing:
        ask = "list"  # "which of those …": the rows, whatever the earlier turn computed
    return replace(full, ask=ask, analytic=merge_analytic(new.analytic, old.analytic))


def analyse(text: str) -> Question:
    """The request read part by part."""
    return Question(text=text, parts=tuple(analyse_part(p) for p in split_parts(text)))


_KINDS = {"function": ("function", "method"), "method": ("method", "function"), "class": ("class",)}


def asked_kind(text: str) -> tuple[str, tuple[str, ...]] | None:
    """The kind of symbol the text asks for ("which function …") and the symbol kinds that are one."""
    asked = ASKS_FOR_CODE.search(text)
    kind = next(
        (k for k in _KINDS if asked and re.search(rf"\b{k}|{_ZH_KINDS[k]}", asked.group(), re.I)), None
    )
    return (kind, _KINDS[kind]) if kind else None


_ZH_KINDS = {"function": "函数", "method": "方法", "class": "类"}


# Words that say a question is about code (analysed like every question; lazily, since analysing the
# Chinese ones loads jieba's dictionary, seconds an agent should not spend before it listens).
@lru_cache(maxsize=1)
def code_words() -> frozenset[str]:
    return frozenset(
        content_terms(
            "function functions method methods class classes module defined definition implemented "
            "implementation code raise raises raised exception return returns called calls caller signature "
            "argument parameter constant variable file python javascript typescript 函数 方法 类 定义 代码 "
            "调用 异常 返回"
        )
    )


def warm() -> None:
    """Load the analysers and their dictionaries now (agents call it in a thread once they listen)."""
    code_words()
