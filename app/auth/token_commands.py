"""What creating a personal API token takes: the one definition of its name, scopes and
lifetime, for the API's body, the admin's account page and `backoffice create-token`.

A name is one trimmed line of 1-100 characters; scopes are permissions the registry knows,
stored once each and sorted; a lifetime is 1 to MAX_EXPIRES_DAYS days, or none. Whether the
owner holds those scopes needs the owner: the token service checks it.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints

from app.commands import choice_of
from app.permissions import PERMISSIONS, known_permission_names
from app.text_rules import ONE_LINE_RULE

NAME_LENGTH = 100
MAX_SCOPES = 64
MAX_EXPIRES_DAYS = 3650


TokenName = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=NAME_LENGTH),
    ONE_LINE_RULE,
]
Scopes = Annotated[
    list[Annotated[str, ONE_LINE_RULE, choice_of(PERMISSIONS)]],
    Field(max_length=MAX_SCOPES),
    AfterValidator(known_permission_names),
]


class CreateToken(BaseModel):
    """A new personal API token; no scopes means all of its owner's permissions."""

    model_config = ConfigDict(
        frozen=True,
        extra="forbid",
        json_schema_extra={
            "examples": [
                {"name": "nightly export", "scopes": ["products:read"], "expires_days": 90}
            ]
        },
    )

    name: TokenName
    scopes: Scopes = Field(default_factory=list)
    expires_days: int | None = Field(default=None, ge=1, le=MAX_EXPIRES_DAYS)
