"""Which characters a text field may hold (SPEC §14): one definition for the API, admin and CSV.

C0 control characters (U+0000–U+001F) and DEL (U+007F) are refused everywhere, except tab,
line feed and carriage return in multi-line fields (descriptions, notes). PostgreSQL cannot
store NUL in text at all, and the others only ever arrive by accident or as an attack on
whatever later displays, logs or exports the value.
"""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import AfterValidator
from pydantic_core import PydanticCustomError

_SINGLE_LINE_FORBIDDEN = re.compile("[\x00-\x1f\x7f]")
_MULTI_LINE_FORBIDDEN = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
ERROR_TYPE = "control_character"


def control_character_problem(value: str, *, multiline: bool = False) -> str | None:
    """Why `value` may not be stored in a field of this kind, or None when it may."""
    forbidden = _MULTI_LINE_FORBIDDEN if multiline else _SINGLE_LINE_FORBIDDEN
    found = forbidden.search(value)
    if found is None:
        return None
    # The code point, not the character: echoing a NUL or an escape sequence back is the
    # very thing being refused.
    return f"must not contain control characters (found U+{ord(found.group()):04X})"


def _checker(multiline: bool) -> AfterValidator:
    def check(value: str) -> str:
        problem = control_character_problem(value, multiline=multiline)
        if problem is not None:
            raise PydanticCustomError(ERROR_TYPE, problem)
        return value

    return AfterValidator(check)


# A name, code, email, phone number…: one line, no control characters at all.
SingleLine = Annotated[str, _checker(multiline=False)]
# Descriptions and notes: tab, line feed and carriage return are text here.
MultiLine = Annotated[str, _checker(multiline=True)]
