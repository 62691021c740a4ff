"""Who is calling, through which door, with which effective permissions.

An authenticated Principal is built in one place, app/edge/callers.py, whatever the
credential; it travels with its request in the ASGI scope's state (PRINCIPAL_STATE).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any, Literal

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
    def person_key(self) -> str:
        """The person behind the credential: rate limits follow the person (SPEC §14)."""
        return f"user:{self.user_id}" if self.user_id is not None else f"{self.channel}:anonymous"

    @property
    def key(self) -> str:
        """The credential: Idempotency-Key records are per credential, so a narrower token
        of the same person never replays what a wider one was answered."""
        if self.token_id is not None and self.auth_method == "personal_token":
            return f"token:{self.token_id}"
        return self.person_key


# Where a request's Principal travels in the ASGI scope's state, in both doors; the retry
# middleware (app/edge/retry.py) carries it across re-runs, so a request is authenticated once.
PRINCIPAL_STATE = "principal"


def principal_in(scope: Mapping[str, Any]) -> Principal | None:
    """The Principal already authenticated for this request (scope or Request.scope)."""
    known = scope.get("state", {}).get(PRINCIPAL_STATE)
    return known if isinstance(known, Principal) else None
