"""The one parser of row ids in admin URLs and forms: anything but a real id names no row.

Every id is an `integer` column (32-bit on PostgreSQL) counted from 1. `str.isdigit()`
is not the test: it accepts "²" (which int() refuses) and "١٢" (which int() reads as 12),
and a digit string past 2^31 - 1 reaches the database driver as an overflow (a 500).
"""

from __future__ import annotations

from starlette.exceptions import HTTPException

from app.models.base import INTEGER_RANGE

MAX_ID = INTEGER_RANGE[1] - 1
# Enough digits for MAX_ID; a longer string is refused before int() reads it.
_MAX_DIGITS = len(str(MAX_ID))


def parse_id(raw: object) -> int | None:
    """`raw` as a row id, or None when it is not ASCII digits within 1..2^31-1."""
    text = raw if isinstance(raw, str) else str(raw) if isinstance(raw, int) else ""
    if not text or len(text) > _MAX_DIGITS or not (text.isascii() and text.isdigit()):
        return None
    value = int(text)
    return value if 1 <= value <= MAX_ID else None


def require_id(raw: object) -> int:
    """`raw` as a row id; a 404 page when it cannot name a row."""
    value = parse_id(raw)
    if value is None:
        raise HTTPException(status_code=404)
    return value


def require_ids(raw: str) -> list[int]:
    """A `pks=1,2,3` list: every element an id (else 404); empty when nothing is selected."""
    parts = raw.split(",") if raw else []
    return [require_id(part) for part in parts]
