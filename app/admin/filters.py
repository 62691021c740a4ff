"""Admin list filters that never run an unbounded SELECT DISTINCT and never crash on input."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from sqladmin.filters import OperationColumnFilter
from sqlalchemy import Select


class UTCDateFilter(OperationColumnFilter):
    """ "On or after" / "before" a date (YYYY-MM-DD, UTC) on a timezone-aware column."""

    def get_operation_options(self, column_obj: Any) -> list[tuple[str, str]]:
        return [("on_or_after", "On or after"), ("before", "Before"), ("on", "On")]

    def get_operation_options_for_model(self, model: Any) -> list[tuple[str, str]]:
        return self.get_operation_options(None)

    async def get_filtered_query(
        self, query: Select[Any], operation: str, value: Any, model: Any
    ) -> Select[Any]:
        try:
            day = date.fromisoformat(str(value).strip()[:10])
            start = datetime.combine(day, time.min, tzinfo=UTC)
            end = start + timedelta(days=1)
        except (ValueError, OverflowError):
            # An unparseable date (or the last day there is) filters nothing, not fails.
            return query
        column: Any = self.column
        if operation == "on_or_after":
            return query.where(column >= start)
        if operation == "before":
            return query.where(column < start)
        if operation == "on":
            return query.where(column >= start, column < end)
        return query
