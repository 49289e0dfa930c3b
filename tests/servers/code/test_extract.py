"""Symbols per language on the fixture repo: kinds, qualified names, spans, signatures, doc comments."""

from __future__ import annotations

import pytest

from toolmesh.servers.code.extract import extract
from toolmesh.servers.code.languages import LANGUAGES, grammar_for, language_of

from .conftest import FIXTURE_REPO

# (file, qualified name, kind, start line, a fragment of the doc comment or "")
EXPECTED = [
    ("pkg/models.py", "Item", "class", 11, "One stock-keeping unit."),
    ("pkg/models.py", "Item.restock", "method", 17, "Add ``amount`` units"),
    ("pkg/models.py", "Inventory.Audit.run", "method", 41, ""),
    ("pkg/models.py", "validate_amount", "function", 45, "Reject negative amounts."),
    ("pkg/models.py", "MAX_ITEMS", "variable", 7, ""),
    ("web/cart.js", "Cart", "class", 6, "A cart holding line items."),
    ("web/cart.js", "Cart.addLine", "method", 12, "Add a line to the cart."),
    ("web/cart.js", "formatPrice", "function", 22, ""),
    ("web/api.ts", "Order", "interface", 1, ""),
    ("web/api.ts", "OrderId", "type", 6, ""),
    ("web/api.ts", "Status", "enum", 8, ""),
    ("web/api.ts", "OrderClient.fetchOrder", "method", 21, ""),
    ("web/api.ts", "OrderClient", "class", 14, "Fetches orders from the backend."),
    ("web/Widget.tsx", "Widget", "function", 7, ""),
    ("web/Widget.tsx", "WidgetProps", "interface", 3, ""),
    ("native/server.go", "Server", "struct", 6, "Server answers requests."),
    ("native/server.go", "Server.Handle", "method", 23, "Handle answers one request."),
    ("native/server.go", "Handler", "interface", 11, ""),
    ("native/server.go", "NewServer", "function", 18, "NewServer makes a server."),
    ("native/lib.rs", "Point", "struct", 2, "A 2D point."),
    ("native/lib.rs", "Point.norm", "method", 18, "Distance from the origin."),
    ("native/lib.rs", "Shape.area", "method", 24, ""),
    ("native/lib.rs", "Area", "trait", 12, ""),
    ("native/lib.rs", "square", "macro", 36, ""),
    ("native/vec.c", "vec", "struct", 6, "A growable vector of ints."),
    ("native/vec.c", "vec_new", "function", 14, "Create an empty vector."),
    ("native/vec.c", "vec_t", "type", 11, ""),
    ("native/vec.c", "VEC_CAP", "macro", 3, ""),
    ("native/shapes.cpp", "geo.Circle", "class", 6, "A circle."),
    ("native/shapes.cpp", "geo.Circle.area", "method", 16, ""),
    ("native/shapes.cpp", "geo.total_area", "function", 18, ""),
    ("jvm/Greeter.java", "Greeter", "class", 4, "Greets people."),
    ("jvm/Greeter.java", "Greeter.greet", "method", 12, "Returns the greeting for a name."),
    ("jvm/Greeter.java", "Greeter.Greeter", "constructor", 7, ""),
    ("jvm/Greeter.java", "Greeter.Listener", "interface", 20, ""),
    ("jvm/Ledger.cs", "Example.Accounts.Ledger", "class", 6, "A ledger of entries."),
    ("jvm/Ledger.cs", "Example.Accounts.Ledger.Record", "method", 13, "Record an amount."),
    ("jvm/Ledger.cs", "Example.Accounts.Ledger.Count", "property", 10, ""),
    ("scripts/billing.rb", "Billing.Invoice", "class", 4, "An invoice with line totals."),
    ("scripts/billing.rb", "Billing.Invoice.total", "method", 12, "Total including tax."),
    ("scripts/billing.rb", "Billing", "module", 2, "Billing helpers."),
    ("scripts/mailer.php", "Mailer", "class", 8, "Sends mail."),
    ("scripts/mailer.php", "Mailer.send", "method", 12, ""),
    ("scripts/mailer.php", "deliver", "function", 23, ""),
    ("scripts/mailer.php", "Transport", "interface", 18, ""),
]


