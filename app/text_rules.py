"""What a text field may hold (SPEC §14): one definition for the API, admin and CSV.

Which characters: C0 control characters (U+0000–U+001F) and DEL (U+007F) are refused
everywhere, except tab, line feed and carriage return in multi-line fields (descriptions,
notes). PostgreSQL cannot store NUL in text at all, and the others only ever arrive by
accident or as an attack on whatever later displays, logs or exports the value.

How long: a name holds 1 to NAME_LENGTH characters, a description or a note at most
LONG_TEXT_LENGTH. Text over a limit is refused, never cut; text is stored as it was typed
(spaces included: export → import gives it back exactly). And what an email address is
(`Email`, normalised as email-validator does).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    Field,
    GetCoreSchemaHandler,
    GetJsonSchemaHandler,
    StringConstraints,
)
from pydantic.json_schema import JsonSchemaValue
from pydantic.networks import validate_email
from pydantic_core import PydanticCustomError, core_schema

_SINGLE_LINE_FORBIDDEN = re.compile("[\x00-\x1f\x7f]")
_MULTI_LINE_FORBIDDEN = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
ERROR_TYPE = "control_character"
NAME_LENGTH = 200
LONG_TEXT_LENGTH = 10_000
# RFC 5321's 64 + 1 + 255; email-validator refuses longer addresses anyway.
EMAIL_LENGTH = 320


def control_character_problem(value: str, *, multiline: bool = False) -> str | None:
    """Why `value` may not be stored in a field of this kind, or None when it may."""
    forbidden = _MULTI_LINE_FORBIDDEN if multiline else _SINGLE_LINE_FORBIDDEN
    found = forbidden.search(value)
    if found is None:
        return None
    # The code point, not the character: echoing a NUL or an escape sequence back is the
    # very thing being refused.
    return f"must not contain control characters (found U+{ord(found.group()):04X})"


# The same rules as JSON Schema patterns (ECMA-262 escapes), so the OpenAPI document states
# what the validators enforce and a generated client or fuzzer knows it up front.
_SINGLE_LINE_PATTERN = "^[^\\u0000-\\u001f\\u007f]*$"
_MULTI_LINE_PATTERN = "^[^\\u0000-\\u0008\\u000b\\u000c\\u000e-\\u001f\\u007f]*$"


@dataclass(frozen=True)
class TextRule:
    """Annotated metadata: refuse control characters (`control_character_problem`), and
    say so in the field's JSON schema as a `pattern` (unless the field states its own, or
    `in_schema` is off because its `format` already excludes them)."""

    multiline: bool
    in_schema: bool = True

    def __get_pydantic_core_schema__(
        self, source: Any, handler: GetCoreSchemaHandler
    ) -> core_schema.CoreSchema:
        multiline = self.multiline

        def check(value: str) -> str:
            problem = control_character_problem(value, multiline=multiline)
            if problem is not None:
                raise PydanticCustomError(ERROR_TYPE, problem)
            return value

        return core_schema.no_info_after_validator_function(check, handler(source))

    def __get_pydantic_json_schema__(
        self, schema: core_schema.CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        json_schema = handler(schema)
        if self.in_schema and json_schema.get("type") == "string":
            pattern = _MULTI_LINE_PATTERN if self.multiline else _SINGLE_LINE_PATTERN
            json_schema.setdefault("pattern", pattern)
        return json_schema


ONE_LINE_RULE = TextRule(multiline=False)
MULTI_LINE_RULE = TextRule(multiline=True)
# A name, code, email, phone number…: one line, no control characters at all.
SingleLine = Annotated[str, ONE_LINE_RULE]
# Descriptions and notes: tab, line feed and carriage return are text here.
MultiLine = Annotated[str, MULTI_LINE_RULE]

# The domain commands' text fields. The length comes first (a megabyte is refused by
# its length before it is scanned), then the characters.
Name = Annotated[str, StringConstraints(min_length=1, max_length=NAME_LENGTH), ONE_LINE_RULE]
LongText = Annotated[str, StringConstraints(max_length=LONG_TEXT_LENGTH), MULTI_LINE_RULE]


def _email_address(value: str) -> str:
    # pydantic's EmailStr rule (email-validator: the domain lower-cased, special-use
    # domains such as .test refused), as a step that runs after the checks above.
    return validate_email(value)[1]


Email = Annotated[
    str,
    StringConstraints(strip_whitespace=True, max_length=EMAIL_LENGTH),
    # `format: email` already rules control characters out; a pattern beside it would only
    # send client generators and fuzzers looking for a 320-character string matching both.
    TextRule(multiline=False, in_schema=False),
    AfterValidator(_email_address),
    Field(json_schema_extra={"format": "email"}),
]
