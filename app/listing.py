"""List conventions of SPEC §6: keyset pagination, sort, `q` search, exact and range filters.

One ListSpec per resource declares what may be sorted, searched and filtered; the API
and the CSV export both run `list_statement`, so they agree on what a filter means.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from functools import lru_cache
from typing import Any

from sqlalchemy import (
    BigInteger,
    Column,
    Integer,
    Select,
    String,
    Table,
    TypeDecorator,
    and_,
    bindparam,
    func,
    or_,
    select,
)
from sqlalchemy.ext.asyncio import AsyncSession

from app.cursors import BIG_INTEGER_RANGE, CursorCodec, keyset_after, keyset_order
from app.db_reads import Reader, SqlaReader
from app.errors import ValidationFailed
from app.models import Base
from app.models.base import INTEGER_RANGE

DEFAULT_LIMIT = 50
MAX_LIMIT = 200
RESERVED_PARAMS = frozenset({"limit", "cursor", "sort", "q", "include_total"})
_TRUE_WORDS = frozenset({"true", "1", "yes", "on"})
_FALSE_WORDS = frozenset({"false", "0", "no", "off"})


@dataclass(frozen=True)
class ListSpec:
    """What a resource's list may be sorted, searched and filtered by."""

    model: type[Base]
    sortable: tuple[str, ...]
    default_sort: str
    searchable: tuple[str, ...] = ()
    # Uppercase codes (SKUs) that `q` matches from their start, case-insensitively: a
    # btree pattern index serves that, where a substring match needs a trigram index
    # that would double the cost of importing 100,000 products.
    prefix_searchable: tuple[str, ...] = ()
    exact: tuple[str, ...] = ()
    ranges: tuple[str, ...] = ()

    @property
    def table(self) -> Table:
        table: Table = self.model.__table__  # type: ignore[assignment]
        return table

    def column(self, name: str) -> Column[Any]:
        # The table's column, not the ORM attribute: a statement built only from table
        # columns stays a Core statement (no ORM compile step), which lists rely on.
        return self.table.c[name]

    @property
    def search_fields(self) -> tuple[str, ...]:
        """Every field `q` looks in (prefix-matched codes first)."""
        return (*self.prefix_searchable, *self.searchable)

    def describe(self) -> str:
        """Human documentation for OpenAPI descriptions."""
        parts = [f"sort: {', '.join(self.sortable)} (prefix `-` for descending)"]
        if self.searchable:
            parts.append(f"q searches: {', '.join(self.searchable)}")
        if self.prefix_searchable:
            parts.append(f"and the start of: {', '.join(self.prefix_searchable)}")
        if self.exact:
            parts.append(f"exact filters: {', '.join(self.exact)}")
        if self.ranges:
            parts.append(
                "range filters: " + ", ".join(f"{name}_gte/{name}_lte" for name in self.ranges)
            )
        return "; ".join(parts)


@dataclass(frozen=True)
class ListQuery:
    """Validated list parameters."""

    limit: int = DEFAULT_LIMIT
    sort: str = "id"
    descending: bool = False
    q: str | None = None
    include_total: bool = False
    after: tuple[Any, int] | None = None
    # (field, "eq" | "gte" | "lte", value), in query-string order.
    filters: tuple[tuple[str, str, Any], ...] = ()

    @property
    def sort_key(self) -> str:
        return f"-{self.sort}" if self.descending else self.sort

    @property
    def shape(self) -> tuple[Any, ...]:
        """Everything that changes the SQL text; the values travel as bound parameters."""
        filters = tuple((name, op) for name, op, _ in self.filters)
        after = None if self.after is None else "null" if self.after[0] is None else "value"
        return (self.sort, self.descending, self.q is not None, after, filters)

    def params(self) -> dict[str, Any]:
        """The bound values of `list_statement` (and of its count)."""
        values: dict[str, Any] = {f"f{i}": value for i, (_, _, value) in enumerate(self.filters)}
        if self.q is not None:
            values["q"] = f"%{_escape_like(self.q)}%"
            values["q_prefix"] = f"{_escape_like(self.q.upper())}%"
        if self.after is not None:
            values["after_id"] = self.after[1]
            if self.sort != "id" and self.after[0] is not None:
                values["after_value"] = self.after[0]
        return values


@dataclass(frozen=True)
class Page:
    items: Sequence[Any]
    next_cursor: str | None
    total: int | None = None


def _bad(param: str, message: str, kind: str = "value_error") -> ValidationFailed:
    return ValidationFailed(
        f"Invalid query parameter {param!r}: {message}",
        errors=[{"loc": ["query", param], "message": message, "type": kind}],
    )


def _column_type(spec: ListSpec, name: str) -> Any:
    column_type = spec.column(name).type
    # A TypeDecorator (UTCDateTime) answers python_type with `object`; its impl knows.
    return column_type.impl_instance if isinstance(column_type, TypeDecorator) else column_type


