"""``python -m toolmesh.registry serve``."""

from toolmesh.registry.cli import main

main()
