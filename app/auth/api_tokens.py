"""Personal API tokens: create (shown once), list, revoke, and authenticate a bearer token."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from app import audit
from app.auth import ceilings, repository
from app.auth.principal import Principal
from app.auth.repository import Identity
from app.auth.token_commands import CreateToken
from app.auth.tokens import digest, mint_personal_token
from app.errors import Conflict, NotFound, PermissionDenied
from app.infra.db_reads import Reader
from app.lists.grammar import ListSpec
from app.models import ApiToken, User
from app.models.base import utcnow
from app.permissions import can, permissions_of

LAST_USED_RESOLUTION = timedelta(minutes=1)
MAX_ACTIVE_TOKENS = 50
LIST_SPEC = ListSpec(
    model=ApiToken,
    sortable=("id", "name", "created_at", "last_used_at", "expires_at"),
    default_sort="-created_at",
    searchable=("name",),
    ranges=("id", "created_at", "expires_at"),
)


def _ensure_within_owner(owner: User, scopes: Sequence[str]) -> None:
    """A token's scopes are a subset of its owner's permissions when it is made (SPEC §14)."""
    beyond = sorted(set(scopes) - permissions_of(role.permissions for role in owner.roles))
    if beyond:
        raise PermissionDenied(
            f"The token's owner does not hold {', '.join(beyond)}; a token cannot have it."
        )


async def _ensure_room_for_one_more(session: AsyncSession, owner: User) -> None:
    """At most MAX_ACTIVE_TOKENS live tokens per user; the owner's row is locked to count."""
    await session.refresh(owner, ["version"], with_for_update={"key_share": True})
    if await repository.count_active_api_tokens(session, owner.id, utcnow()) >= MAX_ACTIVE_TOKENS:
        raise Conflict(
            f"{owner.email} already has {MAX_ACTIVE_TOKENS} active tokens; revoke one first."
        )


async def create_token(
    session: AsyncSession, principal: Principal, owner: User, command: CreateToken
) -> tuple[ApiToken, str]:
    """Mint a token for `owner`; returns the row and the plaintext, which is never stored.

    Needs a full credential (a scoped token cannot mint tokens), scopes within the
    owner's permissions, and room under the owner's MAX_ACTIVE_TOKENS. The name, the
    scopes' names and the lifetime were checked when the command was built.
    """
    ceilings.ensure_full_credential(principal, "create tokens")
    _ensure_within_owner(owner, command.scopes)
    await _ensure_room_for_one_more(session, owner)
    minted = mint_personal_token()
    token = ApiToken(
        user_id=owner.id,
        name=command.name,
        token_prefix=minted.prefix,
        token_hash=minted.hash,
        scopes=command.scopes,
        expires_at=_expiry(command.expires_days),
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


def _expiry(days: int | None) -> datetime | None:
    return utcnow() + timedelta(days=days) if days is not None else None


def own_tokens_scope(principal: Principal) -> dict[str, int]:
    """The rows of LIST_SPEC the caller may list: their own tokens; a scoped token may not
    list its siblings (SPEC §14)."""
    ceilings.ensure_full_credential(principal, "list tokens")
    return {"user_id": principal.user_id or 0}


async def revoke_token(session: AsyncSession, principal: Principal, token_id: int) -> ApiToken:
    """Revoke one's own token, or anyone's with tokens:manage (404 otherwise, so existence
    does not leak)."""
    ceilings.ensure_full_credential(principal, "revoke tokens")
    token = await repository.get_api_token(session, token_id)
    if token is None or not can(principal, "tokens:manage", token):
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


def personal_token_query(plaintext: str) -> repository.IdentityQuery:
    """The statement resolving a personal token (by its SHA-256 digest, never the text)."""
    return repository.token_identity_query(digest(plaintext))


async def accept_personal_token(
    reader: Reader, token: Identity | None, ip: str | None
) -> Identity | None:
    """The token's owner (with roles' permissions) if the token is usable, or None.

    `last_used_at` is written at most once a minute per token, so a busy script does
    not turn every read into a write.
    """
    now = utcnow()
    if token is None or token.token_id is None or not token_is_usable(token, now):
        return None
    if token.last_used_at is None or now - token.last_used_at >= LAST_USED_RESOLUTION:
        await repository.stamp_token_use(reader, token.token_id, now, ip)
    return token
