"""Text-to-SQL for the planner: the linked schema, value linking, a deterministic translator, shape checks."""

from toolmesh.agents.text2sql.frame import ColumnRef, Filter, Frame, named_rows, render
from toolmesh.agents.text2sql.schema import Schema, schema_from_outputs
from toolmesh.agents.text2sql.translate import Translation, translate
from toolmesh.agents.text2sql.values import ValueHit, local_hits, parse_probe, probe_sql

__all__ = [
    "ColumnRef",
    "Filter",
    "Frame",
    "Schema",
    "Translation",
    "ValueHit",
    "local_hits",
    "named_rows",
    "parse_probe",
    "probe_sql",
    "render",
    "schema_from_outputs",
    "translate",
]
