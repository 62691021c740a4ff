"""Alembic owns the schema: upgrade from empty, downgrade to base, re-run, no autogenerate drift."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect, text
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine

from app.infra.migrations import alembic_config, current_revision, downgrade, head_revision, upgrade
from app.models import Base
from app.permissions import BUILTIN_ROLES
from app.resources import resource_dir

EVERY_TABLE = frozenset(Base.metadata.tables)


async def table_names(engine: AsyncEngine) -> set[str]:
    async with engine.connect() as connection:
        return set(await connection.run_sync(lambda sync: inspect(sync).get_table_names()))


async def builtin_role_rows(engine: AsyncEngine) -> list[Any]:
    async with engine.connect() as connection:
        result = await connection.execute(
            text("SELECT name, permissions, is_builtin FROM roles ORDER BY name")
        )
        return list(result)


async def migrate(engine: AsyncEngine, action: str, target: str) -> None:
    """Run `alembic <action> <target>` on one connection and commit it, as a caller must."""
    async with engine.connect() as connection:
        if action == "upgrade":
            await upgrade(connection, target)
        else:
            await downgrade(connection, target)
        await connection.commit()


def _include_object_like_env(dialect_name: str) -> Any:
    # The same filter as alembic/env.py (which cannot be imported: it runs migrations on
    # import): an index or constraint declared for another dialect only, through
    # `.ddl_if(dialect=...)`, is not expected in this database.
    def include_object(obj: Any, name: str | None, type_: str, reflected: bool, _: Any) -> bool:
        ddl_if = getattr(obj, "_ddl_if", None)
        if not reflected and ddl_if is not None and ddl_if.dialect is not None:
            return bool(ddl_if.dialect == dialect_name)
        return True

    return include_object


def _autogenerate_diff(connection: Connection) -> list[Any]:
    context = MigrationContext.configure(
        connection,
        opts={
            "target_metadata": Base.metadata,
            "include_object": _include_object_like_env(connection.dialect.name),
            "render_as_batch": connection.dialect.name == "sqlite",
            "compare_type": True,
            "compare_server_default": True,
        },
    )
    diff: list[Any] = compare_metadata(context, Base.metadata)
    return diff


async def test_upgrade_head_from_empty_builds_every_table(empty_engine: AsyncEngine) -> None:
    assert await table_names(empty_engine) == set()

    await migrate(empty_engine, "upgrade", "head")

    assert await table_names(empty_engine) == EVERY_TABLE | {"alembic_version"}
    async with empty_engine.connect() as connection:
        assert await current_revision(connection) == head_revision()


async def test_upgrade_head_creates_the_builtin_roles_with_their_permissions(
    empty_engine: AsyncEngine,
) -> None:
    await migrate(empty_engine, "upgrade", "head")

    rows = await builtin_role_rows(empty_engine)

    assert sorted(row.name for row in rows) == sorted(BUILTIN_ROLES)
    for row in rows:
        # JSON columns come back decoded on PostgreSQL and as text from a raw SQLite query.
        permissions = row.permissions
        if isinstance(permissions, str):
            permissions = json.loads(permissions)
        assert sorted(permissions) == sorted(BUILTIN_ROLES[row.name][1]), row.name
        assert len(permissions) == len(set(permissions)), row.name
        assert bool(row.is_builtin) is True


async def test_downgrade_base_leaves_only_the_alembic_version_table(
    empty_engine: AsyncEngine,
) -> None:
    await migrate(empty_engine, "upgrade", "head")

    await migrate(empty_engine, "downgrade", "base")

    assert await table_names(empty_engine) == {"alembic_version"}
    async with empty_engine.connect() as connection:
        assert await current_revision(connection) is None


async def test_upgrade_after_downgrade_rebuilds_the_schema_and_roles(
    empty_engine: AsyncEngine,
) -> None:
    await migrate(empty_engine, "upgrade", "head")
    await migrate(empty_engine, "downgrade", "base")

    await migrate(empty_engine, "upgrade", "head")

    assert await table_names(empty_engine) == EVERY_TABLE | {"alembic_version"}
    assert [row.name for row in await builtin_role_rows(empty_engine)] == sorted(BUILTIN_ROLES)


async def test_upgrade_head_twice_is_a_no_op(empty_engine: AsyncEngine) -> None:
    await migrate(empty_engine, "upgrade", "head")
    rows_before = await builtin_role_rows(empty_engine)

    await migrate(empty_engine, "upgrade", "head")

    assert await builtin_role_rows(empty_engine) == rows_before
    async with empty_engine.connect() as connection:
        assert await current_revision(connection) == head_revision()


def ignore_unreflectable_expression_indexes(test: Any) -> Any:
    """Filter the two warnings SQLite's reflection gives for the `lower(email)` indexes.

    SQLite cannot reflect expression indexes (the case-insensitive unique indexes on
    users.email and customers.email): SQLAlchemy skips them while reflecting (SAWarning)
    and Alembic then skips comparing them (UserWarning). That is a known limitation, not
    drift, and the PostgreSQL run of the same test does compare them. Only these exact
    messages are filtered; any other warning still fails the test.
    """
    test = pytest.mark.filterwarnings(
        "ignore:autogenerate skipping metadata-specified expression-based index:UserWarning"
    )(test)
    return pytest.mark.filterwarnings(
        "ignore:Skipped unsupported reflection of expression-based index:sqlalchemy.exc.SAWarning"
    )(test)


@ignore_unreflectable_expression_indexes
async def test_autogenerate_against_head_finds_no_difference(empty_engine: AsyncEngine) -> None:
    await migrate(empty_engine, "upgrade", "head")

    async with empty_engine.connect() as connection:
        diff = await connection.run_sync(_autogenerate_diff)

    assert diff == []


@ignore_unreflectable_expression_indexes
async def test_alembic_check_through_env_py_reports_no_pending_operations(
    empty_engine: AsyncEngine,
) -> None:
    await migrate(empty_engine, "upgrade", "head")

    def check(connection: Connection) -> None:
        config = alembic_config()
        config.attributes["connection"] = connection
        # Raises AutogenerateDiffsDetected when env.py's configuration sees drift.
        command.check(config)

    async with empty_engine.connect() as connection:
        await connection.run_sync(check)


async def test_an_upgrade_rolled_back_by_the_caller_leaves_nothing_behind(
    empty_engine: AsyncEngine,
) -> None:
    async with empty_engine.connect() as connection:
        transaction = await connection.begin()
        await upgrade(connection, "head")
        assert "products" in await connection.run_sync(lambda sync: inspect(sync).get_table_names())
        await transaction.rollback()

    # Transactional DDL on both backends (on SQLite thanks to app.infra.db taking over BEGIN).
    assert await table_names(empty_engine) == set()


def test_alembic_by_hand_in_a_checkout_uses_the_packaged_scripts(tmp_path: Path) -> None:
    # Developers run `alembic` with alembic.ini (e.g. `alembic revision`); the app finds the
    # same scripts through the package (app/resources links to the top-level folder).
    root = Path(__file__).resolve().parents[2]
    assert resource_dir("alembic") == (root / "alembic").resolve()
    env = {
        "PATH": os.environ["PATH"],
        "DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'by-hand.db'}",
        "SECRET_KEY": "k" * 40,
    }
    alembic = Path(sys.executable).with_name("alembic")
    upgraded = subprocess.run(
        [str(alembic), "upgrade", "head"], cwd=root, env=env, capture_output=True, text=True
    )
    assert upgraded.returncode == 0, upgraded.stderr
    current = subprocess.run(
        [str(alembic), "current"], cwd=root, env=env, capture_output=True, text=True
    )
    assert current.stdout.split() == [str(head_revision()), "(head)"], current.stderr
