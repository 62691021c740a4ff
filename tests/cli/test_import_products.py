"""`backoffice import-products`: the same line errors as the API, in a dry run and for real."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.models import Product
from tests.cli.helpers import in_database, invoke, lines


async def _product_count(session: AsyncSession) -> int:
    return (await session.execute(select(func.count()).select_from(Product))).scalar_one()


@pytest.mark.parametrize("dry_run", [True, False])
def test_bad_lines_are_reported_by_line_and_field_and_nothing_is_imported(
    migrated_url: str, tmp_path: Path, dry_run: bool
) -> None:
    # A NUL in a cell: PostgreSQL cannot store it, so it must be a line error before COPY.
    file = tmp_path / "products.csv"
    file.write_bytes(
        b"sku,name,description,price\n"
        b"CLI-001,Fine,,one\n"
        b"CLI-002,Bad\x00name,,1.00\n"
        b"CLI-003,Fine,Bell\x07,1.00\n"
    )

    result = invoke(migrated_url, "import-products", str(file), *(["--dry-run"] * dry_run))

    assert result.exit_code == 2, result.output
    assert lines(result.stderr) == [
        'line 2, price: must be a decimal string like "12.50"',
        "line 3, name: must not contain control characters (found U+0000)",
        "line 4, description: must not contain control characters (found U+0007)",
        "error: 3 problem(s); nothing was imported",
    ]
    assert in_database(migrated_url, _product_count) == 0


def test_an_escape_sequence_in_a_column_name_never_reaches_the_terminal(
    migrated_url: str, tmp_path: Path
) -> None:
    file = tmp_path / "products.csv"
    file.write_bytes(b"sku,name,price,\x1b[2J\x1b]0;pwned\x07\nCLI-001,Fine,1.00,x\n")

    result = invoke(migrated_url, "import-products", str(file), "--dry-run")

    assert result.exit_code == 2, result.output
    assert "\x1b" not in result.output + result.stderr
    assert lines(result.stderr)[0] == (
        "line 1, header: column 4 must not contain control characters (found U+001B)"
    )
