"""What each order write takes: typed commands, and the one definition of each field's rule.

Every door builds these from its own input: the API's bodies are these models, the admin's
forms go through app/commands.py `build`. So a quantity, an id or a note is read and
refused the same way (the same message, naming the same field) whichever door it came
through. A row's id and the version the caller expects travel beside the command, as the
service's own arguments; a state change (place, pay, ship, cancel) is its `Action`.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from app.commands import PartialUpdate
from app.models.base import INTEGER_RANGE
from app.text_rules import LongText

# Ids are PostgreSQL `integer`s; a larger one names no row and must not reach the driver.
MAX_ID = INTEGER_RANGE[1] - 1
MAX_QUANTITY = 1_000_000
MAX_ITEMS = 500

RowId = Annotated[int, Field(ge=1, le=MAX_ID)]
# A line's quantity: what one command adds or sets, and what a line may hold in all.
Quantity = Annotated[int, Field(ge=1, le=MAX_QUANTITY)]
Action = Literal["place", "pay", "ship", "cancel"]

_COMMAND = ConfigDict(frozen=True, extra="forbid")


class NewItem(BaseModel):
    """One line of a new order; lines for the same product are merged into one."""

    model_config = _COMMAND

    product_id: RowId
    quantity: Quantity


class CreateOrder(BaseModel):
    """A draft for a customer, optionally with items (priced from their products)."""

    model_config = _COMMAND

    customer_id: RowId
    notes: LongText = ""
    items: tuple[NewItem, ...] = Field(default=(), max_length=MAX_ITEMS)


class UpdateOrder(PartialUpdate):
    """New notes, or a new customer for a draft; a field left out stays as it is."""

    model_config = _COMMAND

    customer_id: RowId | None = None
    notes: LongText | None = None


class AddItem(NewItem):
    """A product to add to a draft: a new line, or merged into its line for that product."""


class UpdateItem(BaseModel):
    """A draft line's new quantity."""

    model_config = _COMMAND

    quantity: Quantity
