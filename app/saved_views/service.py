"""Saved view rules: who may save, share, see, open and delete a list's named views.

- Anyone who may read a list may save its current URL as a private view, and may share
  it with all staff: a view is only a URL, and whoever opens it sees the rows their own
  permissions allow, so sharing reveals nothing but a search and some filters.
- A private view is its owner's alone: to anyone else it does not exist (404).
- A shared view is listed to every staff member who may read its list; only its owner,
  or someone who may manage users (cleaning up after a colleague), may delete it.

Each change writes its audit row in the caller's transaction.
"""

from __future__ import annotations

from typing import Any, NamedTuple

from sqlalchemy import bindparam, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from app import audit
from app.auth.principal import Principal
from app.commands import authorize
from app.errors import NotFound, PermissionDenied
from app.infra.db_reads import Reader
from app.models import SavedView, User
from app.permissions import can
from app.saved_views.commands import SaveView
from app.uniqueness import flush_or_conflict

FIELDS = ["list_identity", "name", "query", "is_shared"]
UNIQUE = {"uq_saved_views_owner_list_name": "name", "saved_views.owner_user_id": "name"}
CONFLICTS = {"name": "You already have a saved view of this list with that name."}
# The most views one list offers in its menu (a person's own first, then shared ones).
LISTED_LIMIT = 100
# Who may delete a colleague's shared view.
SHARED_VIEW_CURATOR = "users:manage"


def _owner_id(principal: Principal) -> int:
    if principal.user_id is None:
        raise PermissionDenied("Saved views belong to a staff member.")
    return principal.user_id


# Which views of a list a staff member may see: their own and shared ones. One clause,
# bound by name (`list_identity`, `user_id`), for the menu's read and for opening or
# deleting one, so the two can never disagree.
_views = SavedView.__table__.c
VISIBLE = (
    _views.list_identity == bindparam("list_identity"),
    or_(_views.owner_user_id == bindparam("user_id"), _views.is_shared.is_(True)),
)


def _visible_params(principal: Principal, list_identity: str) -> dict[str, Any]:
    return {"list_identity": list_identity, "user_id": principal.user_id}


class ListedView(NamedTuple):
    """A view in a list's menu: its own columns and its owner's email."""

    id: int
    name: str
    query: str
    is_shared: bool
    owner_user_id: int
    email: str


# The menu's read, built once: every list page sends it (through the request's Reader,
# on PostgreSQL straight to the driver, compiled once). A person's own first, then those
# colleagues shared, by name.
_LISTED = (
    select(_views.id, _views.name, _views.query, _views.is_shared, _views.owner_user_id)
    .add_columns(User.__table__.c.email)
    .join_from(SavedView.__table__, User.__table__, User.__table__.c.id == _views.owner_user_id)
    .where(*VISIBLE)
    .order_by(_views.owner_user_id != bindparam("user_id"), _views.name, _views.id)
    .limit(LISTED_LIMIT)
)


async def save_view(
    session: AsyncSession,
    principal: Principal,
    command: SaveView,
    *,
    read_permission: str | None,
) -> SavedView:
    """Save a list's query under a name (audited as saved_view.created); the owner is the
    caller. `read_permission` is what reading that list needs (None: any staff member)."""
    owner_id = _owner_id(principal)
    if read_permission is not None:
        authorize(principal, read_permission)
    view = SavedView(
        owner_user_id=owner_id,
        list_identity=command.list_identity,
        name=command.name,
        query=command.query,
        is_shared=command.shared,
    )
    session.add(view)
    await flush_or_conflict(session, UNIQUE, CONFLICTS)
    audit.record(
        session,
        principal,
        "saved_view.created",
        resource_type="saved_view",
        resource_id=view.id,
        changes=audit.diff(None, audit.snapshot(view, FIELDS)),
    )
    return view


async def get_view(
    session: AsyncSession, principal: Principal, list_identity: str, view_id: int
) -> SavedView:
    """One view of the list that `principal` may see (404 for another's private view)."""
    _owner_id(principal)
    statement = select(SavedView).where(*VISIBLE, SavedView.id == view_id)
    found = await session.execute(statement, _visible_params(principal, list_identity))
    view = found.scalar_one_or_none()
    if view is None:
        raise NotFound("No such saved view.")
    return view


async def listed_views(
    reader: Reader, principal: Principal, list_identity: str
) -> list[ListedView]:
    """The views the list's menu offers `principal`: their own first, then those
    colleagues shared, by name (at most LISTED_LIMIT)."""
    if principal.user_id is None:
        return []
    rows = await reader.rows(_LISTED, _visible_params(principal, list_identity))
    return [ListedView(*row) for row in rows]


def may_delete(principal: Principal, view: SavedView | ListedView) -> bool:
    """The owner, or for a shared view someone who may manage users."""
    if view.owner_user_id == principal.user_id:
        return True
    return view.is_shared and can(principal, SHARED_VIEW_CURATOR)


async def delete_view(
    session: AsyncSession, principal: Principal, list_identity: str, view_id: int
) -> None:
    """Delete a saved view (audited as saved_view.deleted)."""
    view = await get_view(session, principal, list_identity, view_id)
    if not may_delete(principal, view):
        raise PermissionDenied("Only its owner or a user manager may delete a shared view.")
    before = audit.snapshot(view, FIELDS)
    await session.delete(view)
    await session.flush()
    audit.record(
        session,
        principal,
        "saved_view.deleted",
        resource_type="saved_view",
        resource_id=view_id,
        changes={**audit.diff(before, None), "owner_user_id": [view.owner_user_id, None]},
    )
