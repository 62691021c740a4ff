"""Readers: run prebuilt Core statements, through SQLAlchemy or straight on the driver.

The busiest read endpoints (list pages, an order, and the credential lookup riding on
them, app/infra/riding.py) send statements that never change shape. Through an ORM
session each costs more CPU in SQLAlchemy's execution machinery than in asyncpg itself;
on PostgreSQL a `DriverReader` sends them on the pooled asyncpg connection directly (the
connection SQLAlchemy's pool hands out, reached through its public `driver_connection`).
Public APIs only (issue 16):

- SQL: compiled once with `ClauseElement.compile` for the engine's dialect class built
  with paramstyle "pyformat" (create_engine's documented `paramstyle` option), so each
  placeholder names its parameter; `%(name)s` becomes asyncpg's `$n` in order of first
  appearance (a repeated name keeps its number), `%%` becomes `%`. The text is the one
  SQLAlchemy sends (tests/ops/test_driver_reads.py compares). Values fixed in the
  statement come from `Compiled.params`.
- Refused when compiled (ValueError): a parameter SQLAlchemy fills in at execution, seen
  from the same public pieces: one in `Compiled.params` without a placeholder (an
  expanding IN list, a literal-execute value), or a placeholder that is neither the key
  of a bindparam of the statement nor given a value (a Python-side column default).
- Types: a bindparam's declared type (found with `sqlalchemy.sql.visitors.iterate`)
  gives its `bind_processor`; a fixed value of a type that has one is refused (bind it by
  name). Result processors come from the selected columns' types and the driver's column
  type oids (asyncpg's `PreparedStatement.get_attributes`, once per statement). On
  asyncpg most are None: the per-value work is where a type really has some (a
  UTCDateTime checked aware, a Boolean checked strict).
- Errors: asyncpg's exceptions become the dialect DBAPI's PEP 249 classes, mapped as
  SQLAlchemy's adapter maps them (`DBAPI_CLASSES`), then SQLAlchemy's own exception
  (`DBAPIError.instance`); the driver error stays the cause, so its SQLSTATE decides
  conflict and outage (app/infra/db_errors.py). A closed connection is invalidated
  through the pool's public `invalidate()`, and the error says so (503).

Everything else (and every statement in tests, which run inside one rolled-back
transaction) goes through `SqlaReader`, a session or connection's `execute`.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol, cast

import asyncpg
from sqlalchemy import exc
from sqlalchemy.engine import Dialect
from sqlalchemy.sql import Executable, visitors
from sqlalchemy.sql.elements import BindParameter, ClauseElement
from sqlalchemy.types import TypeEngine

Row = Sequence[Any]
# One key of a statement's ORDER BY: the position of the column it sorts by among the
# statement's own columns, and whether it descends (NULLs always last, as the lists order).
OrderKey = tuple[int, bool]
# Called with the SQL text and arguments of every statement a DriverReader sends (tests
# and the bench count statements per request; SQLAlchemy's own events do not see these).
StatementObserver = Callable[[str, Sequence[Any]], None]


class Reader(Protocol):
    """What the credential lookup and the flat list pages need from the database."""

    async def rows(
        self,
        statement: Executable,
        params: Mapping[str, Any],
        *,
        order: Sequence[OrderKey] | None = None,
    ) -> Sequence[Row]:
        """Every row of a SELECT, as sequences in the statement's column order.

        `order` describes the statement's ORDER BY by its own columns, for a reader that
        sends it inside another statement and must re-apply it (app/infra/riding.py):
        `()` when row order does not matter (one row, a credential's rows). None (the
        default): its order matters and is not described, so it is sent on its own.
        """
        ...

    async def run(self, statement: Executable, params: Mapping[str, Any]) -> None:
        """A statement whose result is not needed (an UPDATE)."""
        ...


class SqlaReader:
    """A Reader over an AsyncSession or AsyncConnection (its transaction, its events)."""

    def __init__(self, executor: Any) -> None:
        self.executor = executor

    async def rows(
        self,
        statement: Executable,
        params: Mapping[str, Any],
        *,
        order: Sequence[OrderKey] | None = None,  # sent as it is: its own ORDER BY holds
    ) -> Sequence[Row]:
        return list(await self.executor.execute(statement, params))

    async def run(self, statement: Executable, params: Mapping[str, Any]) -> None:
        await self.executor.execute(statement, params)


@dataclass(frozen=True, eq=False)
class DriverStatement:
    """A statement compiled for asyncpg: SQL text with $n placeholders and their values."""

    sql: str
    names: tuple[str, ...]  # the parameter of each $n, in order
    bind_processors: tuple[Callable[[Any], Any] | None, ...]
    columns: tuple[Any, ...]  # result column types, for their result processors
    values: Mapping[str, Any]  # values fixed in the statement itself (`literal(5)`)

    def arguments(self, params: Mapping[str, Any]) -> list[Any]:
        try:
            values = [params[name] if name in params else self.values[name] for name in self.names]
        except KeyError as missing:
            raise ValueError(f"no value given for the parameter {missing}") from None
        for index, process in enumerate(self.bind_processors):
            if process is not None:
                values[index] = process(values[index])
        return values


# Keyed by identity: the statements are long-lived (module constants, shape caches).
_compiled: dict[tuple[int, int], tuple[ClauseElement, DriverStatement]] = {}
COMPILED_LIMIT = 2048
_result_processors: dict[DriverStatement, tuple[Callable[[Any], Any] | None, ...]] = {}
# The same dialect class, rendering named placeholders: (the engine's dialect, its twin).
_named_dialects: dict[int, tuple[Dialect, Dialect]] = {}
# What the pyformat paramstyle renders: `%%` for a literal percent sign, `%(name)s` for a
# parameter. A lone `%` never appears in its output; if one did, the statement is refused.
_PYFORMAT_TOKEN = re.compile(r"%%|%\((\w+)\)s|%")
EXECUTION_TIME = "a statement with execution-time values cannot run on the driver"


def _named_dialect(dialect: Dialect) -> Dialect:
    """`dialect`'s class with paramstyle "pyformat" (create_engine's `paramstyle` option)."""
    cached = _named_dialects.get(id(dialect))
    if cached is None or cached[0] is not dialect:
        same_class: Callable[..., Dialect] = type(dialect)
        cached = (dialect, same_class(paramstyle="pyformat"))
        _named_dialects[id(dialect)] = cached
    return cached[1]


def _numbered(sql: str) -> tuple[str, tuple[str, ...]]:
    """`sql` with `%(name)s` turned into asyncpg's `$n` (a repeated name keeps its number)."""
    numbers: dict[str, int] = {}

    def replace(token: re.Match[str]) -> str:
        if token.group(0) == "%%":
            return "%"
        name = token.group(1)
        if name is None:
            raise ValueError(f"unexpected '%' in compiled SQL: {sql!r}")
        return f"${numbers.setdefault(name, len(numbers) + 1)}"

    return _PYFORMAT_TOKEN.sub(replace, sql), tuple(numbers)


