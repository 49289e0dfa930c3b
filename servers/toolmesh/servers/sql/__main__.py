"""``python -m toolmesh.servers.sql --transport stdio|http``."""

from toolmesh.protocols.cli import run_server_main

if __name__ == "__main__":
    run_server_main("sql")
