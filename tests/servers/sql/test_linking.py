"""Schema linking alone: identifiers, stemming, Chinese (comments and glossary), values, join paths."""

from __future__ import annotations

from collections.abc import Sequence

from toolmesh.servers.sql.linking import SchemaIndex, question_terms, split_identifier, terms
from toolmesh.servers.sql.models import ColumnInfo, ForeignKey, TableDescription


def _table(
    name: str, columns: list[str], fks: Sequence[tuple[str, str, str]] = (), comment: str | None = None
) -> TableDescription:
    return TableDescription(
        connection="t",
        schema_name="main",
        name=name,
        comment=comment,
        columns=[ColumnInfo(name=c, type="text") for c in columns],
        foreign_keys=[
            ForeignKey(columns=[a], ref_schema="main", ref_table=t, ref_columns=[b]) for a, t, b in fks
        ],
    )


SCHEMA = [
    _table("Customer", ["CustomerId", "FirstName", "Country", "Email"]),
    _table(
        "Invoice",
        ["InvoiceId", "CustomerId", "InvoiceDate", "Total"],
        [("CustomerId", "Customer", "CustomerId")],
    ),
    _table(
        "InvoiceLine",
        ["InvoiceLineId", "InvoiceId", "TrackId", "Quantity"],
        [("InvoiceId", "Invoice", "InvoiceId"), ("TrackId", "Track", "TrackId")],
    ),
    _table("Track", ["TrackId", "Name", "AlbumId", "Milliseconds"], [("AlbumId", "Album", "AlbumId")]),
    _table("Album", ["AlbumId", "Title", "ArtistId"], [("ArtistId", "Artist", "ArtistId")]),
    _table("Artist", ["ArtistId", "Name"]),
    _table("Employee", ["EmployeeId", "LastName", "Title", "ReportsTo"]),
]


def test_identifiers_and_terms() -> None:
    assert split_identifier("InvoiceLineId") == ["invoice", "line", "id"]
    assert split_identifier("order_items") == ["order", "items"]
    assert terms("countries categories boxes") == ["country", "category", "box"]
    assert "客户" in terms("每个国家的客户")
    assert "the" not in question_terms("What is the total of the invoices?")
    assert {"customer", "country"} <= set(question_terms("每个国家有多少客户?"))


def test_english_question_ranks_and_joins() -> None:
    tables, paths = SchemaIndex(SCHEMA).rank("Which artists have tracks bought by customers in France?", 6)
    top = [t.name for t in tables]
    assert {"Artist", "Track", "Customer"} <= set(top[:4])
    assert "Employee" not in top[:5]
    assert any(p.tables[0] == top[0] and len(p.tables) >= 3 for p in paths)
    assert all(len(p.on) == len(p.tables) - 1 for p in paths)


def test_bridge_tables_are_lifted() -> None:
    tables, _ = SchemaIndex(SCHEMA).rank("customer names and the track names they bought", 4)
    assert "InvoiceLine" in [t.name for t in tables] and "Invoice" in [t.name for t in tables]


def test_chinese_question_on_english_schema() -> None:
    tables, _ = SchemaIndex(SCHEMA).rank("每个国家的客户有多少张发票?", 3)
    assert [t.name for t in tables][:2] in (["Customer", "Invoice"], ["Invoice", "Customer"])
    tables, _ = SchemaIndex(SCHEMA).rank("哪位艺术家的专辑最多?", 2)
    assert {t.name for t in tables} == {"Artist", "Album"}


def test_chinese_comments_and_values() -> None:
    schema = [
        _table("kunden", ["nr", "land"], comment="客户"),
        _table("auftraege", ["nr", "kunde"], [("kunde", "kunden", "nr")], comment="订单"),
    ]
    tables, _ = SchemaIndex(schema).rank("订单", 1)
    assert tables[0].name == "auftraege"
    index = SchemaIndex(schema, {("main", "kunden", "land"): ["Frankreich", "Japan"]})
    tables, _ = index.rank("who is in Frankreich", 1)
    assert tables[0].name == "kunden"
    assert tables[0].columns[0].name == "land" and "value" in tables[0].columns[0].reason
