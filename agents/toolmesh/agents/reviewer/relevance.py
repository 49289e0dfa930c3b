"""Does the evidence answer the question asked? The reviewer's per-part relevance checks.

Each part of the goal is read with the same question analysis the planner uses, then held against the
evidence its answer cites:

- SQL: the statement computes what was asked (COUNT for "how many", SUM/AVG/MIN/MAX, ORDER BY … LIMIT for
  a ranking, GROUP BY for "per"/"by"), honours each year, number and negation the part names, and the
  rows have the shape asked for (one value for a count, at most N rows for a top N);
  and the statement is about what the part is about (its words, or their synonyms, name the tables, columns
  and values the SQL uses);
- documents: the cited passages contain most of the part's content terms (and every quoted phrase), each
  year and number it names, a number when it asks to compute one, a duration for "how long"; a passage
  never answers a question about the database's own tables or a per-month breakdown;
- code: the symbol the part names is in the code evidence, of the kind asked ("which function" is not a
  field); without a named symbol the evidence covers half its words; code counts nothing; a callers
  question has callers;
- every answered part is cited in the answer; an answer whose citations point at evidence that does not
  cover the part is "fluent but irrelevant" and rejected.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from functools import lru_cache

from toolmesh.agents.analytic import asks_breakdown
from toolmesh.agents.evidence import Evidence
from toolmesh.agents.executor.results import StepResult
from toolmesh.agents.question import (
    ASKS_FOR_CODE,
    Part,
    analyse_resolved,
    asked_kind,
    code_words,
    content_terms,
    coverage,
    focus_terms,
    supported,
    terms_of,
    without_dates,
)
from toolmesh.agents.reviewer.verdict import Issue, ReviewPart
from toolmesh.agents.text2sql.money import asks_money, net_word
from toolmesh.protocols.lexicon import DEMONYMS, EN_RELATED, ZH_EN
from toolmesh.protocols.text import contains_cjk, segment

__all__ = ["code_problems", "concepts", "docs_problems", "relevance_issues", "sql_problems"]

_CITE = re.compile(r"\[(\d{1,3})\]")
_AGGREGATES = {"count": "COUNT(", "sum": "SUM(", "avg": "AVG("}
_COMPUTED = {"count", "sum", "avg", "min", "max", "top"}
# a condition that excludes: "not shipped", "never ordered", 没有付款, a 0/1 flag set to 0
_NEGATIVE_SQL = re.compile(r"!=|<>|\bNOT\b|=\s*0\b|\bIS\s+NULL\b|\bEXCEPT\b", re.IGNORECASE)
_ABOUT_SQL = 0.4  # share of a part's concepts the SQL must name (a question carries words of its telling)
_ABOUT_CODE = 0.5
_DURATION = re.compile(
    r"\d+(?:\s*(?:to|-|–|or)\s*\d+)?\s*(?:business\s+|working\s+|calendar\s+)?"
    r"(?:days?|weeks?|months?|years?|hours?|minutes?)\b|\d+\s*(?:个)?(?:工作日|天|周|小时|分钟|个月|年)",
    re.IGNORECASE,
)
_DATABASE_WORDS = re.compile(r"\b(?:tables?|rows?|columns?|database|schema)\b|数据库|表里|表中|多少行", re.I)


# "returned orders" and "payment methods" are shop vocabulary: alone, they do not make a question about code.
@lru_cache(maxsize=1)
def _code_only() -> frozenset[str]:
    return code_words() - set(content_terms("return returns returned method methods"))


_VALUE_WORD = re.compile(r"(?<=[a-z] )[A-Z][A-Za-z]+|(?<=[\u4e00-\u9fff])[A-Za-z]+")  # not sentence-initial
_UNITS = frozenset({"eur", "euro", "euros", "usd", "dollars", "%", "percent", "days", "units"})
_LOWEST = re.compile(r"\b(?:smallest|lowest|minimum|least|cheapest)\b|最低|最小|最少", re.I)
_HIGHEST = re.compile(r"\b(?:largest|highest|maximum|biggest|most expensive)\b|最高|最大|最多", re.I)
_DATE_COLUMN = re.compile(r"DATE|_AT\b|TIME|_ON\b|\bDAY", re.I)
_UNITS_ASKED = re.compile(r"\bhow many (?:units|items|pieces)\b|多少件", re.I)
_MONEY_COLUMN = re.compile(r"amount|price|total|revenue|value|paid|cost", re.I)
_PRICE = re.compile(r"price", re.I)
_PRICE_ASKED = re.compile(r"price|cost|expensive|cheap|价", re.I)
# an order line's money: its quantity times its unit price
_LINE_AMOUNT = re.compile(
    r"(?:quantity|qty)\w*\s*\*\s*[\w.]*price|price\w*\s*\*\s*[\w.]*(?:quantity|qty)", re.I
)
_ONE_LINE = re.compile(
    r"\b(?:order\s+)?lines?\b|\bsingle\s+order\b|\bone\s+order\b|\bin\s+one\s+go\b|单笔|一次", re.I
)
_QUARTER_SQL = re.compile(r"QUARTER|'-?Q'|\"Q\"|/\s*3\b|DIV\s+3\b", re.I)
_YES_NO = re.compile(
    r"^(?:is|are|was|were|does|do|did|can|could|has|have|will|should)\b|吗\s*[?？]?\s*$", re.I
)
_RELATIVE_TIME = re.compile(
    r"\b(?:last|this|next|past|previous)\s+(?:week|month|quarter|year)\b|\byesterday\b|\btoday\b"
    r"|上个月|上月|本月|这个月|去年|今年|上周|本周|昨天|今天",
    re.I,
)
# "how much have we sold", "how many invoices were settled": past events, counted from the records
_HAPPENED = re.compile(
    r"\b(?:have|has|had|did)\s+(?:we|they|customers|the shop|our customers)\b|\b(?:were|was)\s+\w+ed\b", re.I
)
_NUMBER_WORDS = (
    "one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|twenty|thirty|hundred|a few|several"
)
_NUMERAL = re.compile(r"\d+|[一二三四五六七八九十两几\d]+[位个名件种条家]?")


def concepts(text: str) -> dict[str, frozenset[str]]:
    """What ``text`` is about, one set of analysed forms per content word: the word and its synonyms in
    the shop vocabulary ("revenue" ~ amount, total; 收入 ~ revenue), so SQL naming either covers it."""
    out: dict[str, frozenset[str]] = {}
    text = without_dates(text)
    kept = set(content_terms(text)) if contains_cjk(text) else set()  # what the whole text is about
    for word in segment(re.sub(r"(?<=[A-Za-z])-(?=[A-Za-z])", "", text)):  # e-mail → email
        own = content_terms(word)
        key = word.lower()
        if not own or _NUMERAL.fullmatch(key) or key in out:
            continue
        if contains_cjk(key) and kept and not any(t in kept or any(t in k for k in kept) for t in own):
            continue  # a function word of the sentence (时候 of 的时候)
        forms = set(own)
        zh = [e for k, english in ZH_EN.items() if len(k) >= 2 and k in key for e in english]
        for alt in (*ZH_EN.get(key, ()), *zh, *EN_RELATED.get(key, ()), *DEMONYMS.get(key, ())):
            forms.update(terms_of(alt))
        out[key] = frozenset(forms)
    return out


def _names(word: str, forms: frozenset[str], named: set[str], sql: str) -> bool:
    """Whether the SQL names ``word``: one of its forms, inside an identifier ("mail" in email) or as
    written ("PayPal" in 'paypal')."""
    return bool(
        forms & named
        or any(len(f) >= 4 and f in n for f in forms for n in named)
        or (len(word) >= 3 and word in sql.lower())
    )


def _about(part: Part, sql: str, asked: str) -> list[str]:
    """Problems when the SQL names too little of what ``asked`` is about (or not the part's measure or
    group); for a follow-up, ``asked`` is its own words (the earlier turn passed review already)."""
    named = set(terms_of(" ".join(re.findall(r"[A-Za-z_][A-Za-z0-9_]*|'[^']*'", sql))))
    wanted = concepts(asked)
    line = bool(_LINE_AMOUNT.search(sql))  # quantity × unit price names money, net of tax
    missing = [
        w
        for w, forms in wanted.items()
        if not _names(w, forms, named, sql) and not (line and (asks_money(w) or net_word(w)))
    ]
    problems: list[str] = []
    if len(wanted) >= 2 and (len(wanted) - len(missing)) / len(wanted) < _ABOUT_SQL:
        problems.append(f"the SQL is not about {', '.join(missing[:5])}")
    a = part.analytic
    for role, phrase in (("measure", a.measure), ("grouping", a.group)):
        if phrase and contains_cjk(phrase):  # 方式 of 支付方式: with the word the question put before it
            words = segment(asked)
            at = next((i for i, w in enumerate(words) if phrase in w), None)
            if at:
                phrase = words[at - 1] + words[at] if contains_cjk(words[at - 1]) else words[at]
        head = list(concepts(phrase or "").items())
        # the head noun names it ("customer segment"); a Chinese word any of its parts (支付|方式)
        heads = head if phrase and contains_cjk(phrase) else head[-1:]
        if (
            head
            and not any(_names(w, f, named, sql) for w, f in heads)
            and not (role == "grouping" and _literal_in(phrase or "", sql))
            and not (role == "measure" and asks_money(phrase or "") and _LINE_AMOUNT.search(sql))
        ):
            problems.append(f"it asks about {phrase} ({role}), which the SQL does not use")
    return problems


def _literal_in(phrase: str, sql: str) -> bool:
    """Whether ``phrase`` is one of the SQL's string literals ("bank transfer" ~ 'bank_transfer')."""
    wanted = re.sub(r"[\s_-]+", " ", phrase.lower()).strip()
    return any(
        re.sub(r"[\s_-]+", " ", lit.lower()).strip() == wanted for lit in re.findall(r"'([^']*)'", sql)
    )


