"""How the admin shows values to people: labels, money, moments, flags, statuses, long text.

One place for every page (lists, details, related rows), so a price reads `1,234.50`
everywhere and a moment is the same `<time>` everywhere. Moments are written in
`ADMIN_TIMEZONE` to the minute, with the exact UTC value in `datetime` and on hover;
static/js/admin.js then rewrites the text in the browser's own time zone.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import UTC, date, datetime
from decimal import Decimal
from enum import Enum
from typing import Any
from zoneinfo import ZoneInfo

from markupsafe import Markup

# Words written as people write them, not as a column is named.
WORDS = {"id": "ID", "sku": "SKU", "url": "URL", "api": "API", "ip": "IP", "csv": "CSV"}
LABELS = {"is_active": "Active", "created_at": "Created", "updated_at": "Updated"}
TRUNCATE_AT = 60
# Each status's badge colour (Tabler's badge classes, which keep AA contrast on white).
STATUS_COLOURS = {
    "draft": "bg-secondary-lt",
    "placed": "bg-blue-lt",
    "paid": "bg-green-lt",
    "shipped": "bg-teal-lt",
    "cancelled": "bg-red-lt",
    "pending": "bg-yellow-lt",
    "retrying": "bg-orange-lt",
    "delivered": "bg-green-lt",
    "failed": "bg-red-lt",
    "dead": "bg-red-lt",
}


def human_label(name: str) -> str:
    """`placed_at` → "Placed at", `reorder_level` → "Reorder level", `sku` → "SKU"."""
    if name in LABELS:
        return LABELS[name]
    words = [WORDS.get(word, word) for word in name.split("_") if word]
    if not words:
        return name
    first = words[0]
    return " ".join([first if first.isupper() else first.capitalize(), *words[1:]])


def human_labels(names: Iterable[str], declared: dict[Any, str]) -> dict[str, str]:
    """A label for each name; the view's own `column_labels` win."""
    labels = {name: human_label(name) for name in names}
    labels.update({getattr(key, "key", key): value for key, value in declared.items()})
    return labels


def money(value: Decimal | int | float) -> str:
    """Two decimals and thousands separators: `1,234.50`."""
    return f"{Decimal(value):,.2f}"


def yes_no(value: bool) -> Markup:
    """An icon, and the word for screen readers (and for anyone copying the text)."""
    icon, word = ("fa-check text-success", "Yes") if value else ("fa-xmark text-danger", "No")
    return Markup(
        f'<i class="fa-solid {icon}" aria-hidden="true"></i>'
        f'<span class="visually-hidden">{word}</span>'
    )


def truncated(text: str, limit: int = TRUNCATE_AT) -> Markup | str:
    """Text beyond `limit` characters is cut, the whole of it on hover."""
    if len(text) <= limit:
        return text
    return Markup('<span title="{}">{}…</span>').format(text, text[: limit - 1].rstrip())


def status_badge(status: str | None) -> Markup | str:
    if not status:
        return ""
    value = str(status.value if isinstance(status, Enum) else status)
    colour = STATUS_COLOURS.get(value, "bg-secondary-lt")
    return Markup('<span class="badge {} bo-status">{}</span>').format(
        colour, value.replace("_", " ").capitalize()
    )


def status_column(model: Any, name: str) -> Markup | str:
    """A `column_formatters` entry: the row's status as a badge."""
    return status_badge(getattr(model, name, None))


class Display:
    """The value formatters of one admin site (its `ADMIN_TIMEZONE`)."""

    def __init__(self, timezone: str = "UTC") -> None:
        self.timezone = ZoneInfo(timezone)
        self.by_type: dict[type, Callable[[Any], Any]] = {
            type(None): lambda _: "",
            bool: yes_no,
            Decimal: money,
            datetime: self.moment,
            date: lambda day: Markup('<time datetime="{}">{}</time>').format(day, day),
            str: truncated,
        }

    def moment(self, value: datetime) -> Markup:
        """A `<time>` to the minute in the site's zone; the exact value on hover."""
        if value.tzinfo is None:  # SQLite hands back naive UTC
            value = value.replace(tzinfo=UTC)
        exact = value.astimezone(UTC).isoformat()
        local = value.astimezone(self.timezone)
        shown = f"{local:%Y-%m-%d %H:%M} {local.tzname()}"
        return Markup('<time datetime="{}" title="{}">{}</time>').format(exact, exact, shown)

    def value(self, value: Any) -> Any:
        """Any value as the admin shows it (None is empty)."""
        if value is None:
            return ""
        formatter = self.by_type.get(type(value))
        if formatter is not None:
            return formatter(value)
        if isinstance(value, Enum):
            return value.name if not isinstance(value, str) else str(value.value)
        if isinstance(value, str):
            return truncated(value)
        return value

    def formatters(self) -> dict[type, Callable[[Any], Any]]:
        """sqladmin's documented `column_type_formatters`, for every list and details page."""
        return dict(self.by_type)
