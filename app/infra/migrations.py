"""Programmatic Alembic: upgrade/downgrade on a connection, and the head/current revisions."""

from __future__ import annotations

from alembic import command
from alembic.config import Config
from alembic.script import ScriptDirectory
from sqlalchemy import text
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from app.resources import resource_dir


def alembic_config() -> Config:
    """Alembic's config for the packaged scripts, wherever the process was started from.

    Built in code rather than read from alembic.ini: the ini file is the developers' (for
    `alembic revision` in a checkout) and is not part of the installed package.
    """
    config = Config()
    config.set_main_option("script_location", str(resource_dir("alembic")))
    config.set_main_option("path_separator", "os")
    return config


def head_revision() -> str | None:
    return ScriptDirectory.from_config(alembic_config()).get_current_head()


def _with_connection(connection: Connection, action: str, target: str) -> None:
    config = alembic_config()
    config.attributes["connection"] = connection
    getattr(command, action)(config, target)


async def upgrade(connection: AsyncConnection, target: str = "head") -> None:
    """`alembic upgrade <target>` on an open async connection (the caller commits)."""
    await connection.run_sync(_with_connection, "upgrade", target)


async def downgrade(connection: AsyncConnection, target: str = "base") -> None:
    """`alembic downgrade <target>` on an open async connection (the caller commits)."""
    await connection.run_sync(_with_connection, "downgrade", target)


async def upgrade_engine(engine: AsyncEngine, target: str = "head") -> None:
    """Upgrade the database behind `engine` in one transaction."""
    async with engine.begin() as connection:
        if connection.dialect.name == "postgresql":
            # Schema changes wait for their locks as long as it takes: the lock timeout
            # that keeps requests from queueing (app/infra/db.py) is not for them.
            await connection.execute(text("SET LOCAL lock_timeout = 0"))
        await upgrade(connection, target)


async def current_revision(connection: AsyncConnection) -> str | None:
    """The revision stamped in the database, or None when it was never migrated."""
    try:
        result = await connection.execute(text("SELECT version_num FROM alembic_version"))
    except Exception:
        return None
    return result.scalar_one_or_none()
