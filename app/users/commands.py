"""What each staff-user write takes, and the one definition of a user's fields.

The API's bodies are these models; the admin's user form, the account page and
`backoffice create-user` build them with app/commands.py `build`. So an email is an
address as app/text_rules.py `Email` says (trimmed, its domain lower-cased), a full name
one trimmed line, and roles are named once each, sorted, whichever door they came through.
Whether the named roles exist, and whether a password is strong enough for its email, need
the database or the other fields: the user service checks those, naming the field.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints

from app.auth.passwords import MAX_LENGTH as PASSWORD_LENGTH
from app.commands import Flag, PartialUpdate
from app.roles.commands import RoleName
from app.text_rules import NAME_LENGTH, ONE_LINE_RULE, Email

MAX_ROLES = 32

FullName = Annotated[
    str, StringConstraints(strip_whitespace=True, max_length=NAME_LENGTH), ONE_LINE_RULE
]
# As typed (spaces are part of a password); the strength rules are the service's, but a
# megabyte is refused here, before anything hashes it.
Password = Annotated[str, Field(max_length=PASSWORD_LENGTH)]
RoleNames = Annotated[
    list[RoleName], Field(max_length=MAX_ROLES), AfterValidator(lambda names: sorted(set(names)))
]


class CreateUser(BaseModel):
    """A new staff user: the API's POST body, the admin's create form, the CLI's options."""

    model_config = ConfigDict(
        frozen=True,
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

    email: Email
    full_name: FullName = ""
    password: Password
    roles: RoleNames = Field(default_factory=list)


class UpdateUser(PartialUpdate):
    """New values for some of a user's fields; a field left out stays as it is."""

    model_config = ConfigDict(
        frozen=True, extra="forbid", json_schema_extra={"examples": [{"roles": ["manager"]}]}
    )

    email: Email | None = None
    full_name: FullName | None = None
    is_active: Flag | None = None
    roles: RoleNames | None = None


class ChangePassword(BaseModel):
    """One's own new password, with the current one (the API's body, the account page)."""

    model_config = ConfigDict(
        frozen=True,
        extra="forbid",
        json_schema_extra={
            "examples": [
                {"current_password": "the old passphrase", "new_password": "a new passphrase"}
            ]
        },
    )

    current_password: Annotated[Password, Field(min_length=1)]
    new_password: Password
