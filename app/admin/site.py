"""The Backoffice admin site: sqladmin with our login, logout, CSRF and template helpers."""

from __future__ import annotations

from typing import Any

from markupsafe import Markup
from sqladmin import Admin, ModelView
from sqladmin.authentication import login_required
from starlette.datastructures import URL
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import PlainTextResponse, RedirectResponse, Response
from starlette.routing import Route

from app.admin.auth import SESSION_TOKEN_KEY, current_principal, request_meta
from app.admin.bulk import confirm_page, delete_all_matching, wants_all_matching
from app.admin.csrf import SESSION_KEY, ensure_csrf_secret, make_token
from app.admin.dashboard import dashboard_context
from app.admin.display import money, status_badge
from app.admin.fragments import Fragments
from app.admin.ids import require_id, require_ids
from app.admin.menu import SidebarMenu
from app.admin.notices import PageWithMessage, notices, redirect_with_notice
from app.admin.outage import (
    DATABASE_ERRORS,
    is_rerun,
    raise_remembered_failure,
    unavailable_page,
)
from app.admin.pages import render_error
from app.admin.views.base import AdminError, ServiceModelView
from app.admin.views.chrome import CHROME_LIMIT, ChromeMemory
from app.admin.views.lists import MAX_SEARCH_LENGTH, ListRefused, checked_text
from app.auth import login as login_service
from app.auth.principal import Principal
from app.auth.sessions import end_session, start_session
from app.edge.callers import from_staff_session
from app.infra.db import Database, transaction
from app.infra.db_errors import failure_kind
from app.infra.ratelimit import RateLimiter
from app.infra.settings import Settings
from app.permissions import can

FILE_ROUTES = frozenset({"file_download", "file_preview"})


async def _server_error(request: Request, exc: Exception) -> Response:
    if failure_kind(exc) is not None:
        # A database failure that reached the catch-all (wrapped in another error, say):
        # still the 503 page, not a 500.
        return await unavailable_page(request, exc)
    request_id = getattr(request.state, "request_id", None) or "unknown"
    return await render_error(
        request.scope,
        request.receive,
        500,
        f"Something went wrong on our side. Quote request id {request_id} when reporting it.",
    )


