"""API shapes for authentication, the caller and personal tokens."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from app.text_rules import SingleLine


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


class ApiTokenCreate(BaseModel):
    name: SingleLine = Field(min_length=1, max_length=100)
    scopes: list[SingleLine] = Field(default_factory=list, max_length=64)
    expires_days: int | None = Field(default=None, ge=1, le=3650)

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {"name": "nightly export", "scopes": ["products:read"], "expires_days": 90}
            ]
        },
    )


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
