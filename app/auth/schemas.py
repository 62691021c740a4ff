"""API shapes for authentication, the caller and personal tokens (a new token's body is
app/auth/token_commands.py CreateToken)."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field


class TokenResponse(BaseModel):
    """The OAuth2 token response (RFC 6749 §5.1) plus our rotating refresh token."""

    access_token: str
    token_type: str = "bearer"
    expires_in: int
    refresh_token: str

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "access_token": "eyJhbGciOiJIUzI1NiIs…",
                    "token_type": "bearer",
                    "expires_in": 900,
                    "refresh_token": "k3x…",
                }
            ]
        }
    )


class RefreshRequest(BaseModel):
    refresh_token: str = Field(min_length=1, max_length=512)

    model_config = ConfigDict(json_schema_extra={"examples": [{"refresh_token": "k3x…"}]})


class RoleBrief(BaseModel):
    id: int
    name: str

    model_config = ConfigDict(from_attributes=True)


class MeRead(BaseModel):
    """Who the caller is, with which roles and effective permissions, and how they came in."""

    id: int
    email: str
    full_name: str
    roles: list[RoleBrief]
    permissions: list[str]
    auth_method: str
    token_id: int | None
    scopes: list[str] | None


class ApiTokenRead(BaseModel):
    id: int
    user_id: int
    name: str
    token_prefix: str
    scopes: list[str]
    expires_at: datetime | None
    last_used_at: datetime | None
    last_used_ip: str | None
    revoked_at: datetime | None
    created_at: datetime

    model_config = ConfigDict(from_attributes=True)


class ApiTokenCreated(ApiTokenRead):
    """The one response that carries the token itself; store it now, it is not shown again."""

    token: str
