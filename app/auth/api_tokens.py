"""Personal API tokens: create (shown once), list, revoke, and authenticate a bearer token."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from app import audit
from app.auth import repository
from app.auth.principal import Principal
from app.auth.repository import Identity
from app.auth.tokens import digest, mint_personal_token
from app.db_reads import Reader
from app.errors import NotFound, PermissionDenied, ValidationFailed
from app.models import ApiToken, User
from app.models.base import utcnow
from app.permissions import PERMISSIONS, can

LAST_USED_RESOLUTION = timedelta(minutes=1)
MAX_EXPIRES_DAYS = 3650


def validate_scopes(scopes: Sequence[str]) -> list[str]:
    """Known permission names, de-duplicated and sorted; ValidationFailed otherwise."""
    unknown = sorted(set(scopes) - set(PERMISSIONS))
    if unknown:
        raise ValidationFailed(
            f"Unknown scope(s): {', '.join(unknown)}.",
            errors=[{"loc": ["body", "scopes"], "message": "unknown permission", "type": "enum"}],
        )
    return sorted(set(scopes))


async def _ensure_no_wider_than_caller(
    session: AsyncSession, principal: Principal, scopes: Sequence[str]
) -> None:
    """A scoped token may mint tokens only within its own scopes (empty scopes mean all)."""
    if principal.auth_method != "personal_token" or principal.token_id is None:
        return
    caller = await repository.get_api_token(session, principal.token_id)
    if caller is None or not caller.scopes:
        return
    if not scopes or not set(scopes) <= set(caller.scopes):
        raise PermissionDenied("A scoped token can only create tokens within its own scopes.")


async def create_token(
    session: AsyncSession,
    principal: Principal,
    owner: User,
    *,
    name: str,
    scopes: Sequence[str] = (),
    expires_days: int | None = None,
) -> tuple[ApiToken, str]:
    """Mint a token for `owner`; returns the row and the plaintext, which is never stored."""
    name = name.strip()
    if not name or len(name) > 100:
        raise ValidationFailed(
            "A token needs a name of 1 to 100 characters.",
            errors=[{"loc": ["body", "name"], "message": "1 to 100 characters", "type": "value"}],
        )
    if expires_days is not None and not 1 <= expires_days <= MAX_EXPIRES_DAYS:
        raise ValidationFailed(
            f"expires_days must be between 1 and {MAX_EXPIRES_DAYS}.",
            errors=[{"loc": ["body", "expires_days"], "message": "out of range", "type": "range"}],
        )
    scopes = validate_scopes(scopes)
    await _ensure_no_wider_than_caller(session, principal, scopes)
    minted = mint_personal_token()
    token = ApiToken(
        user_id=owner.id,
        name=name,
        token_prefix=minted.prefix,
        token_hash=minted.hash,
        scopes=scopes,
        expires_at=utcnow() + timedelta(days=expires_days) if expires_days else None,
    )
    session.add(token)
    await session.flush()
    audit.record(
        session,
        principal,
        "token.created",
        resource_type="api_token",
        resource_id=token.id,
        changes={
            "name": [None, token.name],
            "user_id": [None, owner.id],
            "scopes": [None, token.scopes],
            "expires_at": [None, token.expires_at],
            "token_hash": [None, audit.REDACTED],
        },
    )
    return token, minted.plaintext


def may_see_token(principal: Principal, token: ApiToken) -> bool:
    """Own tokens always; others' only with tokens:manage."""
    return token.user_id == principal.user_id or can(principal, "tokens:manage")


async def revoke_token(session: AsyncSession, principal: Principal, token_id: int) -> ApiToken:
    """Revoke a token the principal may see (404 otherwise, so existence does not leak)."""
    token = await repository.get_api_token(session, token_id)
    if token is None or not may_see_token(principal, token):
        raise NotFound("No such token.")
    if token.revoked_at is None:
        token.revoked_at = utcnow()
        audit.record(
            session,
            principal,
            "token.revoked",
            resource_type="api_token",
            resource_id=token.id,
            changes={"revoked_at": [None, token.revoked_at]},
        )
    return token


def token_is_usable(token: Identity, now: datetime) -> bool:
    return (
        token.revoked_at is None
        and (token.expires_at is None or token.expires_at > now)
        and token.is_active
    )


async def authenticate_personal_token(
    reader: Reader, plaintext: str, ip: str | None
) -> Identity | None:
    """The owner (with roles' permissions) of the usable token behind `plaintext`, or None.

    `last_used_at` is written at most once a minute per token, so a busy script does
    not turn every read into a write.
    """
    token = await repository.identity_for_token_hash(reader, digest(plaintext))
    now = utcnow()
    if token is None or token.token_id is None or not token_is_usable(token, now):
        return None
    if token.last_used_at is None or now - token.last_used_at >= LAST_USED_RESOLUTION:
        await repository.stamp_token_use(reader, token.token_id, now, ip)
    return token
