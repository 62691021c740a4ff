"""API shapes for products: the write commands as bodies, and the product as read."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, PlainSerializer

from app.infra.sql_json import TwoPlaces
from app.products.commands import CreateProduct, UpdateProduct

# Money travels as a decimal string ("12.50"). (What a price may be is
# app/products/commands.py `Price`; this is how one is shown.)
Money = Annotated[
    Decimal,
    Field(ge=0, max_digits=12, decimal_places=2),
    # "1.5" and "1.50" are the same amount: store and compare them as one.
    AfterValidator(lambda value: value.quantize(Decimal("0.01"))),
    PlainSerializer(lambda value: f"{value:.2f}", return_type=str, when_used="json"),
    # The same string when the database writes the JSON (app/infra/sql_json.py).
    TwoPlaces(),
]

_EXAMPLE: dict[str, Any] = {
    "sku": "WID-001",
    "name": "Widget",
    "description": "A very useful widget.",
    "price": "12.50",
    "stock": 100,
    "reorder_level": 10,
}


class ProductCreate(CreateProduct):
    """The POST body: the CreateProduct command itself, with its OpenAPI example."""

    model_config = ConfigDict(json_schema_extra={"examples": [_EXAMPLE]})


class ProductUpdate(UpdateProduct):
    """The PATCH body: the UpdateProduct command itself, with its OpenAPI example."""

    model_config = ConfigDict(json_schema_extra={"examples": [{"price": "13.00", "stock": 90}]})


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
