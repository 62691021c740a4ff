"""JSON encoding shared by responses, problem bodies and audit diffs (Decimal-safe, fast)."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Any

import orjson


def _default(value: Any) -> Any:
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, set | frozenset):
        return sorted(value)
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


def dumps(value: Any) -> bytes:
    """Serialize to compact JSON bytes; money (Decimal) becomes a string."""
    return orjson.dumps(value, default=_default)


def to_jsonable(value: Any) -> Any:
    """A value as plain JSON types (Decimal → "12.50", datetime → ISO 8601 with offset)."""
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, set | frozenset | tuple | list):
        return [to_jsonable(v) for v in value]
    if isinstance(value, dict):
        return {str(k): to_jsonable(v) for k, v in value.items()}
    return value
