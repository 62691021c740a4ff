"""Typed admin list filters: number and date ranges, choices, yes/no and text, from the URL.

Each implements sqladmin's documented filter protocol (`title`, `parameter_name`,
`template`, `lookups`, `get_filtered_query`) and adds what a filter of several URL
parameters needs: `parameter_names` (what it reads: `price_min`, `price_max`), `read`
(those values checked and typed, or ListRefused saying why not: no query runs for it) and
`form` (what its GET form in the list's sidebar shows). None of them asks the database
for its choices: no SELECT DISTINCT over a big table to build a menu.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, ClassVar

from sqlalchemy import Select
from starlette.datastructures import URL

from app.admin.views.lists import ListRefused, checked_text
from app.lists.columns import MAX_FILTER_LENGTH, parse_text, python_type
from app.lists.grammar import escape_like

# Paging positions: a filtered list starts again from its first page.
CURSOR_PARAMS = ("after", "before", "last", "page")
# Parameters a form never carries over: paging, and one-off messages of the last action.
NOT_KEPT = frozenset({*CURSOR_PARAMS, "notice", "error"})
_DAY = re.compile(r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$")


@dataclass(frozen=True)
class FilterInput:
    """One control of a filter's form: `kind` is "number", "integer", "date", "select" or
    "text"."""

    name: str  # the URL parameter (and, prefixed, the element's id)
    label: str
    value: str
    kind: str
    options: tuple[tuple[str, str], ...] = ()  # a select's (value, label)


@dataclass(frozen=True)
class FilterForm:
    """A filter's GET form: its inputs, the list's other parameters kept as hidden inputs
    (search, sort, page size, other filters; never a paging cursor), and the URL that
    clears it when it is set."""

    template: str
    title: str
    slug: str
    inputs: tuple[FilterInput, ...]
    kept: tuple[tuple[str, str], ...]
    clear_url: str | None


class TypedFilter:
    """What every typed filter shares; subclasses say what they read and how they filter."""

    has_operator = False
    template: ClassVar[str] = "admin/filters/choice.html"

    def __init__(self, column: Any, title: str | None = None, parameter_name: str | None = None):
        self.column = column
        self.parameter_name = parameter_name or str(column.key)
        self.title = title or self.parameter_name.replace("_", " ").capitalize()

    @property
    def parameter_names(self) -> tuple[str, ...]:
        return (self.parameter_name,)

    def label(self) -> str:
        return f"The filter “{self.title}”"

    def values(self, params: Mapping[str, str]) -> dict[str, str]:
        """The filter's own parameters that have a value, each checked as one line of
        bounded text. A value under its base name that it does not read (`price=5` for a
        range) is refused: a filter asked for in a form it does not take is not ignored."""
        found = {}
        for name in dict.fromkeys((self.parameter_name, *self.parameter_names)):
            raw = params.get(name, "")
            if raw:
                found[name] = checked_text(self.label(), raw, MAX_FILTER_LENGTH)
        if self.parameter_name in found and self.parameter_name not in self.parameter_names:
            wanted = " and ".join(self.parameter_names)
            raise ListRefused(f"{self.label()} is given as {wanted}.")
        return found

    def read(self, params: Mapping[str, str]) -> Any | None:
        """The filter's value from the URL, typed; None when the list is not filtered by it."""
        raise NotImplementedError

    async def lookups(self, request: Any, model: Any, run_query: Any) -> list[tuple[str, str]]:
        """sqladmin's menu of values: a fixed list (never a query), empty for a range."""
        return []

    async def get_filtered_query(self, query: Select[Any], value: Any, model: Any) -> Select[Any]:
        """`query` limited to the rows matching `value` (what `read` returned)."""
        raise NotImplementedError

    def inputs(self, params: Mapping[str, str]) -> tuple[FilterInput, ...]:
        raise NotImplementedError

    def form(self, params: Mapping[str, str], url: URL) -> FilterForm:
        own = {self.parameter_name, *self.parameter_names}
        kept = tuple((k, v) for k, v in params.items() if k not in own and k not in NOT_KEPT)
        is_set = any(params.get(name) for name in own)
        clear = str(url.remove_query_params([*own, *CURSOR_PARAMS])) if is_set else None
        return FilterForm(
            self.template, self.title, self.parameter_name, self.inputs(params), kept, clear
        )


class RangeFilter(TypedFilter):
    """Two bounds, either left open (`price_min`, `price_max`); the lower may not be above
    the upper. Subclasses say what a bound is and how the column is compared with it."""

    template: ClassVar[str] = "admin/filters/range.html"
    suffixes: ClassVar[tuple[str, str]]
    labels: ClassVar[tuple[str, str]]  # of the inputs, and the message's words
    out_of_order: ClassVar[str]

    @property
    def parameter_names(self) -> tuple[str, ...]:
        low, high = self.suffixes
        return (f"{self.parameter_name}_{low}", f"{self.parameter_name}_{high}")

    def bound(self, raw: str, which: str) -> Any:
        """A bound's typed value from its text; ListRefused naming `which` when not one."""
        raise NotImplementedError

    def read(self, params: Mapping[str, str]) -> tuple[Any, Any] | None:
        found = self.values(params)
        bounds = [
            None if found.get(name) is None else self.bound(found[name], which.lower())
            for name, which in zip(self.parameter_names, self.labels, strict=True)
        ]
        low, high = bounds
        if low is None and high is None:
            return None
        if low is not None and high is not None and low > high:
            raise ListRefused(f"{self.label()}: {self.out_of_order}.")
        return low, high

    def inputs(self, params: Mapping[str, str]) -> tuple[FilterInput, ...]:
        kind = self.input_kind()
        return tuple(
            FilterInput(name, label, params.get(name, ""), kind)
            for name, label in zip(self.parameter_names, self.labels, strict=True)
        )

    def input_kind(self) -> str:
        raise NotImplementedError


