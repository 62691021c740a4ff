"""What every write shares: a door's input built into a command, the caller's permission
on the row, and the version the caller expects.

A command is a pydantic model of its domain package (app/<domain>/commands.py): building
one from a door's raw values runs the domain's one rule for each field (and normalises
it), so no command exists unchecked. The API's body schemas are those commands; the admin,
the CSV importer and the CLI build them with `build` and `field_errors`. The service then
checks the permission with the row (`authorize`), the version (`check_version`, and
`flush_versioned` for a change that lands after a newer one). A resource's `Writes` names
its commands and services, for the doors that translate.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Annotated, Any, Protocol, TypeVar

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    GetJsonSchemaHandler,
    JsonValue,
    ValidationError,
    field_validator,
)
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import CoreSchema, PydanticCustomError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm.exc import StaleDataError

from app.auth.ceilings import OPERATOR_CHANNELS
from app.auth.principal import Principal
from app.errors import PermissionDenied, PreconditionFailed, ValidationFailed
from app.permissions import can
from app.uniqueness import flush_or_conflict

Command = TypeVar("Command", bound=BaseModel)


class CreateRow(Protocol):
    """A service's create: the command."""

    async def __call__(
        self, session: AsyncSession, principal: Principal, command: Any, /
    ) -> Any: ...


class UpdateRow(Protocol):
    """A service's update: the row's id, the command, the version the caller expects."""

    async def __call__(
        self,
        session: AsyncSession,
        principal: Principal,
        row_id: int,
        command: Any,
        /,
        *,
        expected_version: int | None,
    ) -> Any: ...


class DeleteRow(Protocol):
    """A service's delete: the row's id and the version the caller expects."""

    async def __call__(
        self,
        session: AsyncSession,
        principal: Principal,
        row_id: int,
        /,
        *,
        expected_version: int | None,
    ) -> None: ...


@dataclass(frozen=True)
class Writes:
    """A resource's write commands and the service functions that take them: all a door
    needs to translate its input (the API's router, the admin's view)."""

    create_command: type[BaseModel]
    update_command: type[BaseModel]
    create: CreateRow
    update: UpdateRow
    delete: DeleteRow


def field_errors(exc: ValidationError) -> list[dict[str, Any]]:
    """A command's refusal as `[{loc, message, type}]`, `loc` being the field's path."""
    return [
        {"loc": list(error["loc"]), "message": error["msg"], "type": error["type"]}
        for error in exc.errors(include_url=False)
    ]


def build(kind: type[Command], values: Mapping[str, Any]) -> Command:
    """The command `kind` from a door's raw values (text from a form is fine: each field's
    rule reads it); ValidationFailed naming every field that breaks its rule, located as in
    an API body, with a detail (`field: message; …`) that the admin shows as it is."""
    try:
        return kind.model_validate(values)
    except ValidationError as exc:
        errors = field_errors(exc)
        raise ValidationFailed(
            "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['message']}" for e in errors),
            errors=[{**error, "loc": ["body", *error["loc"]]} for error in errors],
        ) from None


def refuse_null(value: Any) -> Any:
    """An edit command's field given as null: a field left out stays, none is emptied."""
    if value is None:
        raise PydanticCustomError("null", "may not be null")
    return value


# The words a form or a CSV cell may say a yes/no with (pydantic's own list).
_FLAG_WORDS = {
    **dict.fromkeys(("1", "on", "t", "true", "y", "yes"), True),
    **dict.fromkeys(("0", "off", "f", "false", "n", "no"), False),
}


def _flag(value: object) -> bool:
    """A yes/no: a boolean, or one of its words in text (forms, CSV cells). Never a number:
    `0` or `1` in a JSON body is a client's mistake, not a flag."""
    if isinstance(value, bool):
        return value
    if isinstance(value, str):
        word = _FLAG_WORDS.get(value.strip().lower())
        if word is not None:
            return word
    raise PydanticCustomError("bool_type", "must be true or false")


Flag = Annotated[bool, BeforeValidator(_flag)]


def choice_of(values: Iterable[str]) -> Any:
    """A text field's schema names the set the server enforces (`enum`), so generated
    clients get a type for it; the field's own validator stays the rule."""
    choices: list[JsonValue] = [*sorted(values)]
    return Field(json_schema_extra={"enum": choices})


def _without_null(schema: dict[str, Any]) -> dict[str, Any]:
    """A property schema `anyOf [X, null]` (default null) as plain X, with no default."""
    rest = {
        key: value
        for key, value in schema.items()
        if key != "anyOf" and not (key == "default" and value is None)
    }
    options = schema.get("anyOf")
    if not isinstance(options, list):
        return rest
    kept = [option for option in options if option != {"type": "null"}]
    return {**kept[0], **rest} if len(kept) == 1 else {**rest, "anyOf": kept}


class PartialUpdate(BaseModel):
    """An edit command: new values for some fields; a field left out stays as it is, and
    none may be given as null (every subclass's fields, through the validator below)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    _given_fields_are_not_null = field_validator("*", mode="before")(refuse_null)

    @classmethod
    def __get_pydantic_json_schema__(
        cls, core_schema: CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        """Each field optional but never null, as the validator above enforces: the
        Python type says `X | None` only so that a field left out can default to None."""
        schema = handler.resolve_ref_schema(handler(core_schema))
        properties = schema.get("properties", {})
        for name, prop in properties.items():
            properties[name] = _without_null(prop)
        return schema

    def changes(self) -> dict[str, Any]:
        """The fields given, with their checked values."""
        return self.model_dump(exclude_unset=True)


def authorize(principal: Principal, permission: str, row: object | None = None) -> None:
    """PermissionDenied unless `can(principal, permission, row)`. The CLI and the system
    itself are the operator, who holds the database anyway (as in app/auth/ceilings.py)."""
    if principal.channel in OPERATOR_CHANNELS:
        return
    if not can(principal, permission, row):
        raise PermissionDenied(f"This needs the {permission!r} permission.")


def check_version(row: Any, expected_version: int | None) -> None:
    """412 when the caller expects another version than the row's (None: expects none)."""
    if expected_version is not None and expected_version != row.version:
        raise PreconditionFailed(
            f"The row is at version {row.version}; reload it and apply your change again.",
            current_version=row.version,
        )


async def flush_versioned(
    session: AsyncSession,
    unique: Mapping[str, str],
    messages: Mapping[str, str] | None = None,
) -> None:
    """Write the change: `UPDATE … WHERE id = … AND version = <the version checked>` (the
    ORM's version column). No row matched means someone else's change landed between the
    read and this write: a 412 like any stale version, never the generic 409."""
    try:
        await flush_or_conflict(session, unique, messages)
    except StaleDataError:
        raise PreconditionFailed(
            "The row changed while this change was being made; reload it and apply your "
            "change again."
        ) from None
