"""Customers, segments and the VIP loyalty programme of the sample shop.

Segments match ``customers.segment``: every sign-up starts as ``consumer``; ``business`` needs a verified VAT
number; ``vip`` is proposed by the quarterly review and never removed automatically.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from datetime import date, timedelta

from payments import GiftCard, issue_gift_card

SEGMENTS = ("consumer", "business", "vip")
VIP_REVENUE_THRESHOLD = 2500.00  # EUR invoiced, VAT included, over the last 12 months
VIP_ORDER_THRESHOLD = 12  # orders not cancelled over the last 12 months
VIP_VOUCHER_RATE = 0.05
VIP_VOUCHER_MIN = 10
VIP_VOUCHER_MAX = 250
INACTIVE_AFTER = timedelta(days=3 * 365)
VAT_NUMBER = re.compile(r"^[A-Z]{2}[0-9A-Z]{8,12}$")


class CustomerError(Exception):
    """A customer record cannot be changed this way."""


@dataclass
class Customer:
    customer_id: int
    first_name: str
    last_name: str
    email: str
    country: str
    city: str
    created_at: date
    segment: str = "consumer"
    vat_number: str | None = None

    @property
    def full_name(self) -> str:
        """First and last name, as printed on invoices."""
        return f"{self.first_name} {self.last_name}"

    def is_vip(self) -> bool:
        """True for customers in the vip segment."""
        return self.segment == "vip"


def upgrade_segment(customer: Customer, revenue_12m: float, orders_12m: int) -> str:
    """The segment the quarterly review proposes for a customer.

    A consumer becomes vip with at least VIP_REVENUE_THRESHOLD invoiced or VIP_ORDER_THRESHOLD orders in the
    last 12 months. Business customers stay business and vip customers stay vip.
    """
    if customer.segment != "consumer":
        return customer.segment
    if revenue_12m >= VIP_REVENUE_THRESHOLD or orders_12m >= VIP_ORDER_THRESHOLD:
        return "vip"
    return "consumer"


def loyalty_voucher(customer: Customer, revenue_last_year: float) -> int:
    """The January loyalty voucher of a vip in whole euros.

    5% of last year's revenue rounded down, at least 10 and at most 250; 0 for other segments.
    """
    if not customer.is_vip():
        return 0
    amount = math.floor(revenue_last_year * VIP_VOUCHER_RATE)
    return max(VIP_VOUCHER_MIN, min(VIP_VOUCHER_MAX, amount))


def issue_loyalty_vouchers(revenues: dict[int, tuple[Customer, float]], today: date) -> list[GiftCard]:
    """Issue the yearly loyalty vouchers (as gift cards) to every vip in ``revenues``."""
    cards = []
    for customer, revenue in revenues.values():
        amount = loyalty_voucher(customer, revenue)
        if amount:
            cards.append(issue_gift_card(amount, today))
    return cards


def make_business(customer: Customer, vat_number: str) -> Customer:
    """Move a customer to the business segment; the VAT number needs the EU format (FR12345678901)."""
    number = vat_number.replace(" ", "").upper()
    if not VAT_NUMBER.match(number):
        raise CustomerError(f"{vat_number!r} is not a valid VAT number")
    customer.vat_number = number
    customer.segment = "business"
    return customer


def is_inactive(last_order_on: date | None, created_at: date, today: date) -> bool:
    """True after three years without an order (the account is then anonymised)."""
    return today - (last_order_on or created_at) > INACTIVE_AFTER


def anonymise(customer: Customer) -> Customer:
    """Erase the personal data of a deleted account; the customer id stays so invoices remain valid."""
    customer.first_name = "Deleted"
    customer.last_name = "Customer"
    customer.email = f"deleted-{customer.customer_id}@invalid.example"
    customer.city = ""
    customer.vat_number = None
    return customer
