"""The list grammar of SPEC §6: limit, cursor, sort, `q`, exact and range filters, include_total.

One ListSpec per resource declares what may be sorted, searched and filtered (its
`describe()` is the documentation); `parse_list_query` turns a query string into a
validated ListQuery or a 422 naming the parameter (a bad cursor is a 400).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import FromClause

from app.errors import ValidationFailed
from app.lists.columns import parse_text, python_type
from app.lists.cursors import CursorCodec
from app.lists.keyset import Ordering

DEFAULT_LIMIT = 50
MAX_LIMIT = 200
MAX_SEARCH_LENGTH = 200
RESERVED_PARAMS = frozenset({"limit", "cursor", "sort", "q", "include_total"})
_TRUE_WORDS = frozenset({"true", "1", "yes", "on"})
_FALSE_WORDS = frozenset({"false", "0", "no", "off"})
Filter = tuple[str, str, Any]  # (field, "eq" | "gte" | "lte", value)


@dataclass(frozen=True)
class ListSpec:
    """What a resource's list may be sorted, searched and filtered by.

    `model` is a mapped class, or any FROM clause with an `id` column (the permission
    registry is a VALUES list).
    """

    model: Any
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
    def table(self) -> FromClause:
        table: FromClause = getattr(self.model, "__table__", self.model)
        return table

    def column(self, name: str) -> Any:
        # The table's column, not the ORM attribute: a statement built only from table
        # columns stays a Core statement (no ORM compile step), which lists rely on.
        return self.table.c[name]

    def ordering(self, sort: str, descending: bool) -> Ordering:
        """The keyset order of `sort` (a sortable field)."""
        return Ordering(
            name=sort,
            descending=descending,
            sort_column=None if sort == "id" else self.column(sort),
            id_column=self.column("id"),
        )

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
    # In query-string order, after the server's own scope (`within`).
    filters: tuple[Filter, ...] = ()

    @property
    def sort_key(self) -> str:
        return f"-{self.sort}" if self.descending else self.sort

    def within(self, **fixed: Any) -> ListQuery:
        """This query limited to rows with these values (the caller's own tokens, one
        endpoint's deliveries): exact filters the client cannot lift."""
        scope = tuple((name, "eq", value) for name, value in fixed.items())
        return dataclasses.replace(self, filters=(*scope, *self.filters))

    @property
    def shape(self) -> tuple[Any, ...]:
        """Everything that changes the SQL text; the values travel as bound parameters."""
        filters = tuple((name, op) for name, op, _ in self.filters)
        after = None if self.after is None else "null" if self.after[0] is None else "value"
        return (self.sort, self.descending, self.q is not None, after, filters)

    @classmethod
    def of_shape(cls, shape: tuple[Any, ...]) -> ListQuery:
        """A query with `shape` and placeholder values (statements only read the shape)."""
        sort, descending, has_q, after, filters = shape
        return cls(
            sort=sort,
            descending=descending,
            q="" if has_q else None,
            after=None if after is None else (None if after == "null" else "", 0),
            filters=tuple((name, op, None) for name, op in filters),
        )

    def params(self) -> dict[str, Any]:
        """The bound values of the list's statements (page and count)."""
        values: dict[str, Any] = {f"f{i}": value for i, (_, _, value) in enumerate(self.filters)}
        if self.q is not None:
            values["q"] = f"%{escape_like(self.q)}%"
            values["q_prefix"] = f"{escape_like(self.q.upper())}%"
        if self.after is not None:
            values["after_id"] = self.after[1]
            if self.sort != "id" and self.after[0] is not None:
                values["after_value"] = self.after[0]
        return values


def escape_like(text: str) -> str:
    """`text` matched literally by LIKE (with ESCAPE '\\')."""
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def refused(param: str, message: str, kind: str = "value_error") -> ValidationFailed:
    """The 422 for one query parameter."""
    return ValidationFailed(
        f"Invalid query parameter {param!r}: {message}",
        errors=[{"loc": ["query", param], "message": message, "type": kind}],
    )


def filter_params(spec: ListSpec) -> list[tuple[str, type]]:
    """Every filter parameter the list accepts, with the Python type of its value."""
    params = [(name, name) for name in spec.exact]
    params += [(f"{name}{suffix}", name) for name in spec.ranges for suffix in ("_gte", "_lte")]
    return [(param, python_type(spec.column(name))) for param, name in params]


def _limit(raw: str | None) -> int:
    if raw is None:
        return DEFAULT_LIMIT
    # isascii: str.isdigit() also accepts "²", which int() refuses; the length check
    # keeps int() away from strings past Python's digit limit (a ValueError).
    digits = raw.isascii() and raw.isdigit() and len(raw) <= 6
    if not digits or not 1 <= int(raw) <= MAX_LIMIT:
        raise refused("limit", f"must be an integer from 1 to {MAX_LIMIT}")
    return int(raw)


def _search(raw: str | None) -> str | None:
    q = (raw or "").strip() or None
    if q is not None and len(q) > MAX_SEARCH_LENGTH:
        raise refused("q", f"at most {MAX_SEARCH_LENGTH} characters")
    if q is not None and "\x00" in q:
        raise refused("q", "contains a NUL character")
    return q


def _include_total(raw: str | None) -> bool:
    # The spellings FastAPI accepted for a bool query parameter before this parser read it.
    word = (raw or "false").strip().lower()
    if word not in _TRUE_WORDS | _FALSE_WORDS:
        raise refused("include_total", "expected true or false")
    return word in _TRUE_WORDS


def _filters(spec: ListSpec, params: Mapping[str, str]) -> tuple[Filter, ...]:
    filters = []
    for param, raw in params.items():
        if param in RESERVED_PARAMS:
            continue
        name, op = param, "eq"
        for suffix in ("_gte", "_lte"):
            if param.endswith(suffix) and param.removesuffix(suffix) in spec.ranges:
                name, op = param.removesuffix(suffix), suffix[1:]
        if op == "eq" and name not in spec.exact:
            raise refused(param, "unknown parameter", "unknown_parameter")
        try:
            filters.append((name, op, parse_text(spec.column(name), raw)))
        except ValueError as exc:
            raise refused(param, str(exc)) from None
    return tuple(filters)


def parse_list_query(spec: ListSpec, params: Mapping[str, str], codec: CursorCodec) -> ListQuery:
    """Validate limit, sort, q, cursor and filters; unknown parameters are refused (422)."""
    limit = _limit(params.get("limit"))
    sort_key = params.get("sort") or spec.default_sort
    descending = sort_key.startswith("-")
    sort = sort_key.removeprefix("-")
    if sort not in spec.sortable:
        raise refused("sort", f"must be one of {', '.join(spec.sortable)} (optionally with -)")
    q = _search(params.get("q"))
    include_total = _include_total(params.get("include_total"))
    after = None
    if params.get("cursor"):
        # The value comes back in the sort column's type (a Decimal, a timestamp, …).
        after = spec.ordering(sort, descending).read_cursor(codec, params["cursor"])
    filters = _filters(spec, params)
    return ListQuery(limit, sort, descending, q, include_total, after, filters)
