"""Refunds for the sample shop (used by the toolmesh mesh demo)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

REFUND_WINDOW = timedelta(days=30)


@dataclass
class Order:
    order_id: int
    status: str
    delivered_on: date | None
    total: float


class RefundError(Exception):
    """The order cannot be refunded."""


def within_window(order: Order, today: date) -> bool:
    """True while the order is inside the refund window (counted from delivery)."""
    return order.delivered_on is not None and today - order.delivered_on <= REFUND_WINDOW


def refund_order(order: Order, today: date) -> float:
    """Refund a delivered order inside the refund window; returns the amount refunded."""
    if order.status == "cancelled":
        return order.total
    if order.status != "delivered" or not within_window(order, today):
        raise RefundError(f"order {order.order_id} is outside the refund window")
    order.status = "returned"
    return order.total
