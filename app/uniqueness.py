"""Turn a unique-constraint violation at flush time into a 409 that names the field."""

from __future__ import annotations

from collections.abc import Mapping

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from app.errors import Conflict


async def flush_or_conflict(
    session: AsyncSession,
    fields: Mapping[str, str],
    messages: Mapping[str, str] | None = None,
) -> None:
    """Flush; a violation of one of `fields` (constraint/index name → field) becomes a 409
    with the field's entry in `messages` (or a generic one).

    The unique index decides, not a SELECT before the INSERT: one statement less, and the
    same answer when two writers race. (A refusal rolls the request's work back; a keyed
    request records its 409 afterwards, app/api/idempotency.py.)
    """
    try:
        await session.flush()
    except IntegrityError as exc:
        text = str(exc.orig)
        for marker, field in fields.items():
            if marker in text:
                message = (messages or {}).get(field, f"The {field} is already taken.")
                raise Conflict(message, field=field) from None
        raise
