"""What `backoffice serve` hands uvicorn, and the database connection budget it checks."""

from __future__ import annotations

from typing import Any

from app.infra.settings import Settings

WORKER_HEALTHCHECK_SECONDS = 30


def server_options(
    settings: Settings, host: str | None, port: int | None, workers: int | None
) -> dict[str, Any]:
    """uvicorn's arguments: the app installs proxy headers and access logging itself."""
    return {
        "app": "app.main:create_app",
        "factory": True,
        "host": host or ("0.0.0.0" if settings.is_production else "127.0.0.1"),
        "port": port or settings.port,
        "workers": workers or settings.web_concurrency,
        "proxy_headers": False,
        "access_log": False,
        "server_header": False,
        "timeout_graceful_shutdown": 20,
        # uvicorn replaces a worker that has not answered its supervisor within 5 s; a
        # worker still importing on a busy dyno is not dead. A hung one still goes.
        "timeout_worker_healthcheck": WORKER_HEALTHCHECK_SECONDS,
        "log_config": None,
        "log_level": settings.log_level.lower(),
    }


def connection_budget_problem(settings: Settings, workers: int) -> str | None:
    """Why `workers` would open more connections than the database plan allows (README:
    connection budget), or None when they fit."""
    if settings.is_sqlite:
        return None
    budget = settings.connection_budget(workers)
    if budget <= settings.db_connection_limit:
        return None
    return (
        f"(DB_POOL_SIZE {settings.db_pool_size} + DB_MAX_OVERFLOW {settings.db_max_overflow})"
        f" × {workers} workers = {budget} connections, over DB_CONNECTION_LIMIT "
        f"{settings.db_connection_limit}; lower the pool or the workers"
    )
