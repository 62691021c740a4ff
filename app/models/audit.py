"""The append-only audit log (SPEC §9)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import CheckConstraint, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from app.models.base import Base, utcnow

CHANNELS = ("admin", "api", "cli", "system")


class AuditEvent(Base):
    """One change or security event, written in the same transaction as what it records."""

    __tablename__ = "audit_events"
    __table_args__ = (
        CheckConstraint(
            "channel IN (" + ", ".join(f"'{c}'" for c in CHANNELS) + ")", name="channel_known"
        ),
        Index("ix_audit_events_resource", "resource_type", "resource_id"),
    )

    occurred_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    # No foreign key on purpose: the log outlives the rows it describes; the email is a
    # snapshot so the actor stays readable after a rename.
    actor_user_id: Mapped[int | None] = mapped_column(Integer, index=True)
    actor_email: Mapped[str | None] = mapped_column(String(320))
    channel: Mapped[str] = mapped_column(String(16), index=True)
    token_id: Mapped[int | None] = mapped_column(Integer)
    action: Mapped[str] = mapped_column(String(64), index=True)
    resource_type: Mapped[str | None] = mapped_column(String(64))
    resource_id: Mapped[str | None] = mapped_column(String(64))
    changes: Mapped[dict[str, Any]] = mapped_column(default=dict)
    request_id: Mapped[str | None] = mapped_column(String(128))
    ip: Mapped[str | None] = mapped_column(String(45))
    user_agent: Mapped[str | None] = mapped_column(String(255))
