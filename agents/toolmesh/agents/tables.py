"""A TOML table checked against a settings class: unknown keys at any depth, invalid values, relative
paths; every problem reported as the file, the key and what to write (:mod:`toolmesh.agents.config`)."""

from __future__ import annotations

import difflib
import types
import typing
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any, get_args

from pydantic import BaseModel, ValidationError

from toolmesh.agents.errors import MeshConfigError
from toolmesh.protocols.settings import override

__all__ = ["REFERENCE", "build_table", "resolve", "unknown_key"]

REFERENCE = "docs/up.md lists the tables; each server's page lists its settings"


def build_table(
    cls: type[Any], table: Mapping[str, Any], where: str, file: str, base: Path, defaults: Mapping[str, Any]
) -> Any:
    """``cls(**defaults, **table)``, every unknown key and invalid value reported as file + key + fix;
    the relative paths ``table`` gives are taken from ``base``."""
    _check_keys(cls, table, where, file)
    try:
        settings = cls(**{**defaults, **table})
    except ValidationError as exc:
        raise _invalid(exc, cls, table, where, file) from exc
    relative = {key: _resolve_paths(getattr(settings, key), base) for key in table if key in cls.model_fields}
    return override(settings, **relative)


def unknown_key(file: str, key: str, known: Iterable[str], what: str) -> typing.NoReturn:
    leaf = key.rsplit(".", 1)[-1]
    close = difflib.get_close_matches(leaf, list(known), n=1)
    guess = f"Did you mean `{close[0]}`? " if close else ""
    raise MeshConfigError(f"{file}: unknown key `{key}`", hint=f"{guess}{what} ({REFERENCE}).")


def _check_keys(cls: type[BaseModel], table: Mapping[str, Any], where: str, file: str) -> None:
    for key, value in table.items():
        field = cls.model_fields.get(key)
        if field is None:
            unknown_key(file, f"{where}.{key}", cls.model_fields, _takes(cls, where))
        nested, mapped = _nested_model(field.annotation)
        if nested is not None and isinstance(value, dict):
            items = value.items() if mapped else [(None, value)]
            for name, body in items:
                if isinstance(body, dict):
                    _check_keys(nested, body, f"{where}.{key}" + (f".{name}" if name else ""), file)


def _takes(cls: type[BaseModel], where: str) -> str:
    prefix = cls.model_config.get("env_prefix")
    if isinstance(prefix, str) and prefix:
        return f"[{where}] takes the {prefix}* settings, in lowercase without the prefix"
    return f"[{where}] takes the fields of {cls.__name__}"


def _nested_model(annotation: Any) -> tuple[type[BaseModel] | None, bool]:
    """The model a field holds (``X``, ``X | None``) or maps names to (``dict[str, X]``)."""
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        for arg in get_args(annotation):
            found = _nested_model(arg)
            if found[0] is not None:
                return found
    if origin is dict and len(get_args(annotation)) == 2:
        inner = get_args(annotation)[1]
        return (inner, True) if isinstance(inner, type) and issubclass(inner, BaseModel) else (None, False)
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation, False
    return None, False


def _invalid(
    exc: ValidationError, cls: type[BaseModel], table: Mapping[str, Any], where: str, file: str
) -> MeshConfigError:
    error = exc.errors()[0]
    loc = [str(part) for part in error["loc"]]
    if not loc:  # a check across fields (e.g. the registry's transport)
        return MeshConfigError(f"{file}: [{where}] is invalid: {error['msg']}", hint=f"See {REFERENCE}.")
    key = ".".join([where, *loc])
    if loc[0] not in table:
        env = f"{cls.model_config.get('env_prefix', '')}{loc[0].upper()}"
        return MeshConfigError(
            f"{file}: [{where}] cannot be built: the environment variable {env} is invalid: {error['msg']}",
            hint=f"Fix or unset {env}, or write `{loc[0]}` under [{where}].",
        )
    shown = f" (you wrote {error['input']!r})" if not isinstance(error["input"], dict) else ""
    return MeshConfigError(
        f"{file}: `{key}` is invalid: {error['msg']}{shown}", hint=_example(cls, loc, where)
    )


def _example(cls: type[BaseModel], loc: list[str], where: str) -> str:
    """What to write: the field's default as a TOML line, and its description when it has one."""
    model: type[BaseModel] | None = cls
    field = None
    name = loc[0]
    table = where
    i = 0
    while i < len(loc) and model is not None and loc[i] in model.model_fields:
        name = loc[i]
        field = model.model_fields[name]
        model, mapped = _nested_model(field.annotation)
        i += 1
        if model is not None and i < len(loc):  # one table deeper: [where.name] or [where.name.KEY]
            table = f"{table}.{name}"
            if mapped:
                table, i = f"{table}.{loc[i]}", i + 1
    if field is None:
        return f"See {REFERENCE}."
    default = _toml(field.get_default(call_default_factory=True))
    line = f"`{name} = {default}`" if default else f"`{name} = ...`"
    described = f": {field.description}" if field.description else ""
    return f"Write e.g. {line} under [{table}]{described} ({REFERENCE})."


def _toml(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    if isinstance(value, str | Path):
        return '"' + str(value).replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(value, list) and all(_toml(v) for v in value):
        return "[" + ", ".join(_toml(v) for v in value) + "]"
    return ""


def resolve(path: Path, base: Path) -> Path:
    return path if path.is_absolute() else base / path


def _resolve_paths(value: Any, base: Path) -> Any:
    if isinstance(value, Path):
        return resolve(value.expanduser(), base)
    if isinstance(value, list) and value and all(isinstance(v, Path) for v in value):
        return [resolve(v.expanduser(), base) for v in value]
    return value