def sql_problems(part: Part, sql: str, rows: list[list[object]], resolved: str = "") -> list[str]:
    """What keeps ``sql`` and its ``rows`` from answering ``part`` (empty when nothing does); ``resolved``
    is the part as the planner resolved it ("earlier question → follow-up")."""
    problems: list[str] = []
    upper = sql.upper()
    a = part.analytic
    ask = part.ask
    accepted = (
        ("COUNT(", "SUM(") if ask == "count" else (_AGGREGATES.get(ask, "?"),)
    )  # "how many units": a sum
    # "how many Travel Yoga Mats are in stock": the named row's own number, read, not computed
    where = _where(upper)
    pinned = bool(re.search(r"\b(?:\w+\.)?\w*_?ID\s*=\s*\d+\b", where)) and " JOIN " not in upper
    # … and "the total on invoice 250": that one row's amount
    named_row = (ask == "count" and bool(_NAMED_ROW.search(where))) or (
        ask in {"count", "sum", "avg"} and pinned
    )
    if (
        ask in _AGGREGATES
        and not any(f in upper for f in accepted)
        and "GROUP BY" not in upper
        and not named_row
    ):
        problems.append(f"it asks for a {ask}, and the SQL computes none")
    if ask in {"max", "min"} and not (f"{ask.upper()}(" in upper or "ORDER BY" in upper):
        problems.append(
            f"it asks for the {'highest' if ask == 'max' else 'lowest'} value, and the SQL ranks nothing"
        )
    both = _LOWEST.search(part.text) and _HIGHEST.search(part.text)
    if both and not ("MIN(" in upper and "MAX(" in upper):
        problems.append("it asks for both the lowest and the highest value, and the SQL computes not both")
    if a.negated and not _NEGATIVE_SQL.search(sql):
        problems.append(f"it asks about what is not {a.negated[0]}, and the SQL has no negative condition")
    if ask == "top" and ("ORDER BY" not in upper or "LIMIT" not in upper):
        problems.append("it asks for a ranking, and the SQL neither orders nor limits")
    grouped_by_value = a.group is not None and _literal_in(a.group, sql)  # "paid by paypal": a filter
    if (
        (a.group or a.time_group)
        and not grouped_by_value
        and "GROUP BY" not in upper
        and "ORDER BY" not in upper
    ):
        problems.append(f"it asks per {a.group or a.time_group}, and the SQL does not group")
    elif a.time_group == "quarter" and not _QUARTER_SQL.search(sql):
        problems.append("it asks per quarter, and the SQL buckets by no quarter")
    for date in a.dates:
        years = {y for y in re.findall(r"\d{4}", f"{date.start or ''} {date.end or ''}")}
        if years and not any(y in sql for y in years):
            problems.append(f"it names {date.label!r}, which the SQL does not filter on")
    for comparison in a.comparisons:
        if f"{comparison.value:g}" not in sql:
            problems.append(f"it compares with {comparison.value:g}, which the SQL does not")
    for _, number in a.ids:
        if str(number) not in sql:
            problems.append(f"it names {number}, which the SQL does not use")
    if a.negated and not re.search(r"!=|<>|\bNOT\b", upper):
        problems.append(f"it excludes {', '.join(a.negated)}, and the SQL excludes nothing")
    for quoted in part.quoted:
        if quoted.lower() not in sql.lower():
            problems.append(f"it names {quoted!r}, which the SQL does not use")
    # "a breakdown … how many are placed, shipped, delivered": one count per value listed
    per_value = "GROUP BY" in upper and (bool(re.search(r"\bIN\s*\(", upper)) or asks_breakdown(part.text))
    if (
        ask in {"count", "sum", "avg"}
        and not (a.group or a.time_group or a.listing or per_value)
        and len(rows) > 1
    ):
        problems.append(f"it asks for one {ask}, and {len(rows)} rows came back")
    if rows and all(cell is None for cell in rows[0]) and len(rows) == 1:
        problems.append("the SQL computed nothing: no rows matched (report that, not an empty value)")
    lists_all = not re.search(
        r"\b(?:WHERE|GROUP BY|COUNT|SUM|AVG|MIN|MAX)\b|\bORDER BY\b.*\bLIMIT [0-9]\b", upper
    )
    if lists_all and len(rows) > 1 and not a.listing and ask not in {"list", "top"}:
        problems.append(f"it asks for one thing, and the SQL lists {len(rows)} rows of the table")
    ranked_line = re.search(r"\bORDER BY\s+(?:\w+\.)?(?:QUANTITY|QTY|UNITS)\b", upper)
    if ask == "top" and ranked_line and "GROUP BY" not in upper and not _ONE_LINE.search(part.text):
        problems.append(
            "it ranks single lines by their quantity; what sells most is the quantity summed per item "
            "(grouped), not the largest line"
        )
    if ask == "top" and a.limit and len(rows) > a.limit:
        problems.append(f"it asks for the top {a.limit}, and {len(rows)} rows came back")
    follow_up = resolved.rsplit(" → ", 1)[-1] if " → " in resolved else ""
    asked_now = (follow_up or part.text).strip().lower()
    if follow_up:  # "那VIP客户呢？": the value a follow-up swaps in must be in the SQL
        for value in _VALUE_WORD.findall(follow_up):
            named = [value, *DEMONYMS.get(value.lower(), ())]  # "Italian" ~ 'Italy'
            if not any(n.lower() in sql.lower() for n in named) and value.lower() not in {"sql", "id"}:
                problems.append(f"the follow-up asks about {value}, which the SQL does not use")
    selected = upper.split(" FROM ", 1)[0]
    if (asked_now.startswith("who ") or "是谁" in asked_now) and "NAME" not in selected:
        problems.append("it asks who, and the SQL selects no name")
    averaged = re.findall(r"AVG\(([^)]*)\)", selected)
    measure = (a.measure or "") if ask == "avg" else ""
    if measure and any(_PRICE.search(s) for s in averaged) and not _PRICE_ASKED.search(measure):
        problems.append(f"it asks for the average {measure}, and the SQL averages a price per unit")
    shaped = _shape(asked_now, upper, selected, len(rows)) + _echo(asked_now, sql)
    return problems + shaped + _about(part, sql, follow_up or part.text)


