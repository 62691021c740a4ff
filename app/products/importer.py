"""Product CSV import (SPEC §7): validate every line first, then upsert all rows by SKU or none.

Each line is translated into the CreateProduct command (app/products/commands.py) and
nothing else: its refusals are the command's, by line and field, so a line is refused or
stored exactly as the same values would be through the API or the admin (a SKU trimmed
and upper-cased, an over-long description refused, never cut). Every refusal is a line
error found before anything is written, so a dry run and a real import refuse the same
lines (SPEC §14); cells the export escaped (`'=x`) come back as they were.

PostgreSQL takes the rows through COPY into a temporary table and one INSERT … ON CONFLICT;
SQLite gets batched upserts. Either way the import is one transaction with one audit row.
On PostgreSQL the products it updates are locked first, all at once in id order (the
lock-order rule of app/orders/repository.py), not one by one in the file's order.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, NamedTuple

from pydantic import ValidationError
from sqlalchemy import select, text
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

from app import audit
from app.auth.principal import Principal
from app.commands import authorize, field_errors
from app.csv_cells import escaped_content
from app.models import Product
from app.models.base import utcnow
from app.products.commands import CreateProduct
from app.text_rules import control_character_problem
from app.webhooks.outbox import emit

REQUIRED_COLUMNS = ("sku", "name", "price")
OPTIONAL_COLUMNS = ("description", "stock", "reorder_level", "is_active")
MAX_ERRORS = 1000
BATCH = 5000
AUDITED_SKUS = 1000
# Bytes that are not UTF-8 survive decoding as lone surrogates (errors="surrogateescape").
_NOT_UTF8 = re.compile("[\udc80-\udcff]")
NOT_UTF8_MESSAGE = "not UTF-8 text"


@dataclass
class LineError:
    line: int
    field: str
    message: str

    def as_problem(self) -> dict[str, Any]:
        return {"loc": ["line", self.line, self.field], "message": self.message, "type": "csv"}


@dataclass
class ImportReport:
    """What an import found and (unless a dry run or invalid) did."""

    rows: int = 0
    created: int = 0
    updated: int = 0
    dry_run: bool = False
    applied: bool = False
    errors: list[LineError] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "rows": self.rows,
            "created": self.created,
            "updated": self.updated,
            "dry_run": self.dry_run,
            "applied": self.applied,
            "errors": [e.as_problem() for e in self.errors],
        }


class ImportRow(NamedTuple):
    """One valid line, in COPY's column order (a tuple: 100,000 of them stay compact)."""

    sku: str
    name: str
    description: str
    price: Decimal
    stock: int
    reorder_level: int
    is_active: bool


COLUMNS = list(ImportRow._fields)


def _cell(raw: dict[str, str], name: str) -> str:
    """A cell's value: an escaped one (`'=x`) exactly as it was exported, any other as it
    is (a SKU is trimmed by the command's rule, as through any other door; text is not)."""
    value = raw.get(name) or ""
    content = escaped_content(value)
    return value if content is None else content


def _command_values(raw: dict[str, str]) -> dict[str, str]:
    """A CSV record as the command's input: each column's cell, an empty optional one
    left out (so the field takes its default, as a field left out of an API body)."""
    values: dict[str, str] = {}
    for name in raw:
        cell = _cell(raw, name)
        if cell.strip() or name in REQUIRED_COLUMNS:
            values[name] = cell
    return values


def _parse_row(raw: dict[str, str]) -> ImportRow | list[tuple[str, str]]:
    """One CSV record as the row to upsert, or its refusals as (field, message)."""
    try:
        command = CreateProduct.model_validate(_command_values(raw))
    except ValidationError as exc:
        return [(str(error["loc"][0]), error["message"]) for error in field_errors(exc)]
    return ImportRow(
        command.sku,
        command.name,
        command.description,
        command.price,
        command.stock,
        command.reorder_level,
        command.is_active,
    )


