"""Readers: run prebuilt Core statements, through SQLAlchemy or straight on the driver.

The busiest read endpoints (flat list pages and the credential lookup before them) send
two statements that never change shape. Through an ORM session each costs more CPU in
SQLAlchemy's execution machinery than in asyncpg itself; on PostgreSQL a `DriverReader`
sends them on the pooled asyncpg connection directly: compiled once, values bound in
order, SQLAlchemy's type processing applied where a type has any, errors raised as the
same SQLAlchemy exceptions (so a lost connection is invalidated and answered with 503).

Everything else (and every statement in tests, which run inside one rolled-back
transaction) goes through `SqlaReader`, a session or connection's `execute`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol, cast

from sqlalchemy import exc
from sqlalchemy.engine import Dialect
from sqlalchemy.sql import Executable
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.elements import ClauseElement

Row = Sequence[Any]
# Called with the SQL text and arguments of every statement a DriverReader sends (tests
# and the bench count statements per request; SQLAlchemy's own events do not see these).
StatementObserver = Callable[[str, Sequence[Any]], None]


class Reader(Protocol):
    """What the credential lookup and the flat list pages need from the database."""

    async def rows(self, statement: Executable, params: Mapping[str, Any]) -> Sequence[Row]:
        """Every row of a SELECT, as sequences in the statement's column order."""
        ...

    async def run(self, statement: Executable, params: Mapping[str, Any]) -> None:
        """A statement whose result is not needed (an UPDATE)."""
        ...


class SqlaReader:
    """A Reader over an AsyncSession or AsyncConnection (its transaction, its events)."""

    def __init__(self, executor: Any) -> None:
        self.executor = executor

    async def rows(self, statement: Executable, params: Mapping[str, Any]) -> Sequence[Row]:
        return list(await self.executor.execute(statement, params))

    async def run(self, statement: Executable, params: Mapping[str, Any]) -> None:
        await self.executor.execute(statement, params)


@dataclass(frozen=True, eq=False)
class DriverStatement:
    """A statement compiled for the asyncpg dialect: SQL text and how to bind its values."""

    sql: str
    names: tuple[str, ...]
    bind_processors: tuple[Callable[[Any], Any] | None, ...]
    columns: tuple[Any, ...]  # result column types, for their result processors
    values: Mapping[str, Any]  # values bound in the statement itself (`literal(5)`)

    def arguments(self, params: Mapping[str, Any]) -> list[Any]:
        values = [params[name] if name in params else self.values[name] for name in self.names]
        for index, process in enumerate(self.bind_processors):
            if process is not None:
                values[index] = process(values[index])
        return values


# Keyed by identity: the statements are long-lived (module constants, shape caches).
_compiled: dict[tuple[int, int], tuple[ClauseElement, DriverStatement]] = {}
COMPILED_LIMIT = 2048
_result_processors: dict[DriverStatement, tuple[Callable[[Any], Any] | None, ...]] = {}


def driver_statement(statement: ClauseElement, dialect: Dialect) -> DriverStatement:
    """Compile `statement` once (statements given here are long-lived module objects)."""
    key = (id(statement), id(dialect))
    cached = _compiled.get(key)
    if cached is not None and cached[0] is statement:
        return cached[1]
    compiled = cast(SQLCompiler, statement.compile(dialect=dialect))
    if "POSTCOMPILE" in compiled.string or compiled.insert_prefetch or compiled.update_prefetch:
        # Expanding IN lists, literal-rendered values and Python-side column defaults are
        # filled in by SQLAlchemy's execution; the driver path has no such step.
        raise ValueError("a statement with execution-time values cannot run on the driver")
    names = tuple(compiled.positiontup or ())
    processors = tuple(
        compiled.binds[name].type.dialect_impl(dialect).bind_processor(dialect) for name in names
    )
    selected = getattr(statement, "selected_columns", ())
    values = {
        name: compiled.binds[name].effective_value
        for name in names
        if compiled.binds[name].value is not None or compiled.binds[name].callable
    }
    prepared = DriverStatement(
        compiled.string, names, processors, tuple(column.type for column in selected), values
    )
    if len(_compiled) >= COMPILED_LIMIT:
        # Shapes evicted from their own caches would be held here forever otherwise.
        _compiled.clear()
        _result_processors.clear()
    _compiled[key] = (statement, prepared)
    return prepared


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

    async def rows(self, statement: Executable, params: Mapping[str, Any]) -> Sequence[Row]:
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
        arguments = prepared.arguments(params)
        for observer in self.observers:
            observer(prepared.sql, arguments)
        try:
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
        """The SQLAlchemy exception SQLAlchemy would raise for this driver error."""
        adapted = self.fairy.dbapi_connection
        try:
            # SQLAlchemy's asyncpg adapter's own translation (a private method: an upgrade
            # that moves it fails tests/ops/test_driver_reads.py, which checks the result).
            adapted._handle_exception(error)  # raises the DBAPI-level error
        except Exception as dbapi_error:
            error = dbapi_error
        lost = self.dialect.is_disconnect(error, adapted, None)  # type: ignore[arg-type]
        if lost or isinstance(error, OSError | TimeoutError):
            self.on_trouble()
        if lost:
            self.fairy.invalidate(error)
        return exc.DBAPIError.instance(
            sql,
            None,
            error,
            self.dialect.loaded_dbapi.Error,
            hide_parameters=True,
            connection_invalidated=lost,
            dialect=self.dialect,
        )
