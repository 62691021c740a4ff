"""API shapes for customers: the write commands as bodies, and the customer as read."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict

from app.customers.commands import CreateCustomer, UpdateCustomer

_EXAMPLE: dict[str, Any] = {
    "name": "Ada Lovelace",
    "email": "ada@example.com",
    "phone": "+44 20 7946 0000",
    "company": "Analytical Engines Ltd",
    "notes": "Prefers email.",
}


class CustomerCreate(CreateCustomer):
    """The POST body: the CreateCustomer command itself, with its OpenAPI example."""

    model_config = ConfigDict(json_schema_extra={"examples": [_EXAMPLE]})


class CustomerUpdate(UpdateCustomer):
    """The PATCH body: the UpdateCustomer command itself, with its OpenAPI example."""

    model_config = ConfigDict(json_schema_extra={"examples": [{"phone": "+44 20 7946 0001"}]})


class CustomerRead(BaseModel):
    id: int
    name: str
    email: str
    phone: str
    company: str
    notes: str
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


class CustomerBrief(BaseModel):
    """The customer as embedded in an order."""

    id: int
    name: str
    email: str
    company: str

    model_config = ConfigDict(from_attributes=True)
