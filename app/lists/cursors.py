"""Opaque, signed list cursors: a position (sort value, id) that only this server can write.

The API's `cursor` and the admin's First / Previous / Next links carry the same tokens:
a page is "the rows after (value, id)" in the list's order (app/lists/keyset.py).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from typing import Any

import orjson

from app.errors import BadRequest
from app.infra.jsonutil import to_jsonable
from app.lists.columns import parse_json
from app.models.base import INTEGER_RANGE

INVALID_CURSOR = "The cursor is not valid; start again without it."
OTHER_SORT = "The cursor belongs to another sort order; start again without it."


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
        (the sort column; None when sorting by id). BadRequest for any other token."""
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
            raise BadRequest(OTHER_SORT)
        if (
            not isinstance(last_id, int)
            or isinstance(last_id, bool)
            or not INTEGER_RANGE[0] <= last_id < INTEGER_RANGE[1]
        ):
            raise invalid
        if column is None:
            return value, last_id
        try:
            return parse_json(column, value), last_id
        except ValueError:
            raise invalid from None
