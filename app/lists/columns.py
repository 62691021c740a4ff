"""Column typing for lists: a query-string value or a cursor position in the column's type.

A filter value (`price_gte=10`) and a cursor's sort value come from outside; both are
converted to the Python type the column stores, inside the range it can hold, or refused.
One place knows what each column type accepts, for the API and the admin alike.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from sqlalchemy import BigInteger, TypeDecorator
from sqlalchemy.types import TypeEngine

from app.models.base import INTEGER_RANGE

# Integer columns are 32-bit on PostgreSQL (INTEGER_RANGE); a bigger value would be a
# driver error.
BIG_INTEGER_RANGE = (-(2**63), 2**63)
# The longest text a filter value may be (the longest text column, an email, is 320).
MAX_FILTER_LENGTH = 320
_TRUE_WORDS = frozenset({"true", "1"})
_BOOL_WORDS = frozenset({"true", "false", "1", "0"})


def storage_type(column: Any) -> TypeEngine[Any]:
    """The column's type as the database stores it (a TypeDecorator's implementation)."""
    column_type = column.type
    # A TypeDecorator (UTCDateTime) answers python_type with `object`; its impl knows.
    if isinstance(column_type, TypeDecorator):
        inner: TypeEngine[Any] = column_type.impl_instance
        return inner
    return column_type


def python_type(column: Any) -> type:
    """The Python type of the column's values (int, str, Decimal, datetime, …)."""
    kind: type = storage_type(column).python_type
    return kind


def is_nullable(column: Any) -> bool:
    """Whether the column can hold NULL (a column of a VALUES list cannot)."""
    return bool(getattr(column, "nullable", False))


def _integer(column: Any, value: int) -> int:
    low, high = BIG_INTEGER_RANGE if isinstance(storage_type(column), BigInteger) else INTEGER_RANGE
    if not low <= value < high:
        raise ValueError("out of range")
    return value


def _amount(column: Any, number: Decimal) -> Decimal:
    """`number` if a Numeric(precision, scale) column can hold it (1e15 when unsaid)."""
    column_type = storage_type(column)
    precision, scale = getattr(column_type, "precision", None), getattr(column_type, "scale", None)
    limit = Decimal("1e15") if precision is None else Decimal(10) ** (precision - (scale or 0))
    if not number.is_finite() or abs(number) >= limit:
        raise ValueError("not a finite amount")
    return number


def _moment(text: str) -> datetime:
    moment = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    if moment.tzinfo is None:
        raise ValueError("timestamps need an offset, e.g. 2026-01-31T00:00:00Z")
    # Normalized here: the conversion overflows for the extremes of year 1 and 9999.
    return moment.astimezone(UTC)


def parse_text(column: Any, raw: str) -> Any:
    """A query-string value as the column's type; ValueError saying why it is not one."""
    kind = python_type(column)
    try:
        if "\x00" in raw:
            raise ValueError("contains a NUL character")
        if kind is bool:
            lowered = raw.strip().lower()
            if lowered not in _BOOL_WORDS:
                raise ValueError("expected true or false")
            return lowered in _TRUE_WORDS
        if kind is int:
            return _integer(column, int(raw))
        if kind is Decimal:
            return _amount(column, Decimal(raw))
        if kind is datetime:
            return _moment(raw)
        if len(raw) > MAX_FILTER_LENGTH:
            raise ValueError("too long")
        return raw
    except InvalidOperation:
        raise ValueError("not a valid number") from None
    except (ValueError, OverflowError) as exc:
        raise ValueError(str(exc) or f"not a valid {kind.__name__}") from None


def parse_json(column: Any, value: Any) -> Any:
    """A cursor's JSON sort value as the column's type; ValueError when it is not one.

    None is a NULL position, valid only for a nullable column. JSON keeps booleans,
    integers and strings; amounts and timestamps travel as their text.
    """
    if value is None:
        if is_nullable(column):
            return None
        raise ValueError("not nullable")
    kind = python_type(column)
    try:
        if kind is bool and isinstance(value, bool):
            return value
        if kind is int and isinstance(value, int) and not isinstance(value, bool):
            return _integer(column, value)
        if kind is Decimal and isinstance(value, str) and len(value) <= 40:
            return _amount(column, Decimal(value))
        if kind is datetime and isinstance(value, str) and len(value) <= 40:
            return _moment(value)
        if kind is date and isinstance(value, str) and len(value) <= 10:
            return date.fromisoformat(value)
        if kind is str and isinstance(value, str):
            return value
    except (InvalidOperation, OverflowError):
        pass
    raise ValueError(f"not a {kind.__name__}")
