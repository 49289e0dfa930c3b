from .models import Inventory, validate_amount


def summarize(inventory: Inventory) -> str:
    """One line per item."""
    lines = [f"{sku}: {item.quantity}" for sku, item in inventory.items.items()]
    validate_amount(len(lines))
    return "\n".join(lines)


def explode(inventory: Inventory) -> None:
    inventory.restock_all(-1)
