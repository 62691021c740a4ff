"""API shapes for customers."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, EmailStr, Field

from app.text_rules import MultiLine, SingleLine

_EXAMPLE: dict[str, Any] = {
    "name": "Ada Lovelace",
    "email": "ada@example.com",
    "phone": "+44 20 7946 0000",
    "company": "Analytical Engines Ltd",
    "notes": "Prefers email.",
}


class CustomerCreate(BaseModel):
    name: SingleLine = Field(min_length=1, max_length=200)
    email: EmailStr = Field(max_length=320)
    phone: SingleLine = Field(default="", max_length=50)
    company: SingleLine = Field(default="", max_length=200)
    notes: MultiLine = Field(default="", max_length=10_000)
    is_active: bool = True

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [_EXAMPLE]})


class CustomerUpdate(BaseModel):
    name: SingleLine | None = Field(default=None, min_length=1, max_length=200)
    email: EmailStr | None = Field(default=None, max_length=320)
    phone: SingleLine | None = Field(default=None, max_length=50)
    company: SingleLine | None = Field(default=None, max_length=200)
    notes: MultiLine | None = Field(default=None, max_length=10_000)
    is_active: bool | None = None

    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [{"phone": "+44 20 7946 0001"}]}
    )


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
