"""`backoffice bootstrap`: the development helper behind `make run`."""

from __future__ import annotations

import asyncio
import re
from decimal import Decimal

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.auth.passwords import verify_password
from app.models import AuditEvent, Customer, Order, Product, User
from app.ops.cli import BOOTSTRAP_EMAIL
from tests.cli.helpers import STRONG_PASSWORD, in_database, invoke, lines

PASSWORD_LINE = re.compile(r"^\s+password:\s+(\S+)$", re.MULTILINE)


async def _users(session: AsyncSession) -> list[User]:
    return list(await session.scalars(select(User)))


async def _count(session: AsyncSession, model: type[Customer | Product | Order | User]) -> int:
    return int(await session.scalar(select(func.count()).select_from(model)) or 0)


async def _actions(session: AsyncSession) -> list[tuple[str, str]]:
    statement = select(AuditEvent.action, AuditEvent.channel).order_by(AuditEvent.id)
    return [(action, channel) for action, channel in await session.execute(statement)]


def test_bootstrap_creates_an_admin_once_and_prints_its_password_once(database_url: str) -> None:
    first = invoke(database_url, "bootstrap")  # a brand-new database: bootstrap migrates it
    assert first.exit_code == 0, first.output
    assert BOOTSTRAP_EMAIL in first.stdout
    [password] = PASSWORD_LINE.findall(first.stdout)
    assert len(password) >= 20
    [admin] = in_database(database_url, _users)
    assert admin.email == BOOTSTRAP_EMAIL
    assert [role.name for role in admin.roles] == ["admin"]
    assert asyncio.run(verify_password(password, admin.password_hash))[0]
    assert in_database(database_url, lambda s: _count(s, Product)) > 0
    assert in_database(database_url, lambda s: _count(s, Order)) > 0
    assert in_database(database_url, _actions) == [("user.created", "cli"), ("demo.seeded", "cli")]

    second = invoke(database_url, "bootstrap")
    assert second.exit_code == 0, second.output
    assert "password" not in second.stdout.lower()
    assert password not in second.output
    assert len(in_database(database_url, _users)) == 1
    assert len(in_database(database_url, _actions)) == 2


def test_bootstrap_adds_no_admin_when_a_user_exists(migrated_url: str) -> None:
    args = ("create-user", "--email", "ann@example.com", "--role", "viewer", "--password-stdin")
    assert invoke(migrated_url, *args, input=STRONG_PASSWORD + "\n").exit_code == 0
    result = invoke(migrated_url, "bootstrap")
    assert result.exit_code == 0, result.output
    assert "users exist; no admin account created" in result.stdout
    assert not PASSWORD_LINE.search(result.stdout)
    assert [user.email for user in in_database(migrated_url, _users)] == ["ann@example.com"]


async def _add_product(session: AsyncSession) -> None:
    session.add(Product(sku="MINE-1", name="Mine", price=Decimal("2.00"), stock=1))
    await session.commit()


def test_bootstrap_leaves_an_existing_catalogue_alone(migrated_url: str) -> None:
    in_database(migrated_url, _add_product)
    result = invoke(migrated_url, "bootstrap")
    assert result.exit_code == 0, result.output
    assert "products exist; demo data not loaded" in result.stdout
    assert in_database(migrated_url, lambda s: _count(s, Product)) == 1
    assert in_database(migrated_url, lambda s: _count(s, Customer)) == 0


def test_bootstrap_refuses_to_run_in_production(migrated_url: str) -> None:
    result = invoke(migrated_url, "bootstrap", ENVIRONMENT="production")
    assert result.exit_code == 2
    assert lines(result.stderr) == [
        "error: bootstrap is a development helper; use create-user in production"
    ]
    assert in_database(migrated_url, _users) == []
