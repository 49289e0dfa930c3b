"""Checkout: the cart, placing an order and what happens to it afterwards (ship, cancel, return)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

from customers import Customer
from inventory import (
    MAX_QUANTITY_PER_LINE,
    InventoryError,
    Product,
    is_discontinued,
    release_stock,
    reserve_stock,
    restock,
)
from invoices import CreditNote, Invoice, gross_amount, issue_credit_note, issue_invoice, vat_amount
from orders import next_status
from payments import Payment, amount_paid, record_payment, record_refund
from refunds import Order, refund_order
from shipping import estimate_delivery_days, shipping_cost


class CheckoutError(Exception):
    """The cart or the order is not in a state that allows this step."""


@dataclass
class CartLine:
    product: Product
    quantity: int

    @property
    def net(self) -> float:
        """Net price of the line (unit price times quantity), before VAT."""
        return round(self.product.unit_price * self.quantity, 2)


@dataclass
class Cart:
    customer: Customer
    lines: list[CartLine] = field(default_factory=list)

    def add_item(self, product: Product, quantity: int = 1) -> CartLine:
        """Add units of a product, merging with an existing line; at most MAX_QUANTITY_PER_LINE per line."""
        if is_discontinued(product):
            raise CheckoutError(f"{product.sku} is discontinued and can no longer be ordered")
        line = next((x for x in self.lines if x.product.sku == product.sku), None)
        if line is None:
            line = CartLine(product, 0)
            self.lines.append(line)
        if not 1 <= line.quantity + quantity <= MAX_QUANTITY_PER_LINE:
            raise CheckoutError(f"a line holds 1 to {MAX_QUANTITY_PER_LINE} units of {product.sku}")
        line.quantity += quantity
        return line

    def remove_item(self, sku: str) -> None:
        """Drop the line of a product from the cart."""
        self.lines = [line for line in self.lines if line.product.sku != sku]

    def net_total(self) -> float:
        """Sum of the line prices before VAT."""
        return round(sum(line.net for line in self.lines), 2)

    def vat(self) -> float:
        """The VAT the invoice will show for this cart."""
        return vat_amount(self.net_total())

    def total(self) -> float:
        """What the customer pays for the goods, VAT included (delivery fees are not invoiced)."""
        return gross_amount(self.net_total())


@dataclass
class PlacedOrder:
    order: Order
    customer: Customer
    lines: list[CartLine]
    shipping_country: str
    ordered_at: date
    invoice: Invoice | None
    delivery_fee: float
    delivery_days: tuple[int, int]


def place_order(cart: Cart, shipping_country: str, today: date, order_id: int) -> PlacedOrder:
    """Turn a cart into an order: check the destination, reserve stock and issue the invoice."""
    if not cart.lines:
        raise CheckoutError("the cart is empty")
    fee = shipping_cost(shipping_country, cart.customer.segment)
    reserved: list[CartLine] = []
    try:
        for line in cart.lines:
            reserve_stock(line.product, line.quantity)
            reserved.append(line)
    except InventoryError:
        for line in reserved:
            release_stock(line.product, line.quantity)
        raise
    order = Order(order_id, "placed", None, cart.total())
    invoice = issue_invoice(order_id, cart.net_total(), today)
    days = estimate_delivery_days(shipping_country)
    return PlacedOrder(order, cart.customer, list(cart.lines), shipping_country, today, invoice, fee, days)


def pay(placed: PlacedOrder, amount: float, method: str, today: date, ledger: list[Payment]) -> Payment:
    """Record a payment (or one instalment) for an order's invoice."""
    if placed.invoice is None:
        raise CheckoutError(f"order {placed.order.order_id} has no invoice to pay")
    return record_payment(placed.invoice, amount, method, today, ledger)


def advance(placed: PlacedOrder, today: date) -> str:
    """Move an order to its next status (placed -> shipped -> delivered); returns the new status."""
    status = next_status(placed.order.status)
    if status == placed.order.status:
        raise CheckoutError(f"order {placed.order.order_id} is {status} and cannot move on")
    placed.order.status = status
    if status == "delivered":
        placed.order.delivered_on = today
    return status


def _paid(invoice: Invoice, ledger: list[Payment]) -> tuple[float, str]:
    """What has been paid on an invoice and the method of the last payment."""
    methods = [p.method.value for p in ledger if p.invoice_id == invoice.invoice_id and p.amount > 0]
    return amount_paid(invoice, ledger), (methods or ["card"])[-1]


def cancel_order(placed: PlacedOrder, today: date, ledger: list[Payment]) -> float:
    """Cancel an order before it ships: release its stock, void the invoice, refund what was paid."""
    if placed.order.status != "placed":
        order = placed.order
        raise CheckoutError(f"order {order.order_id} is {order.status}; only placed orders can be cancelled")
    for line in placed.lines:
        release_stock(line.product, line.quantity)
    placed.order.status = "cancelled"
    refunded = 0.0
    if placed.invoice is not None:
        refunded, method = _paid(placed.invoice, ledger)
        if refunded > 0:
            record_refund(placed.invoice, refunded, today, ledger, method)
        placed.invoice = None
    return refunded


def return_order(
    placed: PlacedOrder, today: date, ledger: list[Payment], *, resaleable: bool = True
) -> CreditNote:
    """Take back a delivered order inside the refund window: restock, credit the invoice, refund payments."""
    if placed.invoice is None:
        raise CheckoutError(f"order {placed.order.order_id} has no invoice to credit")
    amount = refund_order(placed.order, today)
    for line in placed.lines:
        if resaleable and not is_discontinued(line.product):
            restock(line.product, line.quantity)
    note = issue_credit_note(placed.invoice, amount, today)
    paid, method = _paid(placed.invoice, ledger)
    if paid > 0:
        record_refund(placed.invoice, paid, today, ledger, method)
    return note
