"""Staff identity tables: users, roles, API tokens, refresh tokens and admin sessions."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, CheckConstraint, Column, ForeignKey, Index, String, Table, func
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.models.base import Base, Versioned

user_roles = Table(
    "user_roles",
    Base.metadata,
    Column("user_id", ForeignKey("users.id", ondelete="CASCADE"), primary_key=True),
    Column("role_id", ForeignKey("roles.id", ondelete="CASCADE"), primary_key=True, index=True),
)


class Role(Versioned, Base):
    """A named set of permissions; built-in roles cannot be renamed or deleted."""

    __tablename__ = "roles"

    name: Mapped[str] = mapped_column(String(64), unique=True)
    description: Mapped[str] = mapped_column(String(255), default="")
    permissions: Mapped[list[str]] = mapped_column(default=list)
    is_builtin: Mapped[bool] = mapped_column(Boolean, default=False)

    def __str__(self) -> str:
        return self.name


class User(Versioned, Base):
    """A staff member who can log in to the admin and own API tokens."""

    __tablename__ = "users"
    __table_args__ = (
        CheckConstraint("failed_login_count >= 0", name="failed_login_count_non_negative"),
    )

    email: Mapped[str] = mapped_column(String(320))
    full_name: Mapped[str] = mapped_column(String(200), default="")
    password_hash: Mapped[str] = mapped_column(String(255))
    is_active: Mapped[bool] = mapped_column(Boolean, default=True, index=True)
    last_login_at: Mapped[datetime | None]
    failed_login_count: Mapped[int] = mapped_column(default=0)
    # Start of the current run of failures: a run older than the lockout window restarts.
    last_failed_login_at: Mapped[datetime | None]
    locked_until: Mapped[datetime | None]
    # Rotated on password change, deactivation and "log out everywhere": every session
    # and token issued under an older stamp is dead.
    security_stamp: Mapped[str] = mapped_column(String(64))

    roles: Mapped[list[Role]] = relationship(secondary=user_roles, lazy="selectin")

    def __str__(self) -> str:
        return self.email


class ApiToken(Base):
    """A personal API token; only its SHA-256 digest is stored."""

    __tablename__ = "api_tokens"

    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(100))
    token_prefix: Mapped[str] = mapped_column(String(8))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    scopes: Mapped[list[str]] = mapped_column(default=list)
    expires_at: Mapped[datetime | None] = mapped_column(index=True)
    last_used_at: Mapped[datetime | None]
    last_used_ip: Mapped[str | None] = mapped_column(String(45))
    revoked_at: Mapped[datetime | None] = mapped_column(index=True)

    user: Mapped[User] = relationship(lazy="joined")

    def __str__(self) -> str:
        return f"{self.name} (bo_{self.token_prefix}…)"


class RefreshToken(Base):
    """An OAuth2 refresh token (hashed); rotation keeps the family, reuse revokes it."""

    __tablename__ = "refresh_tokens"

    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    family_id: Mapped[str] = mapped_column(String(36), index=True)
    expires_at: Mapped[datetime] = mapped_column(index=True)
    used_at: Mapped[datetime | None]
    revoked_at: Mapped[datetime | None]


class StaffSession(Base):
    """A server-side admin session; the browser holds only its opaque token."""

    __tablename__ = "staff_sessions"

    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    last_seen_at: Mapped[datetime]
    expires_at: Mapped[datetime] = mapped_column(index=True)
    ip: Mapped[str | None] = mapped_column(String(45))
    user_agent: Mapped[str | None] = mapped_column(String(255))
    revoked_at: Mapped[datetime | None]

    user: Mapped[User] = relationship(lazy="joined")


# Emails are unique whatever their case: "Ann@x.io" and "ann@x.io" are one address.
Index("uq_users_email_lower", func.lower(User.email), unique=True)
