"""Inventory models."""

from __future__ import annotations

from dataclasses import dataclass, field

MAX_ITEMS = 100


@dataclass
class Item:
    """One stock-keeping unit."""

    sku: str
    quantity: int = 0

    def restock(self, amount: int) -> int:
        """Add ``amount`` units and return the new quantity."""
        self.quantity += validate_amount(amount)
        return self.quantity


@dataclass
class Inventory:
    """A collection of items keyed by SKU."""

    items: dict[str, Item] = field(default_factory=dict)

    def add(self, item: Item) -> None:
        if len(self.items) >= MAX_ITEMS:
            raise OverflowError("inventory is full")
        self.items[item.sku] = item

    def restock_all(self, amount: int) -> None:
        for item in self.items.values():
            item.restock(amount)

    class Audit:
        """A nested class."""

        def run(self) -> str:
            return "ok"


def validate_amount(amount: int) -> int:
    """Reject negative amounts."""
    if amount < 0:
        raise ValueError(f"negative amount: {amount}")
    return amount


def build_inventory(skus: list[str]) -> Inventory:
    inventory = Inventory()
    for sku in skus:
        inventory.add(Item(sku))
    return inventory
