"""Start-up failures as one line on stderr and an exit status, never a traceback."""

from __future__ import annotations

import logging
import multiprocessing
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import NoReturn

from sqlalchemy.engine import make_url
from uvicorn.config import STARTUP_FAILURE

from app.infra.settings import ConfigError

# A bad setting: the operator's input, like a usage error.
CONFIG_ERROR = 2
# uvicorn's status for a worker that could not start: its supervisor then stops instead of
# starting the worker again (which would fail the same way, forever, a line each time).
WORKER_STARTUP_FAILURE = STARTUP_FAILURE
MAX_LINE = 500

logger = logging.getLogger(__name__)


def one_line(message: str) -> str:
    """`message` as one bounded line, with DATABASE_URL's password masked should it appear."""
    line = " ".join(message.split())[:MAX_LINE]
    try:  # belt and braces: messages are built without the URL's password, but drivers vary
        password = make_url(os.environ.get("DATABASE_URL", "").strip()).password
    except Exception:
        password = None
    if password:
        line = line.replace(str(password), "***")
    return line


def innermost_cause(exc: BaseException) -> str:
    """`Type: message` of the innermost cause (the driver's error, not SQLAlchemy's wrapper)."""
    for _ in range(10):  # a bounded walk: exception chains can, in theory, loop
        inner = getattr(exc, "orig", None) or exc.__cause__
        if inner is None or inner is exc:
            break
        exc = inner
    message = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return f"{type(exc).__name__}: {message}" if message else type(exc).__name__


def exit_with(message: str, code: int) -> NoReturn:
    """Print `error: message` on stderr and end the process with `code`."""
    sys.stderr.write(f"error: {one_line(message)}\n")
    sys.stderr.flush()
    raise SystemExit(code)


@contextmanager
def exit_on_startup_error() -> Iterator[None]:
    """Around an application factory run by a server: a failure ends the process in one line.

    uvicorn would print the whole traceback of a factory that raises (and, with several
    workers, start the failing worker again and again). The traceback is still logged at
    DEBUG for whoever sets LOG_LEVEL=DEBUG to look into it.
    """
    in_worker = multiprocessing.parent_process() is not None
    try:
        yield
    except ConfigError as exc:
        exit_with(str(exc), WORKER_STARTUP_FAILURE if in_worker else CONFIG_ERROR)
    except Exception as exc:
        logger.debug("the application could not start", exc_info=True)
        exit_with(
            f"the application could not start ({innermost_cause(exc)})",
            WORKER_STARTUP_FAILURE if in_worker else 1,
        )
