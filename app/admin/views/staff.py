"""Admin views for staff users, roles, API tokens and staff sessions."""

from __future__ import annotations

from typing import Any, ClassVar

from sqlalchemy import Select, select
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from wtforms import (
    BooleanField,
    EmailField,
    Form,
    HiddenField,
    PasswordField,
    SelectMultipleField,
    StringField,
    TextAreaField,
)

from app.admin import related
from app.admin.auth import current_principal
from app.admin.filters import BooleanFilter, DateRangeFilter, IsSetFilter
from app.admin.views.base import CommandForm, ServiceModelView, action, selected_pks
from app.admin.views.details import RelatedRows
from app.admin.views.list_page import Links
from app.auth import api_tokens, sessions
from app.auth.passwords import MIN_LENGTH as MIN_PASSWORD_LENGTH
from app.auth.principal import Principal
from app.commands import build
from app.models import ApiToken, Role, StaffSession, User
from app.permissions import PERMISSIONS, sees_only_own_rows
from app.roles import service as roles_service
from app.roles.commands import CreateRole, UpdateRole
from app.users import service as users_service
from app.users.commands import CreateUser, UpdateUser


class UserView(ServiceModelView, model=User):
    name = "User"
    name_plural = "Users"
    identity = "user"
    icon = "fa-solid fa-user-shield"
    category = "Staff"
    can_delete = False  # users are deactivated, never deleted: the audit log names them
    column_list: ClassVar[Any] = ["id", "email", "full_name", "is_active", "roles", "last_login_at"]
    column_details_list: ClassVar[Any] = [
        "id",
        "email",
        "full_name",
        "is_active",
        "roles",
        "last_login_at",
        "locked_until",
        "created_at",
        "version",
    ]
    # The search box searches what the API's `q` searches (one list of fields).
    list_spec = users_service.LIST_SPEC
    column_searchable_list: ClassVar[Any] = list(users_service.LIST_SPEC.search_fields)
    column_sortable_list: ClassVar[Any] = ["id", "email", "full_name", "last_login_at"]
    column_filters: ClassVar[Any] = [
        BooleanFilter(User.is_active, title="Active"),
        DateRangeFilter(User.last_login_at, title="Last login"),
    ]
    form_create_rules: ClassVar[list[str]] = ["email", "full_name", "password", "roles"]
    form_edit_rules: ClassVar[list[str]] = ["email", "full_name", "roles", "is_active", "version"]

    async def related_rows(
        self, session: AsyncSession, request: Request, obj: Any, links: Links
    ) -> list[RelatedRows]:
        return await related.user_tokens_and_sessions(session, request, obj, links, self.display)

    async def scaffold_form(self, rules: list[str] | None = None) -> type[Form]:
        async with self.database.read_session() as session:
            names = list((await session.execute(select(Role.name).order_by(Role.name))).scalars())

        # Only carries what was typed: CreateUser / UpdateUser and the user service check
        # every field (the password's strength included), as for the API.
        class UserForm(CommandForm):
            email = EmailField("Email")
            full_name = StringField("Full name")
            password = PasswordField(
                "Password",
                description=f"At least {MIN_PASSWORD_LENGTH} characters; not a common password.",
            )
            roles = SelectMultipleField("Roles", choices=[(n, n) for n in names])
            is_active = BooleanField("Active")
            version = HiddenField()

        if rules:
            for name in list(UserForm.__dict__):
                field = getattr(UserForm, name)
                if hasattr(field, "field_class") and name not in rules:
                    delattr(UserForm, name)
        return UserForm

    async def get_form_data_for_edit(self, obj: Any) -> dict[str, Any]:
        return {
            "email": obj.email,
            "full_name": obj.full_name,
            "is_active": obj.is_active,
            "roles": [role.name for role in obj.roles],
            "version": obj.version,
        }

    async def create(
        self, session: AsyncSession, principal: Principal, data: dict[str, Any]
    ) -> Any:
        # No role ticked is no roles.
        command = build(CreateUser, {**_given(data), "roles": data.get("roles") or []})
        return await users_service.create_user(session, principal, command)

    async def load(self, session: AsyncSession, pk: int) -> Any:
        from app.auth.repository import get_user_with_roles

        return await get_user_with_roles(session, pk)

    async def update_model(self, request: Request, pk: str, data: dict[str, Any]) -> Any:
        # Every field of the edit form is sent (an unticked box is False, no role ticked an
        # empty list), so the edit gives them all; the version is the one the form was
        # opened at.
        values = {
            **_given(self.clean(data)),
            "is_active": bool(data.get("is_active")),
            "roles": data.get("roles") or [],
        }

        async def save(session: AsyncSession, principal: Principal, expected: int) -> Any:
            command = build(UpdateUser, values)
            return await users_service.update_user(
                session, principal, int(pk), command, expected_version=expected
            )

        return await self.save_edit(request, save)

    @action(
        name="deactivate",
        label="Deactivate",
        confirmation_message="Deactivate the selected users? Their sessions and tokens stop.",
    )
    async def deactivate(self, request: Request) -> Response:
        return await self._for_each(request, "deactivated", self._deactivate)

    @action(
        name="end-sessions",
        label="End all sessions",
        confirmation_message="Log the selected users out everywhere?",
    )
    async def end_sessions(self, request: Request) -> Response:
        return await self._for_each(request, "logged-out", self._end_sessions)

    async def _deactivate(self, session: AsyncSession, principal: Principal, user: User) -> None:
        await users_service.deactivate_user(session, principal, user)

    async def _end_sessions(self, session: AsyncSession, principal: Principal, user: User) -> None:
        await users_service.log_out_everywhere(session, principal, user)

    async def _for_each(self, request: Request, notice: str, fn: Any) -> Response:
        async def per_row(session: AsyncSession, principal: Principal, pk: int) -> None:
            await fn(session, principal, await self.load_or_fail(session, pk))

        return await self.bulk_action(request, per_row, lambda _: notice)