_SELECT_LIST = re.compile(r"^\s*SELECT\s+(?:DISTINCT\s+)?(.*?)\s+FROM\s", re.IGNORECASE | re.DOTALL)
_PLAIN_COLUMN = re.compile(r"((?:[A-Za-z_]\w*\.)?[A-Za-z_]\w*)(?:\s+AS\s+\w+)?", re.IGNORECASE)
_EQUALS = re.compile(r"((?:[A-Za-z_]\w*\.)?[A-Za-z_]\w*)\s*=\s*(?:'[^']*'|-?\d+(?:\.\d+)?)", re.IGNORECASE)


def _where(sql: str) -> str:
    """The statement's text after its first WHERE ("" without one): its conditions."""
    parts = re.split(r"\bWHERE\b", sql, maxsplit=1, flags=re.IGNORECASE)
    return parts[1] if len(parts) == 2 else ""


def _same_column(a: str, b: str) -> bool:
    """``products.name`` and ``name`` may be one column; ``products.name`` and ``categories.name`` are not."""
    if "." in a and "." in b:
        return a == b
    return a.rsplit(".", 1)[-1] == b.rsplit(".", 1)[-1]


def _echo(asked: str, sql: str) -> list[str]:
    """Rows that only repeat what the question gave ("what do we charge for the Classic Kettle" answered
    with its name) answer nothing; a yes-or-no question is answered by whether a row exists."""
    found = _SELECT_LIST.match(sql)
    if not found or _YES_NO.search(asked):
        return []
    columns = [c.strip() for c in found.group(1).split(",")]
    plain = [m.group(1).lower() for c in columns if (m := _PLAIN_COLUMN.fullmatch(c))]
    if not plain or len(plain) < len(columns):
        return []  # something computed or selected whole
    given = [m.group(1).lower() for m in _EQUALS.finditer(_where(sql))]
    if all(any(_same_column(c, g) for g in given) for c in plain):
        shown = ", ".join(c.rsplit(".", 1)[-1] for c in plain)
        return [f"the SQL selects only {shown}, which the question itself gave: nothing it asked"]
    return []


