"""OAuth2 password flow: access tokens (JWT) and rotating refresh tokens with reuse detection."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from app import audit
from app.auth import repository
from app.auth.principal import Principal
from app.auth.repository import Identity
from app.auth.tokens import (
    AccessClaims,
    decode_access_token,
    digest,
    encode_access_token,
    mint_opaque_secret,
)
from app.infra.settings import Settings
from app.models import RefreshToken, User
from app.models.base import utcnow


@dataclass(frozen=True)
class IssuedTokens:
    """What `/auth/token` and `/auth/refresh` return."""

    access_token: str
    expires_in: int
    refresh_token: str


async def issue_tokens(
    session: AsyncSession, user: User, settings: Settings, *, family_id: str | None = None
) -> IssuedTokens:
    """A fresh access token and a refresh token (new family unless rotating one)."""
    access, expires_in = encode_access_token(
        user_id=user.id,
        stamp=user.security_stamp,
        secret_key=settings.secret_key,
        lifetime=timedelta(minutes=settings.access_token_minutes),
    )
    refresh_plain = mint_opaque_secret()
    session.add(
        RefreshToken(
            user_id=user.id,
            token_hash=digest(refresh_plain),
            family_id=family_id or str(uuid.uuid4()),
            expires_at=utcnow() + timedelta(days=settings.refresh_token_days),
        )
    )
    await session.flush()
    return IssuedTokens(access_token=access, expires_in=expires_in, refresh_token=refresh_plain)


async def rotate_refresh_token(
    session: AsyncSession, anonymous: Principal, presented: str, settings: Settings
) -> IssuedTokens | None:
    """Spend `presented` and issue a new pair in its family; None when it is not usable.

    Presenting an already spent token means it was copied: the whole family is revoked
    (the thief and the victim both have to log in again) and the reuse is audited.
    The caller commits even on None, so the revocation sticks.
    """
    token = await repository.get_refresh_token_by_hash(session, digest(presented))
    now = utcnow()
    if token is None or token.revoked_at is not None or token.expires_at <= now:
        return None
    user = await repository.get_user_with_roles(session, token.user_id)
    if token.used_at is not None:
        await repository.revoke_refresh_family(session, token.family_id, now)
        audit.record(
            session,
            anonymous,
            "token.refresh_reused",
            resource_type="user",
            resource_id=token.user_id,
            actor_user_id=token.user_id,
            actor_email=user.email if user else None,
            changes={"family_id": [token.family_id, None]},
        )
        return None
    # A stamp change (password change, deactivation) revokes every refresh token of the
    # user outright (users.service.rotate_security_stamp), so no stamp check is needed here.
    if user is None or not user.is_active:
        return None
    token.used_at = now
    return await issue_tokens(session, user, settings, family_id=token.family_id)


async def logout(session: AsyncSession, anonymous: Principal, presented: str) -> bool:
    """Revoke the family of `presented` (audited as logout); False when it is unknown."""
    token = await repository.get_refresh_token_by_hash(session, digest(presented))
    if token is None:
        return False
    await repository.revoke_refresh_family(session, token.family_id, utcnow())
    user = await repository.get_user_with_roles(session, token.user_id)
    audit.record(
        session,
        anonymous,
        "logout",
        resource_type="user",
        resource_id=token.user_id,
        actor_user_id=token.user_id,
        actor_email=user.email if user else None,
    )
    return True


def access_token_query(token: str, settings: Settings) -> AccessLookup | None:
    """The statement resolving a valid access token's user; None for a token that is not
    valid (bad signature, expired), which needs no database to refuse."""
    claims = decode_access_token(token, settings.secret_key)
    if claims is None:
        return None
    return AccessLookup(repository.user_identity_query(claims.user_id), claims)


@dataclass(frozen=True)
class AccessLookup:
    """An access token's claims and the statement that reads its user."""

    query: repository.IdentityQuery
    claims: AccessClaims

    def accept(self, user: Identity | None) -> Identity | None:
        """The user, if active and their security stamp is still the token's."""
        if user is None or not user.is_active or user.security_stamp != self.claims.stamp:
            return None
        return user
