from toolmesh.protocols.cli import run_server_main

run_server_main("memory")
