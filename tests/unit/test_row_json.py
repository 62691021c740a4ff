"""The orjson row encoder writes exactly the bytes pydantic's serializer writes."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import pytest
from pydantic import BaseModel, field_serializer

from app.api.pages import _row_list_adapter
from app.api.row_json import rows_encoder
from app.audit_log.schemas import AuditEventRead
from app.customers.schemas import CustomerRead
from app.products.schemas import ProductRead

TEXTS = [
    "",
    "plain",
    'quote " backslash \\ slash /',
    "control \x00 \x01 \x08 \t \n \x0c \r \x1f \x7f",
    "unicode «ü» ∅ 漢字 😀 \u2028 \u2029",
    "<script>&amp;</script>",
]
MOMENTS = [
    datetime(2026, 3, 1, 9, 30, tzinfo=UTC),
    datetime(2026, 3, 1, 9, 30, 0, 1013, tzinfo=UTC),
    datetime(1, 1, 1, tzinfo=UTC),
    datetime(9999, 12, 31, 23, 59, 59, 999999, tzinfo=UTC),
    datetime(2026, 3, 1, 9, 30, 5, 500000, tzinfo=timezone(timedelta(hours=2))),
]
NUMBERS = [0, 1, -1, 2**31 - 1, -(2**31), 2**53 + 1, 2**63 - 1]
AMOUNTS = [
    Decimal("0"),
    Decimal("0.5"),
    Decimal("12.50"),
    Decimal("9999999999.99"),
    Decimal("1E+2"),
]
JSON_VALUES: list[Any] = [
    {},
    {"stock": [1, 2], "note": ["∅", 'naïve "quoted"']},
    {"nested": {"list": [None, True, 1.5, "x"], "n": -3}},
]


def _value(annotation: Any, rng: random.Random) -> Any:
    text = str(annotation)
    if "None" in text and rng.random() < 0.3:
        return None
    if "dict" in text:
        return rng.choice(JSON_VALUES)
    if "bool" in text:
        return rng.random() < 0.5
    if "int" in text:
        return rng.choice(NUMBERS)
    if "datetime" in text:
        return rng.choice(MOMENTS)
    if "Decimal" in text:
        return rng.choice(AMOUNTS)
    return rng.choice(TEXTS)


@pytest.mark.parametrize("schema", [ProductRead, CustomerRead, AuditEventRead])
def test_rows_are_written_as_pydantic_writes_them(schema: type[BaseModel]) -> None:
    encode = rows_encoder(schema)
    assert encode is not None
    rng = random.Random(schema.__name__)
    fields = schema.model_fields
    rows = [tuple(_value(info.annotation, rng) for info in fields.values()) for _ in range(300)]
    names = tuple(fields)

    dicts = [dict(zip(names, row, strict=True)) for row in rows]
    expected = _row_list_adapter(schema).dump_json(dicts)

    assert encode(rows) == expected
    assert encode([]) == b"[]"


class Measured(BaseModel):
    id: int
    ratio: float  # orjson and pydantic may write floats differently


class Renamed(BaseModel):
    id: int
    name: str

    @field_serializer("name")
    def shout(self, value: str) -> str:
        return value.upper()


@pytest.mark.parametrize("schema", [Measured, Renamed])
def test_schemas_it_cannot_match_keep_pydantics_serializer(schema: type[BaseModel]) -> None:
    assert rows_encoder(schema) is None
