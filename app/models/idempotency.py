"""Stored responses for `Idempotency-Key` replays (SPEC §6)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import LargeBinary, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from app.models.base import Base


class IdempotencyRecord(Base):
    """A POST seen under a key: in flight until `response_status` is set, then replayable.

    A finished record without a body (`response_body` NULL; a stored 204 has b"") ran a
    request whose response carried a secret: it is never stored, so it is not replayed.
    """

    __tablename__ = "idempotency_records"
    __table_args__ = (
        UniqueConstraint("principal_key", "key", name="uq_idempotency_principal_key"),
    )

    principal_key: Mapped[str] = mapped_column(String(64))
    key: Mapped[str] = mapped_column(String(255))
    method: Mapped[str] = mapped_column(String(10))
    path: Mapped[str] = mapped_column(String(2048))
    request_hash: Mapped[str] = mapped_column(String(64))
    response_status: Mapped[int | None]
    response_headers: Mapped[dict[str, Any]] = mapped_column(default=dict)
    response_body: Mapped[bytes | None] = mapped_column(LargeBinary)
    expires_at: Mapped[datetime] = mapped_column(index=True)
