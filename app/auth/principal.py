"""Who is calling, through which door, with which effective permissions."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Literal

from app.permissions import narrow_to_scopes, permissions_of

if TYPE_CHECKING:
    from app.models import User

Channel = Literal["admin", "api", "cli", "system"]
AuthMethod = Literal["session", "personal_token", "access_token", "cli", "system", "anonymous"]


@dataclass(frozen=True)
class RequestMeta:
    """Where a request came from, for the audit log."""

    request_id: str | None = None
    ip: str | None = None
    user_agent: str | None = None


@dataclass(frozen=True)
class Principal:
    """The caller of a service function; `permissions` are already narrowed by token scopes."""

    user_id: int | None
    email: str | None
    channel: Channel
    auth_method: AuthMethod
    permissions: frozenset[str] = field(default_factory=frozenset)
    token_id: int | None = None
    meta: RequestMeta = field(default_factory=RequestMeta)
    # A personal token's scopes as granted (empty: all of its owner's permissions).
    scopes: tuple[str, ...] = ()

    @classmethod
    def system(cls, meta: RequestMeta | None = None) -> Principal:
        """The application itself (migrations, the worker, housekeeping): no permissions."""
        return cls(None, None, "system", "system", frozenset(), meta=meta or RequestMeta())

    @classmethod
    def anonymous(cls, channel: Channel, meta: RequestMeta | None = None) -> Principal:
        """Someone not yet authenticated (a failed login is recorded against this)."""
        return cls(None, None, channel, "anonymous", frozenset(), meta=meta or RequestMeta())

    def with_meta(self, meta: RequestMeta) -> Principal:
        return replace(self, meta=meta)

    @property
    def key(self) -> str:
        """A stable identity for per-principal state (rate limits, idempotency keys)."""
        if self.token_id is not None and self.auth_method == "personal_token":
            return f"token:{self.token_id}"
        return f"user:{self.user_id}" if self.user_id is not None else f"{self.channel}:anonymous"


def principal_for_user(
    user: User,
    *,
    channel: Channel,
    auth_method: AuthMethod,
    meta: RequestMeta | None = None,
    token_id: int | None = None,
    scopes: Iterable[str] = (),
) -> Principal:
    """The Principal of an authenticated user: roles' permissions, narrowed by token scopes."""
    return principal_for(
        user_id=user.id,
        email=user.email,
        is_active=user.is_active,
        role_permissions=[role.permissions for role in user.roles],
        channel=channel,
        auth_method=auth_method,
        meta=meta,
        token_id=token_id,
        scopes=scopes,
    )


def principal_for(
    *,
    user_id: int,
    email: str,
    is_active: bool,
    role_permissions: Iterable[Iterable[str]],
    channel: Channel,
    auth_method: AuthMethod,
    meta: RequestMeta | None = None,
    token_id: int | None = None,
    scopes: Iterable[str] = (),
) -> Principal:
    """The one place effective permissions are worked out, from a user's roles and scopes.

    An inactive user has no permissions at all (callers refuse them before this anyway).
    """
    scopes = tuple(scopes)
    permissions = (
        narrow_to_scopes(permissions_of(role_permissions), scopes) if is_active else frozenset()
    )
    return Principal(
        user_id=user_id,
        email=email,
        channel=channel,
        auth_method=auth_method,
        permissions=permissions,
        token_id=token_id,
        meta=meta or RequestMeta(),
        scopes=scopes,
    )
