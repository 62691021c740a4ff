"""Security tests attack both doors: the admin's logged-in browsers are shared from tests/admin."""

from tests.admin.conftest import open_browser  # noqa: F401 (a fixture)
from tests.api.live import live, live_client  # noqa: F401 (fixtures: a committed database)
