"""What each webhook endpoint write takes, and the one rule of its URL, events and text.

Every door builds these: the API's bodies are these models, the admin form goes through
app/commands.py `build`. What a field may hold is checked here whatever the settings; where
a URL may point (the scheme production requires, private addresses, what the host resolves
to) depends on the settings and on DNS, so the service checks that (app/webhooks/urls.py)
and its refusal names `url` too.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
)
from pydantic_core import PydanticCustomError

from app.commands import Flag, PartialUpdate, choice_of
from app.text_rules import ONE_LINE_RULE
from app.webhooks.outbox import EVENT_TYPES
from app.webhooks.urls import MAX_URL_LENGTH

# `ping` is sent to one endpoint on request, never subscribed to.
SUBSCRIBABLE = tuple(e for e in EVENT_TYPES if e != "ping")
DESCRIPTION_LENGTH = 255  # the column's size: longer is refused, never cut
MAX_EVENTS = 16


def _known_events(events: Sequence[str]) -> list[str]:
    """Each event known; stored once each, sorted (the order a caller chose means nothing)."""
    unknown = sorted(set(events) - set(SUBSCRIBABLE))
    if unknown:
        raise PydanticCustomError(
            "enum",
            "unknown event(s) {unknown} (known: {known})",
            {"unknown": ", ".join(unknown), "known": ", ".join(SUBSCRIBABLE)},
        )
    return sorted(set(events))


# Trimmed (the URL check trims too), one line, 8 to 2048 characters.
WebhookUrl = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=8, max_length=MAX_URL_LENGTH),
    ONE_LINE_RULE,
    Field(examples=["https://hooks.example.com/backoffice"]),
]
Events = Annotated[
    list[Annotated[str, StringConstraints(max_length=64), ONE_LINE_RULE, choice_of(SUBSCRIBABLE)]],
    Field(min_length=1, max_length=MAX_EVENTS),
    AfterValidator(_known_events),
]
Description = Annotated[str, StringConstraints(max_length=DESCRIPTION_LENGTH), ONE_LINE_RULE]

_COMMAND = ConfigDict(frozen=True, extra="forbid")


class CreateWebhookEndpoint(BaseModel):
    """A new endpoint: the API's POST body, the admin's create form."""

    model_config = _COMMAND

    url: WebhookUrl
    description: Description = ""
    events: Events
    is_active: Flag = True


class UpdateWebhookEndpoint(PartialUpdate):
    """New values for some of an endpoint's fields; a field left out stays as it is."""

    model_config = _COMMAND

    url: WebhookUrl | None = None
    description: Description | None = None
    events: Events | None = None
    is_active: Flag | None = None