class RoleView(ServiceModelView, model=Role):
    name = "Role"
    name_plural = "Roles"
    identity = "role"
    icon = "fa-solid fa-key"
    category = "Staff"
    column_list: ClassVar[Any] = ["id", "name", "description", "is_builtin"]
    column_details_list: ClassVar[Any] = [
        "id",
        "name",
        "description",
        "permissions",
        "is_builtin",
        "updated_at",
        "version",
    ]
    column_sortable_list: ClassVar[Any] = ["id", "name"]
    column_filters: ClassVar[Any] = [BooleanFilter(Role.is_builtin, title="Built-in")]

    async def scaffold_form(self, rules: list[str] | None = None) -> type[Form]:
        # Only carries what was typed: CreateRole / UpdateRole check every field.
        class RoleForm(CommandForm):
            name = StringField("Name")
            description = TextAreaField("Description")
            permissions = SelectMultipleField(
                "Permissions",
                choices=[(p, f"{p} — {text}") for p, text in PERMISSIONS.items()],
                render_kw={"size": 12},
            )
            version = HiddenField()

        return RoleForm

    async def get_form_data_for_edit(self, obj: Any) -> dict[str, Any]:
        return {
            "name": obj.name,
            "description": obj.description,
            "permissions": sorted(obj.permissions or []),
            "version": obj.version,
        }

    async def create(
        self, session: AsyncSession, principal: Principal, data: dict[str, Any]
    ) -> Any:
        command = build(CreateRole, _given(data))
        return await roles_service.create_role(session, principal, command)

    async def update_model(self, request: Request, pk: str, data: dict[str, Any]) -> Any:
        # Every field of the form is sent (no permission ticked is an empty list), so the
        # edit gives them all; the version is the one the form was opened at.
        values = {**_given(self.clean(data)), "permissions": data.get("permissions") or []}

        async def save(session: AsyncSession, principal: Principal, expected: int) -> Any:
            command = build(UpdateRole, values)
            return await roles_service.update_role(
                session, principal, int(pk), command, expected_version=expected
            )

        return await self.save_edit(request, save)

    async def remove(self, session: AsyncSession, principal: Principal, obj: Any) -> None:
        # A delete button names no version: it acts on the role as it is.
        await roles_service.delete_role(session, principal, obj.id, expected_version=None)


