"""``python -m toolmesh.protocols.conformance [--transport stdio|http ...]``: the conformance fixture."""

from toolmesh.protocols.cli import run_server_main

if __name__ == "__main__":
    run_server_main("fixture", module="toolmesh.protocols.conformance")
