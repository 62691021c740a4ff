"""Every query about users and roles, in one place."""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.models import Role, User


async def get_by_email(session: AsyncSession, email: str, *, lock: bool = False) -> User | None:
    """The user with this email, whatever its case; `lock`: row-locked until commit."""
    statement = select(User).where(func.lower(User.email) == email.strip().lower())
    if lock:
        statement = statement.with_for_update(of=User)
    return (await session.execute(statement)).scalar_one_or_none()


async def get_roles_by_name(session: AsyncSession, names: Iterable[str]) -> list[Role]:
    wanted = set(names)
    if not wanted:
        return []
    statement = select(Role).where(Role.name.in_(wanted)).order_by(Role.name)
    return list((await session.execute(statement)).scalars())


async def count_users(session: AsyncSession) -> int:
    return int((await session.execute(select(func.count()).select_from(User))).scalar_one())
