"""What each customer write takes: typed commands over the one rule of each field.

The API's bodies are these models and the admin's form is built into them
(app/commands.py `build`), so an email is checked and normalised the same way (the
API's rule: email-validator, the domain lower-cased) whichever door it came through.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, StringConstraints

from app.commands import Flag, PartialUpdate
from app.text_rules import NAME_LENGTH, ONE_LINE_RULE, Email, LongText, Name

PHONE_LENGTH = 50

Phone = Annotated[str, StringConstraints(max_length=PHONE_LENGTH), ONE_LINE_RULE]
Company = Annotated[str, StringConstraints(max_length=NAME_LENGTH), ONE_LINE_RULE]

_COMMAND = ConfigDict(frozen=True, extra="forbid")


class CreateCustomer(BaseModel):
    """A new customer: the API's POST body, the admin's create form."""

    model_config = _COMMAND

    name: Name
    email: Email
    phone: Phone = ""
    company: Company = ""
    notes: LongText = ""
    is_active: Flag = True


class UpdateCustomer(PartialUpdate):
    """New values for some of a customer's fields; a field left out stays as it is."""

    model_config = _COMMAND

    name: Name | None = None
    email: Email | None = None
    phone: Phone | None = None
    company: Company | None = None
    notes: LongText | None = None
    is_active: Flag | None = None
