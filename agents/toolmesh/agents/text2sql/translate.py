"""Deterministic text-to-SQL over a linked schema, for the common analytic shapes, English and Chinese.

:func:`translate` maps a question part's analytic shape (:mod:`toolmesh.agents.analytic`) onto the schema:
what is counted (a table) or measured (a numeric column), what it is grouped or ranked by (a table's label
columns, a column, a time bucket), and its filters (values found by value linking, date ranges on the
right date column, ids, comparisons, negations). Joins follow foreign keys (:func:`~.frame.render`).

Candidate readings are tried best first, and the first one that honours every condition of the question
wins ("total revenue in 2024" skips a revenue column with no date to filter on). It is honest about its
reach: every content word must be accounted for by the frame, and the share that is (``confidence``) goes
to the planner, which prefers another source or asks when it is low. Two equally good readings ("revenue
from invoices or from order lines?") come back as an ``ambiguity`` with the candidates, never as a guess.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from typing import Literal

from toolmesh.agents.analytic import asks_breakdown
from toolmesh.agents.question import Part, content_terms
from toolmesh.agents.text2sql.frame import ColumnRef, Filter, Frame, render
from toolmesh.agents.text2sql.linking import Linker, Match, words_of
from toolmesh.agents.text2sql.money import asks_money, asks_net, gross, line_amount, net_word, unit_price
from toolmesh.agents.text2sql.schema import Schema, Table
from toolmesh.agents.text2sql.values import ValueHit
from toolmesh.protocols.lexicon import ZH_EN
from toolmesh.protocols.text import contains_cjk

__all__ = ["Translation", "translate"]

# Words a question may use that need no schema element (verbs of being, coming and placing).
_CREATION = frozenset(
    [
        "placed",
        "made",
        "created",
        "submitted",
        "ordered",
        "issued",
        "registered",
        "signed",
        "opened",
        "开",
        "开具",
        "开出",
        "下单",
        "创建",
        "注册",
    ]
)
_MONEY_COLUMN = re.compile(r"amount|total|price|revenue|value", re.I)
_AMBIGUOUS_MARGIN = 0.03
_MONEY = frozenset({"eur", "euro", "euros", "€", "usd", "dollars", "$", "欧元", "美元", "元"})
_NEGATION = re.compile(r"\b(?:never|no|without|not|none)\b|n't\b|没有|从未|未|无", re.IGNORECASE)


@dataclass(slots=True)
class Translation:
    frame: Frame | None = None
    sql: str | None = None
    confidence: float = 0.0
    unresolved: list[str] = field(default_factory=list)
    mapping: list[str] = field(default_factory=list)
    ambiguity: list[str] = field(default_factory=list)
    reason: str | None = None
    replaced: list[str] = field(default_factory=list)  # earlier-turn values a follow-up replaced
    accounted: list[str] = field(default_factory=list)  # the question's words the SQL puts to use


@dataclass(frozen=True, slots=True)
class _Target:
    """A reading of what the question computes over: a measured column, or the rows of a table."""

    kind: Literal["measure", "rows", "lookup"]  # lookup: a named row's column, shown as it is
    table: str
    column: str | None
    terms: frozenset[str]


def _listed(a: str, b: str, text: str) -> bool:
    """Whether the phrases ``a`` and ``b`` stand in one list ("placed, shipped or delivered")."""
    words = [w.strip("'\"") for w in re.findall(r"[^\W_]+|[,/、]", text.lower())]
    first = [i for i, w in enumerate(words) if w == a.split()[-1]]
    second = [i for i, w in enumerate(words) if w == b.split()[0]]
    joiners = {",", "/", "、", "and", "or", "nor", "und", "和", "或"}
    return any(0 < j - i <= 4 and all(w in joiners for w in words[i + 1 : j]) for i in first for j in second)


def _either(filters: list[Filter], text: str) -> list[Filter]:
    """Several values listed for one column are alternatives ("placed, shipped or delivered"): one IN
    condition, never a conjunction no row can meet."""
    out: list[Filter] = []
    for f in filters:
        same = next(
            (
                o
                for o in out
                if o.column == f.column
                and o.op in {"=", "in"}
                and f.op == "="
                and _listed(o.words.split()[-1] if o.op == "in" else o.words, f.words, text)
            ),
            None,
        )
        if same is None:
            out.append(f)
            continue
        values = same.value if same.op == "in" else [same.value]
        if f.value not in values:
            out[out.index(same)] = Filter(
                column=f.column, op="in", value=[*values, f.value], words=f"{same.words} {f.words}"
            )
    return out


def _named_rows(table: Table) -> bool:
    """Whether a person can tell the table's rows apart by a label (a name, a title), not only an id."""
    return table.labels() != table.primary_key[:1]


def _words(part: Part) -> list[str]:
    """The content words of the part, as linking reads them (surface English words, jieba Chinese)."""
    if part.lang == "zh":
        return [t for t in part.terms if not t.isdigit()]
    return [w for w in part.words if content_terms(w) and not w.isdigit()]


