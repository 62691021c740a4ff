"""API shape of an audit event."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict


class AuditEventRead(BaseModel):
    id: int
    occurred_at: datetime
    actor_user_id: int | None
    actor_email: str | None
    channel: str
    token_id: int | None
    action: str
    resource_type: str | None
    resource_id: str | None
    changes: dict[str, Any]
    request_id: str | None
    ip: str | None
    user_agent: str | None

    model_config = ConfigDict(from_attributes=True)
