"""Admin notices: what a page tells the user after they acted (SPEC §14).

No text from the URL is ever shown as a notice: a link saying `?notice=Your account is
locked, call …` would be a phishing message in the site's own alert box. A redirect after
a success carries a short code that NOTICES maps to its text; an unknown code shows
nothing. A refusal is not redirected at all: the page the user was on (the row or the
list) is rendered in the same response with the message, which never enters a URL.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from starlette.datastructures import URL
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.types import Receive, Scope, Send

NOTICE_PARAM = "notice"
STATE_KEY = "admin_notices"
logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Notice:
    """A success message; `for_row` is said on the row's own page ("{row}" is its name)."""

    text: str
    for_row: str | None = None


NOTICES: dict[str, Notice] = {
    "done": Notice("Done."),
    "deleted": Notice("The selected rows were deleted."),
    "placed": Notice("The selected orders were placed.", "{row} placed."),
    "paid": Notice("The selected orders were marked paid.", "{row} marked paid."),
    "shipped": Notice("The selected orders were shipped.", "{row} shipped."),
    "cancelled": Notice("The selected orders were cancelled.", "{row} cancelled."),
    "items-updated": Notice("Items updated."),
    "deactivated": Notice("The selected users were deactivated.", "{row} deactivated."),
    "logged-out": Notice(
        "The selected users were logged out everywhere.", "{row} was logged out everywhere."
    ),
    "revoked": Notice("Revoked.", "{row} revoked."),
    "ping-queued": Notice("Ping queued."),
    "queued-again": Notice("Queued again."),
    "password-changed": Notice("Password changed; your other sessions were ended."),
    "token-revoked": Notice("Token revoked."),
    "session-ended": Notice("Session ended."),
}
# Callers that still name a notice by its text (not its code) get its code.
_CODE_OF_TEXT = {notice.text: code for code, notice in NOTICES.items()}


def notice_code(notice: str) -> str:
    """The code of `notice` (a code, or the text of a registered notice); "done" otherwise."""
    if notice in NOTICES:
        return notice
    code = _CODE_OF_TEXT.get(notice)
    if code is None:
        logger.warning("unregistered admin notice %r shown as 'done'", notice)
        return "done"
    return code


def redirect_with_notice(
    request: Request, identity: str, pks: Sequence[str] | None, notice: str, *, error: bool = False
) -> Response:
    """After a success: back to the row's details (one row) or the list, with a notice code.

    With `error=True`, `notice` is the refusal's message: that page is rendered in this
    response with it (status 409), and nothing goes into a URL.
    """
    pk = pks[0] if pks and len(pks) == 1 else None
    if error:
        return PageWithMessage(identity, pk, notice)
    if pk is not None:
        target = request.url_for("admin:details", identity=identity, pk=pk)
    else:
        target = request.url_for("admin:list", identity=identity)
    url = URL(str(target)).include_query_params(**{NOTICE_PARAM: notice_code(notice)})
    return RedirectResponse(str(url), status_code=302)


def add_message(request: Request, message: str, *, error: bool = True) -> None:
    """Show `message` on the page this request renders."""
    found: list[dict[str, str]] = getattr(request.state, STATE_KEY, [])
    category = "danger" if error else "success"
    found.append({"message": message, "category": category, "title": ""})
    setattr(request.state, STATE_KEY, found)


def notices(request: Request, row: Any = None) -> list[dict[str, str]]:
    """The template global replacing sqladmin's session-based flash messages.

    `row` is the page's own row (details and edit pages), named in its notices.
    """
    found = list(getattr(request.state, STATE_KEY, []))
    notice = NOTICES.get(request.query_params.get(NOTICE_PARAM, ""))
    if notice is not None:
        text = notice.for_row.format(row=row) if notice.for_row and row is not None else notice.text
        found.append({"message": text, "category": "success", "title": ""})
    return found


class PageWithMessage(Response):
    """The row's details page (or the view's list) with a message, rendered when sent.

    A Response built synchronously (callers return it like a redirect) that asks the admin
    site (`app.state.site`, set by BackofficeAdmin) for the page when the server sends it.
    """

    def __init__(self, identity: str, pk: str | None, message: str, status_code: int = 409):
        super().__init__(status_code=status_code)
        self.identity = identity
        self.pk = pk
        self.message = message

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        request = Request(scope, receive)
        add_message(request, self.message)
        site = request.app.state.site
        path_params = {"identity": self.identity}
        if self.pk is not None:
            path_params["pk"] = self.pk
        target = request.url_for(
            "admin:details" if self.pk is not None else "admin:list", **path_params
        )
        # The page as its own GET would render it; the state (and so the message) is shared.
        page_scope = {
            **scope,
            "method": "GET",
            "path": URL(str(target)).path,
            "query_string": b"",
            "path_params": path_params,
        }
        page_request = Request(page_scope, receive)
        page = await (site.details if self.pk is not None else site.list)(page_request)
        page.status_code = self.status_code
        await page(page_scope, receive, send)
