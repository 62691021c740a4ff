"""JSON for flat list pages: rows shaped like a read schema, written by orjson.

pydantic-core writes the same JSON from row dicts (through a TypedDict derived from the
schema) at twice the cost for a page of 50 products. This encoder is built only for a
schema whose fields orjson writes exactly as pydantic does: integers, strings, booleans,
datetimes, JSON objects and lists, each possibly null, plus fields with a JSON
`PlainSerializer` (money as "12.50"), applied here in the same way. Any other schema gets
None and keeps pydantic's serializer. tests/unit/test_row_json.py holds both to the
same bytes.
"""

from __future__ import annotations

import types
import typing
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

import orjson
from pydantic import BaseModel, PlainSerializer

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
    decorators = schema.__pydantic_decorators__
    if decorators.field_serializers or decorators.model_serializers:
        return None
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

    return encode
