"""Who is calling, through which door, with which effective permissions."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Literal

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