_NAMED_ROW = re.compile(r"\b(?:\w+\.)?(?:NAME|TITLE|SKU|EMAIL|FIRST_NAME|LAST_NAME)\s*=\s*'")
# a creation date filtered: right for "customers who signed up in 2024", not for "orders returned in 2024"
_SIGNUP_FILTER = re.compile(
    r"\b((?:\w+\.)?(?:CREATED|REGISTERED|SIGNED_UP|SIGNUP|JOINED)(?:_AT|_ON|_DATE)?)\s*(?:>=|>|<=|<|=|BETWEEN)"
)
_SIGNUP_WORDS = re.compile(
    r"\b(?:join(?:ed|s)?|sign(?:ed|s)?[ -]?ups?|regist\w*|new\s+(?:customers?|accounts?|clients?)|created"
    r"|account\w*\s+(?:opened|made)|opened\s+(?:an?\s+)?accounts?|became)\b|注册|新客户|加入|开户|创建",
    re.IGNORECASE,
)


def _shape(asked: str, upper: str, selected: str, rows: int) -> list[str]:
    """What the wording asks the result to be, against what the SQL selects."""
    problems: list[str] = []
    if re.search(r"\bwhen\b|什么时候|哪天|何时", asked) and not _DATE_COLUMN.search(selected):
        problems.append("it asks when, and the SQL selects no date")
    if _UNITS_ASKED.search(asked) and "COUNT(" in selected and "SUM(" not in selected:
        problems.append("it asks how many units (a quantity), and the SQL counts rows")
    summed = re.findall(r"SUM\(([^)]*)\)", selected)
    money = asks_money(asked)
    if money and summed and not any(_MONEY_COLUMN.search(s) for s in summed):
        problems.append("it asks for an amount of money, and the SQL sums no amount, price or total")
    if money and any(_PRICE.search(s) and "*" not in s for s in summed):
        problems.append(
            "it asks for an amount of money, and the SQL adds up prices per unit, not quantity × price"
        )
    computed = re.search(r"\b(?:COUNT|SUM|AVG|MIN|MAX)\(", selected)
    if money and not computed and not _MONEY_COLUMN.search(selected):
        problems.append("it asks for an amount of money, and the SQL selects none")
    listing = not re.search(r"\b(?:COUNT|SUM|AVG|MIN|MAX)\(", selected)
    if _YES_NO.search(asked) and listing and rows > 1:
        problems.append("it asks yes or no, and the SQL lists rows")
    if (
        "COUNT(" in selected
        and " JOIN " not in upper
        and _NAMED_ROW.search(_where(upper))
        and not re.search(r"\b(?:named|called|with the name|titled)\b|叫", asked)
    ):
        problems.append(
            "it counts the rows a name picks out, which is 1 by construction: the number asked for is a "
            "column of that row (a stock, a quantity)"
        )
    signed_up = _SIGNUP_FILTER.search(_where(upper))
    if signed_up and " JOIN " in upper and not _SIGNUP_WORDS.search(asked):
        problems.append(
            f"it filters the period on {signed_up.group(1).lower()} (when the row was created), and the "
            "question names no sign-up: the period belongs to what it counts (the orders' own date)"
        )
    dated = " WHERE " in f" {upper} " and re.search(r"DATE|_AT\b|TIME|DAY|\d{4}-\d{2}", upper)
    if _RELATIVE_TIME.search(asked) and not dated:
        problems.append("it names a period relative to today, and the SQL filters on no date")
    return problems


