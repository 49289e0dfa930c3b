"""The A2A agent mesh: planner, executor and reviewer.

Import from the modules: ``toolmesh.agents.plan`` (the plan model and its JSON Schema),
``toolmesh.agents.model`` (the OpenAI-compatible model seam), ``toolmesh.agents.mesh`` (build, run and
launch agents), ``toolmesh.agents.client`` (ask the planner), and the ``planner``, ``executor`` and
``reviewer`` subpackages. ``toolmesh agents up|ask|serve|demo`` is the CLI.
"""

__all__: list[str] = []
