"""Keyset pages for the API's and the admin's lists: one signed cursor, one seek rule.

A cursor is the position of a page's last row: its sort value and id. Both doors sign it
with CursorCodec, read the value back in the sort column's own type (a money, count or
timestamp compared as text was a 500 on PostgreSQL and a wrong page on SQLite), and seek
and order with `keyset_order` / `keyset_after`, which put NULLs last in both directions.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from datetime import UTC, date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

import orjson
from sqlalchemy import BigInteger, TypeDecorator, and_, literal, or_, tuple_
from sqlalchemy.sql.elements import ColumnElement

from app.errors import BadRequest
from app.jsonutil import to_jsonable
from app.models.base import INTEGER_RANGE

INVALID_CURSOR = "The cursor is not valid; start again without it."
# Integer columns are 32-bit on PostgreSQL (INTEGER_RANGE); a bigger value would be a
# driver error.
BIG_INTEGER_RANGE = (-(2**63), 2**63)


class CursorCodec:
    """Opaque, signed cursors: tampering gives 400, never a 500 or a wrong page.

    `base64url(JSON [sort, position, id]) . base64url(HMAC-SHA256)[:16 bytes]`: what
    itsdangerous does, without its generic serializer machinery on every list request.
    """

    def __init__(self, secret_key: str) -> None:
        # A key of its own, derived from SECRET_KEY: a cursor MAC is never valid elsewhere.
        self.key = hmac.new(secret_key.encode(), b"list-cursor", hashlib.sha256).digest()

    def _mac(self, body: bytes) -> bytes:
        return base64.urlsafe_b64encode(
            hmac.new(self.key, body, hashlib.sha256).digest()[:16]
        ).rstrip(b"=")

    def sign(self, payload: Any) -> str:
        """Any JSON payload, signed (the tests forge well-signed nonsense with it)."""
        body = base64.urlsafe_b64encode(orjson.dumps(payload)).rstrip(b"=")
        return (body + b"." + self._mac(body)).decode()

    def encode(self, sort_key: str, value: Any, last_id: int) -> str:
        return self.sign([sort_key, to_jsonable(value), last_id])

    def decode(self, token: str, sort_key: str, column: Any = None) -> tuple[Any, int]:
        """(sort value, id) of a cursor for `sort_key`; the value in the type of `column`
        (the sort column; None when sorting by id)."""
        invalid = BadRequest(INVALID_CURSOR)
        body, _, mac = token.encode("ascii", "replace").rpartition(b".")
        if not body or not hmac.compare_digest(mac, self._mac(body)):
            raise invalid
        try:
            stored_sort, value, last_id = orjson.loads(
                base64.urlsafe_b64decode(body + b"=" * (-len(body) % 4))
            )
        except (binascii.Error, orjson.JSONDecodeError, ValueError, TypeError):
            raise invalid from None
        if stored_sort != sort_key:
            raise BadRequest("The cursor belongs to another sort order; start again without it.")
        if (
            not isinstance(last_id, int)
            or isinstance(last_id, bool)
            or not INTEGER_RANGE[0] <= last_id < INTEGER_RANGE[1]
        ):
            raise invalid
        return (decode_position(column, value) if column is not None else value), last_id


def _python_type(column: Any) -> tuple[Any, type]:
    column_type = column.type
    # A TypeDecorator (UTCDateTime) answers python_type with `object`; its impl knows.
    if isinstance(column_type, TypeDecorator):
        column_type = column_type.impl_instance
    return column_type, column_type.python_type


def _numeric_limit(column_type: Any) -> Decimal:
    """What a Numeric(precision, scale) column can hold (exclusive); 1e15 if unsaid."""
    precision, scale = getattr(column_type, "precision", None), getattr(column_type, "scale", None)
    if precision is None:
        return Decimal("1e15")
    return Decimal(10) ** (precision - (scale or 0))


def decode_position(column: Any, value: Any) -> Any:
    """A cursor's JSON sort value as `column`'s Python type; BadRequest when it is not one.

    None is a NULL position, valid only for a nullable column.
    """
    if value is None:
        if column.nullable:
            return None
        raise BadRequest(INVALID_CURSOR)
    column_type, kind = _python_type(column)
    try:
        if kind is bool and isinstance(value, bool):
            return value
        if kind is int and isinstance(value, int) and not isinstance(value, bool):
            low, high = BIG_INTEGER_RANGE if isinstance(column_type, BigInteger) else INTEGER_RANGE
            if low <= value < high:
                return value
        if kind is Decimal and isinstance(value, str) and len(value) <= 40:
            number = Decimal(value)
            if number.is_finite() and abs(number) < _numeric_limit(column_type):
                return number
        if kind is datetime and isinstance(value, str) and len(value) <= 40:
            moment = datetime.fromisoformat(value)
            if moment.tzinfo is not None:
                return moment.astimezone(UTC)
        if kind is date and isinstance(value, str) and len(value) <= 10:
            return date.fromisoformat(value)
        if kind is str and isinstance(value, str):
            return value
    except (InvalidOperation, ValueError, OverflowError):
        pass
    raise BadRequest(INVALID_CURSOR)


def _bound(value: Any, column: Any) -> Any:
    """`value` as a parameter typed like `column` (a bound parameter passes as it is)."""
    return value if isinstance(value, ColumnElement) else literal(value, column.type)


def keyset_order(
    sort_column: Any, id_column: Any, *, descending: bool, nullable: bool, reverse: bool = False
) -> list[Any]:
    """ORDER BY of a keyset walk: the sort column, then id; NULLs last (`reverse` walks
    the same order backwards, NULLs first). `sort_column` None sorts by id alone."""
    backwards = descending != reverse
    by_id = id_column.desc() if backwards else id_column.asc()
    if sort_column is None:
        return [by_id]
    by_value = sort_column.desc() if backwards else sort_column.asc()
    if nullable:
        by_value = by_value.nulls_first() if reverse else by_value.nulls_last()
    return [by_value, by_id]


def keyset_after(
    sort_column: Any,
    id_column: Any,
    value: Any,
    last_id: Any,
    *,
    descending: bool,
    nullable: bool,
    reverse: bool = False,
) -> ColumnElement[bool]:
    """The rows strictly after the position (value, last_id) in `keyset_order`'s order.

    `value` None on a nullable column is a position among the NULLs, which come after
    every value (before them when walking `reverse`).
    """
    backwards = descending != reverse
    last = _bound(last_id, id_column)
    id_beyond = id_column < last if backwards else id_column > last
    if sort_column is None:
        return id_beyond
    if nullable and value is None:
        among_nulls = and_(sort_column.is_(None), id_beyond)
        return or_(among_nulls, sort_column.is_not(None)) if reverse else among_nulls
    position = tuple_(sort_column, id_column)
    bound = tuple_(_bound(value, sort_column), last)
    beyond = position < bound if backwards else position > bound
    return or_(beyond, sort_column.is_(None)) if nullable and not reverse else beyond
