"""API shapes for products."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, PlainSerializer

from app.models.products import SKU_PATTERN
from app.text_rules import MultiLine, SingleLine

# Money travels as a decimal string ("12.50"); input may be a string or a number.
Money = Annotated[
    Decimal,
    Field(ge=0, max_digits=12, decimal_places=2),
    # "1.5" and "1.50" are the same amount: store and compare them as one.
    AfterValidator(lambda value: value.quantize(Decimal("0.01"))),
    PlainSerializer(lambda value: f"{value:.2f}", return_type=str, when_used="json"),
]
Sku = Annotated[str, Field(pattern=SKU_PATTERN, examples=["WID-001"])]

_EXAMPLE: dict[str, Any] = {
    "sku": "WID-001",
    "name": "Widget",
    "description": "A very useful widget.",
    "price": "12.50",
    "stock": 100,
    "reorder_level": 10,
}


class ProductCreate(BaseModel):
    sku: Sku
    name: SingleLine = Field(min_length=1, max_length=200)
    description: MultiLine = Field(default="", max_length=10_000)
    price: Money
    stock: int = Field(default=0, ge=0, le=2_000_000_000)
    reorder_level: int = Field(default=0, ge=0, le=2_000_000_000)
    is_active: bool = True

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [_EXAMPLE]})


class ProductUpdate(BaseModel):
    sku: Sku | None = None
    name: SingleLine | None = Field(default=None, min_length=1, max_length=200)
    description: MultiLine | None = Field(default=None, max_length=10_000)
    price: Money | None = None
    stock: int | None = Field(default=None, ge=0, le=2_000_000_000)
    reorder_level: int | None = Field(default=None, ge=0, le=2_000_000_000)
    is_active: bool | None = None

    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [{"price": "13.00", "stock": 90}]}
    )


class ProductRead(BaseModel):
    id: int
    sku: str
    name: str
    description: str
    price: Money
    stock: int
    reorder_level: int
    is_active: bool
    version: int
    created_at: datetime
    updated_at: datetime

    model_config = ConfigDict(
        from_attributes=True,
        json_schema_extra={
            "examples": [
                {
                    "id": 1,
                    **_EXAMPLE,
                    "is_active": True,
                    "version": 1,
                    "created_at": "2026-01-31T09:00:00Z",
                    "updated_at": "2026-01-31T09:00:00Z",
                }
            ]
        },
    )
