"""API shapes for orders and their items: the write commands as bodies, the order as read."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import AliasPath, BaseModel, ConfigDict, Field, computed_field

from app.commands import choice_of
from app.customers.schemas import CustomerBrief
from app.models import OrderStatus
from app.orders.commands import AddItem, CreateOrder, UpdateItem, UpdateOrder
from app.products.schemas import Money


class OrderItemCreate(AddItem):
    """The POST …/items body: the AddItem command itself, with its OpenAPI example."""

    model_config = ConfigDict(json_schema_extra={"examples": [{"product_id": 1, "quantity": 2}]})


class OrderItemUpdate(UpdateItem):
    """The PATCH …/items/{item_id} body: the UpdateItem command itself."""


class OrderCreate(CreateOrder):
    """The POST body: the CreateOrder command itself, with its OpenAPI example."""

    model_config = ConfigDict(
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


class OrderUpdate(UpdateOrder):
    """The PATCH body: the UpdateOrder command itself, with its OpenAPI example."""

    model_config = ConfigDict(json_schema_extra={"examples": [{"notes": "Deliver after 2 pm."}]})


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
    status: Annotated[str, choice_of(OrderStatus)]
    notes: str
    total: Money
    placed_at: datetime | None
    created_by_id: int | None
    items: list[OrderItemRead]
    version: int
    created_at: datetime
    updated_at: datetime

    model_config = ConfigDict(from_attributes=True)
