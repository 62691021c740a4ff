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

import sqladmin
from sqladmin import ModelView
from sqladmin.helpers import slugify_action_name
from sqlalchemy import Select
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from wtforms import Form, HiddenField

from app.admin.auth import current_principal
from app.admin.ids import parse_id
from app.admin.notices import redirect_with_notice
from app.admin.outage import remember_failure
from app.admin.views.details import DetailsMixin
from app.admin.views.list_page import ListAction
from app.admin.views.lists import KeysetListMixin
from app.auth.principal import Principal
from app.commands import check_version
from app.errors import AppError, PreconditionFailed
from app.infra.db import Database, transaction
from app.infra.db_errors import failure_kind
from app.lists.grammar import ListQuery, ListSpec
from app.lists.statements import filtered

logger = logging.getLogger(__name__)


class AdminError(Exception):
    """A message for the admin user (sqladmin shows str(exc) above the form)."""


class StaleEdit(AdminError):
    """The row changed after the form was opened."""


STALE_EDIT_MESSAGE = (
    "Someone else changed this row after you opened the form, so nothing was saved. "
    "Reload the page to see their changes, then make yours again."
)


class CommandForm(Form):
    """A form that only carries what was typed: the domain command it is built into
    checks every field (one rule for every door), so WTForms checks none of them."""

    def validate(self, extra_validators: Any = None) -> bool:
        return True


def action(
    name: str,
    label: str | None = None,
    confirmation_message: str | None = None,
    *,
    include_in_schema: bool = True,
    add_in_detail: bool = True,
    add_in_list: bool = True,
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """sqladmin's documented `@action`, also recorded for our list page's Actions menu
    (`list_action`): sqladmin keeps an action's label and confirmation in private names."""
    declared = ListAction(
        slug=slugify_action_name(name),
        label=label if label is not None else name,
        confirmation=confirmation_message,
        in_list=add_in_list,
        in_detail=add_in_detail,
    )
    register = sqladmin.action(
        name,
        label,
        confirmation_message,
        include_in_schema=include_in_schema,
        add_in_detail=add_in_detail,
        add_in_list=add_in_list,
    )

    def wrap(func: Callable[..., Any]) -> Callable[..., Any]:
        func.list_action = declared  # type: ignore[attr-defined]
        # sqladmin wraps with functools.wraps, which carries the attribute over.
        return register(func)

    return wrap


def selected_pks(request: Request) -> list[str]:
    """The row ids an action was asked for (`?pks=1,2,3`), each once, ascending; any that
    is not an id is a 404, more than a bulk action takes in one transaction a 400."""
    from app.admin.bulk import selected_ids  # bulk.py builds on this module

    return [str(pk) for pk in selected_ids(request)]


def require_principal(request: Request) -> Principal:
    principal = current_principal(request)
    if principal is None:
        raise HTTPException(status_code=401)
    return principal


class ServiceModelView(DetailsMixin, KeysetListMixin, ModelView):
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
        """One transaction; AppErrors become messages, a database that cannot serve the
        503 page (app/admin/outage.py), anything else a generic message."""
        try:
            async with transaction(self.database.sessionmaker) as session:
                yield session
        except AppError as exc:
            raise AdminError(exc.detail) from None
        except AdminError:
            raise
        except Exception as exc:
            if failure_kind(exc) is not None:
                # The 503 page, or a re-run where the retry policy allows one (outage.py);
                # sqladmin's create and edit would show it above the form, so it is kept.
                remember_failure(request, exc)
                raise
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
        async def save(session: AsyncSession, principal: Principal, expected: int) -> Any:
            obj = await self.load(session, int(pk))
            if obj is None:
                raise AdminError("This row no longer exists.")
            if hasattr(obj, "version"):
                check_version(obj, expected)
            return await self.update(session, principal, obj, self.clean(data))

        return await self.save_edit(request, save)

    async def save_edit(
        self,
        request: Request,
        save: Callable[[AsyncSession, Principal, int], Awaitable[Any]],
    ) -> Any:
        """Run an edit form's `save(session, principal, expected_version)` in one unit of
        work. The version is the one the form was opened at, for the service to check; a
        form without one (crafted or stale) expects 0, which no row has, so nothing is
        overwritten blindly. The service's 412 is the stale-edit message."""
        principal = require_principal(request)
        # What the browser sent, not the form object: WTForms fills a missing field from the
        # row's current values, which would make a form without its version look fresh.
        expected = parse_id((await request.form()).get("version")) or 0
        async with self.unit_of_work(request) as session:
            try:
                return await save(session, principal, expected)
            except PreconditionFailed:
                request.state.stale_edit = True  # the edit page adds a link to reload
                raise StaleEdit(STALE_EDIT_MESSAGE) from None

    async def delete_model(self, request: Request, pk: Any) -> None:
        await self.delete_many(request, [pk])

    async def delete_many(self, request: Request, pks: Sequence[Any]) -> None:
        """Delete every row or none (one transaction)."""
        from app.admin.bulk import RowsRun, row_deleter  # bulk.py builds on this module

        run = RowsRun(row_deleter(self, request, require_principal(request)))
        async with self.unit_of_work(request) as session:
            # Ascending ids: the one order every writer locks rows in (no deadlocks).
            await run(session, sorted({int(pk) for pk in pks}))

    async def bulk_action(
        self,
        request: Request,
        per_row: Callable[[AsyncSession, Principal, int], Awaitable[Any]],
        done: Callable[[list[Any]], str],
        lock_first: Callable[[AsyncSession, list[int]], Awaitable[None]] | None = None,
    ) -> Response:
        """Run `per_row` for every selected row in one transaction (all or nothing) and
        come back with a notice (`done` names its code in NOTICES): the one shape of every
        custom action. A refusal shows its message on the page the user acted from.
        `lock_first` takes the locks the rows will need, all at once, in the global order.
        Posted from the confirmation page with `all=1`, it runs on every row the list
        matches instead, as app/admin/bulk.py describes."""
        from app.admin.bulk import RowsRun, apply_to_all_matching, wants_all_matching

        principal = require_principal(request)

        async def one_row(session: AsyncSession, pk: int) -> Any:
            return await per_row(session, principal, pk)

        # Ascending ids, and what every row will need locked up front when the rows share
        # rows (`lock_first`): the global lock order (no deadlocks).
        run = RowsRun(one_row, lock_first)
        if await wants_all_matching(request):
            return await apply_to_all_matching(self, request, run, done([]))
        pks = selected_pks(request)
        if not pks:
            return redirect_with_notice(
                request, self.identity, None, "Select at least one row.", error=True
            )
        try:
            async with self.unit_of_work(request) as session:
                results = await run(session, [int(pk) for pk in pks])
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