def driver_statement(statement: ClauseElement, dialect: Dialect) -> DriverStatement:
    """Compile `statement` once (statements given here are long-lived module objects)."""
    key = (id(statement), id(dialect))
    cached = _compiled.get(key)
    if cached is not None and cached[0] is statement:
        return cached[1]
    compiled = statement.compile(dialect=_named_dialect(dialect))
    sql, names = _numbered(compiled.string)
    fixed = compiled.params
    if set(fixed) - set(names):
        # A parameter SQLAlchemy renders at execution (an expanding IN list, a
        # literal-execute value) has no placeholder in the compiled text.
        raise ValueError(f"{EXECUTION_TIME}: {sorted(set(fixed) - set(names))}")
    declared = _declared_bind_types(statement, names, dialect)
    values = {}
    for name in names:
        if fixed.get(name) is not None:
            values[name] = fixed[name]
        elif name not in declared:
            # Neither the caller's (no bindparam has this key) nor fixed: a placeholder the
            # compiler made for a value SQLAlchemy's execution computes (a Python-side
            # column default), or a literal None (write `null()` instead).
            raise ValueError(f"{EXECUTION_TIME}: {name}")
    processors = tuple(
        None if name not in declared else declared[name].bind_processor(dialect) for name in names
    )
    selected = getattr(statement, "selected_columns", ())
    prepared = DriverStatement(
        sql, names, processors, tuple(column.type for column in selected), values
    )
    if len(_compiled) >= COMPILED_LIMIT:
        # Shapes evicted from their own caches would be held here forever otherwise.
        _compiled.clear()
        _result_processors.clear()
    _compiled[key] = (statement, prepared)
    return prepared


def _declared_bind_types(
    statement: ClauseElement, names: tuple[str, ...], dialect: Dialect
) -> dict[str, TypeEngine[Any]]:
    """The dialect type of each named bindparam (`bindparam("q", type_=String())`).

    A value fixed in the statement (`literal(x)`, `col == x`) is bound under a name the
    compiler makes up: its type's bind processor could not be matched to its placeholder,
    so a statement with such a value whose type has one (a UTCDateTime, a Boolean, JSON)
    is refused; bind it by name instead.
    """
    declared: dict[str, TypeEngine[Any]] = {}
    for element in visitors.iterate(statement):
        if not isinstance(element, BindParameter):
            continue
        impl = element.type.dialect_impl(dialect)
        if element.key in names:
            declared.setdefault(element.key, impl)
        elif impl.bind_processor(dialect) is not None:
            raise ValueError(
                f"a value of type {element.type!r} fixed in the statement needs SQLAlchemy's "
                "bind processing: bind it by name for the driver"
            )
    return declared


