"""JSON for flat list pages: rows shaped like a read schema, written by orjson.

pydantic-core writes the same JSON from row dicts (through a TypedDict derived from the
schema) at twice the cost for a page of 50 products. This encoder is built only for a
schema whose fields orjson writes exactly as pydantic does: integers, strings, booleans,
datetimes, JSON objects and lists, each possibly null, plus fields with a JSON
`PlainSerializer` (money as "12.50"), applied here in the same way. Any other schema gets
None and keeps pydantic's serializer. tests/unit/test_row_json.py holds both to the
same bytes.

Eligibility is read from public API only: the fields (`model_fields`: annotation, alias,
metadata), then a probe row written both ways, by this encoder and by the schema's own
serializer (`model_construct` + `TypeAdapter.dump_json`): a `@field_serializer`, a
`@model_serializer` or anything else that makes the schema write a row differently shows
as different bytes, and the schema keeps pydantic's serializer.
"""

from __future__ import annotations

import types
import typing
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import orjson
from pydantic import BaseModel, PlainSerializer, TypeAdapter

RowsEncoder = Callable[[Sequence[Sequence[Any]]], bytes]
_AS_IS = (int, str, bool, datetime)
_JSON_CONTAINERS = (dict, list)


def _without_none(annotation: Any) -> Any:
    """`X` for `X | None`; the annotation itself otherwise."""
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        others = [arg for arg in typing.get_args(annotation) if arg is not type(None)]
        return others[0] if len(others) == 1 else annotation
    return annotation


def _json_serializer(metadata: list[Any]) -> Callable[[Any], Any] | None:
    for item in metadata:
        if isinstance(item, PlainSerializer) and item.when_used in ("json", "always"):
            return item.func  # type: ignore[return-value]
    return None


def rows_encoder(schema: type[BaseModel]) -> RowsEncoder | None:
    """An orjson encoder for rows in `schema`'s field order, or None if it cannot match."""
    names = tuple(schema.model_fields)
    converters: list[tuple[str, Callable[[Any], Any]]] = []
    for name, info in schema.model_fields.items():
        if info.alias not in (None, name) or info.serialization_alias not in (None, name):
            return None
        serializer = _json_serializer(info.metadata)
        kind = _without_none(info.annotation)
        if serializer is not None:
            converters.append((name, serializer))
        elif kind not in _AS_IS and typing.get_origin(kind) not in _JSON_CONTAINERS:
            return None

    def encode(rows: Sequence[Sequence[Any]]) -> bytes:
        items = [dict(zip(names, row, strict=True)) for row in rows]
        for name, convert in converters:
            for item in items:
                if item[name] is not None:
                    item[name] = convert(item[name])
        # pydantic writes UTC as "Z", as OPT_UTC_Z does; other offsets alike.
        return orjson.dumps(items, option=orjson.OPT_UTC_Z)

    return encode if _writes_as_schema(schema, encode) else None


# One value per kind of field the encoder accepts: a serializer that changes any of them
# (upper-cases a text, rounds a number, renames or adds a key) changes the probe's bytes.
_PROBES: dict[Any, Any] = {
    int: 7,
    str: "Probe «ü» 7",
    bool: True,
    datetime: datetime(2026, 3, 1, 9, 30, 5, 1013, tzinfo=UTC),
    Decimal: Decimal("12.5"),
}


def _probe(annotation: Any) -> Any:
    """A value of `annotation` (a container holds one probe of its item type)."""
    kind = _without_none(annotation)
    origin, args = typing.get_origin(kind), typing.get_args(kind)
    if origin is list or kind is list:
        return [_probe(args[0]) if args else _PROBES[str]]
    if origin is dict or kind is dict:
        return {"probe": _probe(args[1]) if len(args) == 2 else [1, "two", None]}
    return _PROBES.get(kind, _PROBES[str])


def _writes_as_schema(schema: type[BaseModel], encode: RowsEncoder) -> bool:
    """Whether `encode` writes probe rows (values, then nulls) as the schema itself does."""
    fields = schema.model_fields
    values = tuple(_probe(info.annotation) for info in fields.values())
    nulls = tuple(
        None if _without_none(info.annotation) is not info.annotation else value
        for info, value in zip(fields.values(), values, strict=True)
    )
    instances = [
        schema.model_construct(**dict(zip(fields, row, strict=True))) for row in (values, nulls)
    ]
    adapter = TypeAdapter(list[schema])  # type: ignore[valid-type]
    # warnings=False: a probe of the wrong type shows as different bytes, not as a warning.
    return encode([values, nulls]) == adapter.dump_json(instances, warnings=False)