def docs_problems(part: Part, text: str) -> list[str]:
    """What keeps cited passages (``text``: their headings and words) from answering ``part``."""
    problems: list[str] = []
    terms = [t for t in focus_terms(part) if not t.isdigit()]
    if not supported(terms, text):
        missing = [t for t in terms if coverage([t], text) == 0]
        problems.append(f"the cited passages do not cover it (missing: {', '.join(missing[:6])})")
    for quoted in part.quoted:
        if quoted.lower() not in text.lower():
            problems.append(f"no cited passage contains {quoted!r}")
    a = part.analytic
    numbers = [y for d in a.dates for y in re.findall(r"\d{4}", d.label)]  # as named, not the range's end
    numbers += [str(n) for _, n in a.ids]
    for name in dict.fromkeys(_VALUE_WORD.findall(part.text)):  # "parcels going to Germany"
        if not re.search(rf"(?i)\b{re.escape(name)}", text):
            problems.append(f"it names {name}, which no cited passage does")
    for number in dict.fromkeys(numbers):
        if not re.search(rf"(?<!\d){number}(?!\d)", text):
            problems.append(f"it names {number}, which no cited passage does")
    if ASKS_FOR_CODE.search(part.text):
        problems.append("it asks for a piece of code, and a document passage is not code")
    if _DATABASE_WORDS.search(part.text):
        problems.append("it asks about the database itself, which a document passage cannot show")
    elif a.time_group or (a.group and part.ask in _COMPUTED) or (part.ask == "top" and (a.limit or 1) > 1):
        problems.append(f"it asks per {a.time_group or a.group}, which a document passage does not compute")
    elif part.ask in {"count", "sum", "avg"} and _HAPPENED.search(part.text):
        problems.append(
            "it asks for a total of what happened (the records), which a passage does not compute"
        )
    elif a.listing and any(c.phrase and c.phrase not in _UNITS for c in a.comparisons):
        problems.append("it asks for the rows whose count passes a limit, which a passage does not compute")
    elif part.ask in _COMPUTED and not re.search(
        rf"\d|[一二三四五六七八九十百千]|\b(?:{_NUMBER_WORDS})\b", text, re.I
    ):
        problems.append("it asks for a number, and no cited passage has one")
    counted = (a.entity or "").split()[-1:] if part.ask == "count" and part.lang == "en" else []
    if counted and not re.search(
        rf"(?i)\b(?:\d+|{_NUMBER_WORDS})\s+(?:[\w-]+\s+){{0,2}}{counted[0][:5]}", text
    ):
        problems.append(f"it asks how many {a.entity}, and no cited passage gives a number of them")
    if re.search(r"\bhow long\b|多久|多长时间|几天", part.text, re.I) and not _DURATION.search(text):
        problems.append("it asks how long, and no cited passage gives a duration")
    return problems


