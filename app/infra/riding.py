"""One round trip for two SELECTs: a request's first read carries another statement.

A lean read (app/api/lean.py) must resolve its caller's credential (one statement) before
it may answer, then reads its page (another): two round trips to the database, each with
its own protocol messages, wake-ups and per-statement work on both sides. Sent as one
statement they cost one:

    WITH rider AS (<rider>)
    SELECT 0 AS part, <rider's columns>, NULL, … FROM rider
    UNION ALL
    SELECT 1, NULL, …, <page's columns> FROM (<page>) AS page
        WHERE EXISTS (SELECT 1 FROM rider)
    ORDER BY part, <the page's own order keys>

Each branch keeps its own plan (the page's ORDER BY and LIMIT stay inside its subquery),
and the page's runs only if the rider found rows (the EXISTS is a one-time filter; the
CTE, read twice, is computed once): an unknown token costs the database its lookup, not a
page too.
The outer ORDER BY re-applies the page's order, over at most MAX_LIMIT + 1 rows, because
SQL promises no order for a UNION's rows otherwise: the reader is told that order by the
caller (`order`, positions among the page's own columns); a read whose order is not
described is never combined. The rider's rows reach `on_rows` before the page's rows are
returned: it may raise (401, 403), and then the page is never seen.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from sqlalchemy import (
    CompoundSelect,
    Integer,
    Select,
    cast,
    exists,
    literal_column,
    null,
    select,
    union_all,
)
from sqlalchemy.sql import Executable
from sqlalchemy.types import NullType

from app.infra.db_reads import OrderKey, Reader, Row


@dataclass(frozen=True)
class Rider:
    """A statement to send with the next read, and what to do with its rows."""

    statement: Select[Any]
    params: Mapping[str, Any]
    on_rows: Callable[[Sequence[Row]], Awaitable[None]]


def _part(number: int) -> Any:
    return literal_column(str(number), Integer()).label("part")


def _typed_nulls(columns: Sequence[Any], prefix: str) -> list[Any]:
    return [cast(null(), column.type).label(f"{prefix}{i}") for i, column in enumerate(columns)]


@lru_cache(maxsize=2048)
def carrying(
    rider: Select[Any], page: Select[Any], order: tuple[OrderKey, ...]
) -> CompoundSelect | None:
    """`rider`'s rows (part 0), then `page`'s in its own order (part 1): one statement;
    None when a column has no type to cast a NULL to (then each is sent on its own).

    Cached by the statements' identity: both are long-lived (module constants, the lists'
    shape caches), so the combined statement is built, checked and compiled once per shape.
    """
    columns = [*rider.selected_columns, *page.selected_columns]
    if any(isinstance(column.type, NullType) for column in columns):
        return None
    mine, theirs = rider.cte("rider"), page.subquery("page")
    rider_columns, page_columns = list(mine.c), list(theirs.c)
    first = select(
        _part(0),
        *(column.label(f"r{i}") for i, column in enumerate(rider_columns)),
        *_typed_nulls(page_columns, "p"),
    )
    second = select(
        _part(1),
        *_typed_nulls(rider_columns, "r"),
        *(column.label(f"p{i}") for i, column in enumerate(page_columns)),
    ).where(exists(select(literal_column("1")).select_from(mine)))
    by_page = []
    for position, descending in order:
        key: Any = literal_column(f"p{position}")
        by_page.append((key.desc() if descending else key.asc()).nulls_last())
    return union_all(first, second).order_by(literal_column("part"), *by_page)


class RidingReader:
    """A Reader whose first described read also carries `rider` (see the module's doc).

    `settle()` sends the rider on its own if no read took it: whoever uses this reader
    calls it before answering, so the rider's checks always run, and run first.
    """

    def __init__(self, reader: Reader, rider: Rider) -> None:
        self.reader = reader
        self._rider: Rider | None = rider

    async def rows(
        self,
        statement: Executable,
        params: Mapping[str, Any],
        *,
        order: Sequence[OrderKey] | None = None,
    ) -> Sequence[Row]:
        rider = self._rider
        if rider is None:
            return await self.reader.rows(statement, params, order=order)
        combined = None
        # Only a described SELECT whose parameter names are not the rider's can carry it.
        if order is not None and isinstance(statement, Select) and not params.keys() & rider.params:
            combined = carrying(rider.statement, statement, tuple(order))
        if combined is None:
            await self.settle()
            return await self.reader.rows(statement, params, order=order)
        self._rider = None  # taken, whatever happens next: never sent twice
        rows = await self.reader.rows(combined, {**rider.params, **params}, order=())
        width = len(rider.statement.selected_columns)
        split = next((i for i, row in enumerate(rows) if row[0] != 0), len(rows))
        await rider.on_rows([row[1 : 1 + width] for row in rows[:split]])
        return [row[1 + width :] for row in rows[split:]]

    async def run(self, statement: Executable, params: Mapping[str, Any]) -> None:
        await self.settle()
        await self.reader.run(statement, params)

    async def settle(self) -> None:
        """Send the rider on its own, if no read has taken it yet."""
        rider, self._rider = self._rider, None
        if rider is not None:
            await rider.on_rows(await self.reader.rows(rider.statement, rider.params, order=()))
