"""Bulk actions: the confirmation page, and acting on "all N rows matching this search".

Choosing an action from a list's Actions menu opens `GET /admin/<identity>/confirm/<action>`
with the ticked rows (`pks=`) and the list's own search and filter parameters. The page
changes nothing: it names the rows (the first NAMES_SHOWN, "and N more") and offers two
forms that POST, with the CSRF token, to the action's usual endpoint: one for the ticked
rows (`?pks=`), one for every row the list matches (the list's parameters, and in the body
`all=1` with the count the user saw).

"All matching" rebuilds the list's statement on the server (lists.matching_statement: the
user's own `list_query`, so rows they may not see are never included), re-counts it, and
refuses when the count differs from the one confirmed. Up to CHUNK_SIZE rows are one
transaction (all or nothing); more are acted on in chunks of CHUNK_SIZE, in ascending ids,
each chunk its own transaction, stopping at the first refused chunk with a report of what
was done: a refused chunk changes nothing, and nothing after it is tried.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from sqladmin.authorization import Action, custom_action
from sqlalchemy import Select
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response

from app.admin.ids import parse_id, require_ids
from app.admin.notices import add_message, redirect_with_notice
from app.admin.views.base import AdminError, require_principal
from app.admin.views.list_page import list_params, with_params
from app.admin.views.lists import ListRefused, matching_statement
from app.auth.principal import Principal

# "All matching" counts exactly, up to this many rows; a search matching more is refused.
MAX_MATCHING = 10_000
# Up to this many rows are one transaction; more go in chunks of this size.
CHUNK_SIZE = 500
# Ticked rows are at most a page (100); a crafted longer list is refused, so that the
# ticked rows are always one transaction.
MAX_SELECTED = CHUNK_SIZE
NAMES_SHOWN = 20
TEMPLATE = "admin/bulk_confirm.html"
GONE_OR_HIDDEN = (
    "Some of the ticked rows no longer exist or are not yours to see: "
    "go back to the list and tick them again."
)

RowAction = Callable[[AsyncSession, int], Awaitable[Any]]
LockFirst = Callable[[AsyncSession, list[int]], Awaitable[None]]


class MatchingRefused(AdminError):
    """The rows matching the search are not the ones confirmed (or too many): nothing ran."""


@dataclass
class RowsRun:
    """Acts on rows in ascending id order (the global lock order), after `lock_first` has
    locked what they all need; remembers the row it is on, to name a refusal."""

    per_row: RowAction
    lock_first: LockFirst | None = None
    at: int | None = None

    async def __call__(self, session: AsyncSession, ids: list[int]) -> list[Any]:
        if self.lock_first is not None:
            await self.lock_first(session, ids)
        results = []
        for pk in ids:
            self.at = pk
            results.append(await self.per_row(session, pk))
        return results


def row_deleter(view: Any, request: Request, principal: Principal) -> RowAction:
    """Delete one row through the view's service, if it exists and the user may."""

    async def delete_row(session: AsyncSession, pk: int) -> None:
        obj = await view.load(session, pk)
        if obj is None or not await view.check_can_delete(request, obj):
            raise AdminError(f"{view.name} {pk} no longer exists; nothing was deleted.")
        await view.remove(session, principal, obj)

    return delete_row


# --- what is being confirmed -----------------------------------------------------------------


@dataclass(frozen=True)
class BulkAction:
    """A list action the user may run: its label, its own warning, where Confirm posts."""

    slug: str
    label: str
    message: str | None
    url: str


def bulk_action_of(view: Any, request: Request, slug: str) -> BulkAction:
    """The list action `slug` of `view`: a 404 when there is none, a 403 when the user may
    not run it (the same questions the Actions menu and the action's endpoint ask)."""
    if slug == "delete":
        if not view.can_delete:
            raise HTTPException(status_code=404)
        if not view.has_permission(request, Action.DELETE):
            raise HTTPException(status_code=403)
        url = str(request.url_for("admin:delete", identity=view.identity))
        return BulkAction("delete", "Delete", "Deleting cannot be undone.", url)
    for declared in view.list_actions:
        if declared.slug == slug and declared.in_list:
            if not view.has_permission(request, custom_action(slug)):
                raise HTTPException(status_code=403)
            url = str(request.url_for(f"admin:action-{view.identity}-{slug}"))
            return BulkAction(slug, declared.label, declared.confirmation, url)
    raise HTTPException(status_code=404)


def selected_ids(request: Request) -> list[int]:
    """The ticked rows (`pks=`), each once, ascending; junk is a 404, too many a 400."""
    ids = sorted(set(require_ids(request.query_params.get("pks", ""))))
    if len(ids) > MAX_SELECTED:
        raise HTTPException(
            status_code=400,
            detail=f"Tick at most {MAX_SELECTED} rows, or act on all rows matching a search.",
        )
    return ids


