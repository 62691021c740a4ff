"""Turn a unique-constraint violation at flush time into a 409 that names the field."""

from __future__ import annotations

from collections.abc import Mapping

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from app.errors import Conflict


async def flush_or_conflict(session: AsyncSession, fields: Mapping[str, str]) -> None:
    """Flush; a violation of one of `fields` (constraint/index name → field) becomes a 409.

    Services check uniqueness first for a friendly message; this catches the race where
    two writers pass the check at the same moment and the database decides.
    """
    try:
        await session.flush()
    except IntegrityError as exc:
        text = str(exc.orig)
        for marker, field in fields.items():
            if marker in text:
                raise Conflict(f"The {field} is already taken.", field=field) from None
        raise
