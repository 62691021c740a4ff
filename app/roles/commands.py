"""What each role write takes, and the one definition of a role's name, description and
permissions.

The API's bodies are these models and the admin's role form is built into them with
app/commands.py `build`, so a name is trimmed and 1-64 characters, a description at most
255 characters (refused, never cut) and every permission one the registry knows, stored
once each and sorted, whichever door it came through.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
)

from app.commands import PartialUpdate, choice_of
from app.permissions import PERMISSIONS, known_permission_names
from app.text_rules import ONE_LINE_RULE

NAME_LENGTH = 64
DESCRIPTION_LENGTH = 255
MAX_PERMISSIONS = 128


RoleName = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=NAME_LENGTH),
    ONE_LINE_RULE,
]
RoleDescription = Annotated[
    str, StringConstraints(strip_whitespace=True, max_length=DESCRIPTION_LENGTH), ONE_LINE_RULE
]
Permissions = Annotated[
    list[Annotated[str, ONE_LINE_RULE, choice_of(PERMISSIONS)]],
    Field(max_length=MAX_PERMISSIONS),
    AfterValidator(known_permission_names),
]

_COMMAND = ConfigDict(frozen=True, extra="forbid")


class CreateRole(BaseModel):
    """A new custom role: the API's POST body, the admin's create form."""

    model_config = ConfigDict(
        frozen=True,
        extra="forbid",
        json_schema_extra={
            "examples": [{"name": "auditor", "permissions": ["audit:read", "orders:read"]}]
        },
    )

    name: RoleName
    description: RoleDescription = ""
    permissions: Permissions = Field(default_factory=list)


class UpdateRole(PartialUpdate):
    """New values for some of a role's fields; a field left out stays as it is."""

    model_config = _COMMAND

    name: RoleName | None = None
    description: RoleDescription | None = None
    permissions: Permissions | None = None
