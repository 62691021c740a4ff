"""What saving a list view takes: a typed command over the one rule of each field.

The query is what the list's URL says after `?` (search, filters, sort, page size), as the
admin door normalised it: the door knows which parameters its list reads; this command
only holds it to one line of text of bounded length, like every other text field.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, StringConstraints

from app.commands import Flag
from app.models.saved_views import LIST_IDENTITY_LENGTH, VIEW_NAME_LENGTH, VIEW_QUERY_LENGTH
from app.text_rules import ONE_LINE_RULE

# A list's identity as in its URL (`/admin/<identity>/list`): "order", "api-token".
ListIdentity = Annotated[
    str,
    StringConstraints(min_length=1, max_length=LIST_IDENTITY_LENGTH, pattern=r"^[a-z][a-z0-9-]*$"),
]
# Surrounding spaces go (a name of spaces is no name); the rest is kept as typed.
ViewName = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=VIEW_NAME_LENGTH),
    ONE_LINE_RULE,
]
ViewQuery = Annotated[str, StringConstraints(max_length=VIEW_QUERY_LENGTH), ONE_LINE_RULE]


class SaveView(BaseModel):
    """A new saved view of one list, owned by whoever saves it."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    list_identity: ListIdentity
    name: ViewName
    query: ViewQuery = ""
    shared: Flag = False
