"""Token primitives: personal API tokens, opaque secrets and their digests, JWT access tokens."""

from __future__ import annotations

import hashlib
import secrets
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

import jwt

from app.models.base import utcnow

PERSONAL_TOKEN_PREFIX = "bo_"
# 32 random bytes → 43 URL-safe characters after the prefix.
PERSONAL_TOKEN_BYTES = 32
JWT_ALGORITHM = "HS256"


def digest(secret: str) -> str:
    """SHA-256 hex digest: what is stored for every token, never the token itself."""
    return hashlib.sha256(secret.encode()).hexdigest()


@dataclass(frozen=True)
class NewPersonalToken:
    """A freshly minted personal token: `plaintext` is shown once and never stored."""

    plaintext: str
    prefix: str
    hash: str


def mint_personal_token() -> NewPersonalToken:
    body = secrets.token_urlsafe(PERSONAL_TOKEN_BYTES)
    plaintext = f"{PERSONAL_TOKEN_PREFIX}{body}"
    return NewPersonalToken(plaintext=plaintext, prefix=body[:8], hash=digest(plaintext))


def looks_like_personal_token(value: str) -> bool:
    return value.startswith(PERSONAL_TOKEN_PREFIX) and len(value) >= 40


def mint_opaque_secret() -> str:
    """A random secret for sessions and refresh tokens (stored only as its digest)."""
    return secrets.token_urlsafe(32)


@dataclass(frozen=True)
class AccessClaims:
    """The verified claims of an access token."""

    user_id: int
    stamp: str
    jti: str
    issued_at: datetime
    expires_at: datetime


def encode_access_token(
    *, user_id: int, stamp: str, secret_key: str, lifetime: timedelta
) -> tuple[str, int]:
    """A signed JWT (HS256) with sub, exp, iat, jti and the user's security stamp."""
    now = utcnow()
    claims = {
        "sub": str(user_id),
        "iat": int(now.timestamp()),
        "exp": int((now + lifetime).timestamp()),
        "jti": uuid.uuid4().hex,
        "stamp": stamp,
    }
    return jwt.encode(claims, secret_key, algorithm=JWT_ALGORITHM), int(lifetime.total_seconds())


def decode_access_token(token: str, secret_key: str) -> AccessClaims | None:
    """The claims of a valid, unexpired token signed with `secret_key`; None otherwise."""
    try:
        claims = jwt.decode(
            token,
            secret_key,
            algorithms=[JWT_ALGORITHM],
            options={"require": ["sub", "exp", "iat", "jti", "stamp"]},
        )
        return AccessClaims(
            user_id=int(claims["sub"]),
            stamp=str(claims["stamp"]),
            jti=str(claims["jti"]),
            issued_at=datetime.fromtimestamp(int(claims["iat"]), tz=utcnow().tzinfo),
            expires_at=datetime.fromtimestamp(int(claims["exp"]), tz=utcnow().tzinfo),
        )
    except (jwt.PyJWTError, ValueError, TypeError, KeyError):
        return None
