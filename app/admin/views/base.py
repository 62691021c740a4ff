"""ServiceModelView: a sqladmin ModelView whose writes go through the domain services.

sqladmin would write rows itself (no rules, no audit, no version check, one commit per
row). Here every create, edit and delete runs the same service function as the API, in
one unit of work with the audit row, as the logged-in Principal.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from typing import Any, ClassVar

from sqladmin import ModelView
from sqlalchemy import Select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from wtforms import HiddenField

from app.admin.auth import current_principal
from app.admin.ids import require_ids
from app.admin.notices import redirect_with_notice
from app.admin.views.keyset import KeysetPage, Ordering, count_rows, keyset_page, navigation
from app.auth.principal import Principal
from app.cursors import CursorCodec
from app.db import Database, transaction
from app.errors import AppError
from app.listing import ListQuery, ListSpec, filtered

logger = logging.getLogger(__name__)


class AdminError(Exception):
    """A message for the admin user (sqladmin shows str(exc) above the form)."""


class StaleEdit(AdminError):
    """The row changed after the form was opened."""


def selected_pks(request: Request) -> list[str]:
    """The row ids an action was asked for (`?pks=1,2,3`); any that is not an id is a 404."""
    return [str(pk) for pk in require_ids(request.query_params.get("pks", ""))]


def require_principal(request: Request) -> Principal:
    principal = current_principal(request)
    if principal is None:
        raise HTTPException(status_code=401)
    return principal


class KeysetListMixin:
    """Replaces sqladmin's OFFSET pagination and count(*) with keyset pages (see keyset.py)."""

    def rows_are_restricted(self, request: Request) -> bool:
        """Whether `list_query` shows this user only some rows (override with the rule)."""
        return False

    async def list(self, request: Request) -> Any:
        view: Any = self
        page_size = view.validate_page_number(request.query_params.get("pageSize"), view.page_size)
        page_size = max(1, min(page_size, max(view.page_size_options)))
        statement = view.list_query(request)
        for relation in view._list_relations:
            statement = statement.options(selectinload(relation))
        statement, filtered = await _apply_filters(view, request, statement)
        # A list cut down to the user's own rows is counted as such: the whole table's
        # count would tell them how many rows others have.
        filtered = filtered or view.rows_are_restricted(request)
        search = request.query_params.get("search")
        if search:
            statement = view.search_query(stmt=statement, term=search)
            filtered = True
        ordering = _ordering(view, request)
        codec = CursorCodec(view._admin_ref.settings.secret_key)
        params = dict(request.query_params)
        async with view.database.read_session() as session:
            try:
                rows, more, reverse = await keyset_page(
                    session, statement, ordering, page_size, params, codec
                )
            except AppError as exc:
                raise HTTPException(status_code=400, detail=exc.detail) from None
            count, approximate = await count_rows(
                session, view.model, statement if filtered else None
            )
        links = navigation(rows, more, reverse, params, ordering, request.url, codec)
        return KeysetPage(
            rows=rows,
            page_size=page_size,
            count=count,
            # Approximate: the planner's estimate when unfiltered, a capped count when not.
            count_is_estimate=approximate and not filtered,
            count_is_lower_bound=approximate and filtered,
            first_url=links["first"],
            previous_url=links["previous"],
            next_url=links["next"],
            last_url=links["last"],
        )


async def _apply_filters(view: Any, request: Request, statement: Any) -> tuple[Any, bool]:
    filtered = False
    for filter_ in view.get_filters():
        value = request.query_params.get(filter_.parameter_name)
        if not value:
            continue
        filtered = True
        if getattr(filter_, "has_operator", False):
            operation = request.query_params.get(f"{filter_.parameter_name}_op")
            if operation:
                statement = await filter_.get_filtered_query(
                    statement, operation, value, view.model
                )
        else:
            statement = await filter_.get_filtered_query(statement, value, view.model)
    return statement, filtered


def _ordering(view: Any, request: Request) -> Ordering:
    sort_by = request.query_params.get("sortBy")
    if sort_by:
        if sort_by not in view._sort_fields:
            raise HTTPException(status_code=400, detail="Invalid sortBy parameter")
        name, descending = sort_by, request.query_params.get("sort", "asc") == "desc"
    else:
        default = view._get_default_sort()
        name, descending = (
            (view._get_prop_name(default[0][0]), default[0][1]) if default else ("id", False)
        )
    return Ordering(
        column=getattr(view.model, name),
        id_column=view.model.id,
        descending=descending,
        name=name,
    )


class ServiceModelView(KeysetListMixin, ModelView):
    """Base for views over business rows; subclasses provide the service calls."""

    database: ClassVar[Database]
    page_size = 25
    page_size_options: ClassVar[Sequence[int]] = [25, 50, 100]
    form_overrides: ClassVar[dict[str, Any]] = {"version": HiddenField}
    # Export streams through the API's CSV where it exists; sqladmin's loads every row.
    can_export = False
    # The resource's API list rules: with one, the search box means what `q` means.
    list_spec: ClassVar[ListSpec | None] = None

    def search_query(self, stmt: Select[Any], term: str) -> Select[Any]:
        """The API's `q` search (same columns, same matching) when the view has a ListSpec."""
        if self.list_spec is None:
            return super().search_query(stmt, term)
        query = ListQuery(q=term.strip()[:200] or None)
        if query.q is None:
            return stmt
        return filtered(self.list_spec, query, stmt).params(**query.params())

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
        # What the browser sent, not the form object: WTForms fills a missing field from the
        # row's current values, which would make a form without its version look fresh.
        expected = (await request.form()).get("version")
        async with self.unit_of_work(request) as session:
            obj = await self.load(session, int(pk))
            if obj is None:
                raise AdminError("This row no longer exists.")
            # A versioned row's form always carries its version; a post without one (a
            # crafted or stale form) is refused rather than allowed to overwrite blindly.
            versioned = hasattr(obj, "version")
            if versioned and (expected in (None, "") or str(obj.version) != str(expected)):
                request.state.stale_edit = True  # the edit page adds a link to reload
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

    async def bulk_action(
        self,
        request: Request,
        per_row: Callable[[AsyncSession, Principal, int], Awaitable[Any]],
        done: Callable[[list[Any]], str],
    ) -> Response:
        """Run `per_row` for every selected row in one transaction (all or nothing) and
        come back with a notice (`done` names its code in NOTICES): the one shape of every
        custom action. A refusal shows its message on the page the user acted from."""
        principal = require_principal(request)
        pks = selected_pks(request)
        if not pks:
            return redirect_with_notice(
                request, self.identity, None, "Select at least one row.", error=True
            )
        try:
            async with self.unit_of_work(request) as session:
                results = [await per_row(session, principal, int(pk)) for pk in pks]
        except AdminError as exc:
            return redirect_with_notice(request, self.identity, pks, str(exc), error=True)
        return redirect_with_notice(request, self.identity, pks, done(results))

    async def load_or_fail(self, session: AsyncSession, pk: int) -> Any:
        obj = await self.load(session, pk)
        if obj is None:
            raise AdminError(f"Row {pk} no longer exists; nothing was changed.")
        return obj

    async def get_form_data_for_edit(self, obj: Any) -> dict[str, Any]:
        """The row's current values, and the version the save will be checked against."""
        data = await super().get_form_data_for_edit(obj)
        data["version"] = getattr(obj, "version", None)
        return data
