"""Tool inputs and outputs: pydantic models that give every tool an output schema and structured content."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field

__all__ = [
    "ColumnInfo",
    "ConnectionInfo",
    "ConnectionList",
    "ExplainResult",
    "ForeignKey",
    "IndexInfo",
    "JoinPath",
    "LinkedColumn",
    "LinkedTable",
    "QueryColumn",
    "QueryResult",
    "TableDescription",
    "TableList",
    "TableMatches",
    "TableSummary",
    "WriteResult",
]

Kind = Literal["table", "view"]


class ConnectionInfo(BaseModel):
    name: str
    dialect: Literal["sqlite", "postgresql", "mysql"]
    description: str = ""
    read_only: bool = Field(description="False only when writes were explicitly enabled for this connection.")
    placeholders: str = Field(description="How to write bound parameters in run_query.")
    available: bool = Field(
        default=True, description="False when calls on this connection fail now; `reason` says why."
    )
    reason: str | None = Field(
        default=None, description="Why the connection is unavailable, and what to set or fix."
    )
    warnings: list[str] = Field(
        default_factory=list, description="Found when the connection opened, e.g. a privileged account."
    )


class ConnectionList(BaseModel):
    connections: list[ConnectionInfo]


class TableSummary(BaseModel):
    schema_name: str
    name: str
    kind: Kind = "table"
    estimated_rows: int | None = Field(
        default=None, description="From planner statistics; may be approximate."
    )
    comment: str | None = None


class TableList(BaseModel):
    connection: str
    tables: list[TableSummary]
    truncated: bool = False


class ColumnInfo(BaseModel):
    name: str
    type: str
    nullable: bool = True
    default: str | None = None
    primary_key: bool = False
    comment: str | None = None


class ForeignKey(BaseModel):
    columns: list[str]
    ref_schema: str
    ref_table: str
    ref_columns: list[str]


class IndexInfo(BaseModel):
    name: str
    columns: list[str]
    unique: bool = False


class QueryColumn(BaseModel):
    name: str
    type: str


class QueryResult(BaseModel):
    connection: str
    columns: list[QueryColumn]
    # Any, not JsonValue: cells are already JSON-safe (backend.to_json_value); per-cell validation of
    # thousands of cells would cost more than the query.
    rows: list[list[Any]]
    row_count: int
    truncated: bool = False
    truncated_reason: Literal["max_rows", "max_bytes"] | None = None
    elapsed_ms: float = 0.0


class TableDescription(BaseModel):
    connection: str
    schema_name: str
    name: str
    kind: Kind = "table"
    comment: str | None = None
    estimated_rows: int | None = None
    columns: list[ColumnInfo]
    primary_key: list[str] = Field(default_factory=list)
    foreign_keys: list[ForeignKey] = Field(default_factory=list)
    referenced_by: list[str] = Field(
        default_factory=list, description="Tables with a foreign key to this one."
    )
    indexes: list[IndexInfo] = Field(default_factory=list)
    sample_columns: list[str] = Field(default_factory=list)
    sample_rows: list[list[Any]] = Field(default_factory=list)


class LinkedColumn(BaseModel):
    name: str
    score: float
    reason: str


class LinkedTable(BaseModel):
    schema_name: str
    name: str
    score: float
    columns: list[LinkedColumn] = Field(default_factory=list)
    reasons: list[str] = Field(default_factory=list)


class JoinPath(BaseModel):
    tables: list[str]
    on: list[str] = Field(
        description="Join conditions along the path, e.g. orders.customer_id = customers.customer_id"
    )


class TableMatches(BaseModel):
    connection: str
    question: str
    tables: list[LinkedTable]
    join_paths: list[JoinPath] = Field(default_factory=list)


class ExplainResult(BaseModel):
    connection: str
    dialect: str
    plan: str


class WriteResult(BaseModel):
    connection: str
    affected_rows: int