def noun(view: Any, count: int) -> str:
    """ "order" / "orders", "API token" / "API tokens"."""
    word = str(view.name if count == 1 else view.name_plural)
    first = word.split(" ", 1)[0]
    return word if first.isupper() and len(first) > 1 else word[:1].lower() + word[1:]


def every(view: Any, count: int) -> str:
    """ "all 3 orders", or "the 1 order"."""
    return f"{'the' if count == 1 else 'all'} {count:,} {noun(view, count)}"


def row_name(view: Any, row: Any) -> str:
    """How a row is named to people: its model's str() (an order's number, a product's
    SKU and name), or "<view name> <id>" when the model does not name its rows."""
    if type(row).__str__ is object.__str__:
        return f"{view.name} {row.id}"
    return str(row)


async def matching_ids(session: AsyncSession, statement: Select[Any], model: Any) -> list[int]:
    """The ids of the rows `statement` selects, ascending, up to MAX_MATCHING + 1 (exact
    up to the maximum; one more says "too many")."""
    ids = (
        statement.with_only_columns(model.id)
        .distinct()
        .order_by(None)
        .order_by(model.id)
        .limit(MAX_MATCHING + 1)
    )
    return [int(pk) for pk in (await session.execute(ids)).scalars().all()]


async def first_rows(session: AsyncSession, statement: Select[Any], model: Any) -> list[Any]:
    """The first NAMES_SHOWN rows of `statement`, by id (the ones the page names)."""
    first = statement.order_by(None).order_by(model.id).limit(NAMES_SHOWN)
    return list((await session.execute(first)).scalars().unique().all())


# --- the page --------------------------------------------------------------------------------


@dataclass
class Selection:
    """The rows the page names, and how many there are."""

    count: int
    names: list[str] = field(default_factory=list)

    @property
    def more(self) -> int:
        return self.count - len(self.names)


async def ticked_rows(
    view: Any, request: Request, session: AsyncSession, ids: list[int]
) -> Selection | None:
    """The ticked rows, if the user may see every one of them (else None and a message)."""
    visible = view.list_query(request).where(view.model.id.in_(ids))
    rows = sorted((await session.execute(visible)).scalars().unique(), key=lambda row: row.id)
    if len(rows) < len(ids):
        # Gone, or hidden from this user: the same answer, so nothing is revealed.
        add_message(request, GONE_OR_HIDDEN)
        return None
    return Selection(len(rows), [row_name(view, row) for row in rows[:NAMES_SHOWN]])


async def matching_rows(
    view: Any, request: Request, session: AsyncSession
) -> tuple[Selection | None, bool]:
    """The rows the list matches (None, and a message, when its parameters are refused),
    and whether a search or filter narrowed them."""
    try:
        statement, narrowed = await matching_statement(view, request)
    except ListRefused as exc:
        add_message(request, str(exc))
        return None, False
    found = await matching_ids(session, statement, view.model)
    first = await first_rows(session, statement, view.model)
    return Selection(len(found), [row_name(view, row) for row in first]), narrowed


async def confirm_page(
    view: Any, request: Request, slug: str, message: str | None = None, status_code: int = 200
) -> Response:
    """The confirmation page of the action `slug` (re-rendered with `message` after a
    refused POST): it reads the rows and changes nothing."""
    action = bulk_action_of(view, request, slug)
    params = list_params(request)
    if message is not None:
        add_message(request, message)
    ids = selected_ids(request)
    async with view.database.read_session() as session:
        selected = await ticked_rows(view, request, session, ids) if ids else None
        matching, narrowed = await matching_rows(view, request, session)
    if ids and selected is None:
        status_code = 404
    elif matching is None:
        status_code = max(status_code, 400)
    list_url = str(request.url_for("admin:list", identity=view.identity))
    context = {
        "model_view": view,
        "action": action,
        "title": title_of(view, action, selected, matching, narrowed),
        "selected": selected,
        "selected_url": f"{action.url}?pks={','.join(map(str, ids))}",
        "matching": matching,
        "too_many": matching is not None and matching.count > MAX_MATCHING,
        "max_matching": MAX_MATCHING,
        "chunk_size": CHUNK_SIZE,
        "narrowed": narrowed,
        "all_url": with_params(action.url, params),
        "cancel_url": with_params(list_url, params),
        "noun": lambda count: noun(view, count),
        "every": lambda count: every(view, count),
    }
    response: Response = await view.templates.TemplateResponse(
        request, TEMPLATE, context, status_code=status_code
    )
    return response


