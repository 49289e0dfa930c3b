"""Invoices, VAT and credit notes for the sample shop.

Catalogue prices are net (without VAT). Every invoice adds VAT at ``VAT_RATE`` and is due ``PAYMENT_TERMS``
after it is issued. Invoices are never edited: a refund is booked as a credit note against the invoice.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from datetime import date, timedelta

VAT_RATE = 0.20
PAYMENT_TERMS = timedelta(days=30)
FIRST_REMINDER_AFTER = timedelta(days=7)
SECOND_REMINDER_AFTER = timedelta(days=21)
ACCOUNT_HOLD_AFTER = timedelta(days=60)
INVOICE_PREFIX = "INV-"
CREDIT_NOTE_PREFIX = "CN-"

_invoice_ids = itertools.count(1)
_credit_note_ids = itertools.count(1)


class InvoiceError(Exception):
    """An invoice cannot be issued or credited."""


@dataclass
class Invoice:
    invoice_id: int
    order_id: int
    issued_at: date
    due_at: date
    net_amount: float
    vat_amount: float
    total_amount: float
    credited: float = 0.0

    @property
    def number(self) -> str:
        """The printed invoice number, e.g. ``INV-000042``."""
        return document_number(INVOICE_PREFIX, self.invoice_id)

    def is_overdue(self, today: date) -> bool:
        """True once the due date has passed (whether or not anything was paid)."""
        return today > self.due_at


@dataclass
class CreditNote:
    credit_note_id: int
    invoice_id: int
    issued_at: date
    amount: float

    @property
    def number(self) -> str:
        """The printed credit note number, e.g. ``CN-000007``."""
        return document_number(CREDIT_NOTE_PREFIX, self.credit_note_id)


def document_number(prefix: str, number: int) -> str:
    """A document number: the prefix followed by six digits."""
    return f"{prefix}{number:06d}"


def gross_amount(net: float) -> float:
    """The total including VAT for a net amount, rounded to the cent."""
    return round(net * (1 + VAT_RATE), 2)


def vat_amount(net: float) -> float:
    """The VAT part of the total for a net amount (the gross total minus the net)."""
    return round(gross_amount(net) - net, 2)


def due_date(issued_at: date) -> date:
    """The payment due date of an invoice issued on ``issued_at``."""
    return issued_at + PAYMENT_TERMS


def issue_invoice(order_id: int, net: float, issued_at: date, *, status: str = "placed") -> Invoice:
    """Issue the invoice of an order; cancelled orders and empty orders get no invoice."""
    if status == "cancelled":
        raise InvoiceError(f"order {order_id} is cancelled and cannot be invoiced")
    if net <= 0:
        raise InvoiceError(f"order {order_id} has no amount to invoice (net {net:.2f})")
    net = round(net, 2)
    return Invoice(
        invoice_id=next(_invoice_ids),
        order_id=order_id,
        issued_at=issued_at,
        due_at=due_date(issued_at),
        net_amount=net,
        vat_amount=vat_amount(net),
        total_amount=gross_amount(net),
    )


def reminder_stage(invoice: Invoice, today: date, balance: float) -> int:
    """0 = no action, 1 = first reminder, 2 = second reminder, 3 = account on hold."""
    if balance <= 0 or not invoice.is_overdue(today):
        return 0
    late = today - invoice.due_at
    if late >= ACCOUNT_HOLD_AFTER:
        return 3
    if late >= SECOND_REMINDER_AFTER:
        return 2
    return 1 if late >= FIRST_REMINDER_AFTER else 0


def issue_credit_note(invoice: Invoice, amount: float, issued_at: date) -> CreditNote:
    """Credit part or all of an invoice (used for refunds); never more than is left to credit."""
    left = round(invoice.total_amount - invoice.credited, 2)
    if amount <= 0 or amount > left:
        raise InvoiceError(f"cannot credit {amount:.2f} on {invoice.number}: {left:.2f} left to credit")
    invoice.credited = round(invoice.credited + amount, 2)
    return CreditNote(next(_credit_note_ids), invoice.invoice_id, issued_at, round(amount, 2))
