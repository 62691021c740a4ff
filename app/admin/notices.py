"""Notices after a redirect, carried in the URL (the session cookie holds nothing else)."""

from __future__ import annotations

from collections.abc import Sequence

from starlette.datastructures import URL
from starlette.requests import Request
from starlette.responses import RedirectResponse

NOTICE_PARAM = "notice"
ERROR_PARAM = "error"


def redirect_with_notice(
    request: Request, identity: str, pks: Sequence[str] | None, message: str, *, error: bool = False
) -> RedirectResponse:
    """Back to the row's details (one row) or the list, showing `message`."""
    if pks and len(pks) == 1:
        target = URL(str(request.url_for("admin:details", identity=identity, pk=pks[0])))
    else:
        target = URL(str(request.url_for("admin:list", identity=identity)))
    target = target.include_query_params(**{ERROR_PARAM if error else NOTICE_PARAM: message[:500]})
    return RedirectResponse(str(target), status_code=302)


def notices(request: Request) -> list[dict[str, str]]:
    """The template global replacing sqladmin's session-based flash messages."""
    found = []
    if request.query_params.get(NOTICE_PARAM):
        found.append(
            {"message": request.query_params[NOTICE_PARAM], "category": "success", "title": ""}
        )
    if request.query_params.get(ERROR_PARAM):
        found.append(
            {"message": request.query_params[ERROR_PARAM], "category": "danger", "title": ""}
        )
    return found
