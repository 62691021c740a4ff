"""How a background loop logs failures: a database outage once when it starts and once when
it ends, anything unexpected with its traceback but at most once a minute.

A loop that polls every second and logged each failed poll would bury the one useful line
under a traceback a second while the database is down (issue 18). The outage is recognised
by the same classification as everywhere else (app/infra/db_errors.py).
"""

from __future__ import annotations

import logging
import time

from app.infra.db_errors import FailureKind, failure_kind
from app.infra.startup import innermost_cause

# Unexpected errors: the first with its traceback, then at most one a minute (with how many
# were left out), so a bug that fails every poll is seen without flooding the log.
TRACEBACK_EVERY_SECONDS = 60.0


class OutageLog:
    """Remembers whether the database is down and when a traceback was last written."""

    def __init__(self, logger: logging.Logger, doing: str) -> None:
        self.logger = logger
        self.doing = doing
        self.down_since: float | None = None
        self.last_traceback: float | None = None
        self.left_out = 0

    @property
    def database_down(self) -> bool:
        return self.down_since is not None

    def failed(self, error: BaseException, what: str) -> None:
        """Log `error`, raised while doing `what`, as the rules above say."""
        if failure_kind(error) is FailureKind.UNAVAILABLE:
            if self.down_since is None:
                self.down_since = time.monotonic()
                self.logger.error(
                    "database unavailable while %s (%s); %s paused until it is back",
                    what,
                    innermost_cause(error),
                    self.doing,
                )
            return
        now = time.monotonic()
        if self.last_traceback is not None and now - self.last_traceback < TRACEBACK_EVERY_SECONDS:
            self.left_out += 1
            return
        left_out = (
            f" ({self.left_out} more errors since the last one logged)" if self.left_out else ""
        )
        self.logger.error("%s failed%s", what, left_out, exc_info=error)
        self.last_traceback = now
        self.left_out = 0

    def succeeded(self) -> None:
        """The database answered: end an outage, saying for how long it lasted."""
        if self.down_since is not None:
            self.logger.info(
                "database available again after %.0f s; %s resumed",
                time.monotonic() - self.down_since,
                self.doing,
            )
            self.down_since = None
