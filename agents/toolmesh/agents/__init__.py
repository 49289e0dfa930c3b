"""The A2A agent mesh: planner, executor and reviewer (each a subpackage)."""

__all__: list[str] = []
