"""Saved views on admin list pages: the block beside each list, and its save, open and
delete requests (the routes are the list views' own, app/admin/views/lists.py).

The rules (who may save, share, see and delete) are app/saved_views/service.py's; this
door reads the form, keeps of the list's URL only what the list itself reads (its
`saved_query`), refuses what the list would refuse (its `refusal_of`), and answers a
refusal with the list page and its message: never a 500, nothing saved.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from app.admin.auth import current_principal
from app.admin.ids import parse_id
from app.admin.notices import add_message
from app.admin.policy import ANY_STAFF, VIEW_PERMISSIONS
from app.auth.principal import Principal
from app.commands import build
from app.errors import AppError, BadRequest, NotFound
from app.infra.db import transaction
from app.models.saved_views import VIEW_QUERY_LENGTH
from app.saved_views import service
from app.saved_views.commands import SaveView
from app.text_rules import control_character_problem

# A posted list URL longer than this is not one a list page made (saved: 1,000 at most).
MAX_POSTED_QUERY = 4 * VIEW_QUERY_LENGTH


@dataclass(frozen=True)
class SavedViewLink:
    """One saved view in the block: a plain link to the list with its query."""

    name: str
    url: str
    shared: bool
    owner: str | None  # a colleague's email; None for one's own
    delete_url: str | None  # None: this user may not delete it
    current: bool  # the list shows exactly this view


@dataclass(frozen=True)
class SavedViewsBlock:
    """What the list page shows of saved views, prepared with the page."""

    links: tuple[SavedViewLink, ...]
    save_url: str
    query: str | None  # the list's own parameters, to save; None when the page refused them


async def saved_views_block(
    view: Any, request: Request, query: str | None
) -> SavedViewsBlock | None:
    """The user's views of this list and those colleagues shared (one statement, on the
    request's Reader: outside the page's own session, which has ended by then)."""
    principal = current_principal(request)
    if principal is None:
        return None
    async with view.database.reader() as reader:
        found = await service.listed_views(reader, principal, view.identity)
    list_url = str(request.url_for("admin:list", identity=view.identity))
    save_url = str(request.url_for(f"admin:view-{view.identity}-save_view"))
    links = tuple(
        SavedViewLink(
            name=saved.name,
            url=f"{list_url}?{saved.query}" if saved.query else list_url,
            shared=saved.is_shared,
            owner=None if saved.owner_user_id == principal.user_id else saved.email,
            delete_url=f"{save_url}/{saved.id}/delete"
            if service.may_delete(principal, saved)
            else None,
            current=query is not None and saved.query == query,
        )
        for saved in found
    )
    return SavedViewsBlock(links=links, save_url=save_url, query=query)


def require_principal(request: Request) -> Principal:
    principal = current_principal(request)
    if principal is None:
        raise HTTPException(status_code=401)
    return principal


def _read_permission(view: Any) -> str | None:
    permission = VIEW_PERMISSIONS.get(view.identity, {}).get("list")
    if permission is None:
        raise HTTPException(status_code=403)
    return None if permission == ANY_STAFF else permission


def _require_list_access(view: Any, request: Request) -> None:
    """Saved views of a list are for those who may read it (the policy's `list`)."""
    if not view.has_permission(request, "list"):
        raise HTTPException(status_code=403)


def _posted_params(view: Any, raw: str) -> dict[str, str]:
    """A list URL's query as posted, checked as the list checks it; AppError otherwise."""
    if len(raw) > MAX_POSTED_QUERY or control_character_problem(raw) is not None:
        raise BadRequest("This is not a list's address; open the list and save it from there.")
    params = dict(parse_qsl(raw.lstrip("?")))
    refusal = view.refusal_of(params)
    if refusal is not None:
        raise BadRequest(f"This view cannot be saved: {refusal}")
    return params


async def _list_with_message(
    view: Any, request: Request, message: str, query: str, status_code: int
) -> Response:
    """The list (with `query`) and the message, in this response: nothing goes in a URL."""
    add_message(request, message)
    target = request.url_for("admin:list", identity=view.identity)
    page_scope = {
        **request.scope,
        "method": "GET",
        "path": target.path,
        "query_string": query.encode(),
        "path_params": {"identity": view.identity},
    }
    page: Response = await request.app.state.site.list(Request(page_scope, request.receive))
    page.status_code = status_code
    return page


def _status_of(exc: AppError) -> int:
    return exc.status if 400 <= exc.status < 500 else 400


def _to_list(request: Request, view: Any, query: str) -> Response:
    url = str(request.url_for("admin:list", identity=view.identity))
    return RedirectResponse(f"{url}?{query}" if query else url, status_code=303)


async def save(view: Any, request: Request) -> Response:
    """Save the posted list query under a name; the owner is whoever is logged in."""
    principal = require_principal(request)
    _require_list_access(view, request)
    form = await request.form()
    query = ""
    try:
        params = _posted_params(view, str(form.get("query", "")))
        query = view.saved_query(params)
        command = build(
            SaveView,
            {
                "list_identity": view.identity,
                "name": str(form.get("name", "")),
                "query": query,
                "shared": "true" if form.get("shared") else "false",
            },
        )
        async with transaction(view.database.sessionmaker) as session:
            await service.save_view(
                session, principal, command, read_permission=_read_permission(view)
            )
    except AppError as exc:
        return await _list_with_message(view, request, exc.detail, query, _status_of(exc))
    return _to_list(request, view, query)


def _view_id(request: Request) -> int:
    view_id = parse_id(request.path_params.get("view_id"))
    if view_id is None:
        raise HTTPException(status_code=404)
    return view_id


async def open_saved(view: Any, request: Request) -> Response:
    """A saved view by its id: the list with its query (404 for another's private view)."""
    principal = require_principal(request)
    _require_list_access(view, request)
    view_id = _view_id(request)
    try:
        async with view.database.read_session() as session:
            saved = await service.get_view(session, principal, view.identity, view_id)
            query = saved.query
    except NotFound:
        raise HTTPException(status_code=404) from None
    url = str(request.url_for("admin:list", identity=view.identity))
    return RedirectResponse(f"{url}?{query}" if query else url, status_code=302)


async def delete(view: Any, request: Request) -> Response:
    """Delete a saved view and come back to the list as it was (its posted query)."""
    principal = require_principal(request)
    _require_list_access(view, request)
    view_id = _view_id(request)
    form = await request.form()
    back = ""
    try:
        back = view.saved_query(_posted_params(view, str(form.get("query", ""))))
    except AppError:
        back = ""  # the list's first page: where the user came from is not readable
    try:
        async with transaction(view.database.sessionmaker) as session:
            await service.delete_view(session, principal, view.identity, view_id)
    except AppError as exc:
        return await _list_with_message(view, request, exc.detail, back, _status_of(exc))
    return _to_list(request, view, back)
