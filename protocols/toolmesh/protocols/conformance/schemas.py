"""JSON Schema helpers for the MCP checks: validate schemas, build arguments from an input schema.

The kit assumes nothing about tool names: it reads each tool's ``inputSchema`` and builds the smallest
arguments that validate (required properties only, defaults/examples/enums first), and for hostile-input
checks it builds arguments that break exactly one type rule.
"""

from __future__ import annotations

from typing import Any

import jsonschema  # type: ignore[import-untyped]
from jsonschema.exceptions import SchemaError  # type: ignore[import-untyped]
from jsonschema.validators import validator_for  # type: ignore[import-untyped]

__all__ = ["NoExample", "example_for", "schema_problem", "validation_error", "wrong_type_arguments"]

_DRAFT = "https://json-schema.org/draft/2020-12/schema"


class NoExample(Exception):
    """No valid instance could be built from the schema."""


def _validator(schema: dict[str, Any]) -> Any:
    cls = validator_for(schema, default=jsonschema.Draft202012Validator)
    return cls(schema)


def schema_problem(schema: Any) -> str | None:
    """Why ``schema`` is not a valid JSON Schema for tool input/output (None when it is)."""
    if not isinstance(schema, dict):
        return f"schema is {type(schema).__name__}, not an object"
    cls = validator_for(schema, default=jsonschema.Draft202012Validator)
    try:
        cls.check_schema(schema)
    except SchemaError as exc:
        return f"invalid JSON Schema: {exc.message} (at {'/'.join(map(str, exc.absolute_path)) or 'root'})"
    if schema.get("type") != "object":
        return f"type is {schema.get('type')!r}, must be 'object'"
    return None


def validation_error(instance: Any, schema: dict[str, Any]) -> str | None:
    """The first way ``instance`` violates ``schema`` (None when it validates)."""
    errors = sorted(_validator(schema).iter_errors(instance), key=lambda e: list(e.absolute_path))
    if not errors:
        return None
    first = errors[0]
    where = "/".join(map(str, first.absolute_path)) or "root"
    return f"{first.message} (at {where})"


def _resolve(schema: dict[str, Any], root: dict[str, Any]) -> dict[str, Any]:
    seen = 0
    while isinstance(ref := schema.get("$ref"), str) and ref.startswith("#/") and seen < 20:
        node: Any = root
        for part in ref[2:].split("/"):
            node = node.get(part.replace("~1", "/").replace("~0", "~")) if isinstance(node, dict) else None
        if not isinstance(node, dict):
            raise NoExample(f"unresolvable $ref {ref}")
        schema = {**node, **{k: v for k, v in schema.items() if k != "$ref"}}
        seen += 1
    return schema


def _example(schema: Any, root: dict[str, Any], depth: int) -> Any:
    if depth > 12:
        raise NoExample("schema nests too deeply")
    if schema is True or schema == {}:
        return "test"
    if not isinstance(schema, dict):
        raise NoExample("schema is not an object")
    schema = _resolve(schema, root)
    if "const" in schema:
        return schema["const"]
    if "default" in schema:
        return schema["default"]
    examples = schema.get("examples")
    if isinstance(examples, list) and examples:
        return examples[0]
    if isinstance(enum := schema.get("enum"), list) and enum:
        return enum[0]
    for key in ("anyOf", "oneOf"):
        options = schema.get(key)
        if isinstance(options, list) and options:
            non_null = [o for o in options if not (isinstance(o, dict) and o.get("type") == "null")]
            return _example((non_null or options)[0], root, depth + 1)
    if isinstance(all_of := schema.get("allOf"), list) and all_of:
        merged: dict[str, Any] = {}
        for part in all_of:
            if isinstance(part, dict):
                merged.update(_resolve(part, root))
        return _example(merged, root, depth + 1)
    kind = schema.get("type")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), kind[0] if kind else None)
    if kind is None:
        kind = "object" if "properties" in schema else "string"
    if kind == "object":
        props = schema.get("properties") or {}
        required = schema.get("required") or []
        out: dict[str, Any] = {}
        for name in required:
            out[name] = _example(props.get(name, {}), root, depth + 1)
        return out
    if kind == "array":
        items = schema.get("items", {})
        return [_example(items, root, depth + 1) for _ in range(int(schema.get("minItems", 0)))]
    if kind == "string":
        return _string_example(schema)
    if kind in ("integer", "number"):
        return _number_example(schema, integer=kind == "integer")
    if kind == "boolean":
        return False
    if kind == "null":
        return None
    raise NoExample(f"unknown type {kind!r}")


def _string_example(schema: dict[str, Any]) -> str:
    fmt = schema.get("format")
    by_format = {
        "uri": "https://example.com/",
        "url": "https://example.com/",
        "email": "test@example.com",
        "date": "2026-01-01",
        "date-time": "2026-01-01T00:00:00Z",
        "uuid": "00000000-0000-4000-8000-000000000000",
    }
    text = by_format.get(str(fmt), "test")
    low = int(schema.get("minLength", 0))
    high = schema.get("maxLength")
    if len(text) < low:
        text = text + "x" * (low - len(text))
    if isinstance(high, int) and len(text) > high:
        text = text[:high]
    return text


def _number_example(schema: dict[str, Any], *, integer: bool) -> int | float:
    low = schema.get("minimum", schema.get("exclusiveMinimum"))
    high = schema.get("maximum", schema.get("exclusiveMaximum"))
    value: float = 1
    if isinstance(low, int | float):
        value = low + (1 if "exclusiveMinimum" in schema and "minimum" not in schema else 0)
    if isinstance(high, int | float) and value > high:
        value = high
    multiple = schema.get("multipleOf")
    if isinstance(multiple, int | float) and multiple > 0:
        value = multiple * round(value / multiple) or multiple
    return int(value) if integer else value


def example_for(schema: dict[str, Any]) -> dict[str, Any]:
    """The smallest arguments that validate against a tool's input schema (NoExample if none found)."""
    value = _example(schema, schema, 0)
    if not isinstance(value, dict):
        raise NoExample("the input schema does not describe an object")
    if (problem := validation_error(value, schema)) is not None:
        raise NoExample(f"built arguments do not validate: {problem}")
    return value


_WRONG: dict[str, Any] = {
    "string": 12345,
    "integer": "not-a-number",
    "number": "not-a-number",
    "boolean": "not-a-boolean",
    "array": "not-an-array",
    "object": "not-an-object",
}


def wrong_type_arguments(schema: dict[str, Any]) -> tuple[dict[str, Any], str] | None:
    """Valid arguments with one property replaced by a value of the wrong type, and which one.

    None when the schema gives no typed property to break (the caller then sends non-object arguments).
    """
    try:
        base = example_for(schema)
    except NoExample:
        base = {}
    props = schema.get("properties") or {}
    required = list(schema.get("required") or [])
    for name in [*required, *[p for p in props if p not in required]]:
        prop = props.get(name)
        if not isinstance(prop, dict):
            continue
        prop = _resolve(prop, schema)
        kind = prop.get("type")
        if not isinstance(kind, str) or kind not in _WRONG:
            continue
        bad = {**base, name: _WRONG[kind]}
        if validation_error(bad, schema) is not None:
            return bad, f"{name}: {kind} given {_WRONG[kind]!r}"
    return None
