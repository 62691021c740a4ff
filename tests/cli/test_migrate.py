"""`backoffice migrate` is idempotent; the other commands refuse a database not at head."""

from __future__ import annotations

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from app.infra.migrations import head_revision
from tests.cli.helpers import STRONG_PASSWORD, in_database, invoke, lines


async def _stamped_revision(session: AsyncSession) -> str | None:
    return (await session.execute(text("SELECT version_num FROM alembic_version"))).scalar()


def test_migrate_twice_is_idempotent_and_reports_head(database_url: str) -> None:
    for _ in range(2):
        result = invoke(database_url, "migrate")
        assert result.exit_code == 0, result.output
        assert result.stdout.strip() == f"database at head ({head_revision()})"
        assert result.stderr == ""
    assert in_database(database_url, _stamped_revision) == head_revision()


def test_create_user_refuses_an_unmigrated_database(database_url: str) -> None:
    result = invoke(
        database_url,
        *("create-user", "--email", "ann@example.com", "--role", "admin", "--password-stdin"),
        input=STRONG_PASSWORD + "\n",
    )
    assert result.exit_code == 1
    assert lines(result.stderr) == [
        f"error: the database has no schema yet, not {head_revision()}; run `backoffice migrate`"
    ]


def test_seed_demo_refuses_a_database_behind_head(migrated_url: str) -> None:
    async def rewind(session: AsyncSession) -> None:
        await session.execute(text("UPDATE alembic_version SET version_num = 'old'"))
        await session.commit()

    in_database(migrated_url, rewind)
    result = invoke(migrated_url, "seed-demo")
    assert result.exit_code == 1
    assert len(lines(result.stderr)) == 1
    assert "is at revision old" in result.stderr
