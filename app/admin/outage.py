"""The admin when the database cannot serve: a 503 page with Retry-After, and re-runs.

`failure_kind` (app/infra/db_errors.py) tells an outage or a clash (deadlock, serialization
failure, lock wait timed out) from a bug. Either is answered with the message page in
the admin's look, 503 with Retry-After, and marked for the retry middleware
(app/edge/retry.py), which throws that answer away and runs the request again while its
policy allows: the user sees the page only when the retries are spent.

The page is the handler of the admin's ExceptionMiddleware for database errors: a
handler there answers and is done, where Starlette's catch-all (`Exception`) handler
answers and then raises the error again, past the retry middleware and into the server
(a logged traceback, a closed keep-alive connection).
"""

from __future__ import annotations

import logging

from sqlalchemy.exc import SQLAlchemyError
from starlette.requests import Request
from starlette.responses import Response

from app.admin.pages import render_error
from app.edge.problems import unavailable_error
from app.edge.retry import mark_transient
from app.infra.db_errors import FailureKind, failure_kind
from app.infra.retry_policy import current_attempt

logger = logging.getLogger(__name__)

# What a database failure surfaces as: SQLAlchemy's errors (the driver's, wrapped, and the
# pool's timeout), and a refused or timed-out connection the driver raises as it is.
DATABASE_ERRORS: tuple[type[Exception], ...] = (SQLAlchemyError, ConnectionError, TimeoutError)
MESSAGES = {
    FailureKind.UNAVAILABLE: "The database is unavailable; try again in a moment.",
    FailureKind.CONFLICT: (
        "The database was too busy with changes made at the same moment; try again in a moment."
    ),
}
# Where a unit of work leaves a failure that sqladmin's create and edit would swallow.
FAILURE_STATE_KEY = "admin_database_failure"


async def unavailable_page(request: Request, error: Exception) -> Response:
    """503 with Retry-After and the admin's message page, for an error `failure_kind` names.

    Any other error is raised again, for the catch-all handler's 500 page.
    """
    kind = failure_kind(error)
    if kind is None:
        raise error
    # The retry middleware runs the request again if its policy allows; this page is the
    # answer only when it does not.
    mark_transient(request.scope, kind)
    logger.warning("admin: database %s (%s)", kind.value, type(error).__name__)
    response = await render_error(request.scope, request.receive, 503, MESSAGES[kind])
    response.headers.update(unavailable_error(kind).headers)
    response.headers["Cache-Control"] = "no-store"
    return response


def remember_failure(request: Request, error: Exception) -> None:
    """Keep a database failure where `raise_remembered_failure` finds it."""
    setattr(request.state, FAILURE_STATE_KEY, error)


def raise_remembered_failure(request: Request) -> None:
    """Raise the database failure this run's unit of work met, if it met one.

    sqladmin's create and edit catch every error of a save and show it above the form
    (400); a database failure must be the 503 page (and a re-run) instead.
    """
    error = getattr(request.state, FAILURE_STATE_KEY, None)
    if isinstance(error, Exception):
        raise error


def is_rerun() -> bool:
    """Whether this run of the request is the retry middleware's second or later.

    The first run already counted toward the login throttle: a re-run is the server's
    doing, not another guess.
    """
    attempt = current_attempt.get()
    return attempt is not None and attempt.number > 1
