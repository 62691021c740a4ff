"""API shapes for webhook endpoints and deliveries: the write commands as bodies, and
the rows as read."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict

from app.commands import choice_of
from app.models.webhooks import DELIVERY_STATUSES
from app.webhooks.commands import SUBSCRIBABLE, CreateWebhookEndpoint, UpdateWebhookEndpoint


class WebhookEndpointCreate(CreateWebhookEndpoint):
    """The POST body: the CreateWebhookEndpoint command itself, with its OpenAPI example."""

    model_config = ConfigDict(
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


class WebhookEndpointUpdate(UpdateWebhookEndpoint):
    """The PATCH body: the UpdateWebhookEndpoint command itself."""


class WebhookEndpointRead(BaseModel):
    id: int
    url: str
    description: str
    events: list[Annotated[str, choice_of(SUBSCRIBABLE)]]
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
    status: Annotated[str, choice_of(DELIVERY_STATUSES)]
    attempt_count: int
    next_attempt_at: datetime
    last_status_code: int | None
    last_error: str
    attempts: list[dict[str, Any]]
    delivered_at: datetime | None
    created_at: datetime

    model_config = ConfigDict(from_attributes=True)