def code_problems(part: Part, items: Sequence[Evidence], steps: Sequence[StepResult]) -> list[str]:
    """What keeps the code evidence ``items`` (and their ``steps``) from answering ``part``."""
    problems: list[str] = []
    text = " ".join(f"{e.source} {e.text} {e.data.get('symbol') or ''}" for e in items)
    named = [] if part.traceback else list(part.identifiers)
    for identifier in named:
        if identifier.split(".")[-1] not in text:
            problems.append(f"the code evidence does not show `{identifier}`")
    asked = ASKS_FOR_CODE.search(part.text)
    wanted = asked_kind(part.text)
    kinds = {str(e.data["symbol_kind"]) for e in items if e.data.get("symbol_kind")}
    if wanted and kinds and not kinds & set(wanted[1]):
        problems.append(f"it asks for a {wanted[0]}, and the code evidence shows {', '.join(sorted(kinds))}")
    about_code = bool(asked or set(part.terms) & _code_only())
    if not named and not part.traceback and not about_code:  # a data or docs question answered by code
        if part.ask in {"count", "sum", "avg"}:
            problems.append(f"it asks for a {part.ask} of data, which code does not compute")
        terms = [t for t in part.terms if t not in code_words() and not t.isdigit()]
        shown = set(terms_of(text))
        if terms and sum(1 for t in terms if t in shown) / len(terms) < _ABOUT_CODE:
            missing = ", ".join(t for t in terms if t not in shown)
            problems.append(f"the code evidence is not about {missing[:80]}")
    if part.ask == "callers" and not any(
        isinstance(r.structured, Mapping) and "callers" in r.structured for r in steps
    ):
        problems.append("it asks who calls it, and the evidence lists no callers")
    return problems


