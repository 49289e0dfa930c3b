"""Money in a schema: what a question's money words ask for, and which columns hold it.

A question about money ("revenue", "sales", "how much money", 销售额) wants an amount of money; the schema
holds it as amount columns (an invoice total, a payment amount) or as order lines, one product with a
quantity and a price per unit. Over order lines the money is ``quantity × unit price`` (:func:`line_amount`),
never the sum of the unit prices. A question asking for money net of tax ("before VAT", 不含税) is not
answered by a column described as including it (:func:`gross`).
"""

from __future__ import annotations

import re

from toolmesh.agents.text2sql.schema import Column, Table

__all__ = ["asks_money", "asks_net", "gross", "line_amount", "net_word", "unit_price"]

_SALES = re.compile(r"\bsales\b", re.IGNORECASE)  # money, unless units are asked ("unit sales")
_MONEY_WORDS = re.compile(
    r"\b(?:revenue|revenues|money|turnover|income|takings|earnings|earned|brought in|worth)\b"
    r"|\b(?:net|gross) of (?:vat|tax)\b|\bin (?:eur|euros?|dollars)\b|销售额|营业额|收入|金额|多少钱",
    re.IGNORECASE,
)
_NET = re.compile(
    r"\bnet\b|\b(?:before|excluding|excl\.?|without|ex)\s+(?:vat|tax|taxes)\b|\bpre-?tax\b|不含税|税前|未税",
    re.IGNORECASE,
)
_NET_WORDS = frozenset(
    {"net", "vat", "tax", "taxes", "before", "excluding", "excl", "without", "ex", "pretax"}
)
_GROSS_COMMENT = re.compile(r"\b(?:including|incl\.?|with)\s+(?:vat|tax)|含税|含增值税", re.IGNORECASE)
_UNITS_ASKED = re.compile(r"\b(?:units?|volume|pieces|items)\b|销量|件数|多少件", re.IGNORECASE)
_QUANTITY = re.compile(r"quantity|qty|(?:^|_)units?(?:_|$)", re.IGNORECASE)  # a name, not "Units in stock"
_PRICE = re.compile(r"price", re.IGNORECASE)
_PER_UNIT = re.compile(r"\bunit\b|\bper unit\b|单价", re.IGNORECASE)


def asks_money(text: str) -> bool:
    """Whether ``text`` asks for an amount of money ("total sales", "the most money", "net of VAT", 销售额),
    not for units ("unit sales", "sales volume", 销量)."""
    sales = bool(_SALES.search(text)) and not _UNITS_ASKED.search(text)
    return bool(_MONEY_WORDS.search(text) or _NET.search(text)) or sales


def asks_net(text: str) -> bool:
    """Whether ``text`` asks for money net of tax ("before VAT", "net revenue", 不含税)."""
    return bool(_NET.search(text))


def net_word(word: str) -> bool:
    """Whether ``word`` is one of the words saying "net of tax" ("before", "VAT", 不含税)."""
    return word.lower() in _NET_WORDS or bool(_NET.fullmatch(word))


def gross(column: Column) -> bool:
    """Whether the column's comment says it includes tax ("Total including VAT")."""
    return bool(_GROSS_COMMENT.search(column.comment))


def unit_price(column: Column) -> bool:
    """A price per unit ("unit_price", "Price per unit at order time")."""
    return bool(
        column.numeric
        and not column.id_like
        and _PRICE.search(column.name)
        and (_PER_UNIT.search(column.name.replace("_", " ")) or _PER_UNIT.search(column.comment))
    )


def line_amount(table: Table) -> tuple[Column, Column] | None:
    """(quantity, unit price) of a table of lines that each hold a quantity of something at a unit
    price (order lines, invoice lines); None for any other table (a product's list price has no quantity)."""
    prices = [c for c in table.columns if unit_price(c)]
    quantities = [
        c
        for c in table.columns
        if c.numeric and not c.id_like and not c.flag_like and _QUANTITY.search(c.name) and c not in prices
    ]
    if len(quantities) == 1 and len(prices) == 1:
        return quantities[0], prices[0]
    return None