def parse_csv(
    data: bytes, progress: Callable[[int], None] | None = None
) -> tuple[list[ImportRow], list[LineError]]:
    """Every valid row, and every problem by line number (line 1 is the header)."""
    # Decoded as it is read, not into one more copy of the file; undecodable bytes are
    # kept as surrogates so each is reported by line and field below.
    text_stream = io.TextIOWrapper(
        io.BytesIO(data), encoding="utf-8-sig", errors="surrogateescape", newline=""
    )
    reader = csv.DictReader(text_stream)
    try:
        header = [h.strip().lower() for h in (reader.fieldnames or [])]
    except csv.Error as exc:  # e.g. a header cell past the csv module's field size limit
        return [], [LineError(1, "header", f"malformed CSV: {exc}")]
    if any(_NOT_UTF8.search(name) for name in header):
        return [], [LineError(1, "header", NOT_UTF8_MESSAGE)]
    for number, name in enumerate(header, start=1):
        # Refused before "unknown column" would echo the name (an escape sequence, say)
        # into the admin page or the operator's terminal.
        problem = control_character_problem(name)
        if problem is not None:
            return [], [LineError(1, "header", f"column {number} {problem}")]
    missing = [c for c in REQUIRED_COLUMNS if c not in header]
    unknown = [c for c in header if c not in REQUIRED_COLUMNS + OPTIONAL_COLUMNS]
    if missing or unknown:
        problems = [LineError(1, c, "required column is missing") for c in missing]
        problems += [LineError(1, c, "unknown column") for c in unknown]
        return [], problems
    reader.fieldnames = header
    rows: list[ImportRow] = []
    errors: list[LineError] = []
    seen: dict[str, int] = {}
    try:
        for index, raw in enumerate(_records(reader), start=2):
            line = reader.line_num
            if None in raw:
                errors.append(LineError(line, "row", "more fields than columns"))
                continue
            garbled = [name for name, value in raw.items() if value and _NOT_UTF8.search(value)]
            if garbled:
                errors.append(LineError(line, garbled[0], NOT_UTF8_MESSAGE))
                continue
            parsed = _parse_row(raw)
            if isinstance(parsed, list):
                errors.extend(LineError(line, name, message) for name, message in parsed)
            elif parsed.sku in seen:
                errors.append(LineError(line, "sku", f"duplicate of line {seen[parsed.sku]}"))
            else:
                seen[parsed.sku] = line
                rows.append(parsed)
            if len(errors) >= MAX_ERRORS:
                errors.append(LineError(line, "file", f"stopped after {MAX_ERRORS} errors"))
                break
            if progress and index % 1000 == 0:
                progress(index)
    except csv.Error as exc:
        errors.append(LineError(reader.line_num, "file", f"malformed CSV: {exc}"))
    if not rows and not errors:
        errors.append(LineError(1, "file", "no rows to import"))
    return rows, errors


def _records(reader: csv.DictReader[str]) -> Iterator[dict[str, str]]:
    for record in reader:
        if any((value or "").strip() for key, value in record.items() if key is not None):
            yield record


async def _existing(session: AsyncSession, skus: list[str]) -> dict[str, tuple[int, int]]:
    """{sku: (stock, reorder_level)} for the SKUs that already exist."""
    found: dict[str, tuple[int, int]] = {}
    for start in range(0, len(skus), BATCH):
        chunk = skus[start : start + BATCH]
        statement = select(Product.sku, Product.stock, Product.reorder_level).where(
            Product.sku.in_(chunk)
        )
        for sku, stock, reorder in (await session.execute(statement)).all():
            found[sku] = (stock, reorder)
    return found


async def _upsert_postgresql(
    session: AsyncSession, rows: list[ImportRow]
) -> dict[str, tuple[int, int]]:
    """Upsert every row; returns `_existing` of the rows it updated, read under their locks."""
    connection = await session.connection()
    raw = await connection.get_raw_connection()
    driver = raw.driver_connection
    assert driver is not None
    await session.execute(
        text(
            "CREATE TEMPORARY TABLE product_import (sku text, name text, description text, "
            "price numeric(12,2), stock integer, reorder_level integer, is_active boolean) "
            "ON COMMIT DROP"
        )
    )
    await driver.copy_records_to_table("product_import", records=rows, columns=COLUMNS)
    # The upsert would lock each existing row as it meets it, in the file's order: a
    # placement holding one of them while waiting for another would deadlock with it.
    # So they are locked here first, in id order, the way every stock change locks
    # them; NO KEY UPDATE, the mode the upsert itself takes (it changes no SKU).
    locked = await session.execute(
        text(
            "SELECT p.sku, p.stock, p.reorder_level FROM products p "
            "JOIN product_import i ON i.sku = p.sku "
            "ORDER BY p.id FOR NO KEY UPDATE OF p"
        )
    )
    existing = {sku: (stock, reorder) for sku, stock, reorder in locked.all()}
    # New rows are inserted in SKU order: two imports adding the same new SKUs then meet
    # them in one order too (the second waits for the first's insert of each).
    await session.execute(
        text(
            "INSERT INTO products (sku, name, description, price, stock, reorder_level, "
            "is_active, version, created_at, updated_at) "
            "SELECT sku, name, description, price, stock, reorder_level, is_active, 1, "
            ":now, :now FROM product_import ORDER BY sku "
            "ON CONFLICT (sku) DO UPDATE SET name = EXCLUDED.name, "
            "description = EXCLUDED.description, price = EXCLUDED.price, "
            "stock = EXCLUDED.stock, reorder_level = EXCLUDED.reorder_level, "
            "is_active = EXCLUDED.is_active, version = products.version + 1, "
            "updated_at = EXCLUDED.updated_at"
        ),
        {"now": utcnow()},
    )
    # Dropped now, not only at commit: a second import in the same transaction needs it gone.
    await session.execute(text("DROP TABLE product_import"))
    return existing


