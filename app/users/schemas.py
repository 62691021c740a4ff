"""API shapes for users and roles."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from app.auth.schemas import RoleBrief
from app.text_rules import SingleLine


class UserRead(BaseModel):
    id: int
    email: str
    full_name: str
    is_active: bool
    roles: list[RoleBrief]
    last_login_at: datetime | None
    locked_until: datetime | None
    version: int
    created_at: datetime
    updated_at: datetime

    model_config = ConfigDict(from_attributes=True)


class UserCreate(BaseModel):
    email: SingleLine = Field(min_length=3, max_length=320)
    full_name: SingleLine = Field(default="", max_length=200)
    password: str = Field(min_length=1, max_length=1024)
    roles: list[SingleLine] = Field(default_factory=list, max_length=32)

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "email": "ann@example.com",
                    "full_name": "Ann Example",
                    "password": "a long passphrase here",
                    "roles": ["clerk"],
                }
            ]
        },
    )


class UserUpdate(BaseModel):
    email: SingleLine | None = Field(default=None, min_length=3, max_length=320)
    full_name: SingleLine | None = Field(default=None, max_length=200)
    is_active: bool | None = None
    roles: list[SingleLine] | None = Field(default=None, max_length=32)

    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [{"roles": ["manager"]}]}
    )


class PasswordChange(BaseModel):
    current_password: str = Field(min_length=1, max_length=1024)
    new_password: str = Field(min_length=1, max_length=1024)

    model_config = ConfigDict(extra="forbid")


class RoleRead(BaseModel):
    id: int
    name: str
    description: str
    permissions: list[str]
    is_builtin: bool
    version: int
    created_at: datetime
    updated_at: datetime

    model_config = ConfigDict(from_attributes=True)


class PermissionRead(BaseModel):
    name: str
    description: str
