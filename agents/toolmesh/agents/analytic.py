"""The analytic shape of a question, in English and Chinese: aggregate, ranking, grouping, filters.

:func:`read_analytic` reads words, not a schema: "how many" is a count, "top 5 customers by revenue" a
ranking of customers by a measure called revenue, "in 2024" a date range, "more than 100 units" a
comparison, "not delivered" a negation. The text-to-SQL translator maps these phrases onto a linked schema;
the reviewer checks that the evidence honours them (the year is in the SQL, a count came back as one
number).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from typing import Literal

from toolmesh.protocols.lexicon import ZH_EN
from toolmesh.protocols.text import contains_cjk, segment_tagged

__all__ = [
    "Aggregate",
    "Analytic",
    "Comparison",
    "DateRange",
    "asks_breakdown",
    "merge_analytic",
    "read_analytic",
]

Aggregate = Literal["count", "sum", "avg", "min", "max"]
Op = Literal[">", ">=", "<", "<=", "="]

_NUMBER_WORDS = {
    "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8, "nine": 9,
    "ten": 10, "eleven": 11, "twelve": 12, "fifteen": 15, "twenty": 20, "a dozen": 12,
}  # fmt: skip
_ZH_DIGITS = {
    "一": 1,
    "二": 2,
    "两": 2,
    "三": 3,
    "四": 4,
    "五": 5,
    "六": 6,
    "七": 7,
    "八": 8,
    "九": 9,
    "十": 10,
}
_MONTHS = {
    m: i
    for i, names in enumerate(
        [
            ("january", "jan"), ("february", "feb"), ("march", "mar"), ("april", "apr"), ("may",),
            ("june", "jun"), ("july", "jul"), ("august", "aug"), ("september", "sep", "sept"),
            ("october", "oct"), ("november", "nov"), ("december", "dec"),
        ],
        start=1,
    )
    for m in names
}  # fmt: skip
_NUM = r"(\d+(?:\.\d+)?|" + "|".join(sorted(_NUMBER_WORDS, key=len, reverse=True)) + r")"
_ZH_NUM = r"(\d+|[一二两三四五六七八九十]+)"
_YEAR = r"((?:19|20)\d{2})"

_COUNT = re.compile(
    r"\b(?:how many|number of|count(?:s| of)?|how often|quantity of)\b|有多少|多少(?!钱|金额|欧元|元"
    r"|天)(?=[\u4e00-\u9fff])"
    r"|(?<!哪)几(?:个|位|笔|条|名|家|种|次)|数量|总数|计数"  # 哪几位: which ones, a list
    r"|[\u4e00-\u9fff]数(?![据字学])",
    re.IGNORECASE,
)
_AVERAGE_OF_COUNT = re.compile(
    r"\b(?:on average|average)\b.*\bhow many\s+(units|items|pieces)\b|平均每.{0,6}?多少(件|个)", re.I
)
_PRICE_OF = re.compile(r"\bhow much (?:does|do|did|is|are|was|were)\b.*\b(?:cost|costs|priced)\b", re.I)
_AVG = re.compile(r"\b(?:average|mean|avg)\b|平均", re.IGNORECASE)
_SUM = re.compile(
    r"\b(?:total|sum|in total|altogether|combined|how much|adds? up(?: to)?)\b|总(?:金额|额|计|和|收入"
    r"|销售额|付款|支付)|合计|总共|一共|总计",
    re.IGNORECASE,
)
# "what were our sales to Brazil", "what is the total revenue": money asked for is added up
_MONEY_TOTAL = re.compile(
    r"\bwhat\s+(?:was|were|is|are)\s+(?:our|the|total|our total|the total)\s+(?:[a-z]+\s+)?"
    r"(?:sales|revenue|turnover|income|takings)\b",
    re.IGNORECASE,
)
_MAX = re.compile(  # not "biggest first": an order
    r"\b(?:maximum|max|highest|largest|biggest|greatest|most expensive|latest|most recent|newest)\b"
    r"(?!\s+first)"
    r"|最高|最大|最贵|最晚|最新|最近",
    re.IGNORECASE,
)
_MIN = re.compile(
    r"\b(?:minimum|min|lowest|smallest|cheapest|least expensive|earliest|oldest)\b|最低|最小|最便宜|最早",
    re.IGNORECASE,
)
_MOST = re.compile(r"\b(?:most|highest|largest|biggest|greatest|best)\b|最多|最高|最大", re.IGNORECASE)
_LEAST = re.compile(r"\b(?:fewest|least|lowest|smallest|worst)\b|最少|最低|最小", re.IGNORECASE)
_TOP_N = re.compile(
    rf"\btop\s+{_NUM}\b|\b{_NUM}\s+(?:most|best|largest|biggest|highest|top|least|lowest|smallest|cheapest|"
    rf"latest|newest|oldest|earliest|most recent)\b|\bfirst\s+{_NUM}\b|前\s*{_ZH_NUM}\s*(?:名|个|位|种|家)?"
    rf"|{_ZH_NUM}\s*(?:个|名|位|种|家)(?=\S{{0,8}}(?:最|前))",
    re.IGNORECASE,
)
_WHICH_MOST = re.compile(
    r"\b(?:which|what)\s+((?:[a-z-]+\s){0,2}?[a-z-]+?)\s+(?:\w+\s+){0,4}?(?:the\s+)?"
    r"(?:most|highest|largest|biggest|greatest|fewest|least|lowest|smallest|best)\b"
    r"|\bthe\s+([a-z-]+)\s+with\s+the\s+(?:most|highest|largest|biggest|fewest|least|lowest)\b"
    r"|\bmost\s+(?:popular|common|frequent|ordered|sold|purchased|bought)\s+([a-z-]+)\b"
    r"|\bbest[- ]selling\s+([a-z-]+)\b",
    re.IGNORECASE,
)
_SELLING = re.compile(
    r"\bbest[- ]selling\s+([a-z-]+)\b|\bmost\s+(?:popular|ordered|sold|purchased|bought)\s+([a-z-]+)\b", re.I
)
_SELLS_BEST = re.compile(
    r"\b(?:sells?|sold|selling)\s+(?:the\s+)?(?:best|most)\b|\b(?:best|top)[- ]sellers?\b", re.I
)
_BY_MONEY = re.compile(r"\b(?:revenue|money|turnover|income|takings|eur|euros?|value)\b", re.I)
_GROUP = re.compile(
    r"\b(?:grouped by|broken down by|breakdown by|split by|for each|for every|in each|per|by|each)\s+"
    r"((?:[a-z-]+\s)?[a-z-]+)",
    re.IGNORECASE,
)
_TIME_GROUP = re.compile(
    r"\b(?:per|by|each|every|for each)\s+(year|month|day|week|quarter)\b|\b(monthly|yearly|annual|daily"
    r"|weekly)\b"
    r"|(?:每|按)(?:个)?(季度|年|月|天|日|周)|\b(quarterly)\b",
    re.IGNORECASE,
)
# what a "monthly"/"yearly" before it makes a breakdown of: "monthly revenue", "yearly order counts"
_PER_PERIOD_NOUN = re.compile(
    r"\s*(?:[a-z-]+\s+)?(?:revenues?|sales|turnover|income|takings|orders?|totals?|counts?|numbers|figures"
    r"|breakdown|trend|volume|sign-?ups?|registrations?|invoices?|payments?|refunds?|returns?|spend|spending"
    r"|amounts?|growth|averages?|units)\b",
    re.IGNORECASE,
)


def _counted_adjective(after: str, computing: object) -> bool:
    """Whether a "monthly"/"yearly" groups: before a quantity noun, or closing a question that computes."""
    return bool(_PER_PERIOD_NOUN.match(after)) or (bool(computing) and not re.match(r"\s*[a-z]", after, re.I))


_BEST_BY = re.compile(
    r"\b(?:most|best|largest|biggest|highest|top|least|lowest|smallest)\s+([a-z-]+)\s+by\s+"
    r"((?:[a-z-]+\s){0,2}[a-z-]+)",
    re.IGNORECASE,
)
_ORDER_BY = re.compile(r"\b(?:sorted|ordered|ranked)\s+by\s+((?:[a-z-]+\s)?[a-z-]+)", re.IGNORECASE)
_TOP_BY = re.compile(
    rf"\btop\s+{_NUM}\s+((?:[a-z-]+\s)?[a-z-]+?)\s+by\s+((?:[a-z-]+\s)?[a-z-]+)", re.IGNORECASE
)
_MEASURE = re.compile(
    r"\b(?:total|sum of(?: the)?|average|mean|avg|maximum|max|minimum|min|highest|lowest|largest|smallest|"
    r"biggest|how much)\s+(?!first\b|last\b)((?:[a-z-]+\s){0,2}[a-z-]+)",  # not "biggest first": an order
    re.IGNORECASE,
)
_ZH_MEASURE = re.compile(
    r"(?:平均|总|最高|最低|最大|最小)(?:的)?([\u4e00-\u9fff]{1,6}?)(?:是|为|有|多少|，|,|？|\?|$)"
)
_ENTITY = re.compile(
    r"\b(?:how many|number of|count of|list(?: all)?(?: the)?|show(?: me)?(?: all)?(?: the)?|"
    r"which|name(?: the)?|what are the)\s+((?:[a-z-]+\s){0,2}?[a-z-]+?)(?=\s+(?:are|were|is|was|do|does|did|"
    r"have|has|had|in|from|with|that|which|who|whose|placed|made|by|per|for|of|on|at|since|before|after|"
    r"during|between|over|under|above|below|there|than|cost|costs|ordered|sold|bought|signed|paid|got|"
    r"shipped|went|came|live|living|exist|and|haven't|hasn't|didn't|don't|doesn't|aren't|weren't|isn't|wasn't|never|not|without|received|got)\b|\s*[?.,!]|\s*$)",
    re.IGNORECASE,
)
_TABLE = re.compile(r"\b(?:the\s+)?([a-z_][a-z0-9_]*)\s+table\b|\btable\s+`?([a-z_][a-z0-9_]*)`?", re.I)
_DISTINCT = re.compile(r"\b(?:different|distinct|unique)\b|不同", re.IGNORECASE)
_LIST = re.compile(
    r"^\s*(?:please\s+)?(?:list|show|display|give me|name|enumerate)\b|^\s*(?:which|what are the)\b"
    r"|列出|显示|有哪些|是哪些|哪些|哪几",
    re.IGNORECASE,
)
_LOOKUP = re.compile(
    r"\bwhat(?:'s| is| was| are| were)\s+the\s+((?:[a-z-]+\s){0,2}?[a-z-]+)\s+(?:of|for)\b"
    r"|\bwhen\s+(?:was|did|is)\b"
    r"|\bwho\s+(?:placed|made|bought|ordered|is)\b|的(?:邮箱|电子邮件|价格|单价|状态|国家|城市|日期)",
    re.IGNORECASE,
)
_IDS = re.compile(
    r"\b([a-z]+)\s*(?:#|no\.?\s*|number\s+|id\s+)?#?(\d{1,9})\b"
    r"(?!\s*(?:units?|items?|orders?|%|percent|days?|weeks?|months?|years?|hours?|minutes?|eur|euros?|usd"
    r"|dollars?|times)\b)",
    re.I,
)
_COMPARE = re.compile(
    r"\b(more than|greater than|higher than|larger than|bigger than|over|above|exceeding|at least"
    r"|no less than|"
    r"less than|fewer than|lower than|smaller than|under|below|at most|no more than|up to)\s+"
    rf"(?:€|\$|eur\s*|usd\s*)?{_NUM}\s*((?:[a-z€$]+\s){{0,2}}[a-z€$]+)?",
    re.IGNORECASE,
)
_COMPARE_AFTER = re.compile(rf"{_NUM}\s+((?:[a-z]+\s){{0,2}}?[a-z]+\s+)?or\s+(more|less|fewer)\b", re.I)
_ZH_COMPARE = re.compile(
    r"(超过|大于|多于|高于|至少|不少于|不低于|少于|小于|低于|不超过|不到|不足)\s*"
    + _ZH_NUM
    + r"\s*(欧元|美元|元|件|个|次|天|单位|[\u4e00-\u9fff]{0,2}?)(?=的|[，,。？?]|$|[\u4e00-\u9fff])"
)
_NEGATED = re.compile(
    r"\b(?:not|never|non-|other than|except|excluding|without)\s*(?:(?:been|be|yet|ever|even|already)\s+)*"
    r"([a-z_-]+)|\b\w+n't\s+(?:(?:been|be|yet|ever|even|already)\s+)*([a-z_-]+)"
    r"|(?:不是|没有|未|非)([\u4e00-\u9fff]{1,4})",
    re.IGNORECASE,
)
_AUX = frozenset(
    [
        "did",
        "do",
        "does",
        "is",
        "are",
        "was",
        "were",
        "has",
        "have",
        "had",
        "will",
        "would",
        "can",
        "could",
        "of",
    ]
)
_TRAILING = frozenset(
    [
        "in",
        "of",
        "for",
        "from",
        "during",
        "since",
        "by",
        "and",
        "or",
        "with",
        "at",
        "on",
        "to",
        "per",
        "each",
        "than",
        "that",
        "which",
        "who",
        "were",
        "was",
        "is",
        "are",
        "including",  # "the average invoice value including VAT": the value, with a qualifier after it
        "excluding",
        "incl",
        "excl",
        "without",
        "before",
        "after",
    ]
)
_WH_WORDS = frozenset({"where", "what", "which", "how", "who", "when", "whether"})  # "by where they stand"
_PREPOSITIONS = frozenset({"on", "of", "in", "for", "from", "at", "to", "by", "with", "during", "since"})
# Words that end the noun phrase after "which": verbs and auxiliaries of the questions we read.
_VERBISH = re.compile(
    r"(?:are|is|was|were|has|have|had|do|does|did|can|will|would|brings?|brought|makes?|made|sold|sells?"
    r"|buys?|bought|gets?|got|spends?|spent|generates?|generated|accounts?|contributes?|placed|places?"
    r"|orders|ordered|pays?|paid|uses?|used|the|a|an|most|least|highest|lowest|best|worst)",
    re.I,
)
_STOPPING = re.compile(r"(?:in|of|for|from|during|since|by|and|or|with|at|on)\b", re.I)
_ZH_WHICH_WORDS = frozenset({"哪个", "哪位", "哪些", "哪家", "哪种", "哪一个", "哪一位", "哪"})
_ZH_GROUP_WORDS = frozenset(
    {"每个", "每一个", "按", "按照", "各", "各个", "每", "每种", "每类", "各种", "各类"}
)
_ZH_MOST = frozenset({"最多", "最高", "最大", "最贵"})
_ZH_LEAST = frozenset({"最少", "最低", "最小", "最便宜"})
_ZH_PRICED = frozenset({"最贵", "最便宜"})
_ZH_FILLER = frozenset({"的", "是", "有", "了", "中", "里", "在", "数", "数量", "统计", "分别", "都"})
_OPS: dict[str, Op] = {
    "more than": ">", "greater than": ">", "higher than": ">", "larger than": ">", "bigger than": ">",
    "over": ">", "above": ">", "exceeding": ">", "at least": ">=", "no less than": ">=",
    "less than": "<", "fewer than": "<", "lower than": "<", "smaller than": "<", "under": "<",
    "below": "<", "at most": "<=", "no more than": "<=", "up to": "<=",
    "超过": ">", "大于": ">", "多于": ">", "高于": ">", "至少": ">=", "不少于": ">=", "不低于": ">=",
    "少于": "<", "小于": "<", "低于": "<", "不超过": "<=", "不到": "<", "不足": "<",
}  # fmt: skip
# "covered by our warranty", "approved by a team lead": "by" after a participle names who or what did it,
# not a grouping ("revenue generated by each customer" groups through its "each")
_PARTICIPLE = re.compile(
    r"(?:\b[a-z]{3,}(?<!need)(?<!speed)(?<!feed)ed|\b(?:made|paid|bought|sold|sent|kept|held|done|given|taken"
    r"|written|run))\s+$",
    re.I,
)
# "wants to pay by transfer", "can we ship by courier": by after a verb says how, not per what
_INFINITIVE = re.compile(
    r"\b(?:to|can|could|will|would|should|must|may|might|please|we|they|you|i|do|does|did)\s+[a-z]+\s+$", re.I
)
# a question for a time or a reason ("when does …", "why is …") asks for no aggregate, unless it counts
_ASKS_WHEN = re.compile(r"^\s*(?:and\s+|so\s+|but\s+)?(?:when|why|at what time|什么时候|为什么|几点)\b", re.I)
_COUNT_WORDS = re.compile(r"\bhow (?:many|much)\b|\bnumber of\b|多少|几个", re.I)
_SKIP_ID_NOUNS = frozenset(
    [
        "in",
        "of",
        "on",
        "at",
        "for",
        "from",
        "to",
        "than",
        "top",
        "first",
        "last",
        "since",
        "before",
        "after",
        "during",
        "between",
        "and",
        "or",
        "the",
        "a",
        "an",
        "year",
        "years",
        "over",
        "under",
        "above",
        "below",
        "least",
        "most",
        "more",
        "less",
        "about",
        "around",
        "roughly",
        "nearly",
        "almost",
        "within",
        "only",
        "next",
    ]
)


@dataclass(frozen=True, slots=True)
class DateRange:
    """``start <= date < end`` (ISO dates; either may be open), with the words it came from."""

    start: str | None
    end: str | None
    label: str


@dataclass(frozen=True, slots=True)
class Comparison:
    op: Op
    value: float
    phrase: str  # the words naming what is compared ("units in stock", "eur"), may be empty


@dataclass(frozen=True, slots=True)
class Analytic:
    aggregate: Aggregate | None = None
    distinct: bool = False
    top: bool = False
    limit: int | None = None
    order: Literal["desc", "asc"] | None = None
    group: str | None = None
    time_group: Literal["year", "quarter", "month", "day"] | None = None
    measure: str | None = None
    entity: str | None = None
    table: str | None = None
    dates: tuple[DateRange, ...] = ()
    comparisons: tuple[Comparison, ...] = ()
    negated: tuple[str, ...] = ()
    ids: tuple[tuple[str, int], ...] = ()
    listing: bool = False
    lookup: bool = False

    @property
    def is_analytic(self) -> bool:
        """Whether the question computes something over rows (an aggregate, a ranking or a grouping)."""
        return bool(self.aggregate or self.top or self.group or self.time_group)

    @property
    def conditions(self) -> int:
        return len(self.dates) + len(self.comparisons) + len(self.negated) + len(self.ids)


def _number(word: str) -> float:
    word = word.lower().strip()
    if word in _NUMBER_WORDS:
        return float(_NUMBER_WORDS[word])
    if word and all(c in _ZH_DIGITS for c in word):
        if word == "十":
            return 10.0
        if word.startswith("十"):
            return 10.0 + _ZH_DIGITS[word[1]]
        if len(word) == 2 and word[1] == "十":
            return float(_ZH_DIGITS[word[0]] * 10)
        return float(_ZH_DIGITS[word[0]])
    return float(word)


# what makes a number a quantity, not a row's number: 20 件, 30 天, 500 欧元, 5%
_ZH_UNIT = re.compile(r"[件个位名种家天日月年周次张笔条款元%]|欧元|美元|小时|分钟")


def _noun_after(tagged: list[tuple[str, str]], i: int) -> str | None:
    """The head noun of the words after position ``i`` (哪个支付方式 → 方式, 每种订单状态 → 状态)."""
    run: list[tuple[str, str]] = []
    for word, flag in tagged[i + 1 : i + 4]:
        if word in _ZH_FILLER or not (flag.startswith(("n", "v")) or flag == "eng"):
            break
        run.append((word, flag))
    nouns = [w for w, f in run if (f.startswith("n") and f != "vn") or f == "eng"]
    return nouns[-1] if nouns else (run[0][0] if run else None)


def _read_zh(text: str) -> dict[str, str]:
    """Grouping, ranking, measure and ids of a Chinese question from its tagged jieba words
    (哪个国家的订单最多 → group 国家, measure 订单, the most; 销售额最高的五个产品 → group 产品, measure
    销售额, top 5), clause by clause: a noun of the next clause never completes this one."""
    out: dict[str, str] = {}
    for clause in re.split(r"[，。？！；,?!;]+", text):
        for key, value in _read_zh_clause(clause).items():
            out.setdefault(key, value)
    return out


def _read_zh_clause(text: str) -> dict[str, str]:
    out: dict[str, str] = {}
    tagged = [(w, f) for w, f in segment_tagged(text) if w.strip()]
    words = [w for w, _ in tagged]
    joined = ["".join(words[i : i + 2]) for i in range(len(words))]
    for i, word in enumerate(words):
        pair = joined[i]
        if word in _ZH_MOST or pair in {"最多", "最高", "最大"}:
            out["superlative"] = "most"
        elif word in _ZH_LEAST or pair in {"最少", "最低", "最小"}:
            out["superlative"] = "least"
        if (word in _ZH_WHICH_WORDS or word in _ZH_GROUP_WORDS) and "group" not in out:
            noun = _noun_after(tagged, i)
            ranked = re.search(r"最|多|少|几", text)
            if noun and word in _ZH_WHICH_WORDS and not ranked:
                out.setdefault("entity", noun)  # 888号订单是哪位客户下的: the customer asked about
            elif noun and noun not in {"月", "年", "天", "日", "周"}:
                out["group"] = noun
                if word in _ZH_WHICH_WORDS:
                    out.setdefault("superlative", "most")  # 哪个国家的客户最多
        if word in {"多少", "几"} and "entity" not in out:  # 有多少张发票: what is counted
            noun = next((w for w, f in tagged[i + 1 : i + 3] if f.startswith("n") and f != "vn"), None)
            if noun:
                out["entity"] = noun
        if word == "号" and i > 0 and words[i - 1].isdigit():
            noun = _noun_after(tagged, i)
            if noun:
                out["id_noun"], out["id"] = noun, words[i - 1]
        if word.isdigit() and "id" not in out:  # 客户 318, 订单1234: the row with that number
            named = [(w, f) for w, f in tagged[:i] if w.strip()][-1:]
            after = next((w for w, _ in tagged[i + 1 :] if w.strip()), "")
            if (
                named
                and named[0][1].startswith("n")
                and contains_cjk(named[0][0])
                and not _ZH_UNIT.match(after)
            ):
                out["id_noun"], out["id"] = named[0][0], word
        number = re.fullmatch(r"(\d+|[一二两三四五六七八九十]+)(?:个|名|位|种|家|件|款)", word)
        if number and ((i > 0 and words[i - 1] == "前") or any(w.startswith("最") for w in words)):
            out["limit"] = str(int(_number(number.group(1))))
            noun = _noun_after(tagged, i)
            if noun and noun not in {"是", "什么"}:
                out["group"] = noun
    if "superlative" in out:
        for i, word in enumerate(words):
            if word.startswith("最"):
                before = [
                    w
                    for w, f in tagged[:i]
                    if w not in _ZH_FILLER
                    and w not in _ZH_WHICH_WORDS
                    and (f.startswith(("n", "vn")) or f == "eng" or (f == "v" and w in ZH_EN))
                ]  # 收入最高: jieba tags 收入 a verb
                before = [w for w in before if w != out.get("group")]
                if before:
                    out["measure"] = before[-1]
                elif words[i] in _ZH_PRICED:
                    out["measure"] = "价格"  # 最贵的产品: ranked by price
                break
    return out


def _year_range(year: int, label: str) -> DateRange:
    return DateRange(f"{year:04d}-01-01", f"{year + 1:04d}-01-01", label)


def _month_range(year: int, month: int, label: str) -> DateRange:
    end = f"{year + 1:04d}-01-01" if month == 12 else f"{year:04d}-{month + 1:02d}-01"
    return DateRange(f"{year:04d}-{month:02d}-01", end, label)


def _months(year: int, first: int, count: int, label: str) -> DateRange:
    """``count`` months from month ``first`` of ``year``."""
    end_year, end_month = divmod(first - 1 + count, 12)
    return DateRange(f"{year:04d}-{first:02d}-01", f"{year + end_year:04d}-{end_month + 1:02d}-01", label)


_ORDINALS = {
    **{w: i for i, w in enumerate(("first", "second", "third", "fourth"), 1)},
    **{f"{i}{s}": i for i, s in zip(range(1, 5), ("st", "nd", "rd", "th"), strict=True)},
    **{str(i): i for i in range(1, 5)},
    **{w: i for i, w in enumerate("一二三四", 1)},
    "上": 1,
    "下": 2,
}
_Y = r"(?P<year>(?:19|20)\d{2})"
_MONTH_NAMES = "|".join(sorted(_MONTHS, key=len, reverse=True))
# the first half of 2025, H1 2025, the third quarter of 2024, Q3 2024, 2025年上半年, 2025年第三季度
_PERIOD = re.compile(
    rf"\b(?:the\s+)?(?P<nth>first|second|third|fourth|1st|2nd|3rd|4th)\s+(?P<unit>half|quarter)\s+"
    rf"(?:of\s+)?{_Y}\b"
    rf"|\b(?P<unit2>H|Q)(?P<nth2>[1-4])\s*(?:of\s+)?{_Y.replace('year', 'year2')}\b"
    rf"|\b{_Y.replace('year', 'year3')}\s*(?P<unit3>H|Q)(?P<nth3>[1-4])\b"
    rf"|{_Y.replace('year', 'year4')}\s*年?\s*"
    r"(?:(?P<nth4>上|下)(?P<unit4>半)年|第?(?P<nth5>[一二三四1-4])(?P<unit5>季)度?)",
    re.IGNORECASE,
)
# March to June 2025, 2025年1月到6月
_MONTH_SPAN = re.compile(
    rf"\b(?:from\s+|between\s+)?(?P<m1>{_MONTH_NAMES})\.?\s+(?:to|through|until|and|-|–)\s+"
    rf"(?P<m2>{_MONTH_NAMES})\.?,?\s+(?:of\s+)?{_Y.replace('year', 'y1')}\b"
    rf"|{_Y.replace('year', 'y2')}\s*年\D{{0,6}}?(?P<z1>\d{{1,2}})\s*月?\s*(?:到|至|-|–|~)\s*"
    r"(?P<z2>\d{1,2})\s*月",
    re.IGNORECASE,
)


def _period(m: re.Match[str]) -> DateRange | None:
    groups = m.groupdict()
    year = int(next(groups[k] for k in ("year", "year2", "year3", "year4") if groups[k]))
    nth = next(groups[k] for k in ("nth", "nth2", "nth3", "nth4", "nth5") if groups[k]).lower()
    unit = next(groups[k] for k in ("unit", "unit2", "unit3", "unit4", "unit5") if groups[k]).lower()
    n = _ORDINALS[nth]
    if unit in {"half", "h", "半"}:
        return _months(year, 6 * (n - 1) + 1, 6, m.group(0)) if n <= 2 else None
    return _months(year, 3 * (n - 1) + 1, 3, m.group(0))


_AMOUNT_UNIT = r"(?i:eur\b|euros?\b|€|usd\b|dollars?\b|units?\b|items?\b|pieces?\b|欧元|美元|元|件)"


def _dates(text: str) -> tuple[tuple[DateRange, ...], set[int]]:
    """Date ranges in ``text`` and the character positions their years used."""
    found: list[DateRange] = []
    used: set[int] = set()

    def take(match: re.Match[str], value: DateRange) -> None:
        if any(i in used for i in range(match.start(), match.end())):
            return
        found.append(value)
        used.update(range(match.start(), match.end()))

    for m in re.finditer(rf"\bbetween\s+{_YEAR}\s+and\s+{_YEAR}\b", text, re.I):
        a, b = sorted((int(m.group(1)), int(m.group(2))))
        take(m, DateRange(f"{a}-01-01", f"{b + 1}-01-01", m.group(0)))
    month_names = "|".join(sorted(_MONTHS, key=len, reverse=True))
    for m in _MONTH_SPAN.finditer(text):  # "March to June 2025", 2025年1月到6月
        year = int(m.group("y1") or m.group("y2"))
        first, last = (
            (_MONTHS[m.group("m1").lower()], _MONTHS[m.group("m2").lower()])
            if m.group("m1")
            else (int(m.group("z1")), int(m.group("z2")))
        )
        if 1 <= first <= last <= 12:
            take(m, _months(year, first, last - first + 1, m.group(0)))
    for m in _PERIOD.finditer(text):
        if (period := _period(m)) is not None:
            take(m, period)
    for m in re.finditer(rf"\b({month_names})\.?\s+(?:of\s+)?{_YEAR}\b", text, re.I):
        take(m, _month_range(int(m.group(2)), _MONTHS[m.group(1).lower()], m.group(0)))
    for m in re.finditer(rf"{_YEAR}\s*年\s*(\d{{1,2}})\s*月|{_YEAR}-(\d{{2}})(?!-\d)", text):
        year, month = int(m.group(1) or m.group(3)), int(m.group(2) or m.group(4))
        if 1 <= month <= 12:
            take(m, _month_range(year, month, m.group(0)))
    for m in re.finditer(
        r"\b(before|until|prior to|after|since|from|on or after)\s+(\d{4}-\d{2}-\d{2})\b", text, re.I
    ):
        word, day = m.group(1).lower(), m.group(2)
        take(
            m,
            DateRange(None, day, m.group(0))
            if word in {"before", "until", "prior to"}
            else DateRange(day, None, m.group(0)),
        )
    for m in re.finditer(
        rf"\b(?:from|between)\s+{_YEAR}\s*(?:to|through|until|and|-|–)\s*{_YEAR}\b", text, re.I
    ):
        first, last = int(m.group(1)), int(m.group(2))
        if first <= last:  # "from 2023 to 2024": both years whole
            take(m, DateRange(f"{first}-01-01", f"{last + 1}-01-01", m.group(0)))
    for m in re.finditer(
        rf"\b(before|until|prior to|by the end of|after|since|from)\s+(the\s+(?:start|beginning)\s+of\s+)?"
        rf"{_YEAR}\b(?!\s*-)",
        text,
        re.I,
    ):
        word, year = m.group(1).lower(), int(m.group(3))
        if word == "after" and m.group(2):  # "after the start of 2025": from its first day
            word = "since"
        if word == "from" and not m.group(2) and not re.match(r"\s*(?:on\b|onwards?\b)", text[m.end() :]):
            continue  # "orders from 2024" are of that year; "from 2024 on" is since
        if word in {"before", "until", "prior to"}:
            take(m, DateRange(None, f"{year}-01-01", m.group(0)))
        elif word == "by the end of":
            take(m, DateRange(None, f"{year + 1}-01-01", m.group(0)))
        elif word == "after":
            take(m, DateRange(f"{year + 1}-01-01", None, m.group(0)))
        else:
            take(m, DateRange(f"{year}-01-01", None, m.group(0)))
    for m in re.finditer(rf"(?:自|从)?{_YEAR}\s*年\s*(以前|之前|前|以后|之后|后|以来|起)", text):
        year, word = int(m.group(1)), m.group(2)
        if word in {"以前", "之前", "前"}:
            take(m, DateRange(None, f"{year}-01-01", m.group(0)))
        elif word in {"以来", "起"}:
            take(m, DateRange(f"{year}-01-01", None, m.group(0)))
        else:
            take(m, DateRange(f"{year + 1}-01-01", None, m.group(0)))
    for m in re.finditer(r"\b(\d{4}-\d{2}-\d{2})\b", text):
        day = m.group(1)
        take(m, DateRange(day, _next_day(day), m.group(0)))
    # "for 2024." too; not an amount ("over 2000 EUR", "2000 units")
    for m in re.finditer(rf"(?<![\d.$€-]){_YEAR}(?:\s*年)?(?![\d%-]|\.\d|\s*{_AMOUNT_UNIT})", text):
        take(m, _year_range(int(m.group(1)), m.group(0)))
    return tuple(found), used


def _next_day(day: str) -> str:
    from datetime import date, timedelta

    try:
        return (date.fromisoformat(day) + timedelta(days=1)).isoformat()
    except ValueError:
        return day


def _clean_phrase(phrase: str | None) -> str | None:
    if not phrase:
        return None
    words = [w for w in phrase.lower().split() if w not in {"the", "a", "an", "all", "our", "my", "your"}]
    while words and words[0] in _AUX:
        words = words[1:]
    if words and words[0] in _PREPOSITIONS:  # "the total on their invoices": the invoices' total
        words = [w for w in words[1:] if w not in {"their", "its", "his", "her", "this", "that", "those"}]
    while words and words[-1] in _TRAILING:
        words = words[:-1]
    return " ".join(words) or None


_BREAKDOWN = re.compile(r"\b(?:breakdown|broken down|each|respectively|separately|split)\b|分别|各", re.I)


def asks_breakdown(text: str) -> bool:
    """Whether ``text`` asks for one figure per value ("a breakdown", "each", 分别), not one in all."""
    return bool(_BREAKDOWN.search(text))


def read_analytic(text: str) -> Analytic:
    """The analytic shape of one question part (see the module docs)."""
    dates, used = _dates(text)
    comparisons: list[Comparison] = []
    for m in _COMPARE.finditer(text):
        if any(i in used for i in range(m.start(2), m.end(2))):
            continue
        comparisons.append(
            Comparison(_OPS[m.group(1).lower()], _number(m.group(2)), (m.group(3) or "").lower())
        )
    for m in _COMPARE_AFTER.finditer(text):
        op: Op = ">=" if m.group(3).lower() == "more" else "<="
        comparisons.append(Comparison(op, _number(m.group(1)), (m.group(2) or "").strip().lower()))
    for m in _ZH_COMPARE.finditer(text):
        comparisons.append(Comparison(_OPS[m.group(1)], _number(m.group(2)), m.group(3)))
    aggregate: Aggregate | None = None
    asked_measure: str | None = None
    units = _AVERAGE_OF_COUNT.search(text)
    if units:  # "on average, how many units per order line": the mean of a quantity, not a count
        aggregate, asked_measure = "avg", units.group(1).lower()
    elif _COUNT.search(text):
        aggregate = "count"
    elif _AVG.search(text):
        aggregate = "avg"
    elif _PRICE_OF.search(text):
        aggregate, asked_measure = None, "price"  # "how much does the Eco Kettle cost": its price
    elif _SUM.search(text) or _MONEY_TOTAL.search(text):
        aggregate = "sum"
    elif (
        "多少" in text
        and not re.search(r"多少\s*[？?。]?\s*$", text)  # 运费是多少？ asks for a value, not a count
        and not (_MAX.search(text) or _MIN.search(text))
    ):
        aggregate = "count"  # a bare 多少 with nothing else to compute asks how many
    timing = _ASKS_WHEN.match(text) and not _COUNT_WORDS.search(text)
    if timing:  # "when does the warehouse do its monthly stock count?": a time or a reason, not a number
        aggregate = None
    limit: int | None = None
    top = False
    order: Literal["desc", "asc"] | None = None
    top_match = _TOP_N.search(text)
    if top_match:
        number = next(g for g in top_match.groups() if g)
        limit = int(_number(number))
        top = True
        order = "asc" if _LEAST.search(text) and not _MOST.search(text) else "desc"
    group: str | None = None
    measure: str | None = asked_measure
    which = _SELLING.search(text) or _WHICH_MOST.search(text)
    if which:
        index = next(i for i, g in enumerate(which.groups(), 1) if g)
        group = _clean_phrase(which.group(index))
        if index == 1:  # the lazy match stops at one word: "which customer segment brings …"
            following = text[which.end(index) :].split()
            for word in following[:2]:
                word = word.strip(",.?!").lower()
                if not re.fullmatch(r"[a-z-]+", word) or _VERBISH.fullmatch(word) or _STOPPING.match(word):
                    break
                group = f"{group} {word}"
        words = group.split() if group else []
        if words and (words[0] in _NUMBER_WORDS or words[0].isdigit()):
            limit = limit or int(_number(words[0]))  # "which three cities …": the number is the limit
            group = " ".join(words[1:]) or None  # "what are our three best-selling …": no group named
        top, limit = True, limit or 1
        order = "asc" if _LEAST.search(which.group(0)) else "desc"
        if re.search(r"best[- ]selling|most (?:sold|ordered|purchased|bought)", which.group(0), re.I):
            measure = "quantity sold"
        else:
            after = re.match(r"\s*([a-z-]+(?:\s+[a-z-]+)?)", text[which.end() :], re.I)
            measure = _clean_phrase(after.group(1)) if after and not _STOPPING.match(after.group(1)) else None
    if top and measure is None and _SELLS_BEST.search(text) and not _BY_MONEY.search(text):
        measure = "quantity sold"  # "which item sells best": units, unless money is named
    top_by = _TOP_BY.search(text)
    if top_by:
        group, measure = _clean_phrase(top_by.group(2)), _clean_phrase(top_by.group(3))
    best_by = None if top_by else _BEST_BY.search(text)
    if best_by and top:  # "our three biggest customers by total amount invoiced"
        group, measure = _clean_phrase(best_by.group(1)), _clean_phrase(best_by.group(2))
    if group is None:
        for m in _GROUP.finditer(text):
            phrase = _clean_phrase(m.group(1))
            timely = phrase and phrase.split()[0] in {"year", "month", "day", "week", "quarter", "the", "far"}
            before = text[: m.start()]
            listed = r"(?:sorted|ordered|ranked|placed|made|paid|bought|issued|going|judging|measured)\s+$"
            after_verb = re.search(listed, before, re.I) or (
                m.group(0).lower().startswith("by ")
                and (_PARTICIPLE.search(before) or _INFINITIVE.search(before))
            )
            if after_verb and phrase and phrase.split()[0] in {"each", "every"}:
                phrase, after_verb = " ".join(phrase.split()[1:]) or None, None  # "made by each customer"
            asking = phrase and phrase.split()[0] in _WH_WORDS
            if phrase and not timely and not after_verb and not asking:  # not "by where they stand"
                group = phrase
                break
    time_group: Literal["year", "quarter", "month", "day"] | None = None
    tg = None if timing else _TIME_GROUP.search(text)
    if tg and (tg.group(2) or tg.group(4)) and not _counted_adjective(text[tg.end() :], aggregate or top):
        tg = None  # "the yearly loyalty voucher", "the quarterly review": a thing, not a breakdown
    if tg:
        word = next(g for g in tg.groups() if g).lower()
        time_group = (
            "year"
            if word in {"year", "yearly", "annual", "年"}
            else "quarter"
            if word in {"quarter", "quarterly", "季度"}
            else "day"
            if word in {"day", "daily", "天", "日"}
            else "month"
        )
    if aggregate is None and not top:
        if _MAX.search(text):
            aggregate = "max"
        elif _MIN.search(text):
            aggregate = "min"
    if measure is None:
        named = _MEASURE.search(text) or _ZH_MEASURE.search(text)
        if named and len(named.group(1)) > 1:
            measure = _clean_phrase(named.group(1))
    order_by = _ORDER_BY.search(text)
    if order_by and measure is None:
        measure = _clean_phrase(order_by.group(1))
    zh_entity: str | None = None
    if contains_cjk(text):
        zh = _read_zh(text)
        group = zh.get("group") or group
        zh_entity = zh.get("entity")
        measure = zh.get("measure") or measure
        if "limit" in zh or "superlative" in zh:
            top = True
            limit = int(zh.get("limit") or limit or 1)
            order = "asc" if zh.get("superlative") == "least" else "desc"
            if aggregate in {"max", "min"}:
                aggregate = None
    entity_match = _ENTITY.search(text)
    entity = _clean_phrase(entity_match.group(1)) if entity_match else None
    if contains_cjk(text):
        entity = zh_entity
    table_match = _TABLE.search(text)
    table = next((g for g in table_match.groups() if g), None) if table_match else None
    ids: list[tuple[str, int]] = []
    for m in _IDS.finditer(text):
        noun, number = m.group(1).lower(), int(m.group(2))
        if noun in _SKIP_ID_NOUNS or any(i in used for i in range(m.start(2), m.end(2))):
            continue
        if any(c.value == number for c in comparisons) or (limit is not None and number == limit):
            continue
        ids.append((noun, number))
    if contains_cjk(text) and "id" in zh:  # 42号产品: product 42
        ids.append((zh["id_noun"], int(zh["id"])))
    negated = tuple(dict.fromkeys(next(g for g in m.groups() if g).lower() for m in _NEGATED.finditer(text)))
    return Analytic(
        aggregate=aggregate,
        distinct=bool(_DISTINCT.search(text)),
        top=top,
        limit=limit,
        order=order,
        group=group,
        time_group=time_group,
        measure=measure,
        entity=entity,
        table=table.lower() if table else None,
        dates=dates,
        comparisons=tuple(comparisons),
        negated=negated,
        ids=tuple(ids),
        listing=bool(_LIST.search(text)) and not top,
        lookup=bool(_LOOKUP.search(text)),
    )


def merge_analytic(new: Analytic, old: Analytic) -> Analytic:
    """A follow-up's shape over the one it follows: what it says wins, the rest carries over."""
    return replace(
        new,
        aggregate=new.aggregate or old.aggregate,
        top=new.top or old.top,
        limit=new.limit or old.limit,
        order=new.order or old.order,
        group=new.group or old.group,
        time_group=new.time_group or old.time_group,
        measure=new.measure or old.measure,
        entity=new.entity
        if new.entity and new.entity not in {"those", "them", "these", "it"}
        else old.entity,
        table=new.table or old.table,
        dates=new.dates or old.dates,
        comparisons=new.comparisons or old.comparisons,
        negated=tuple(dict.fromkeys(new.negated + old.negated)),
        ids=new.ids or old.ids,
        listing=new.listing or (old.listing and not new.aggregate),
    )
