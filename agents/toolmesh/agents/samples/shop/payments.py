"""Payments against invoices, instalments and gift cards for the sample shop.

Payment methods match the ``payments.method`` column of the shop database. A refund is a negative payment.
Gift cards are kept in their own ledger, not in the payments table.
"""

from __future__ import annotations

import secrets
import string
from dataclasses import dataclass
from datetime import date, timedelta
from enum import StrEnum

from invoices import Invoice, reminder_stage


class PaymentMethod(StrEnum):
    CARD = "card"
    BANK_TRANSFER = "bank_transfer"
    PAYPAL = "paypal"
    CASH = "cash"


METHODS = tuple(method.value for method in PaymentMethod)
CARD_BRANDS = ("Visa", "Mastercard", "American Express")
SHOP_IBAN = "FR76 1234 5678 9000 0012 3456 789"
SHOP_BIC = "SHOPFRPPXXX"
INSTALMENT_INTERVAL = timedelta(days=30)
GIFT_CARD_MIN = 10
GIFT_CARD_MAX = 500
GIFT_CARD_VALIDITY = timedelta(days=365)


class PaymentError(Exception):
    """A payment cannot be recorded, or a gift card cannot be used."""


@dataclass
class Payment:
    payment_id: int
    invoice_id: int
    paid_at: date
    amount: float
    method: PaymentMethod


def parse_method(name: str) -> PaymentMethod:
    """The payment method called ``name``; raises PaymentError for a method the shop does not accept."""
    try:
        return PaymentMethod(name)
    except ValueError:
        accepted = ", ".join(METHODS)
        raise PaymentError(f"unsupported payment method {name!r} (accepted: {accepted})") from None


def amount_paid(invoice: Invoice, ledger: list[Payment]) -> float:
    """The net amount received on an invoice: its payments minus its refunds."""
    return round(sum(p.amount for p in ledger if p.invoice_id == invoice.invoice_id), 2)


def outstanding_balance(invoice: Invoice, ledger: list[Payment]) -> float:
    """What is still owed on an invoice: its total, less credit notes, less the amount paid."""
    return round(invoice.total_amount - invoice.credited - amount_paid(invoice, ledger), 2)


def record_payment(
    invoice: Invoice, amount: float, method: str, paid_at: date, ledger: list[Payment]
) -> Payment:
    """Record a payment received against an invoice; overpayments and non-positive amounts are refused."""
    kind = parse_method(method)
    if amount <= 0:
        raise PaymentError(f"payment amount must be positive, got {amount:.2f}")
    balance = outstanding_balance(invoice, ledger)
    if round(amount, 2) > balance:
        raise PaymentError(f"{amount:.2f} exceeds the outstanding {balance:.2f} on {invoice.number}")
    payment = Payment(len(ledger) + 1, invoice.invoice_id, paid_at, round(amount, 2), kind)
    ledger.append(payment)
    return payment


def record_refund(
    invoice: Invoice, amount: float, paid_at: date, ledger: list[Payment], method: str = "card"
) -> Payment:
    """Record a refund as a negative payment to the original payment method."""
    refund = Payment(len(ledger) + 1, invoice.invoice_id, paid_at, -round(amount, 2), parse_method(method))
    ledger.append(refund)
    return refund


def split_instalments(total: float) -> tuple[float, float]:
    """Two instalments for a total: half rounded to the cent, then the remainder."""
    first = round(total / 2, 2)
    return first, round(total - first, 2)


def instalment_schedule(invoice: Invoice, first_paid_at: date) -> list[tuple[date, float]]:
    """The dates and amounts of a two-instalment plan; the second falls 30 days after the first."""
    first, second = split_instalments(invoice.total_amount)
    return [(first_paid_at, first), (first_paid_at + INSTALMENT_INTERVAL, second)]


def reminders_due(invoices: list[Invoice], ledger: list[Payment], today: date) -> list[tuple[Invoice, int]]:
    """The unpaid overdue invoices with the reminder stage each has reached today."""
    due = []
    for invoice in invoices:
        stage = reminder_stage(invoice, today, outstanding_balance(invoice, ledger))
        if stage:
            due.append((invoice, stage))
    return due


@dataclass
class GiftCard:
    code: str
    balance: float
    issued_on: date

    @property
    def expires_on(self) -> date:
        """The last day the card can be used (12 months after purchase)."""
        return self.issued_on + GIFT_CARD_VALIDITY

    def redeem(self, amount: float, today: date) -> float:
        """Take up to ``amount`` from the card; returns what was taken (the rest is paid another way)."""
        if today > self.expires_on:
            raise PaymentError(f"gift card {self.code} expired on {self.expires_on.isoformat()}")
        if self.balance <= 0:
            raise PaymentError(f"gift card {self.code} has no balance left")
        taken = round(min(amount, self.balance), 2)
        self.balance = round(self.balance - taken, 2)
        return taken


def issue_gift_card(amount: float, today: date) -> GiftCard:
    """A new gift card (whole euros, 10 to 500) with a code like ``GC-7KQ2-M9XD-4TRA``."""
    if amount != int(amount) or not GIFT_CARD_MIN <= amount <= GIFT_CARD_MAX:
        raise PaymentError(f"gift cards are sold in whole euros from {GIFT_CARD_MIN} to {GIFT_CARD_MAX}")
    alphabet = string.ascii_uppercase + string.digits
    groups = ["".join(secrets.choice(alphabet) for _ in range(4)) for _ in range(3)]
    return GiftCard("GC-" + "-".join(groups), float(amount), today)