def title_of(
    view: Any,
    action: BulkAction,
    selected: Selection | None,
    matching: Selection | None,
    narrowed: bool,
) -> str:
    if selected is not None:
        return f"{action.label} {selected.count:,} {noun(view, selected.count)}?"
    if matching is not None and 0 < matching.count <= MAX_MATCHING:
        where = " matching this search" if narrowed else ""
        return f"{action.label} {every(view, matching.count)}{where}?"
    return f"{action.label} {noun(view, 2)}"


# --- the POST: every row matching the search ---------------------------------------------------


def slug_of(request: Request) -> str:
    """The action a POST runs, from its URL (SPEC §8: `…/<identity>/delete` and
    `…/<identity>/action/<name>`), checked by bulk_action_of like any input."""
    return request.url.path.rstrip("/").rsplit("/", 1)[-1]


async def wants_all_matching(request: Request) -> bool:
    """Whether a POST asks for every row matching the list's search (`all=1` in its form)."""
    if request.method != "POST":
        return False
    return (await request.form()).get("all") == "1"


def check_count(found: int, confirmed: int | None) -> None:
    """Refuse unless the rows matching now are as many as the user confirmed."""
    if found > MAX_MATCHING:
        raise MatchingRefused(
            f"More than {MAX_MATCHING:,} rows match this search: narrow it (search or "
            "filters) to act on all of them at once. Nothing was changed."
        )
    if confirmed is None:
        raise MatchingRefused(
            "The number of rows you confirmed was not sent; review them again. Nothing was changed."
        )
    if found != confirmed:
        raise MatchingRefused(
            f"The matching rows changed: {found:,} now, you confirmed {confirmed:,}; "
            "review again. Nothing was changed."
        )


async def apply_to_all_matching(view: Any, request: Request, run: RowsRun, notice: str) -> Response:
    """`run` on every row the list matches for the request's search and filters, as the
    user confirmed them: re-counted first; one transaction up to CHUNK_SIZE rows, else
    chunks of CHUNK_SIZE in ascending ids, stopping at the first refused one. Success is
    the list with `notice`; a refusal re-renders the confirmation with what happened."""
    slug = slug_of(request)
    bulk_action_of(view, request, slug)  # a list action this user may run, or 404/403
    confirmed = parse_id((await request.form()).get("confirmed"))
    try:
        statement, _ = await matching_statement(view, request)
    except ListRefused:
        return await confirm_page(view, request, slug)  # it says why, with a 400
    ids: list[int] = []
    done = 0
    try:
        # The count, and the first chunk (all of it, up to CHUNK_SIZE), in one transaction.
        async with view.unit_of_work(request) as session:
            ids = await matching_ids(session, statement, view.model)
            check_count(len(ids), confirmed)
            await run(session, ids[:CHUNK_SIZE])
        done = min(len(ids), CHUNK_SIZE)
        while done < len(ids):
            chunk = ids[done : done + CHUNK_SIZE]
            async with view.unit_of_work(request) as session:
                await run(session, chunk)
            done += len(chunk)
    except MatchingRefused as exc:
        return await confirm_page(view, request, slug, str(exc), 409)
    except AdminError as exc:
        report = await stopped_report(view, request, slug, run, str(exc), done, ids)
        return await confirm_page(view, request, slug, report, 409)
    return redirect_with_notice(request, view.identity, None, notice)


async def stopped_report(
    view: Any, request: Request, slug: str, run: RowsRun, reason: str, done: int, ids: list[int]
) -> str:
    """What a run that stopped did: "Place: done for 1,000 of 1,200 orders; stopped at
    SO-001042: <reason> Nothing from SO-001001 on was changed." """
    if done == 0:
        return f"{reason} Nothing was changed."
    action = bulk_action_of(view, request, slug)
    failing = run.at if run.at is not None else ids[done]
    async with view.database.read_session() as session:
        named = view.list_query(request).where(view.model.id.in_([failing, ids[done]]))
        rows = {row.id: row_name(view, row) for row in (await session.execute(named)).scalars()}
    failing_name = rows.get(failing, f"{view.name} {failing}")
    first_undone = rows.get(ids[done], f"{view.name} {ids[done]}")
    return (
        f"{action.label}: done for {done:,} of {len(ids):,} {noun(view, len(ids))}; "
        f"stopped at {failing_name}: {reason} Nothing from {first_undone} on was changed."
    )


async def delete_all_matching(view: Any, request: Request) -> Response:
    """Delete every row the list matches, as confirmed (see apply_to_all_matching)."""
    bulk_action_of(view, request, "delete")
    run = RowsRun(row_deleter(view, request, require_principal(request)))
    return await apply_to_all_matching(view, request, run, "deleted")
