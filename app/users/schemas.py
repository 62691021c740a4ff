"""API shapes for reading users and roles (the write bodies are the commands in
app/users/commands.py and app/roles/commands.py)."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict

from app.auth.schemas import RoleBrief


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