def _renders(chinese: str, english: Collection[str]) -> bool:
    """Whether the shared lexicon renders the Chinese word ``chinese`` as one of ``english``."""
    wanted = {w.lower() for w in english}
    return any(
        (key in chinese or chinese in key) and any(e.lower() in wanted for e in words)
        for key, words in ZH_EN.items()
    )


class _Builder:
    def __init__(
        self, part: Part, schema: Schema, hits: Sequence[ValueHit], earlier: Collection[str] = ()
    ) -> None:
        self.part = part
        self.earlier = set(earlier)  # "table.column" an earlier turn filtered on
        self.a = part.analytic
        self.schema = schema
        self.linker = Linker(schema)
        self.hits = list(hits)
        self.words = _words(part)
        self.used: set[str] = set()
        self.mapping: list[str] = []
        self.ambiguity: list[str] = []
        self.group_words = self._group_words()
        self.replaced: list[str] = []

    # --- bookkeeping ----------------------------------------------------------------------------

    def use(self, words: Collection[str], what: str | None = None) -> None:
        fresh = [w for w in words if w not in self.used]
        self.used.update(words)
        if self.part.lang == "zh":  # the Chinese words whose English renderings were used
            self.used.update(
                t
                for t in self.words
                if t in words
                or _renders(t, words)
                or (contains_cjk(t) and any(len(t) > 1 and t in w for w in words))  # not "vip" in 那vip客户呢
            )
        if what and fresh:
            self.mapping.append(f"{' '.join(fresh)!r} → {what}")

    def free(self, words: Sequence[str] | None = None) -> list[str]:
        return [w for w in (self.words if words is None else words) if w not in self.used]

    def _group_words(self) -> list[str]:
        if not self.a.group:
            return []
        words = words_of(self.a.group) if self.part.lang == "en" else [self.a.group]
        valued = {h.words for h in self.hits}
        if " ".join(words).lower() in valued or all(w.lower() in valued for w in words):
            return []  # "paid by paypal": a value to filter on, not something to group by
        return words

    def table_for(self, words: Sequence[str]) -> Match | None:
        found = self.linker.tables(words)
        return found[0] if found else None

    def numeric(self, words: Sequence[str], context: Sequence[str]) -> list[Match]:
        return self.linker.columns(
            words, where=lambda t, c: c.numeric and not c.id_like and not c.flag_like, context=context
        )

    def note_ambiguity(self, matches: Sequence[Match]) -> None:
        if len(matches) < 2 or matches[0].table == matches[1].table or self.ambiguity:
            return
        if matches[0].score - matches[1].score <= _AMBIGUOUS_MARGIN * max(matches[0].score, 1e-9):
            self.ambiguity = [f"{m.table}.{m.column}" for m in matches[:3] if m.score >= matches[1].score]

    # --- readings -------------------------------------------------------------------------------

    def _measure_words(self) -> list[str]:
        if not self.a.measure:
            return []
        return words_of(self.a.measure) if self.part.lang == "en" else [self.a.measure]

    def targets(self) -> list[_Target]:
        return self._money(self._readings())

    def _money(self, targets: list[_Target]) -> list[_Target]:
        """Readings for money asked for as a sum or a ranking: order lines' quantity × unit price is one
        (first when net of tax is asked, when a column including tax is no reading), a per-unit list
        price summed is none."""
        ask, text = self.part.ask, self.part.text
        summed = ask in {"sum", "top"} or (bool(self.group_words) and ask not in {"avg", "min", "max"})
        if not summed or not asks_money(text):
            return targets
        net = asks_net(text)
        words = frozenset(w for w in self.words if asks_money(w) or (net and net_word(w)))
        lines = [
            _Target("measure", t.name, pair[1].name, words)
            for t in self.schema.tables.values()
            if (pair := line_amount(t)) is not None
        ]

        def kept(t: _Target) -> bool:
            if t.kind != "measure" or t.column is None:
                return True
            column = self.schema.tables[t.table].column(t.column)
            if column is None:
                return True
            if net and gross(column):
                return False
            line = line_amount(self.schema.tables[t.table])
            if line is not None and column is line[0]:  # a line's quantity counts units, not money
                return False
            return not unit_price(column) or line is not None

        rest = [t for t in targets if kept(t) and t not in lines]
        readings = {f"{t.table}.{t.column}" for t in rest if t.kind == "measure"}
        still = [a for a in self.ambiguity if a in readings]  # a quantity or a list price is no reading
        self.ambiguity = still if len(still) >= 2 and not net else []
        if net:
            return [*lines, *rest]
        at = max((i + 1 for i, t in enumerate(rest) if t.kind == "measure"), default=0)
        return [*rest[:at], *lines, *rest[at:]]

    def _readings(self) -> list[_Target]:
        a, ask = self.a, self.part.ask
        free = [w for w in self.words if w not in self.group_words]
        mwords = self._measure_words()
        out: list[_Target] = []
        if ask in {"sum", "avg", "min", "max"} or (ask == "top" and not self.group_words):
            columns = self.numeric(mwords, context=free) if mwords else []
            columns = columns or self.numeric(free, context=free)
            self.note_ambiguity(columns)
            out += [_Target("measure", m.table, m.column, m.terms) for m in columns[:3]]
            table = self.table_for(free) if not columns and ask in {"sum", "avg"} else None
            if table is not None:  # "what do the card payments add up to": the table's one amount column
                money = [
                    c
                    for c in self.schema.tables[table.table].columns
                    if c.numeric and not c.id_like and _MONEY_COLUMN.search(c.name)
                ]
                if len(money) > 1:  # "the total on invoice 250": the amount column the question says
                    said = set(re.findall(r"[a-z]+", self.part.text.lower()))
                    money = [c for c in money if said & set(c.name.lower().split("_"))] or money
                if len(money) == 1:
                    out.append(_Target("measure", table.table, money[0].name, table.terms))
            if ask == "top" and not columns:
                table = self.table_for(free)
                if table is not None:
                    out.append(_Target("rows", table.table, None, table.terms))
            return out
        if ask == "top" or (self.group_words and mwords):
            pool = mwords or [w for w in free if w not in self.group_words]
            table = self.table_for(pool)
            columns = self.numeric(pool, context=free)
            measured = [_Target("measure", m.table, m.column, m.terms) for m in columns[:3]]
            counted = [_Target("rows", table.table, None, table.terms)] if table is not None else []
            # "which payment method do customers use most": failing all else, the rows of the grouped table
            grouped = self.table_for(self.group_words) if ask == "top" and self.group_words else None
            if grouped is not None and all(t.table != grouped.table for t in counted):
                counted.append(_Target("rows", grouped.table, None, grouped.terms))
            if columns and (
                table is None or columns[0].score > table.score or columns[0].table == table.table
            ):
                self.note_ambiguity(columns)
                return measured + counted
            return counted + measured
        entity = (words_of(a.entity) if self.part.lang == "en" else [a.entity]) if a.entity else []
        if ask == "count" and entity and not a.distinct:
            # "how many units were sold": a quantity column, summed, not a count of rows
            columns = self.numeric(entity, context=free)
            tables = self.linker.tables(entity)
            raw = self.linker.score(entity, (columns[0].table, columns[0].column))[0] if columns else 0.0
            if columns and (not tables or tables[0].score < 0.8 * raw):
                out += [_Target("measure", m.table, m.column, m.terms) for m in columns[:2]]
        if ask == "count" and not a.distinct:
            out += self._quantity_of_named_rows(free)
        if a.table and a.table in self.schema.tables:
            out.append(_Target("rows", a.table, None, frozenset(self.words) & frozenset(words_of(a.table))))
        entity_words = (words_of(a.entity) if self.part.lang == "en" else [a.entity]) if a.entity else []
        for match in self.linker.tables(entity_words)[:2] if entity_words else []:
            out.append(_Target("rows", match.table, None, match.terms))
        for match in self.linker.tables(free)[:3]:
            if all(t.table != match.table for t in out):
                out.append(_Target("rows", match.table, None, match.terms))
        for hit in self.hits:  # "Chloe Perlman's e-mail": the table that holds the names asked about
            if all(t.table != hit.column.table for t in out):
                out.append(_Target("rows", hit.column.table, None, frozenset()))
        if ask == "count" and entity and _MONEY_COLUMN.search(" ".join(entity)):
            # "revenue per month": an amount to add up, when no table of that name can be counted so
            out += [
                _Target("measure", m.table, m.column, m.terms) for m in self.numeric(entity, context=free)[:2]
            ]
        return out

    def _quantity_of_named_rows(self, free: Sequence[str]) -> list[_Target]:
        """ "How many Travel Yoga Mats are in stock": rows named by their label hold the number asked
        for in a column the question names (stock); counting them would say 1 by construction."""
        named = {
            h.column.table
            for h in self.hits
            if h.column.table in self.schema.tables
            and h.column.column in {c.name for c in self.schema.tables[h.column.table].labels()}
        }
        words = [w for w in free if not any(w in h.words.split() for h in self.hits)]
        for match in self.numeric(words, context=free) if named and words else []:
            if match.table in named and match.score >= 0.5:
                return [_Target("lookup", match.table, match.column, match.terms)]
        return []

    # --- parts of a frame -----------------------------------------------------------------------

    def date_column(self, base: Table) -> ColumnRef | None:
        for ref in sorted(self.earlier):  # a follow-up keeps the date its earlier turn filtered on
            table, _, name = ref.partition(".")
            column = self.schema.tables[table].column(name) if table in self.schema.tables else None
            if column is not None and column.date_like and self.schema.path(base.name, table) is not None:
                return ColumnRef(table=table, column=name)
        named = self.linker.columns(self.free(), where=lambda t, c: c.date_like, near=[base.name])
        reachable = [m for m in named if self._parent_path(base.name, m.table)]
        if reachable and reachable[0].score >= 0.3:
            self.use(reachable[0].terms, f"{reachable[0].table}.{reachable[0].column}")
            return ColumnRef(table=reachable[0].table, column=str(reachable[0].column))
        own = [
            c for c in base.columns if c.date_like and not c.name.startswith(("due", "updated", "deleted"))
        ]
        if own:
            return ColumnRef(table=base.name, column=own[0].name)
        # the nearest table each base row belongs to: an order line's date is its order's, not its
        # customer's sign-up date
        owners = sorted(
            (len(self.schema.path(base.name, t.name) or ()), i, t.name, dates[0].name)
            for i, t in enumerate(self.schema.tables.values())
            if t.name != base.name
            and self._parent_path(base.name, t.name)
            and (dates := [c for c in t.columns if c.date_like])
        )
        return ColumnRef(table=owners[0][2], column=owners[0][3]) if owners else None

    def _dated_child(self, base: Table) -> Table | None:
        """The table of the events a date range is about, when they are rows belonging to ``base`` (the
        orders of "customers who ordered in 2025"), not ``base``'s own date (a customer's sign-up)."""
        if not self.a.dates:
            return None
        named = self.linker.columns(self.free(), where=lambda t, c: c.date_like, near=[base.name])
        if not named or named[0].table == base.name or named[0].score < 0.5:
            return None
        child = self.schema.tables[named[0].table]
        own = [m for m in named if m.table == base.name or self._parent_path(base.name, m.table)]
        if own and own[0].score >= named[0].score:
            return None
        return child if self._parent_path(child.name, base.name) else None

    def _parent_path(self, start: str, goal: str) -> bool:
        path = self.schema.path(start, goal)
        return path is not None and all(up for _, _, up in path)

    def date_filters(self, base: Table) -> list[Filter] | str:
        if not self.a.dates:
            return []
        column = self.date_column(base)
        labels = ", ".join(r.label for r in self.a.dates)
        if column is None:
            return f"no date column of {base.name} (or the tables it belongs to) to apply {labels!r}"
        self.use([w for w in self.words if w in _CREATION])
        out: list[Filter] = []
        for r in self.a.dates:
            label = {w.lower() for w in words_of(r.label)}
            self.use([w for w in self.words if w.lower() in label or (contains_cjk(w) and w in r.label)])
            if r.start:
                out.append(Filter(column=column, op=">=", value=r.start, words=r.label, kind="date"))
            if r.end:
                out.append(Filter(column=column, op="<", value=r.end, words=r.label, kind="date"))
        self.mapping.append(f"{labels!r} → {column}")
        return out

    def value_filters(self, base: Table) -> list[Filter]:
        filters: list[Filter] = []
        negated = set(self.a.negated)
        by_words: dict[str, list[ValueHit]] = {}
        for hit in self.hits:
            if self.schema.path(base.name, hit.column.table) is not None:
                by_words.setdefault(hit.words, []).append(hit)
        text = self.part.text.lower()
        for phrase in sorted(by_words, key=lambda p: (-len(p.split()), text.find(p))):
            parts = phrase.split()
            listed = any(  # "placed, shipped, delivered": one of a list of that column's values
                o != phrase
                and {h.column for h in by_words[o]} & {h.column for h in by_words[phrase]}
                and (_listed(phrase, o, text) or _listed(o, phrase, text))
                for o in by_words
            )
            if (all(p in self.used for p in parts) and not listed) or any(
                p in self.group_words for p in parts
            ):
                continue
            quoted = phrase in {q.lower() for q in self.part.quoted}  # "in 'placed' status": the value
            if (
                phrase in _CREATION
                and not (listed or quoted)
                and (self.a.dates or not self._before_a_table(phrase))
            ):
                continue  # "orders placed in 2024", "customer placed the most orders": a verb, not a status
            if self._is_cue(phrase, by_words):
                self.use(parts)
                continue
            if self._compound_head(phrase, by_words):
                continue  # "gift cards" are not the payment method "card"
            carried = set(parts) <= set(self.part.inherited)

            def score(h: ValueHit, carried: bool = carried, phrase: str = phrase) -> float:
                # a value carried over from an earlier turn keeps the column that turn filtered on
                bonus = 1.0 if carried and str(h.column) in self.earlier else 0.0
                return self._value_score(h, base, phrase) + bonus

            best = max(by_words[phrase], key=score)
            op = "!=" if any(p in negated for p in parts) else "="
            self.use(parts, f"{best.column} {op} {best.value!r}")
            # words around naming the column ("segment business") are explained, unless a value themselves
            self.use([w for w in self._around(phrase) if w not in by_words and self._names(w, best.column)])
            filters.append(Filter(column=best.column, op=op, value=best.value, words=phrase))
        inherited = set(self.part.inherited)
        fresh_columns = {f.column for f in filters if not set(f.words.split()) <= inherited}
        # "and in France?" after "customers from Germany": the new value replaces the old one's column
        kept = [f for f in filters if f.column not in fresh_columns or not set(f.words.split()) <= inherited]
        self.replaced += [f.words for f in filters if f not in kept]
        return _either(kept, self.part.text)

    def _compound_head(self, phrase: str, by_words: dict[str, list[ValueHit]]) -> bool:
        """Whether one-word ``phrase`` is the head of a compound whose modifier names nothing in the
        database ("gift card", "credit note"): the compound is another thing than the value."""
        if " " in phrase or contains_cjk(phrase):
            return False
        words = re.findall(r"[a-z0-9]+", self.part.text.lower())
        for i, word in enumerate(words[1:], 1):
            if word.rstrip("s") != phrase.rstrip("s"):
                continue
            before = words[i - 1]
            if not content_terms(before) or before in by_words or before in self.part.inherited:
                return False
            named = any(self.linker.score([before], (t, None))[0] > 0 for t in self.schema.tables)
            return not named
        return False

    def _before_a_table(self, phrase: str) -> bool:
        """Whether ``phrase`` stands right before a word naming a table ("placed orders")."""
        following = self._around(phrase, before=0, after=1)
        return bool(following) and self.table_for(following) is not None

    def _around(self, phrase: str, before: int = 2, after: int = 2) -> list[str]:
        words = [w.lower() for w in words_of(self.part.text)]
        first = phrase.split()[0]
        if first not in words:
            return []
        i = words.index(first)
        return (
            words[max(0, i - before) : i] + words[i + len(phrase.split()) : i + len(phrase.split()) + after]
        )

    def _names(self, word: str, ref: ColumnRef) -> bool:
        return (
            self.linker.score([word], (ref.table, None))[0] > 0
            or self.linker.score([word], (ref.table, ref.column))[0] > 0
        )

    def _is_cue(self, phrase: str, by_words: dict[str, list[ValueHit]]) -> bool:
        """ "shipped" in "shipped to France": a word naming another value's column, not a value itself."""
        following = self._around(phrase, before=0, after=3)
        own = {x.column for x in by_words[phrase]}
        return any(
            other != phrase
            and other.split()[0] in following
            and any(self._names(phrase, h.column) and h.column not in own for h in hits)
            for other, hits in by_words.items()
        )

    def _value_score(self, hit: ValueHit, base: Table, phrase: str) -> float:
        around = self._around(phrase, before=3, after=1)
        near = self.linker.score(around, (hit.column.table, None))[0]
        near += self.linker.score(around, (hit.column.table, hit.column.column))[0]
        path = self.schema.path(base.name, hit.column.table)
        distance = len(path) if path is not None else 9
        return near + (0.5 if hit.column.table == base.name else 0.0) - 0.1 * distance

    def flag_filters(self, base: Table) -> list[Filter]:
        """ "discontinued products": a 0/1 column the words name, set (or not, when negated)."""
        out: list[Filter] = []
        matches = self.linker.columns(self.free(), where=lambda t, c: c.flag_like)
        for m in matches:
            if (
                m.score < 0.5
                or not self._parent_path(base.name, m.table)
                or any(f.column.column == m.column for f in out)
            ):
                continue
            negated = any(w in self.a.negated for w in m.terms) or bool(_NEGATION.search(self.part.text))
            ref = ColumnRef(table=m.table, column=str(m.column))
            out.append(Filter(column=ref, op="=", value=0 if negated else 1, words=" ".join(m.terms)))
            self.use(m.terms, f"{ref} = {0 if negated else 1}")
        return out

    def absent_children(self, base: Table) -> list[str]:
        """ "customers who never placed an order": child tables that must have no row for the base row."""
        if not _NEGATION.search(self.part.text):
            return []
        out: list[str] = []
        named_base = [w for w in self.words if self.linker.score([w], (base.name, None))[0] > 0]
        for match in self.linker.tables(self.free()):
            child = match.table
            if set(match.terms) <= set(named_base):
                continue  # "orders placed": words naming the base table name no child table
            if child != base.name and any(
                k.table == child and k.ref_table == base.name for k in self.schema.foreign_keys
            ):
                out.append(child)
                self.use(match.terms, f"no {child} row")
                self.use(
                    [
                        w
                        for w in self.words
                        if _NEGATION.search(w) or w in _CREATION or w in {"any", "single", "all"}
                    ]
                )
                break
        return out

    def id_filters(self) -> list[Filter]:
        out: list[Filter] = []
        for noun, number in self.a.ids:
            match = self.table_for([noun])
            keys = self.schema.tables[match.table].primary_key if match else []
            if match is None or len(keys) != 1:
                continue
            self.use([noun, str(number)], f"{match.table}.{keys[0].name} = {number}")
            out.append(
                Filter(
                    column=ColumnRef(table=match.table, column=keys[0].name), op="=", value=number, kind="id"
                )
            )
        return out

    def comparisons(self, base: Table) -> tuple[list[Filter], tuple[str, float, str] | None]:
        filters: list[Filter] = []
        having: tuple[str, float, str] | None = None
        for comparison in self.a.comparisons:
            phrase = words_of(comparison.phrase)
            money = any(w in _MONEY for w in phrase)
            target = [w for w in phrase if w not in _MONEY]
            table = self.table_for(target) if target else None
            columns = [  # a column of the base row (or of what it belongs to): no join that multiplies rows
                m
                for m in self.numeric(target or self.free(), context=self.free())
                if m.table == base.name or self._parent_path(base.name, m.table)
            ]
            columns.sort(key=lambda m: (m.table != base.name, -m.score))
            if money:
                columns = [
                    m for m in columns if "eur" in self._comment(m).lower() or "price" in str(m.column)
                ] or columns
            if (
                table is not None
                and table.table != base.name
                and (not columns or table.score >= columns[0].score)
            ):
                having = (comparison.op, comparison.value, table.table)
                self.use(table.terms, f"count of {table.table} {comparison.op} {comparison.value:g}")
                continue
            if not columns:
                continue
            best = columns[0]
            self.use(
                [*best.terms, *phrase], f"{best.table}.{best.column} {comparison.op} {comparison.value:g}"
            )
            filters.append(
                Filter(
                    column=ColumnRef(table=best.table, column=str(best.column)),
                    op=comparison.op,
                    value=comparison.value,
                    words=comparison.phrase,
                    kind="compare",
                )
            )
        return filters, having

    def _comment(self, match: Match) -> str:
        column = self.schema.tables[match.table].column(str(match.column))
        return column.comment if column else ""

    def group_target(
        self, base: Table, measure_table: str | None
    ) -> tuple[list[ColumnRef], str | None] | str:
        """Group columns for the grouping words, and the table whose rows they name (None: a column)."""
        words = self.group_words
        if not words:
            return [], None
        table = self.table_for(words)
        columns = self.linker.columns(
            words, where=lambda t, c: (c.textual or c.flag_like) and not c.id_like, near=[base.name]
        )
        joinable = [c for c in columns if self._parent_path(base.name, c.table)]
        if table is not None and (not joinable or table.score >= joinable[0].score):
            target = self.schema.tables[table.table]
            if measure_table and table.table != measure_table:
                own = self.schema.tables[measure_table]  # a per-customer view names the customers itself
                score, named = self.linker.score(words, (measure_table, None))
                # ... unless it names only part of them ("customer segment" is not the customers)
                if score > 0 and len(named) == len(words) and own.labels() != own.primary_key[:1]:
                    target = own
            elif measure_table and self.a.top and not _named_rows(target):
                # "which item sells best" over order lines: the lines' one named parent (the product)
                parents = [self.schema.tables[n] for n, _, up in self.schema.edges(target.name) if up]
                named_parents = [t for t in parents if _named_rows(t)]
                if len(named_parents) == 1:
                    target = named_parents[0]
            if target.name != base.name and not self._parent_path(base.name, target.name):
                return f"{base.name} rows do not each belong to one {target.name}"
            self.use(words, f"each {target.name}")
            return [ColumnRef(table=target.name, column=c.name) for c in target.labels()], target.name
        if joinable:
            best = joinable[0]
            self.use(words, f"each {best.table}.{best.column}")
            return [ColumnRef(table=best.table, column=str(best.column))], None
        return f"nothing in the schema to group by {' '.join(words)!r}"

    # --- the frame ------------------------------------------------------------------------------

    def frame_for(self, target: _Target) -> Frame | str:
        a, ask = self.a, self.part.ask
        base = self.schema.tables[target.table]
        looked_up = ColumnRef(table=target.table, column=target.column) if target.column else None
        measure = looked_up if target.kind == "measure" else None
        self.use(target.terms, str(measure) if measure else f"rows of {target.table}")
        frame = Frame(base=base.name)
        if a.distinct and ask == "count":
            cols = self.linker.columns(self.free(), where=lambda t, c: not c.id_like and not c.numeric)
            if cols and self._parent_path(base.name, cols[0].table):
                frame.distinct = ColumnRef(table=cols[0].table, column=str(cols[0].column))
                self.use(cols[0].terms, f"distinct {frame.distinct}")
        grouped = self.group_target(base, measure.table if measure else None)
        if isinstance(grouped, str):
            return grouped
        frame.group, frame.group_rows = grouped
        if ask in {"avg", "sum"} and measure is not None and frame.group_rows == measure.table:
            frame.group, frame.group_rows = [], None  # "average units per order line": over those rows
        if a.time_group:
            column = self.date_column(base)
            if column is None:
                return f"no date column of {base.name} to group by {a.time_group}"
            frame.time_group = (column, a.time_group)
            self.use(
                [
                    w
                    for w in self.words
                    if w.startswith(a.time_group[:3])
                    or w in {"monthly", "yearly", "quarterly", "月", "年", "季度", "每季度", "按季度"}
                ]
            )
        child = self._dated_child(base) if ask == "count" and measure is None and not frame.group else None
        if child is not None:  # "customers who ordered since 2025": counted through their orders' dates
            frame.base, frame.count_of, frame.distinct = child.name, base.name, None
            base = child
        dates = self.date_filters(base)
        if isinstance(dates, str):
            return dates
        frame.filters = [*self.value_filters(base), *dates, *self.id_filters(), *self.flag_filters(base)]
        listed = next((f for f in frame.filters if f.op == "in"), None)
        each = listed is not None and (len(listed.value) >= 3 or asks_breakdown(self.part.text))
        ungrouped = not (frame.group or frame.time_group)
        if listed is not None and each and ungrouped and ask == "count" and measure is None:
            frame.group = [listed.column]  # "how many are placed, shipped, delivered": one count each
        frame.absent = self.absent_children(base)
        compared, having = self.comparisons(base)
        frame.filters += compared
        pinned = any(f.kind == "id" and f.column.table == base.name and f.op == "=" for f in frame.filters)
        if (
            pinned
            and measure is not None
            and measure.table == base.name
            and not (frame.group or a.time_group)
        ):
            # "the total on invoice 250 and when it is due": that row's columns, nothing to add up
            frame.select = self._selected(base)
            frame.select += [measure] if measure not in frame.select else []
            return frame
        ranked_rows = (
            measure is not None
            and not frame.group
            and (ask == "top" or (ask in {"max", "min"} and self._names_a_row(base)))
        )
        if ranked_rows or (measure is not None and frame.group_rows == measure.table):
            # "the most expensive product", "top 5 customers by revenue" over a per-customer view
            labels = [ColumnRef(table=base.name, column=c.name) for c in base.labels()]
            frame.select, frame.group, frame.group_rows = frame.group or labels, [], None
            frame.measure, frame.order_by = measure, measure
            frame.order = "asc" if (a.order == "asc" or ask == "min") else "desc"
            frame.limit = a.limit or 1 if ask in {"max", "min", "top"} else a.limit
            self.use([w for w in self.words if w in words_of(base.name)])
            return frame
        if having is not None:
            op, value, counted = having
            frame.base, frame.count_of = counted, counted
            frame.group = frame.group or [ColumnRef(table=base.name, column=c.name) for c in base.labels()]
            frame.group_rows = frame.group_rows or base.name
            frame.aggregate, frame.having = "count", (op, value)  # type: ignore[assignment]
            if ask == "count":
                frame.notes.append(f"one row per {base.name}; the answer is the number of rows")
            return frame
        grouped_shape = bool(frame.group or frame.time_group) or ask == "top"
        if measure is not None:
            frame.measure = measure
            frame.aggregate = "sum"
            for kind in ("sum", "avg", "min", "max"):
                if ask == kind or (ask not in {"sum", "avg", "min", "max"} and a.aggregate == kind):
                    frame.aggregate = kind
            frame.measure_factor = self._line_factor(measure) if frame.aggregate == "sum" else None
        elif (ask in {"count", "top"} or grouped_shape) and target.kind != "lookup":
            frame.aggregate = "count"
        else:
            frame.select = self._selected(base)
            if target.kind == "lookup" and looked_up is not None and looked_up not in frame.select:
                frame.select.append(looked_up)
            # "products with fewer than 20 in stock": each row shows the value it was picked by
            frame.select += [
                f.column for f in frame.filters if f.kind == "compare" and f.column not in frame.select
            ]
        if grouped_shape and not frame.time_group:
            frame.order = a.order or "desc"
            frame.limit = a.limit if a.limit else (1 if ask == "top" else None)
        elif frame.time_group and ask == "top":
            frame.order, frame.limit = a.order or "desc", a.limit or 1
        return frame

    def _line_factor(self, measure: ColumnRef) -> ColumnRef | None:
        """The quantity a summed unit price is multiplied by: the money of order lines is quantity × price."""
        pair = line_amount(self.schema.tables[measure.table])
        if pair is None or pair[1].name != measure.column:
            return None
        return ColumnRef(table=measure.table, column=pair[0].name)

    def _selected(self, base: Table) -> list[ColumnRef]:
        """What a lookup or list shows: the rows' labels (a person's name for "who"), and the columns the
        question names, on the base table or a table each base row belongs to."""
        owner = base
        asked_now = self.part.text.rsplit(" → ", 1)[-1].lower().lstrip()  # a follow-up's own words
        if asked_now.startswith("who") and base.labels() == base.primary_key[:1]:
            for table in self.schema.tables.values():  # "who placed order 1500?": the customer it belongs to
                if (
                    table.name != base.name
                    and self._parent_path(base.name, table.name)
                    and table.labels() != table.primary_key[:1]
                ):
                    owner = table
                    self.use([w for w in self.words if w in _CREATION])
                    break
        labels = [ColumnRef(table=owner.name, column=c.name) for c in owner.labels()]
        if re.search(r"\bwhen\b|什么时候|哪天|何时", asked_now):  # "when was it placed": its date
            dated = self.date_column(base)
            if dated is not None and dated not in labels:
                labels.append(dated)
        asked = self.linker.columns(
            self.free(), where=lambda t, c: t.name == base.name or self._parent_path(base.name, t.name)
        )
        chosen: list[ColumnRef] = []
        for m in asked[:4]:
            ref = ColumnRef(table=m.table, column=str(m.column))
            if m.score >= 0.5 and ref not in labels and ref not in chosen:
                chosen.append(ref)
                self.use(m.terms, str(ref))
        return labels + chosen

    def _absorb(self, frame: Frame) -> None:
        """Words that name a table or column the frame uses are accounted for ("sold" of a quantity)."""
        keys: list[tuple[str, str | None]] = [(t, None) for t in frame.tables()]
        keys += [(r.table, r.column) for r in frame.columns()]
        for word in self.free():
            if any(self.linker.score([word], key)[0] >= 0.3 for key in keys):
                self.use([word])

    def _names_a_row(self, base: Table) -> bool:
        """Whether a max/min question asks for a row ("which product is the most expensive")."""
        text = self.part.text.lower()
        return text.startswith(("which", "who")) or any(
            self.linker.score([w], (base.name, None))[0] >= 0.5 for w in self.free()
        )

    def _hops(self, table: str, valued: set[str]) -> int:
        """Joins from ``table`` to the nearest of the ``valued`` tables."""
        lengths = [0 if t == table else len(self.schema.path(table, t) or [None] * 9) for t in valued]
        return min(lengths, default=9)

    def _nearest_first(self, targets: list[_Target]) -> list[_Target]:
        """Measures nearest the named values first; "the average list price of Laptops": the products'
        own price (one join from the category), not the order lines' (two). A strictly nearest one settles
        an ambiguity between tables."""
        if not self.hits or not self.ambiguity:
            return targets
        valued = {h.column.table for h in self.hits}  # the tables holding a value the question names
        if self.group_words:  # "per payment method": the grouped table counts as named too
            valued.update(m.table for m in self.linker.columns(self.group_words)[:1])
        nearest = sorted(
            (t for t in targets if t.kind == "measure"), key=lambda t: self._hops(t.table, valued)
        )
        measures = iter(nearest)
        ordered = [next(measures) if t.kind == "measure" else t for t in targets]
        distance = {a: self._hops(a.split(".")[0], valued) for a in self.ambiguity}
        hops = sorted(set(distance.values()))
        if len(hops) > 1 and sum(1 for d in distance.values() if d == hops[0]) == 1:
            self.ambiguity = []
        return ordered

    def build(self) -> Frame | str:
        targets = self._nearest_first(self.targets())
        if not targets:
            return "no table or column matches what the question is about"
        failures: list[str] = []
        for target in targets[:4]:
            saved = (set(self.used), list(self.mapping))
            built = self.frame_for(target)
            if isinstance(built, Frame):
                self._absorb(built)
                if built.measure is not None and (
                    any(
                        f.column.table == built.measure.table and f.kind in {"value", "id"}
                        for f in built.filters
                    )
                    or any(g.table == built.measure.table for g in built.group)
                ):
                    # "the Eco Kettle's price", "money per payment method": the row or the grouping asked
                    # about settles which table
                    self.ambiguity = []
                return built
            failures.append(built)
            self.used, self.mapping = saved
        return failures[0]


def translate(
    part: Part, schema: Schema, hits: Sequence[ValueHit] = (), earlier: Collection[str] = ()
) -> Translation:
    """SQL for ``part`` over ``schema`` (with the value-linking ``hits``), or why there is none;
    ``earlier`` names the columns ("table.column") the turn a follow-up refers to filtered on."""
    if not schema.tables:
        return Translation(reason="no tables were described")
    builder = _Builder(part, schema, hits, earlier)
    built = builder.build()
    inherited = set(part.inherited)  # an earlier turn's words are context, not something to account for
    words = [w for w in builder.words if w not in inherited]
    if isinstance(built, str):
        return Translation(reason=built, unresolved=builder.free(words), ambiguity=builder.ambiguity)
    try:
        sql = render(built, schema)
    except ValueError as exc:
        return Translation(reason=str(exc), ambiguity=builder.ambiguity)
    unresolved = builder.free(words)
    return Translation(
        frame=built,
        sql=sql,
        confidence=round(1.0 - len(unresolved) / max(1, len(words)), 3),
        unresolved=unresolved,
        mapping=builder.mapping,
        ambiguity=builder.ambiguity,
        replaced=builder.replaced,
        accounted=[w for w in words if w in builder.used],
    )
