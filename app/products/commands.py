"""What each product write takes, and the one definition of a SKU, a price and a count.

Every door builds these from its own input: the API's bodies are these models, the admin
form and each CSV import row go through app/commands.py `build`/`field_errors`. So a SKU
is trimmed and upper-cased, a price read from text or a number, and an over-long
description refused (never cut), whichever door it came through.
"""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation
from typing import Annotated

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    WithJsonSchema,
)
from pydantic_core import PydanticCustomError

from app.commands import Flag, PartialUpdate
from app.text_rules import LongText, Name

# The database's CHECK (app/models/products.py) holds the stored form; this is what a
# caller may type: any case and surrounding spaces, ASCII only (no "ſ" upper-cased to "S").
_SKU_INPUT = re.compile(r"[A-Za-z0-9-]{3,32}", re.ASCII)
SKU_MESSAGE = "must be 3-32 characters of A-Z, 0-9 and - (e.g. WID-001)"
CENT = Decimal("0.01")
# Numeric(12, 2): ten digits before the point.
PRICE_LIMIT = Decimal("1e10")
PRICE_NUMBER_MESSAGE = 'must be a decimal string like "12.50"'
MAX_COUNT = 2_000_000_000


def _sku(value: str) -> str:
    sku = value.strip()
    if not _SKU_INPUT.fullmatch(sku):
        raise PydanticCustomError("sku", SKU_MESSAGE)
    return sku.upper()


def _price(value: object) -> Decimal:
    """A price as decimal text ("12.50") or a Decimal: at least 0, under 10^10, whole cents.

    Never a JSON number: 0.1 + 0.2 is not 0.3 in a float, and a client that sends one has
    already lost cents before we see it (every door types text: forms, CSV cells)."""
    if not isinstance(value, str | Decimal):
        raise PydanticCustomError("decimal_type", PRICE_NUMBER_MESSAGE)
    try:
        amount = value if isinstance(value, Decimal) else Decimal(value.strip())
    except (InvalidOperation, ValueError):  # ValueError: more digits than str() allows
        raise PydanticCustomError("decimal_parsing", PRICE_NUMBER_MESSAGE) from None
    if not amount.is_finite():
        raise PydanticCustomError("decimal_parsing", PRICE_NUMBER_MESSAGE)
    if not 0 <= amount < PRICE_LIMIT:
        raise PydanticCustomError("price_range", "must be between 0 and 9999999999.99")
    if amount != amount.quantize(CENT):
        raise PydanticCustomError("decimal_places", "must have at most 2 decimal places")
    # "1.5" and "1.50" are one amount; -0 is 0.
    return amount.quantize(CENT).copy_abs()


Sku = Annotated[
    str,
    AfterValidator(_sku),
    Field(
        examples=["WID-001"],
        description="3-32 of A-Z, 0-9 and -; stored trimmed and upper-cased",
        json_schema_extra={"pattern": r"^\s*[A-Za-z0-9-]{3,32}\s*$"},
    ),
]
# Money arrives as a decimal string ("12.50"), never a JSON number.
Price = Annotated[
    Decimal,
    BeforeValidator(_price),
    WithJsonSchema(
        {
            "type": "string",
            "pattern": r"^\s*\d{1,10}(\.\d{0,2})?\s*$",
            "description": "A decimal string with at most 2 places (never a JSON number)",
            "examples": ["12.50"],
        }
    ),
]
Count = Annotated[int, Field(ge=0, le=MAX_COUNT)]

_COMMAND = ConfigDict(frozen=True, extra="forbid")


class CreateProduct(BaseModel):
    """A new product: the API's POST body, the admin's create form, one CSV import row."""

    model_config = _COMMAND

    sku: Sku
    name: Name
    description: LongText = ""
    price: Price
    stock: Count = 0
    reorder_level: Count = 0
    is_active: Flag = True


class UpdateProduct(PartialUpdate):
    """New values for some of a product's fields; a field left out stays as it is."""

    model_config = _COMMAND

    sku: Sku | None = None
    name: Name | None = None
    description: LongText | None = None
    price: Price | None = None
    stock: Count | None = None
    reorder_level: Count | None = None
    is_active: Flag | None = None
