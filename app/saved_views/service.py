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

from typing import Any

from sqlalchemy import ColumnElement, Row, Select, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from app import audit
from app.auth.principal import Principal
from app.commands import authorize
from app.errors import NotFound, PermissionDenied
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


def _visible_to(principal: Principal, list_identity: str) -> tuple[ColumnElement[bool], ...]:
    """Which views of `list_identity` `principal` may see: their own and shared ones."""
    return (
        SavedView.list_identity == list_identity,
        or_(SavedView.owner_user_id == principal.user_id, SavedView.is_shared.is_(True)),
    )


def _visible(principal: Principal, list_identity: str) -> Select[SavedView]:
    return select(SavedView).where(*_visible_to(principal, list_identity))


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
    statement = _visible(principal, list_identity).where(SavedView.id == view_id)
    view = (await session.execute(statement)).scalar_one_or_none()
    if view is None:
        raise NotFound("No such saved view.")
    return view


async def listed_views(
    session: AsyncSession, principal: Principal, list_identity: str
) -> list[Row[Any]]:
    """The views the list's menu offers `principal` (id, name, query, is_shared,
    owner_user_id and the owner's email): their own first, then those colleagues shared,
    by name. Table columns, not entities: every list page asks, and a Core statement
    skips the ORM's work."""
    if principal.user_id is None:
        return []
    views, users = SavedView.__table__.c, User.__table__.c
    statement = (
        select(views.id, views.name, views.query, views.is_shared, views.owner_user_id)
        .add_columns(users.email)
        .join_from(SavedView.__table__, User.__table__, users.id == views.owner_user_id)
        .where(*_visible_to(principal, list_identity))
        .order_by(views.owner_user_id != principal.user_id, views.name, views.id)
        .limit(LISTED_LIMIT)
    )
    return list((await session.execute(statement)).all())


def may_delete(principal: Principal, view: SavedView | Row[Any]) -> bool:
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
