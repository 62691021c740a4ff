"""Stand-alone admin pages rendered outside sqladmin: error pages in the admin's look."""

from __future__ import annotations

from functools import cache

from starlette.requests import Request
from starlette.responses import HTMLResponse
from starlette.templating import Jinja2Templates
from starlette.types import Receive, Scope

from app.resources import resource_dir


@cache
def templates() -> Jinja2Templates:
    """The app's templates (built on first use: a missing folder is MissingResource then)."""
    return Jinja2Templates(directory=str(resource_dir("templates")))


TITLES = {
    400: "Bad request",
    403: "Forbidden",
    404: "Not found",
    413: "Too large",
    429: "Too many requests",
    500: "Something went wrong",
    503: "Unavailable",
}


async def render_error(scope: Scope, receive: Receive, status: int, message: str) -> HTMLResponse:
    """An HTML error page with the admin's look (no sqladmin context needed)."""
    request = Request(scope, receive)
    return templates().TemplateResponse(
        request,
        "admin/error.html",
        {"status_code": status, "title": TITLES.get(status, "Error"), "message": message},
        status_code=status,
    )
