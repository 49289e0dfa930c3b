"""Stock levels, reservations and discontinued products for the sample shop.

``Product.stock`` mirrors ``products.stock`` (units on hand, not yet reserved by an order) and
``Product.discontinued`` mirrors ``products.discontinued`` (1 when the product is no longer sold).
"""

from __future__ import annotations

from dataclasses import dataclass

REORDER_POINT = 20
REORDER_QUANTITY = 100
MAX_QUANTITY_PER_LINE = 10
SUPPLIER_LEAD_DAYS = (5, 10)
SKU_PREFIX = "SKU-"


class InventoryError(Exception):
    """Stock cannot be reserved, released or restocked."""


@dataclass
class Product:
    product_id: int
    sku: str
    name: str
    category: str
    unit_price: float
    stock: int
    discontinued: bool = False

    def in_stock(self, quantity: int = 1) -> bool:
        """True when ``quantity`` units can be sold now."""
        return not is_discontinued(self) and self.stock >= quantity


def sku_for(product_id: int) -> str:
    """The SKU code of a product id, e.g. ``SKU-00042``."""
    return f"{SKU_PREFIX}{product_id:05d}"


def is_discontinued(product: Product) -> bool:
    """True when the product is no longer sold (and is never restocked)."""
    return product.discontinued


def reserve_stock(product: Product, quantity: int) -> int:
    """Take ``quantity`` units out of stock for an order; returns the units left.

    Raises InventoryError for a discontinued product, a quantity outside 1..MAX_QUANTITY_PER_LINE, or
    more units than are in stock (the shop takes no back-orders).
    """
    if is_discontinued(product):
        raise InventoryError(f"{product.sku} ({product.name}) is discontinued")
    if not 1 <= quantity <= MAX_QUANTITY_PER_LINE:
        raise InventoryError(f"quantity {quantity} for {product.sku} is outside 1..{MAX_QUANTITY_PER_LINE}")
    if quantity > product.stock:
        raise InventoryError(f"only {product.stock} units of {product.sku} in stock, {quantity} requested")
    product.stock -= quantity
    return product.stock


def release_stock(product: Product, quantity: int) -> int:
    """Put reserved units back into stock (an order was cancelled); returns the new stock level."""
    if quantity <= 0:
        raise InventoryError(f"cannot release {quantity} units of {product.sku}")
    product.stock += quantity
    return product.stock


def restock(product: Product, quantity: int) -> int:
    """Add units from a supplier delivery or a resaleable return; discontinued products are refused."""
    if is_discontinued(product):
        raise InventoryError(f"{product.sku} is discontinued and is not restocked")
    if quantity <= 0:
        raise InventoryError(f"cannot restock {quantity} units of {product.sku}")
    product.stock += quantity
    return product.stock


def discontinue(product: Product) -> int:
    """Stop selling a product; returns the units left on hand (they go to the staff sale)."""
    product.discontinued = True
    return product.stock


def needs_reorder(product: Product) -> bool:
    """True when a product still sold has fallen below the reorder point."""
    return not is_discontinued(product) and product.stock < REORDER_POINT


def reorder_list(products: list[Product]) -> list[tuple[Product, int]]:
    """The purchase order to send to suppliers: each product to reorder with the quantity."""
    return [(product, REORDER_QUANTITY) for product in products if needs_reorder(product)]
