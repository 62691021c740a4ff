"""Contract test fixtures: the CLI door's own database (as in tests/cli) next to the app's."""

from __future__ import annotations

from tests.cli.conftest import database_url, migrated_url

__all__ = ["database_url", "migrated_url"]
