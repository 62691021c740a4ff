"""API shapes for orders and their items."""

from __future__ import annotations

from datetime import datetime

from pydantic import AliasPath, BaseModel, ConfigDict, Field, computed_field

from app.customers.schemas import CustomerBrief
from app.products.schemas import Money
from app.text_rules import MultiLine

# Ids are PostgreSQL `integer`s; a larger one names no row and must not reach the driver.
MAX_ID = 2**31 - 1


class OrderItemCreate(BaseModel):
    product_id: int = Field(ge=1, le=MAX_ID)
    quantity: int = Field(ge=1, le=1_000_000)

    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [{"product_id": 1, "quantity": 2}]}
    )


class OrderItemUpdate(BaseModel):
    quantity: int = Field(ge=1, le=1_000_000)

    model_config = ConfigDict(extra="forbid")


class OrderCreate(BaseModel):
    customer_id: int = Field(ge=1, le=MAX_ID)
    notes: MultiLine = Field(default="", max_length=10_000)
    items: list[OrderItemCreate] = Field(default_factory=list, max_length=500)

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "customer_id": 1,
                    "notes": "Leave at reception.",
                    "items": [{"product_id": 1, "quantity": 2}, {"product_id": 3, "quantity": 1}],
                }
            ]
        },
    )


class OrderUpdate(BaseModel):
    customer_id: int | None = Field(default=None, ge=1, le=MAX_ID)
    notes: MultiLine | None = Field(default=None, max_length=10_000)

    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [{"notes": "Deliver after 2 pm."}]}
    )


class OrderItemRead(BaseModel):
    id: int
    product_id: int
    quantity: int
    unit_price: Money
    sku: str = Field(validation_alias=AliasPath("product", "sku"))
    name: str = Field(validation_alias=AliasPath("product", "name"))

    model_config = ConfigDict(from_attributes=True)

    @computed_field  # type: ignore[prop-decorator]
    @property
    def line_total(self) -> str:
        return f"{self.unit_price * self.quantity:.2f}"


class OrderRead(BaseModel):
    id: int
    number: str
    customer_id: int
    customer: CustomerBrief
    status: str
    notes: str
    total: Money
    placed_at: datetime | None
    created_by_id: int | None
    items: list[OrderItemRead]
    version: int
    created_at: datetime
    updated_at: datetime

    model_config = ConfigDict(from_attributes=True)
