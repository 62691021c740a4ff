"""API shapes for webhook endpoints and deliveries."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from app.text_rules import SingleLine


class WebhookEndpointCreate(BaseModel):
    url: SingleLine = Field(min_length=8, max_length=2048)
    description: SingleLine = Field(default="", max_length=255)
    events: list[SingleLine] = Field(min_length=1, max_length=16)
    is_active: bool = True

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "url": "https://hooks.example.com/backoffice",
                    "description": "ERP sync",
                    "events": ["order.placed", "order.cancelled"],
                }
            ]
        },
    )


class WebhookEndpointUpdate(BaseModel):
    url: SingleLine | None = Field(default=None, min_length=8, max_length=2048)
    description: SingleLine | None = Field(default=None, max_length=255)
    events: list[SingleLine] | None = Field(default=None, min_length=1, max_length=16)
    is_active: bool | None = None

    model_config = ConfigDict(extra="forbid")


class WebhookEndpointRead(BaseModel):
    id: int
    url: str
    description: str
    events: list[str]
    is_active: bool
    failing_since: datetime | None
    disabled_at: datetime | None
    disabled_reason: str
    version: int
    created_at: datetime
    updated_at: datetime

    model_config = ConfigDict(from_attributes=True)


class WebhookEndpointCreated(WebhookEndpointRead):
    """The only responses that carry the signing secret: creation and rotation."""

    secret: str


class WebhookDeliveryRead(BaseModel):
    id: int
    event_id: int
    endpoint_id: int
    status: str
    attempt_count: int
    next_attempt_at: datetime
    last_status_code: int | None
    last_error: str
    attempts: list[dict[str, Any]]
    delivered_at: datetime | None
    created_at: datetime

    model_config = ConfigDict(from_attributes=True)