class BackofficeAdmin(Admin):
    """sqladmin's Admin with a CSRF-protected, throttled login and a POST-only logout."""

    def __init__(
        self,
        *args: Any,
        database: Database,
        settings: Settings,
        limiter: RateLimiter,
        **kwargs: Any,
    ) -> None:
        self.database = database
        self.settings = settings
        self.limiter = limiter
        self.sidebar: SidebarMenu | None = None
        super().__init__(*args, **kwargs)
        # Template files change only in development (`make run` reloads them there).
        auto_reload = settings.environment == "development"
        self.templates.env.auto_reload = auto_reload
        self.fragments = Fragments(self.templates_dir, auto_reload=auto_reload)
        # Kept chrome would outlive an edited template: none is kept in development.
        self.list_chrome = ChromeMemory(limit=0 if auto_reload else CHROME_LIMIT)
        # Pages rendered with a message in place of a redirect find the site here.
        self.admin.state.site = self
        env = self.templates.env
        env.globals["csrf_token"] = self.csrf_token
        env.globals["sidebar_menu"] = self.sidebar_menu
        env.globals["principal"] = current_principal
        env.globals["money"] = money
        env.globals["status_badge"] = status_badge
        env.globals["can"] = lambda request, permission: can(current_principal(request), permission)
        # Notices travel in the URL; sqladmin's flash messages would live in the cookie.
        env.globals["get_flashed_messages"] = notices
        # sqladmin's logout is a GET (any link could log you out); ours is a POST form.
        for index, route in enumerate(self.admin.router.routes):
            if isinstance(route, Route) and route.name == "logout":
                self.admin.router.routes[index] = Route(
                    "/logout", endpoint=self.logout, name="logout", methods=["GET", "POST"]
                )
        # sqladmin serves `/<identity>/<pk>/<column>/download/` (and `/preview/`) for any
        # column, treating its text as a path under the working directory: a user agent or
        # a note reading "backoffice.db" or ".env" would hand out the database or the
        # secrets. We store no files, so the routes go.
        self.admin.router.routes = [
            route
            for route in self.admin.router.routes
            if not (isinstance(route, Route) and route.name in FILE_ROUTES)
        ]
        self.add_bulk_routes()
        # A crash inside the admin gets a page in our look, not sqladmin's plain text.
        self.admin.exception_handlers[Exception] = _server_error
        # A database that cannot serve gets the 503 page (and a re-run, app/admin/outage.py).
        for error_type in DATABASE_ERRORS:
            self.admin.exception_handlers[error_type] = unavailable_page

    def sidebar_menu(self, request: Request) -> Markup:
        """The sidebar's navigation for this request (templates/sqladmin/layout.html)."""
        if self.sidebar is None or len(self.sidebar.entries) != len(self.views):
            self.sidebar = SidebarMenu(self.views)  # built once all views are added
        return self.sidebar.html(request)

    def allow_post_actions(self) -> None:
        """Custom actions accept POST (our buttons post forms); GET stays CSRF-checked."""
        for route in self.admin.router.routes:
            if isinstance(route, Route) and (route.name or "").startswith("action-"):
                route.methods = {"GET", "HEAD", "POST"}

    @login_required
    async def index(self, request: Request) -> Response:
        """The dashboard: counts, recent orders, low stock, 30 days of orders and revenue."""
        async with self.database.read_session() as session:
            context = await dashboard_context(session)
        return await self.templates.TemplateResponse(request, "sqladmin/index.html", context)

    async def ajax_lookup(self, request: Request) -> Response:
        """sqladmin's search-as-you-type for related rows, with the list search's rules."""
        try:
            checked_text("The search", request.query_params.get("term", ""), MAX_SEARCH_LENGTH)
        except ListRefused as exc:
            raise HTTPException(status_code=400, detail=str(exc)) from None
        response: Response = await super().ajax_lookup(request)
        return response

    async def details(self, request: Request) -> Response:
        require_id(request.path_params.get("pk"))
        response: Response = await super().details(request)
        return response

    async def create(self, request: Request) -> Response:
        response: Response = await super().create(request)
        raise_remembered_failure(request)
        return response

    async def edit(self, request: Request) -> Response:
        require_id(request.path_params.get("pk"))
        response: Response = await super().edit(request)
        raise_remembered_failure(request)
        return response

    def add_bulk_routes(self) -> None:
        """The bulk actions' confirmation page (app/admin/bulk.py), and POST for bulk
        delete: the page's Confirm is a form (sqladmin's modal sends DELETE)."""
        for route in self.admin.router.routes:
            if isinstance(route, Route) and route.name == "delete":
                route.methods = {"DELETE", "POST"}
        self.admin.router.routes.append(
            Route("/{identity}/confirm/{action}", endpoint=self.bulk_confirm, name="bulk_confirm")
        )

    @login_required
    async def bulk_confirm(self, request: Request) -> Response:
        """What a bulk action will do, before it does anything (a GET: changes nothing)."""
        view = self.model_view(request.path_params["identity"])
        if not isinstance(view, ServiceModelView) or not view.is_accessible(request):
            raise HTTPException(status_code=403)
        return await confirm_page(view, request, request.path_params["action"])

    @login_required
    async def delete(self, request: Request) -> Response:
        """Bulk delete in one transaction: every selected row or none (sqladmin commits each).
        Posted from the confirmation page: back to the list; with `all=1`, every row the
        list matches (app/admin/bulk.py)."""
        identity = request.path_params["identity"]
        view = self.model_view(identity)
        if await wants_all_matching(request):
            if not isinstance(view, ServiceModelView) or not view.is_accessible(request):
                raise HTTPException(status_code=403)
            return await delete_all_matching(view, request)
        pks = [str(pk) for pk in require_ids(request.query_params.get("pks", ""))]
        if not pks:
            raise HTTPException(status_code=404)
        await self.check_delete(request, view, pks)
        if not isinstance(view, ServiceModelView):
            return PageWithMessage(identity, None, "Not deletable.")
        try:
            await view.delete_many(request, pks)
        except AdminError as exc:
            # sqladmin's script shows an HTML error answer in place of the page.
            return PageWithMessage(identity, None, str(exc))
        if request.method == "POST":
            return redirect_with_notice(request, identity, None, "deleted")
        target = URL(str(request.url_for("admin:list", identity=identity)))
        return PlainTextResponse(str(target.include_query_params(notice="deleted")))

    def model_view(self, identity: str) -> ModelView:
        """The model view named `identity` in the documented `views` list; else a 404."""
        for view in self.views:
            if isinstance(view, ModelView) and view.identity == identity:
                return view
        raise HTTPException(status_code=404)

    async def check_delete(self, request: Request, view: ModelView, pks: list[str]) -> None:
        """A 403 unless the user may delete every selected row: the view allows deleting,
        and each row, as the user may see it (`get_object_for_details`: the view's
        details_query, restricted to their own rows where it is), passes check_can_delete."""
        if not view.can_delete or not view.is_accessible(request):
            raise HTTPException(status_code=403)
        for pk in pks:
            request.path_params["pk"] = pk  # what get_object_for_details reads the row by
            row = await view.get_object_for_details(request)
            if not await view.check_can_delete(request, row):
                raise HTTPException(status_code=403)

    def csrf_token(self, request: Request) -> str:
        """A fresh token for a form on this page, bound to the session."""
        return make_token(self.settings.secret_key, ensure_csrf_secret(request.session))

    async def _render_login(self, request: Request, error: str | None, status: int) -> Response:
        return await self.templates.TemplateResponse(
            request, "sqladmin/login.html", {"error": error}, status_code=status
        )

    async def login(self, request: Request) -> Response:
        if request.method == "GET":
            return await self._render_login(request, None, 200)
        form = await request.form()
        email = str(form.get("username", ""))[:320]
        password = str(form.get("password", ""))[:1024]
        meta = request_meta(request)
        # A re-run after a database failure is not another try: the first run counted.
        if not is_rerun():
            throttle = await login_service.login_allowed(
                self.limiter, self.settings.rate_limit_login, meta.ip, email
            )
            if not throttle.allowed:
                response = await self._render_login(
                    request, "Too many login attempts. Wait a minute and try again.", 429
                )
                response.headers["Retry-After"] = str(throttle.reset_after)
                return response
        async with transaction(self.database.sessionmaker) as session:
            result = await login_service.login_with_password(
                session, Principal.anonymous("admin", meta), email, password
            )
            started = (
                await start_session(session, result.user, meta, self.settings)
                if result.user is not None
                else None
            )
        if started is None:
            return await self._render_login(request, login_service.GENERIC_LOGIN_ERROR, 400)
        # A new session at every login: whatever the browser held before is worthless.
        request.session.clear()
        request.session[SESSION_TOKEN_KEY] = started.token
        request.session[SESSION_KEY] = started.csrf_secret
        return RedirectResponse(request.url_for("admin:index"), status_code=302)

    async def logout(self, request: Request) -> Response:
        if request.method == "GET":
            # A confirmation page whose button POSTs with a CSRF token.
            return await self.templates.TemplateResponse(request, "sqladmin/logout.html", {})
        token = request.session.get(SESSION_TOKEN_KEY)
        if isinstance(token, str) and token:
            async with transaction(self.database.sessionmaker) as session:
                caller = await from_staff_session(
                    session, token, self.settings, request_meta(request)
                )
                if caller is not None:
                    await end_session(session, caller.principal, caller.session)
        request.session.clear()
        return RedirectResponse(request.url_for("admin:login"), status_code=302)
