"""'My account' (/admin/account): change password, end own sessions, own API tokens.

The page is a sqladmin BaseView (so it is in the menu and behind the login); its forms
POST to /admin/account/<op>, one handler that builds the same commands as the API's bodies
and calls the same services.
"""

from __future__ import annotations

from typing import Any

from sqladmin import BaseView, expose
from starlette.datastructures import URL
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from app.admin.ids import parse_id
from app.admin.notices import add_message
from app.admin.outage import is_rerun
from app.admin.views.base import AdminError, require_principal
from app.auth import api_tokens, repository, sessions
from app.auth.login import LoginThrottle
from app.auth.token_commands import CreateToken
from app.auth.tokens import PERSONAL_TOKEN_PREFIX
from app.commands import build
from app.errors import AppError
from app.infra.db import Database, transaction
from app.models.base import utcnow
from app.permissions import PERMISSIONS
from app.users import service as users_service
from app.users.commands import ChangePassword


def _back(request: Request, notice: str) -> RedirectResponse:
    """Back to the page after a success, with the notice's code (app/admin/notices.py)."""
    url = URL(str(request.url_for("admin:view-account"))).include_query_params(notice=notice)
    return RedirectResponse(str(url), status_code=302)


class AccountView(BaseView):
    name = "My account"
    identity = "account"
    icon = "fa-solid fa-user"
    database: Database
    # RATE_LIMIT_LOGIN for the current-password check (SPEC §14); set by mount_admin.
    login_throttle: LoginThrottle | None = None

    @expose("/account", methods=["GET", "POST"], identity="account")
    async def account(self, request: Request) -> Response:
        if request.method == "POST":
            return await self._post(request)
        return await self._render(request, None)

    async def _render(
        self, request: Request, new_token: str | None, status_code: int = 200
    ) -> Response:
        principal = require_principal(request)
        async with self.database.read_session() as session:
            user = await repository.get_user_with_roles(session, principal.user_id or 0)
            tokens = await repository.list_api_tokens(session, principal.user_id or 0)
            live = await repository.list_active_staff_sessions(
                session, principal.user_id or 0, utcnow()
            )
        context: dict[str, Any] = {
            "user": user,
            "tokens": tokens,
            "sessions": live,
            "current_session_id": getattr(request.state, "staff_session_id", None),
            "permissions": sorted(principal.permissions),
            "all_permissions": list(PERMISSIONS),
            "new_token": new_token,
            "token_prefix": PERSONAL_TOKEN_PREFIX,
        }
        response = await self.templates.TemplateResponse(
            request, "admin/account.html", context, status_code=status_code
        )
        response.headers["Cache-Control"] = "no-store"
        return response

    async def _post(self, request: Request) -> Response:
        principal = require_principal(request)
        form = await request.form()
        op = str(form.get("op", ""))
        new_token: str | None = None
        try:
            async with transaction(self.database.sessionmaker) as session:
                user = await repository.get_user_with_roles(session, principal.user_id or 0)
                if user is None:
                    raise AdminError("Your account no longer exists.")
                if op == "password":
                    if form.get("new_password") != form.get("confirm_password"):
                        raise AdminError("The two new passwords differ.")
                    command = build(
                        ChangePassword,
                        {
                            "current_password": form.get("current_password", ""),
                            "new_password": form.get("new_password", ""),
                        },
                    )
                    await users_service.change_password(
                        session,
                        principal,
                        user,
                        command,
                        # A re-run after a database failure is not another guess.
                        throttle=None if is_rerun() else self.login_throttle,
                        keep_session_id=getattr(request.state, "staff_session_id", None),
                    )
                    notice = "password-changed"
                elif op == "create-token":
                    token = build(
                        CreateToken,
                        {
                            "name": form.get("name", ""),
                            "scopes": form.getlist("scopes"),
                            # The box left empty: a token that does not expire.
                            "expires_days": str(form.get("expires_days", "")).strip() or None,
                        },
                    )
                    _, plaintext = await api_tokens.create_token(session, principal, user, token)
                    new_token = plaintext
                    notice = "done"
                elif op == "revoke-token":
                    await api_tokens.revoke_token(session, principal, _int(form.get("token_id")))
                    notice = "token-revoked"
                elif op == "end-session":
                    await sessions.revoke_session(session, principal, _int(form.get("session_id")))
                    notice = "session-ended"
                else:
                    raise AdminError("Unknown request.")
        except (AppError, AdminError) as exc:
            # Shown on the page in this response: a message never travels in the URL.
            add_message(request, exc.detail if isinstance(exc, AppError) else str(exc))
            return await self._render(request, None, status_code=400)
        if new_token is not None:
            # Rendered straight into this response (never a redirect, cookie or URL):
            # the only time the token exists outside its owner's hands.
            return await self._render(request, new_token)
        return _back(request, notice)


def _int(value: object) -> int:
    number = parse_id(value)
    if number is None:
        raise AdminError("Invalid request.")
    return number


class ProductImportView(BaseView):
    name = "Import products"
    identity = "product-import"
    icon = "fa-solid fa-file-import"
    database: Database

    @expose("/product-import", methods=["GET", "POST"], identity="product-import")
    async def product_import(self, request: Request) -> Response:
        context: dict[str, Any] = {"report": None, "applied": False}
        if request.method == "POST":
            from app.products import importer

            principal = require_principal(request)
            # The context manager closes the upload's temporary file (Starlette does not).
            async with request.form(max_files=1) as form:
                upload = form.get("file")
                dry_run = form.get("mode") != "apply"
                data = None if upload is None or isinstance(upload, str) else await upload.read()
            if data is None:
                context["error"] = "Choose a CSV file."
            else:
                try:
                    async with transaction(self.database.sessionmaker) as session:
                        report = await importer.import_products(
                            session, principal, data, dry_run=dry_run
                        )
                        context["report"] = report
                except AppError as exc:
                    context["error"] = exc.detail
        response = await self.templates.TemplateResponse(
            request,
            "admin/product_import.html",
            context,
            status_code=400
            if context.get("error") or (context["report"] is not None and context["report"].errors)
            else 200,
        )
        return response
