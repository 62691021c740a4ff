"""rows_encoder notices, from public API only, a schema that writes rows its own way."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pytest
from pydantic import BaseModel, Field, field_serializer, model_serializer

from app.api.row_json import rows_encoder


class Plain(BaseModel):
    id: int
    name: str
    tags: list[str]
    data: dict[str, Any] | None
    at: datetime | None


class DoubledId(BaseModel):
    id: int

    @field_serializer("id")
    def double(self, value: int) -> int:
        return value * 2


class Enveloped(BaseModel):
    id: int

    @model_serializer
    def envelope(self) -> dict[str, Any]:
        return {"data": {"id": self.id}}


class NullsAsEmpty(BaseModel):
    note: str | None

    @field_serializer("note")
    def empty(self, value: str | None) -> str:
        return value or ""


class Excluded(BaseModel):
    id: int
    secret: str = Field(exclude=True)


def test_a_plain_schema_gets_the_orjson_encoder() -> None:
    encode = rows_encoder(Plain)

    assert encode is not None
    assert encode([(1, "a", ["x"], None, None)]) == (
        b'[{"id":1,"name":"a","tags":["x"],"data":null,"at":null}]'
    )


@pytest.mark.parametrize("schema", [DoubledId, Enveloped, NullsAsEmpty, Excluded])
def test_a_schema_that_serializes_rows_its_own_way_keeps_pydantic(
    schema: type[BaseModel],
) -> None:
    assert rows_encoder(schema) is None