def filter_params(spec: ListSpec) -> list[tuple[str, type]]:
    """Every filter parameter the list accepts, with the Python type of its value."""
    params = [(name, name) for name in spec.exact]
    params += [(f"{name}{suffix}", name) for name in spec.ranges for suffix in ("_gte", "_lte")]
    return [(param, _column_type(spec, name).python_type) for param, name in params]


def parse_value(spec: ListSpec, name: str, raw: str, param: str) -> Any:
    """A query-string value converted to the column's type (422 when it does not parse)."""
    column_type = _column_type(spec, name)
    kind = column_type.python_type
    try:
        if "\x00" in raw:
            raise ValueError("contains a NUL character")
        if kind is bool:
            lowered = raw.strip().lower()
            if lowered not in {"true", "false", "1", "0"}:
                raise ValueError("expected true or false")
            return lowered in {"true", "1"}
        if kind is int:
            value = int(raw)
            low, high = BIG_INTEGER_RANGE if isinstance(column_type, BigInteger) else INTEGER_RANGE
            if not low <= value < high:
                raise ValueError("out of range")
            return value
        if kind is Decimal:
            number = Decimal(raw)
            if not number.is_finite() or abs(number) >= Decimal("1e10"):
                raise ValueError("not a finite amount")
            return number
        if kind is datetime:
            moment = datetime.fromisoformat(raw.strip().replace("Z", "+00:00"))
            if moment.tzinfo is None:
                raise ValueError("timestamps need an offset, e.g. 2026-01-31T00:00:00Z")
            # Normalized here: the conversion overflows for the extremes of year 1 and 9999.
            return moment.astimezone(UTC)
        if len(raw) > 320:
            raise ValueError("too long")
        return raw
    except InvalidOperation:
        raise _bad(param, "not a valid number") from None
    except (ValueError, OverflowError) as exc:
        raise _bad(param, str(exc) or f"not a valid {kind.__name__}") from None


def parse_list_query(spec: ListSpec, params: Mapping[str, str], codec: CursorCodec) -> ListQuery:
    """Validate limit, sort, q, cursor and filters; unknown parameters are refused (422)."""
    raw_limit = params.get("limit")
    limit = DEFAULT_LIMIT
    if raw_limit is not None:
        # isascii: str.isdigit() also accepts "²", which int() refuses; the length check
        # keeps int() away from strings past Python's digit limit (a ValueError).
        digits = raw_limit.isascii() and raw_limit.isdigit() and len(raw_limit) <= 6
        if not digits or not 1 <= int(raw_limit) <= MAX_LIMIT:
            raise _bad("limit", f"must be an integer from 1 to {MAX_LIMIT}")
        limit = int(raw_limit)
    sort_key = params.get("sort") or spec.default_sort
    descending = sort_key.startswith("-")
    sort = sort_key.removeprefix("-")
    if sort not in spec.sortable:
        raise _bad("sort", f"must be one of {', '.join(spec.sortable)} (optionally with -)")
    q = (params.get("q") or "").strip() or None
    if q is not None and len(q) > 200:
        raise _bad("q", "at most 200 characters")
    if q is not None and "\x00" in q:
        raise _bad("q", "contains a NUL character")
    # The spellings FastAPI accepted for a bool query parameter before this parser read it.
    raw_total = (params.get("include_total") or "false").strip().lower()
    if raw_total not in _TRUE_WORDS | _FALSE_WORDS:
        raise _bad("include_total", "expected true or false")
    include_total = raw_total in _TRUE_WORDS
    after = None
    if params.get("cursor"):
        # The value comes back in the sort column's type (a Decimal, a timestamp, …).
        column = None if sort == "id" else spec.column(sort)
        after = codec.decode(params["cursor"], sort_key, column)
    filters = []
    for param, raw in params.items():
        if param in RESERVED_PARAMS:
            continue
        name, op = param, "eq"
        for suffix in ("_gte", "_lte"):
            if param.endswith(suffix) and param.removesuffix(suffix) in spec.ranges:
                name, op = param.removesuffix(suffix), suffix[1:]
        if op == "eq" and name not in spec.exact:
            raise _bad(param, "unknown parameter", "unknown_parameter")
        filters.append((name, op, parse_value(spec, name, raw, param)))
    return ListQuery(limit, sort, descending, q, include_total, after, tuple(filters))


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def filtered(spec: ListSpec, query: ListQuery, statement: Select[Any]) -> Select[Any]:
    """`statement` with the filters and `q` applied (no order, no keyset, no limit).

    Values are bound parameters (`query.params()`), so one statement object serves
    every request of the same shape and SQLAlchemy's cache key is computed once.
    """
    conditions = []
    for i, (name, op, _) in enumerate(query.filters):
        column = spec.column(name)
        value = bindparam(f"f{i}", type_=column.type)
        conditions.append(
            column == value if op == "eq" else column >= value if op == "gte" else column <= value
        )
    if conditions:
        statement = statement.where(and_(*conditions))
    if query.q is not None and (spec.searchable or spec.prefix_searchable):
        pattern, prefix = bindparam("q", type_=String()), bindparam("q_prefix", type_=String())
        statement = statement.where(
            or_(
                *(spec.column(name).ilike(pattern, escape="\\") for name in spec.searchable),
                *(spec.column(name).like(prefix, escape="\\") for name in spec.prefix_searchable),
            )
        )
    return statement