async def _upsert_sqlite(session: AsyncSession, rows: list[ImportRow]) -> None:
    now = utcnow()
    for start in range(0, len(rows), BATCH):
        chunk = [
            {**r._asdict(), "version": 1, "created_at": now, "updated_at": now}
            for r in rows[start : start + BATCH]
        ]
        statement = sqlite_insert(Product)
        statement = statement.on_conflict_do_update(
            index_elements=["sku"],
            set_={
                "name": statement.excluded.name,
                "description": statement.excluded.description,
                "price": statement.excluded.price,
                "stock": statement.excluded.stock,
                "reorder_level": statement.excluded.reorder_level,
                "is_active": statement.excluded.is_active,
                "version": Product.version + 1,
                "updated_at": statement.excluded.updated_at,
            },
        )
        await session.execute(statement, chunk)


async def import_products(
    session: AsyncSession,
    principal: Principal,
    data: bytes,
    *,
    dry_run: bool = False,
    progress: Callable[[int], None] | None = None,
) -> ImportReport:
    """Validate the whole file; unless it is a dry run or has errors, upsert every row."""
    authorize(principal, "products:import")
    rows, errors = parse_csv(data, progress)
    report = ImportReport(
        rows=len(rows) + len({e.line for e in errors if e.line > 1}), dry_run=dry_run, errors=errors
    )
    if errors or dry_run:
        _count(report, rows, await _existing(session, [r.sku for r in rows]) if rows else {})
        return report
    if (await session.connection()).dialect.name == "postgresql":
        # The existing rows are read as they are locked, so the counts and the low-stock
        # notices compare with the stock the import replaces, not an earlier read's.
        existing = await _upsert_postgresql(session, rows)
    else:
        existing = await _existing(session, [r.sku for r in rows])
        await _upsert_sqlite(session, rows)
    _count(report, rows, existing)
    imported = audit.entry(
        principal,
        "product.imported",
        resource_type="product",
        changes={
            "created": [None, report.created],
            "updated": [None, report.updated],
            "skus": [None, [r.sku for r in rows[:AUDITED_SKUS]]],
        },
    )
    await _announce_low_stock(session, rows, existing, imported)
    report.applied = True
    return report


def _count(
    report: ImportReport, rows: list[ImportRow], existing: dict[str, tuple[int, int]]
) -> None:
    report.updated = sum(1 for r in rows if r.sku in existing)
    report.created = len(rows) - report.updated


async def _announce_low_stock(
    session: AsyncSession,
    rows: list[ImportRow],
    existing: dict[str, tuple[int, int]],
    imported: dict[str, Any],
) -> None:
    """A product.low_stock event per row whose stock the import drops to its reorder level;
    the import's audit row `imported` is written with the first (alone if there is none)."""
    unwritten: dict[str, Any] | None = imported
    for row in rows:
        old_stock = existing.get(row.sku, (None, None))[0]
        if old_stock is not None and row.stock <= row.reorder_level < old_stock:
            await emit(
                session,
                "product.low_stock",
                {
                    "product": {
                        "sku": row.sku,
                        "name": row.name,
                        "stock": row.stock,
                        "reorder_level": row.reorder_level,
                    }
                },
                audit=unwritten,
            )
            unwritten = None
    if unwritten is not None:
        audit.add(session, unwritten)
