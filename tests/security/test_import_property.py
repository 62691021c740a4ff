"""The CSV importer against arbitrary files (SPEC §14): control characters, huge numbers, odd
Unicode, quotes and line breaks inside quoted cells, BOMs, wrong encodings and raw bytes never
give a 500, and a dry run and a real import of the same file agree: the dry run passes exactly
the files the real import applies, and refuses the others with the same line errors."""

from __future__ import annotations

import csv
import io
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, event, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from app.infra.settings import Settings
from app.products.importer import COLUMNS, ImportRow, parse_csv
from tests.api.order_helpers import Caller, caller
from tests.api.test_import_export import products_by_sku, upload
from tests.conftest import test_settings as settings_for
from tests.conftest import url_of

# Text a hostile or careless file holds: C0 controls and DEL, format characters (BOM,
# zero-width), odd spaces and line separators, combining marks, private use, non-ASCII
# digits (which int() and Decimal() accept), and what CSV and spreadsheets treat specially.
_ODD = st.characters(categories=["Cc", "Cf", "Zs", "Zl", "Zp", "Mn", "Co", "Nd", "No", "So"])
_SPECIAL = st.sampled_from(list("'\"=+-@,;\r\n\t\x00\x7f\ufeff"))
HOSTILE_TEXT = st.text(_ODD | _SPECIAL | st.characters(codec="utf-8"), max_size=30)
NUMBER_LIKE = st.one_of(
    st.integers().map(str),  # far past any column's range, and past int()'s 4300 digits
    st.decimals(allow_nan=True, allow_infinity=True).map(str),
    st.floats().map(str),
    st.sampled_from(
        [
            *["1e999999999", "1E-999999999", "-0", "0e5", "sNaN", "١٢٣", "1_000", " 7 ", "'-1"],
            *["9999999999.99", "10000000000", "2000000000", "2000000001", "2147483648", "0x10"],
        ]
    ),
)
# A cell past the csv module's field size limit (131,072 characters).
HUGE = "x" * 140_000
# Text a valid file may hold: any Unicode but C0 controls (line breaks and tabs where they
# are allowed), with quotes and formula characters in every position.
_TEXT = st.characters(codec="utf-8", exclude_categories=["Cc"]) | st.sampled_from("'\"=+-@ ,")
# Nearly valid text: one C0 control or DEL (NUL most often: PostgreSQL cannot store it).
WITH_CONTROL = st.tuples(
    st.text(_TEXT, max_size=10),
    st.just("\x00") | st.characters(max_codepoint=0x1F) | st.just("\x7f"),
    st.text(_TEXT, max_size=10),
).map("".join)
CELL = st.one_of(WITH_CONTROL, HOSTILE_TEXT, NUMBER_LIKE)
PLAUSIBLE = {
    "sku": st.from_regex(r"[A-Z0-9-]{3,32}", fullmatch=True),
    "name": st.text(_TEXT, min_size=1, max_size=60),
    "description": st.text(_TEXT | st.sampled_from("\t\r\n"), max_size=60),
    "price": st.decimals(min_value=0, max_value="9999999999.99", places=2).map(str),
    "stock": st.integers(0, 2_000_000_000).map(str),
    "reorder_level": st.integers(0, 2_000_000_000).map(str),
    "is_active": st.sampled_from(["true", "false", "yes", "no", "1", "0", "", "TRUE"]),
}
# What a file is: valid, one text cell away from valid, or hostile throughout.
PLAUSIBLE_FILE, ONE_ODD_CELL, HOSTILE_FILE = "plausible", "one odd cell", "hostile"


def once_in(draw: st.DrawFn, n: int) -> bool:
    """True about once in `n` draws."""
    return draw(st.integers(1, n)) == 1


def header_of(draw: st.DrawFn, kind: str) -> list[str]:
    if kind == HOSTILE_FILE and once_in(draw, 6):
        return draw(st.lists(CELL, max_size=8))
    if once_in(draw, 4):
        return ["sku", "name", "price"]
    return list(draw(st.permutations(COLUMNS)))