def _part_for(text: str, parts: Sequence[ReviewPart]) -> ReviewPart | None:
    return next((p for p in parts if p.text.strip() == text.strip()), None)


def relevance_issues(
    goal: str,
    answer: str,
    parts: Sequence[ReviewPart],
    results: Sequence[StepResult],
    evidence: Sequence[Evidence],
) -> list[Issue]:
    """Per-part relevance problems of ``answer`` (see the module docs); empty when every part is met."""
    if not parts:
        return []
    issues: list[Issue] = []
    cited = {int(n) for n in _CITE.findall(answer)}
    by_step: dict[str, list[Evidence]] = {}
    for item in evidence:
        by_step.setdefault(item.step_id, []).append(item)
    results_by_id = {r.step_id: r for r in results}
    for given in parts:
        label = f"{given.index + 1} ({given.text[:80]!r})"
        if given.status != "answered":
            issues.append(
                Issue(
                    code="unanswered",
                    severity="warning",
                    message=f"part {label} is not answered: {given.reason or given.status}",
                )
            )
            continue
        part = analyse_resolved(given.text)
        mine = [e for s in given.step_ids for e in by_step.get(s, [])]
        if not mine:
            issues.append(
                Issue(
                    code="not_addressed", severity="error", message=f"part {label} has no evidence behind it"
                )
            )
            continue
        shown = [e for e in mine if e.n in cited]
        if not shown:
            issues.append(
                Issue(
                    code="not_addressed",
                    severity="error",
                    message=f"part {label}: the answer cites none of its evidence "
                    f"({', '.join(f'[{e.n}]' for e in mine[:5])})",
                )
            )
            continue
        kinds = {e.kind for e in shown}
        problems: list[str] = []
        if "rows" in kinds:
            for item in [e for e in shown if e.kind == "rows"][:1]:
                sql = str(item.data.get("sql") or given.sql or "")
                rows = [r for r in item.data.get("rows") or [] if isinstance(r, list)]
                found = sql_problems(part, sql, rows, given.text) if sql else []
                problems += [f"part {label}: {p}" for p in found]
        elif "citation" in kinds:
            text = " ".join(f"{' '.join(e.data.get('headings') or [])} {e.text}" for e in shown)
            problems += [f"part {label}: {p}" for p in docs_problems(part, text)]
        elif "code" in kinds:
            steps = [results_by_id[s] for s in given.step_ids if s in results_by_id]
            problems += [f"part {label}: {p}" for p in code_problems(part, mine, steps)]
        issues += [Issue(code="wrong_shape", severity="error", message=m) for m in problems]
    return issues
