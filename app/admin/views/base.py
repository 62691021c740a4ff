"""ServiceModelView: a sqladmin ModelView whose writes go through the domain services.

sqladmin would write rows itself (no rules, no audit, no version check, one commit per
row). Here every create, edit and delete runs the same service function as the API, in
one unit of work with the audit row, as the logged-in Principal.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Any, ClassVar

from sqladmin import ModelView
from sqlalchemy import Select, func, select, text
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.exceptions import HTTPException
from starlette.requests import Request
from wtforms import HiddenField

from app.admin.auth import current_principal
from app.auth.principal import Principal
from app.db import Database, transaction
from app.errors import AppError

logger = logging.getLogger(__name__)
# Above this many rows (PostgreSQL's estimate) list pages show an estimate, not count(*).
EXACT_COUNT_LIMIT = 10_000


class AdminError(Exception):
    """A message for the admin user (sqladmin shows str(exc) above the form)."""


class StaleEdit(AdminError):
    """The row changed after the form was opened."""


def require_principal(request: Request) -> Principal:
    principal = current_principal(request)
    if principal is None:
        raise HTTPException(status_code=401)
    return principal


class ServiceModelView(ModelView):
    """Base for views over business rows; subclasses provide the service calls."""

    database: ClassVar[Database]
    page_size = 25
    page_size_options: ClassVar[Sequence[int]] = [25, 50, 100]
    form_overrides: ClassVar[dict[str, Any]] = {"version": HiddenField}
    # Export streams through the API's CSV where it exists; sqladmin's loads every row.
    can_export = False

    @asynccontextmanager
    async def unit_of_work(self, request: Request) -> AsyncIterator[AsyncSession]:
        """One transaction; AppErrors become messages, anything else a generic one."""
        try:
            async with transaction(self.database.sessionmaker) as session:
                yield session
        except AppError as exc:
            raise AdminError(exc.detail) from None
        except AdminError:
            raise
        except Exception:
            request_id = getattr(request.state, "request_id", "?")
            logger.exception("admin write failed")
            raise AdminError(
                f"The change could not be saved (an unexpected error; request id {request_id})."
            ) from None

    # --- what subclasses implement -------------------------------------------------------
    async def load(self, session: AsyncSession, pk: int) -> Any:
        return await session.get(self.model, pk)

    async def create(
        self, session: AsyncSession, principal: Principal, data: dict[str, Any]
    ) -> Any:
        raise AdminError("Creating is not available here.")

    async def update(
        self, session: AsyncSession, principal: Principal, obj: Any, data: dict[str, Any]
    ) -> Any:
        raise AdminError("Editing is not available here.")

    async def remove(self, session: AsyncSession, principal: Principal, obj: Any) -> None:
        raise AdminError("Deleting is not available here.")

    def clean(self, data: dict[str, Any]) -> dict[str, Any]:
        """Form data → service values (drop what the service does not take)."""
        return {k: v for k, v in data.items() if k not in {"version", "csrf_token"}}

    # --- sqladmin hooks ------------------------------------------------------------------
    async def insert_model(self, request: Request, data: dict[str, Any]) -> Any:
        principal = require_principal(request)
        async with self.unit_of_work(request) as session:
            return await self.create(session, principal, self.clean(data))

    async def update_model(self, request: Request, pk: str, data: dict[str, Any]) -> Any:
        principal = require_principal(request)
        expected = data.get("version")
        async with self.unit_of_work(request) as session:
            obj = await self.load(session, int(pk))
            if obj is None:
                raise AdminError("This row no longer exists.")
            if expected not in (None, "") and str(obj.version) != str(expected):
                raise StaleEdit(
                    "Someone else changed this row after you opened the form, so nothing was "
                    "saved. Reload the page to see their changes, then make yours again."
                )
            return await self.update(session, principal, obj, self.clean(data))

    async def delete_model(self, request: Request, pk: Any) -> None:
        await self.delete_many(request, [pk])

    async def delete_many(self, request: Request, pks: Sequence[Any]) -> None:
        """Delete every row or none (one transaction)."""
        principal = require_principal(request)
        async with self.unit_of_work(request) as session:
            for pk in pks:
                obj = await self.load(session, int(pk))
                if obj is None:
                    raise AdminError(f"Row {pk} no longer exists; nothing was deleted.")
                await self.remove(session, principal, obj)

    async def get_form_data_for_edit(self, obj: Any) -> dict[str, Any]:
        return {"version": getattr(obj, "version", None)}

    async def count(self, request: Request, stmt: Select[Any] | None = None) -> int:
        """Exact below EXACT_COUNT_LIMIT; PostgreSQL's estimate for big unfiltered lists."""
        filtered = bool(request.query_params.get("search")) or any(
            request.query_params.get(f.parameter_name) for f in self.get_filters()
        )
        async with self.database.sessionmaker() as session:
            if (
                not filtered
                and session.bind is not None
                and session.bind.dialect.name == "postgresql"
            ):
                estimate = (
                    await session.execute(
                        text("SELECT reltuples::bigint FROM pg_class WHERE oid = :t::regclass"),
                        {"t": self.model.__table__.name},  # type: ignore[attr-defined]
                    )
                ).scalar_one_or_none()
                if estimate is not None and estimate > EXACT_COUNT_LIMIT:
                    request.state.count_is_estimate = True
                    return int(estimate)
            statement = stmt if stmt is not None else select(func.count()).select_from(self.model)
            return int((await session.execute(statement)).scalar_one())
