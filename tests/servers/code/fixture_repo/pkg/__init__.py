"""A tiny inventory package used as the code server's test fixture."""

from .models import Inventory, Item

__all__ = ["Inventory", "Item"]