@pytest.mark.parametrize(("path", "qualname", "kind", "line", "doc"), EXPECTED)
def test_definition(path: str, qualname: str, kind: str, line: int, doc: str) -> None:
    spec = language_of(path)
    assert spec is not None
    parsed = extract(grammar_for(spec.name), (FIXTURE_REPO / path).read_bytes())
    matches = [s for s in parsed.symbols if s.qualname == qualname]
    assert matches, f"{qualname} not found; got {[s.qualname for s in parsed.symbols]}"
    at_line = [s for s in matches if s.start_line == line]
    assert at_line, f"{qualname} at lines {[s.start_line for s in matches]}, expected {line}"
    symbol = at_line[0]
    assert symbol.kind == kind
    assert symbol.name == qualname.rsplit(".", 1)[-1]
    assert symbol.signature
    if doc:
        assert doc in symbol.doc
    else:
        assert symbol.doc == "" or kind != "function"


def test_every_language_has_a_grammar_and_fixture() -> None:
    covered = {language_of(p.name).name for p in FIXTURE_REPO.rglob("*") if language_of(p.name)}  # type: ignore[union-attr]
    assert covered == {spec.name for spec in LANGUAGES}


def test_call_edges_name_their_enclosing_definition() -> None:
    parsed = extract(grammar_for("python"), (FIXTURE_REPO / "pkg/models.py").read_bytes())
    edges = {
        (parsed.symbols[c.caller].qualname if c.caller is not None else None, c.name) for c in parsed.calls
    }
    assert ("Item.restock", "validate_amount") in edges
    assert ("Inventory.restock_all", "restock") in edges
    assert ("build_inventory", "Item") in edges


def test_references_are_identifier_occurrences() -> None:
    source = (FIXTURE_REPO / "native/server.go").read_bytes()
    parsed = extract(grammar_for("go"), source)
    greet = [(line, col) for name, line, col in parsed.refs if name == "greet"]
    lines = source.decode().splitlines()
    expected = [(n, text.index("greet")) for n, text in enumerate(lines, 1) if "greet(" in text]
    assert greet == expected
    assert len(expected) == 2  # the call in Handle and the definition


def test_python_signature_spans_lines_and_stops_at_body() -> None:
    source = b"def f(\n    a: int,\n    b: int,\n) -> int:\n    return a + b\n"
    (symbol,) = extract(grammar_for("python"), source).symbols
    assert symbol.signature == "def f( a: int, b: int, ) -> int"
    assert (symbol.start_line, symbol.end_line) == (1, 5)


def test_broken_source_still_yields_symbols() -> None:
    source = b"class Ok:\n    def fine(self):\n        return 1\n\ndef broken(:\n    pass\n"
    names = {s.qualname for s in extract(grammar_for("python"), source).symbols}
    assert "Ok.fine" in names


def _target_refs(language: str, source: bytes) -> list[tuple[int, int]]:
    return [
        (line, col) for name, line, col in extract(grammar_for(language), source).refs if name == "target"
    ]


def test_references_skip_comments_and_strings_but_not_interpolations() -> None:
    python = b'# target in a comment\nx = "target in a string"\ny = f"{target} in an f-string"\ntarget()\n'
    assert _target_refs("python", python) == [(3, 7), (4, 0)]
    js = b"// target\nconst s = `${target} and target`;\nconst t = 'target';\ntarget;\n"
    assert _target_refs("javascript", js) == [(2, 13), (4, 0)]
    php = b"<?php\n$target = 1; // $target\necho $target;\n"
    assert _target_refs("php", php) == [(2, 1), (3, 6)]