def _given(data: dict[str, Any]) -> dict[str, Any]:
    """A form's fields as typed, for a command; a field the post left out is not given."""
    return {name: value for name, value in data.items() if value is not None}


class _OwnedRowsView(ServiceModelView):
    """Rows that belong to a user: others' rows are visible as permissions.OWNED_ROWS says."""

    can_create = False
    can_edit = False

    def _restrict(self, request: Request, statement: Select[Any]) -> Select[Any]:
        principal = current_principal(request)
        if principal is None:
            return statement.where(self.model.id == -1)  # type: ignore[attr-defined]
        if not sees_only_own_rows(principal, self._table()):
            return statement
        return statement.where(self.model.user_id == principal.user_id)  # type: ignore[attr-defined]

    def rows_are_restricted(self, request: Request) -> bool:
        return sees_only_own_rows(current_principal(request), self._table())

    def _table(self) -> str:
        return str(self.model.__tablename__)  # type: ignore[attr-defined]

    def list_query(self, request: Request) -> Select[Any]:
        return self._restrict(request, super().list_query(request))

    def details_query(self, request: Request) -> Select[Any]:
        return self._restrict(request, super().details_query(request))

    def count_query(self, request: Request) -> Select[Any]:
        return self._restrict(request, super().count_query(request))

    @action(name="revoke", label="Revoke", confirmation_message="Revoke the selected rows?")
    async def revoke(self, request: Request) -> Response:
        pks = selected_pks(request)
        async with self.database.read_session() as session:
            rows = [await self.load(session, int(pk)) for pk in pks]
        if any(r is None or not self.has_permission(request, "action:revoke", r) for r in rows):
            # Like a direct delete of a hidden row: refused, and nothing is revoked.
            raise HTTPException(status_code=403)

        async def per_row(session: AsyncSession, principal: Principal, pk: int) -> None:
            await self.remove(session, principal, await self.load_or_fail(session, pk))

        return await self.bulk_action(request, per_row, lambda _: "revoked")


class ApiTokenView(_OwnedRowsView, model=ApiToken):
    name = "API token"
    name_plural = "API tokens"
    identity = "api-token"
    icon = "fa-solid fa-ticket"
    category = "Staff"
    column_list: ClassVar[Any] = [
        "id",
        "user",
        "name",
        "token_prefix",
        "scopes",
        "expires_at",
        "last_used_at",
        "revoked_at",
    ]
    column_details_exclude_list: ClassVar[Any] = ["token_hash"]
    column_sortable_list: ClassVar[Any] = ["id", "name", "last_used_at"]
    column_filters: ClassVar[Any] = [
        IsSetFilter(ApiToken.revoked_at, title="Revoked"),
        DateRangeFilter(ApiToken.expires_at, title="Expires"),
        DateRangeFilter(ApiToken.last_used_at, title="Last used"),
    ]
    column_default_sort: ClassVar[Any] = ("id", True)

    async def remove(self, session: AsyncSession, principal: Principal, obj: Any) -> None:
        # "Delete" revokes: the row stays so the audit log and last use remain visible.
        await api_tokens.revoke_token(session, principal, obj.id)


class StaffSessionView(_OwnedRowsView, model=StaffSession):
    name = "Staff session"
    name_plural = "Staff sessions"
    identity = "staff-session"
    icon = "fa-solid fa-desktop"
    category = "Staff"
    column_list: ClassVar[Any] = [
        "id",
        "user",
        "created_at",
        "last_seen_at",
        "expires_at",
        "ip",
        "user_agent",
        "revoked_at",
    ]
    column_details_exclude_list: ClassVar[Any] = ["token_hash"]
    column_sortable_list: ClassVar[Any] = ["id", "last_seen_at"]
    column_filters: ClassVar[Any] = [
        IsSetFilter(StaffSession.revoked_at, title="Ended"),
        DateRangeFilter(StaffSession.last_seen_at, title="Last seen"),
    ]
    column_default_sort: ClassVar[Any] = ("id", True)

    async def remove(self, session: AsyncSession, principal: Principal, obj: Any) -> None:
        await sessions.revoke_session(session, principal, obj.id)