# asyncpg's error classes → the PEP 249 class of the dialect's DBAPI module, the most
# specific first along an error's class hierarchy; the mapping SQLAlchemy's asyncpg
# adapter applies (tests/ops/test_driver_reads.py holds the two to the same exceptions).
DBAPI_CLASSES: dict[type[BaseException], str] = {
    asyncpg.exceptions.IntegrityConstraintViolationError: "IntegrityError",
    asyncpg.exceptions.SyntaxOrAccessError: "ProgrammingError",
    asyncpg.exceptions.InvalidCachedStatementError: "NotSupportedError",
    asyncpg.exceptions.InternalServerError: "InternalError",
    asyncpg.exceptions.InternalClientError: "InternalError",
    asyncpg.exceptions.InterfaceError: "InterfaceError",
    asyncpg.exceptions.PostgresError: "Error",
}


class DriverReader:
    """A Reader on a pooled asyncpg connection, each statement committed as it runs.

    `fairy` is SQLAlchemy's pool handle of the connection: errors are translated by its
    adapter and a lost connection is invalidated through it, as SQLAlchemy would.
    """

    def __init__(
        self,
        fairy: Any,
        dialect: Dialect,
        on_trouble: Callable[[], None],
        observers: Sequence[StatementObserver] = (),
    ) -> None:
        self.fairy = fairy
        self.driver = fairy.driver_connection
        self.dialect = dialect
        self.on_trouble = on_trouble
        self.observers = observers

    async def rows(
        self,
        statement: Executable,
        params: Mapping[str, Any],
        *,
        order: Sequence[OrderKey] | None = None,  # sent as it is: its own ORDER BY holds
    ) -> Sequence[Row]:
        prepared = driver_statement(statement, self.dialect)  # type: ignore[arg-type]
        records = await self._send(self.driver.fetch, prepared, params)
        processors = _result_processors.get(prepared)
        if processors is None:
            processors = await self._result_processors(prepared)
        if not any(processors):
            return records
        return [
            tuple(
                value if p is None else p(value)
                for p, value in zip(processors, record, strict=True)
            )
            for record in records
        ]

    async def run(self, statement: Executable, params: Mapping[str, Any]) -> None:
        prepared = driver_statement(statement, self.dialect)  # type: ignore[arg-type]
        await self._send(self.driver.execute, prepared, params)

    async def _send(
        self, method: Callable[..., Any], prepared: DriverStatement, params: Mapping[str, Any]
    ) -> Any:
        """`method` (fetch or execute) with the statement's arguments, errors translated."""
        try:
            # Inside the try: a bind processor's refusal is SQLAlchemy's StatementError too.
            arguments = prepared.arguments(params)
            for observer in self.observers:
                observer(prepared.sql, arguments)
            return await method(prepared.sql, *arguments)
        except asyncio.CancelledError:
            self._abandon()
            raise
        except Exception as error:
            raise self._translate(error, prepared.sql) from error

    def _abandon(self) -> None:
        """A statement was cancelled mid-flight (the client went away, a timeout): the
        connection may still be busy with it, so it is closed, not handed to the next
        request."""
        self.fairy.invalidate()

    async def _result_processors(
        self, prepared: DriverStatement
    ) -> tuple[Callable[[Any], Any] | None, ...]:
        """The result processors SQLAlchemy would apply, from the columns' database types.

        Asked once per statement and process (one extra round trip, the first time):
        asyncpg already returns Decimal, datetime and (through the dialect's codec)
        decoded JSON, so for most columns this is None.
        """
        try:
            attributes = (await self.driver.prepare(prepared.sql)).get_attributes()
        except Exception as error:
            raise self._translate(error, prepared.sql) from error
        processors = tuple(
            column_type.dialect_impl(self.dialect).result_processor(
                self.dialect, attribute.type.oid
            )
            for column_type, attribute in zip(prepared.columns, attributes, strict=True)
        )
        _result_processors[prepared] = processors
        return processors

    def _translate(self, error: Exception, sql: str) -> Exception:
        """The SQLAlchemy exception SQLAlchemy's own execution raises for this driver error.

        asyncpg's errors become the dialect's DBAPI (PEP 249) exception classes as the
        dialect's adapter maps them (`DBAPI_CLASSES`); anything else (an OSError, a bind
        processor's ValueError) is wrapped as it is, as SQLAlchemy does.
        The driver error stays the cause, so its SQLSTATE (app/infra/db_errors.py) and
        message are still there to read.
        """
        dbapi = self.dialect.loaded_dbapi
        orig: Exception = error
        for kind in type(error).__mro__:
            name = DBAPI_CLASSES.get(kind)
            if name is not None:
                orig = getattr(dbapi, name)(error.args[0] if error.args else str(error))
                orig.__cause__ = error
                break
        lost = self.driver.is_closed() or self.dialect.is_disconnect(
            cast(Any, orig), self.fairy.dbapi_connection, None
        )
        if lost or isinstance(error, OSError | TimeoutError):
            self.on_trouble()
        if lost:
            self.fairy.invalidate(error)
        return exc.DBAPIError.instance(
            sql,
            None,
            orig,
            dbapi.Error,
            hide_parameters=True,
            connection_invalidated=lost,
            dialect=self.dialect,
        )
