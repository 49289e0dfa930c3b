"""``python -m toolmesh.servers.code --transport stdio|http``."""

from toolmesh.protocols.cli import run_server_main

if __name__ == "__main__":
    run_server_main("code")
