"""Warranty periods and defective-item claims for the sample shop.

Periods are counted from the delivery date and depend on the product category (see handbook/warranty.md).
"""

from __future__ import annotations

import calendar
from datetime import date, timedelta

from inventory import Product
from refunds import REFUND_WINDOW

WARRANTY_MONTHS = {
    "Electronics": 24,
    "Phones": 24,
    "Laptops": 36,
    "Audio": 24,
    "Home": 24,
    "Kitchen": 24,
    "Garden": 24,
    "Toys": 12,
    "Sports": 12,
    "Books": 0,
    "Fiction": 0,
    "Non-fiction": 0,
}
DEAD_ON_ARRIVAL = timedelta(days=14)


class WarrantyError(Exception):
    """The item is not covered by the warranty."""


def warranty_months(category: str) -> int:
    """The warranty period of a category in months (0 for books, which are covered by the refund window)."""
    try:
        return WARRANTY_MONTHS[category]
    except KeyError:
        raise WarrantyError(f"no warranty rule for category {category!r}") from None


def add_months(start: date, months: int) -> date:
    """The same day ``months`` later, clamped to the end of shorter months."""
    month = start.month - 1 + months
    year, month = start.year + month // 12, month % 12 + 1
    return date(year, month, min(start.day, calendar.monthrange(year, month)[1]))


def warranty_end(product: Product, delivered_on: date) -> date:
    """The last day a defect in ``product`` is covered."""
    months = warranty_months(product.category)
    if months == 0:
        return delivered_on + REFUND_WINDOW
    return add_months(delivered_on, months)


def warranty_remedy(product: Product, delivered_on: date, today: date) -> str:
    """What the shop offers for a defective item: ``replacement`` or ``repair``.

    Items that fail within 14 days of delivery (dead on arrival) and defective books are replaced;
    raises WarrantyError once the warranty has ended.
    """
    end = warranty_end(product, delivered_on)
    if today > end:
        raise WarrantyError(f"warranty of {product.sku} ended on {end.isoformat()}")
    if today - delivered_on <= DEAD_ON_ARRIVAL or warranty_months(product.category) == 0:
        return "replacement"
    return "repair"