def list_statement(spec: ListSpec, query: ListQuery, statement: Select[Any]) -> Select[Any]:
    """Filters, keyset position and order: the page query without its LIMIT."""
    statement = filtered(spec, query, statement)
    sort_column = None if query.sort == "id" else spec.column(query.sort)
    id_column = spec.column("id")
    nullable = sort_column is not None and bool(sort_column.nullable)
    if query.after is not None:
        # Bound parameters typed like the columns, so e.g. a timestamp is bound as the
        # column stores it; a NULL position has no value to bind.
        value = None
        if sort_column is not None and query.after[0] is not None:
            value = bindparam("after_value", type_=sort_column.type)
        statement = statement.where(
            keyset_after(
                sort_column,
                id_column,
                value,
                bindparam("after_id", type_=id_column.type),
                descending=query.descending,
                nullable=nullable,
            )
        )
    return statement.order_by(
        *keyset_order(sort_column, id_column, descending=query.descending, nullable=nullable)
    )


@lru_cache(maxsize=512)
def _page_statement(spec: ListSpec, shape: tuple[Any, ...], base: Select[Any]) -> Select[Any]:
    # Keyed by the query's shape and the (long-lived) base statement object.
    query = _query_of_shape(shape)
    return list_statement(spec, query, base).limit(bindparam("page_limit", type_=Integer()))


@lru_cache(maxsize=512)
def _count_statement(spec: ListSpec, shape: tuple[Any, ...]) -> Select[Any]:
    return filtered(spec, _query_of_shape(shape), select(func.count()).select_from(spec.table))


def _query_of_shape(shape: tuple[Any, ...]) -> ListQuery:
    """A ListQuery with `shape` and placeholder values (statements only read the shape)."""
    sort, descending, has_q, after, filters = shape
    return ListQuery(
        sort=sort,
        descending=descending,
        q="" if has_q else None,
        after=None if after is None else (None if after == "null" else "", 0),
        filters=tuple((name, op, None) for name, op in filters),
    )


def columns_select(spec: ListSpec, names: Sequence[str]) -> Select[Any]:
    """A Core SELECT of some of the table's columns: rows are plain tuples, no ORM objects."""
    return select(*(spec.column(name) for name in names))


async def fetch_page(
    session: AsyncSession, spec: ListSpec, query: ListQuery, codec: CursorCodec, base: Select[Any]
) -> Page:
    """One page of the ORM entity `base` selects (with its loader options)."""
    params = query.params()
    statement = list_statement(spec, query, base).limit(bindparam("page_limit"))
    result = await session.execute(statement, params | {"page_limit": query.limit + 1})
    items: list[Any] = list(result.unique().scalars())
    next_cursor = None
    if len(items) > query.limit:
        items = items[: query.limit]
        last = items[-1]
        next_cursor = codec.encode(query.sort_key, getattr(last, query.sort), last.id)
    total = await _total(SqlaReader(session), spec, query, params)
    return Page(items=items, next_cursor=next_cursor, total=total)


async def fetch_rows_page(
    reader: Reader,
    spec: ListSpec,
    query: ListQuery,
    codec: CursorCodec,
    columns: Select[Any],
) -> Page:
    """One page of Core rows of `columns` (a long-lived `columns_select`, which must
    include `id` and every sortable field): tuples in its column order, no ORM objects."""
    params = query.params()
    statement = _page_statement(spec, query.shape, columns)
    rows = await reader.rows(statement, params | {"page_limit": query.limit + 1})
    next_cursor = None
    if len(rows) > query.limit:
        rows = rows[: query.limit]
        last = rows[-1]
        positions = _column_positions(columns)
        next_cursor = codec.encode(
            query.sort_key, last[positions[query.sort]], last[positions["id"]]
        )
    total = await _total(reader, spec, query, params)
    return Page(items=rows, next_cursor=next_cursor, total=total)


@lru_cache(maxsize=64)
def _column_positions(columns: Select[Any]) -> dict[str, int]:
    return {name: index for index, name in enumerate(columns.selected_columns.keys())}


async def _total(
    reader: Reader, spec: ListSpec, query: ListQuery, params: dict[str, Any]
) -> int | None:
    """The filtered count, when the query asks for it."""
    if not query.include_total:
        return None
    rows = await reader.rows(_count_statement(spec, query.shape), params)
    return int(rows[0][0])