class NumberRangeFilter(RangeFilter):
    """From a minimum to a maximum, both included (`price_min=10&price_max=20`)."""

    suffixes = ("min", "max")
    labels = ("Minimum", "Maximum")
    out_of_order = "the minimum is above the maximum"

    def bound(self, raw: str, which: str) -> Any:
        try:
            # The column's own rule: a whole number or an amount it can hold.
            return parse_text(self.column, raw.strip())
        except ValueError:
            kind = "a whole number" if self.input_kind() == "integer" else "a number"
            raise ListRefused(f"{self.label()}: the {which} must be {kind}.") from None

    def input_kind(self) -> str:
        return "integer" if python_type(self.column) is int else "number"

    async def get_filtered_query(self, query: Select[Any], value: Any, model: Any) -> Select[Any]:
        low, high = value
        if low is not None:
            query = query.where(self.column >= low)
        if high is not None:
            query = query.where(self.column <= high)
        return query


class DateRangeFilter(RangeFilter):
    """From one day to another, both included, as UTC days, on a timezone-aware column
    (`created_at_from=2026-01-01&created_at_to=2026-01-31`)."""

    suffixes = ("from", "to")
    labels = ("From", "To")
    out_of_order = "the “from” day is after the “to” day"

    def bound(self, raw: str, which: str) -> date:
        try:
            if not _DAY.match(raw.strip()):
                raise ValueError(raw)
            return date.fromisoformat(raw.strip())
        except ValueError:
            raise ListRefused(f"{self.label()}: the “{which}” day must be YYYY-MM-DD.") from None

    def input_kind(self) -> str:
        return "date"

    async def get_filtered_query(self, query: Select[Any], value: Any, model: Any) -> Select[Any]:
        first, last = value
        if first is not None:
            query = query.where(self.column >= datetime.combine(first, time.min, tzinfo=UTC))
        if last is not None and last < date.max:
            # Before the day after the last; through the last day there is, no bound.
            end = datetime.combine(last + timedelta(days=1), time.min, tzinfo=UTC)
            query = query.where(self.column < end)
        return query


class ChoiceFilter(TypedFilter):
    """One of a fixed set of values (an enum: an order's status), chosen from a menu."""

    def __init__(
        self,
        column: Any,
        choices: Sequence[tuple[str, str]],
        title: str | None = None,
        parameter_name: str | None = None,
    ):
        super().__init__(column, title, parameter_name)
        self.choices = tuple((str(value), str(label)) for value, label in choices)
        self.allowed = {value: value for value, _ in self.choices}

    def read(self, params: Mapping[str, str]) -> Any | None:
        raw = self.values(params).get(self.parameter_name)
        if raw is None:
            return None
        if raw not in self.allowed:
            # The value is not echoed: it came from a URL anyone could have written.
            raise ListRefused(f"{self.label()} has no such choice.")
        return self.allowed[raw]

    async def lookups(self, request: Any, model: Any, run_query: Any) -> list[tuple[str, str]]:
        return list(self.choices)

    async def get_filtered_query(self, query: Select[Any], value: Any, model: Any) -> Select[Any]:
        return query.where(self.column == value)

    def inputs(self, params: Mapping[str, str]) -> tuple[FilterInput, ...]:
        name = self.parameter_name
        options = (("", "Any"), *self.choices)
        return (FilterInput(name, self.title, params.get(name, ""), "select", options),)


class BooleanFilter(ChoiceFilter):
    """Yes, no or any, on a true/false column (`is_active=true`)."""

    YES_NO = (("true", "Yes"), ("false", "No"))

    def __init__(self, column: Any, title: str | None = None, parameter_name: str | None = None):
        super().__init__(column, self.YES_NO, title, parameter_name)

    async def get_filtered_query(self, query: Select[Any], value: Any, model: Any) -> Select[Any]:
        return query.where(self.column.is_(value == "true"))


class IsSetFilter(BooleanFilter):
    """Yes when a nullable column has a value (a token's `revoked_at`: "Revoked")."""

    async def get_filtered_query(self, query: Select[Any], value: Any, model: Any) -> Select[Any]:
        if value == "true":
            return query.where(self.column.is_not(None))
        return query.where(self.column.is_(None))


class TextFilter(TypedFilter):
    """Text matched one fixed way, said in its title: "contains", "starts with" or "is".

    Case-insensitive for the first two; % and _ are literal characters, not wildcards.
    """

    template: ClassVar[str] = "admin/filters/text.html"
    MATCHES = {"contains": "contains", "prefix": "starts with", "exact": "is"}

    def __init__(
        self,
        column: Any,
        title: str | None = None,
        parameter_name: str | None = None,
        *,
        match: str = "contains",
    ):
        super().__init__(column, title, parameter_name)
        if match not in self.MATCHES:
            raise ValueError(f"unknown match {match!r}")
        self.match = match

    def read(self, params: Mapping[str, str]) -> str | None:
        raw = self.values(params).get(self.parameter_name)
        return raw.strip() or None if raw is not None else None

    async def get_filtered_query(self, query: Select[Any], value: Any, model: Any) -> Select[Any]:
        if self.match == "exact":
            return query.where(self.column == value)
        pattern = f"{escape_like(value)}%"
        if self.match == "contains":
            pattern = f"%{pattern}"
        return query.where(self.column.ilike(pattern, escape="\\"))

    def inputs(self, params: Mapping[str, str]) -> tuple[FilterInput, ...]:
        name = self.parameter_name
        label = f"{self.title} {self.MATCHES[self.match]}"
        return (FilterInput(name, label, params.get(name, ""), "text"),)