def rows_of(draw: st.DrawFn, kind: str, header: list[str]) -> list[list[str]]:
    count = draw(st.integers(0 if kind == HOSTILE_FILE else 1, 4))
    skus = draw(st.lists(PLAUSIBLE["sku"], min_size=count, max_size=count, unique=True))
    rows = [[sku if c == "sku" else draw(PLAUSIBLE.get(c, CELL)) for c in header] for sku in skus]
    if kind == ONE_ODD_CELL:
        text_columns = [c for c in ("name", "description") if c in header]
        row = draw(st.sampled_from(rows))
        row[header.index(draw(st.sampled_from(text_columns)))] = draw(CELL)
    for row in rows if kind == HOSTILE_FILE else []:
        if row and once_in(draw, 2):
            row[draw(st.integers(0, len(row) - 1))] = HUGE if once_in(draw, 20) else draw(CELL)
        if once_in(draw, 10):  # a short record (missing cells) or a long one
            row[:] = row[: draw(st.integers(0, len(row)))] + draw(st.lists(CELL, max_size=2))
    return rows


@st.composite
def csv_text(draw: st.DrawFn, kind: str) -> str:
    """A CSV file of this kind, as text."""
    header = header_of(draw, kind)
    buffer = io.StringIO()
    writer = csv.writer(
        buffer,
        quoting=draw(st.sampled_from([csv.QUOTE_MINIMAL, csv.QUOTE_ALL])),
        lineterminator=draw(st.sampled_from(["\r\n", "\n", "\r"])),
    )
    writer.writerow(header)
    writer.writerows(rows_of(draw, kind, header))
    return buffer.getvalue()


@st.composite
def csv_files(draw: st.DrawFn) -> bytes:
    """The file as uploaded. A third are valid (UTF-8, with or without a BOM), so the property
    covers applied files too; a third differ from a valid file in one text cell, where a
    dry run and a real import are likeliest to disagree; the rest have hostile cells,
    records and headers, wrong encodings, damaged bytes, or are no CSV at all."""
    kind = draw(st.sampled_from([PLAUSIBLE_FILE, ONE_ODD_CELL, HOSTILE_FILE]))
    if kind != HOSTILE_FILE:
        return draw(csv_text(kind)).encode(draw(st.sampled_from(["utf-8", "utf-8-sig"])))
    if once_in(draw, 10):
        return draw(st.binary(max_size=300))
    encoding = draw(st.sampled_from(["utf-8", "utf-8-sig", "utf-16", "cp1252", "latin-1"]))
    data = draw(csv_text(kind)).encode(encoding, errors="replace")
    if once_in(draw, 5):
        at = draw(st.integers(0, len(data)))
        data = data[:at] + draw(st.binary(min_size=1, max_size=8)) + data[at:]
    return data


@pytest.fixture
def settings(engine: AsyncEngine) -> Settings:
    # Two uploads per example, many examples: the API rate limit is not what is under test.
    return settings_for(url_of(engine), rate_limit_api="100000/minute")


@pytest.fixture
async def manager(session: AsyncSession) -> Caller:
    return await caller(session, "manager")


def report_of(response: httpx.Response) -> dict[str, Any]:
    """What a dry run and a real import must agree on (not `dry_run`/`applied` themselves)."""
    body: dict[str, Any] = response.json()
    report = {**body.get("report", {}), **body}
    return {key: report[key] for key in ("rows", "created", "updated", "errors")}


# Function-scoped fixtures are fine here: every example runs inside the test's rolled-back
# transaction, and the products one example imports only turn later creates into updates.
@hypothesis_settings(
    max_examples=60,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(data=csv_files())
async def test_any_file_gives_the_same_answer_in_a_dry_run_and_a_real_import_and_never_a_500(
    client: httpx.AsyncClient, session: AsyncSession, manager: Caller, data: bytes
) -> None:
    dry_run = await upload(client, manager, data, dry_run="true")
    applied = await upload(client, manager, data)

    event(str(dry_run.status_code))
    assert dry_run.status_code in {200, 422}, dry_run.text
    assert applied.status_code == dry_run.status_code, (dry_run.text, applied.text)
    assert report_of(applied) == report_of(dry_run)
    if applied.status_code == 200:
        assert (dry_run.json()["applied"], applied.json()["applied"]) == (False, True)
        # Applied means stored as validated: every row, every value, on either backend.
        validated, _ = parse_csv(data)
        stored = await products_by_sku(session, *(row.sku for row in validated))
        assert [ImportRow(*(getattr(stored[r.sku], c) for c in COLUMNS)) for r in validated] == (
            validated
        )
