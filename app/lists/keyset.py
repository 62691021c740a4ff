"""Keyset paging: a list's order (a column, then id, NULLs last) and "the rows after here".

A page is the first `limit` rows strictly after the last row of the previous page, so its
cost does not grow with the table (OFFSET reads and skips every earlier row). One
Ordering serves the API's lists and the admin's (which also walks it backwards, for its
Previous and Last links); one fetch reads a page and tells whether more rows follow.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Select, and_, literal, or_, tuple_
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql.elements import ColumnElement

from app.infra.db_reads import OrderKey
from app.lists.columns import is_nullable
from app.lists.cursors import CursorCodec

Position = tuple[Any, Any]  # (sort value, id): plain values or bound parameters


@dataclass(frozen=True)
class Ordering:
    """A list's order: `sort_column` (None to sort by id alone), then `id_column`."""

    name: str
    descending: bool
    sort_column: Any
    id_column: Any

    @property
    def sort_key(self) -> str:
        """The `sort` parameter this order answers to (`-name` for descending)."""
        return f"-{self.name}" if self.descending else self.name

    @property
    def nullable(self) -> bool:
        return self.sort_column is not None and is_nullable(self.sort_column)

    def order_by(self, *, reverse: bool = False) -> list[Any]:
        """ORDER BY: the sort column, then id; NULLs last (`reverse` walks the same order
        backwards, NULLs first)."""
        backwards = self.descending != reverse
        by_id = self.id_column.desc() if backwards else self.id_column.asc()
        if self.sort_column is None:
            return [by_id]
        by_value = self.sort_column.desc() if backwards else self.sort_column.asc()
        if self.nullable:
            by_value = by_value.nulls_first() if reverse else by_value.nulls_last()
        return [by_value, by_id]

    def keys(self, positions: Mapping[str, int]) -> tuple[OrderKey, ...]:
        """`order_by()` as keys over a statement's own columns (`positions` by name), for a
        reader that sends the page inside another statement (app/infra/riding.py)."""
        by_id = (positions["id"], self.descending)
        if self.sort_column is None:
            return (by_id,)
        return ((positions[self.name], self.descending), by_id)

    def after(self, position: Position, *, reverse: bool = False) -> ColumnElement[bool]:
        """The rows strictly after `position` in `order_by`'s order.

        A None value on a nullable column is a position among the NULLs, which come after
        every value (before them when walking `reverse`).
        """
        value, last_id = position
        backwards = self.descending != reverse
        last = _bound(last_id, self.id_column)
        id_beyond = self.id_column < last if backwards else self.id_column > last
        column = self.sort_column
        if column is None:
            return id_beyond
        if self.nullable and value is None:
            among_nulls = and_(column.is_(None), id_beyond)
            return or_(among_nulls, column.is_not(None)) if reverse else among_nulls
        here, bound = tuple_(column, self.id_column), tuple_(_bound(value, column), last)
        beyond = here < bound if backwards else here > bound
        return or_(beyond, column.is_(None)) if self.nullable and not reverse else beyond

    def seek(
        self, statement: Select[Any], position: Position | None, *, reverse: bool = False
    ) -> Select[Any]:
        """`statement` ordered, and past `position` when there is one."""
        if position is not None:
            statement = statement.where(self.after(position, reverse=reverse))
        return statement.order_by(*self.order_by(reverse=reverse))

    def read_cursor(self, codec: CursorCodec, token: str) -> tuple[Any, int]:
        """The position a cursor of this order holds (BadRequest for any other token)."""
        return codec.decode(token, self.sort_key, self.sort_column)

    def cursor(self, codec: CursorCodec, value: Any, last_id: int) -> str:
        """A cursor for the position (value, last_id) in this order."""
        return codec.encode(self.sort_key, value, last_id)

    def cursor_at(self, codec: CursorCodec, entity: Any) -> str:
        """A cursor for an ORM entity's position in this order."""
        return self.cursor(codec, getattr(entity, self.name), entity.id)


def _bound(value: Any, column: Any) -> Any:
    """`value` as a parameter typed like `column` (a bound parameter passes as it is)."""
    return value if isinstance(value, ColumnElement) else literal(value, column.type)


async def fetch_entities(
    session: AsyncSession, statement: Select[Any], limit: int, params: Mapping[str, Any]
) -> tuple[Sequence[Any], bool]:
    """Up to `limit` ORM entities of an ordered `statement`, and whether more follow.

    One row more than the page is read: it says whether there is a next page without
    a count.
    """
    result = await session.execute(statement.limit(limit + 1), dict(params))
    rows = list(result.unique().scalars())
    return rows[:limit], len(rows) > limit
