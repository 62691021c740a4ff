"""The migration scripts, templates and static files, found through the installed package.

In the repository `alembic/`, `templates/` and `static/` stay at the top level, and this
package holds symbolic links to them; a built wheel holds real copies (pyproject.toml's
package data), so the code finds them the same way in a checkout, an editable install and
a plain `pip install .` started from any directory (SPEC §13).
"""

from __future__ import annotations

from functools import cache
from importlib.resources import files
from pathlib import Path

# Each folder, and one file in it that shows the folder arrived whole.
RESOURCES = {
    "alembic": "env.py",
    "templates": "sqladmin/base.html",
    "static": "css/backoffice.css",
}


class MissingResource(RuntimeError):
    """The installed package lacks one of its folders (a broken build or install)."""


@cache
def resource_dir(name: str) -> Path:
    """The real directory of the packaged folder `name` (one of RESOURCES)."""
    folder = files(__name__).joinpath(name)
    marker = folder.joinpath(RESOURCES[name])
    # Jinja2, StaticFiles and Alembic need a directory on disk; pip always installs one
    # (a zipped install would fail here, with this message, rather than at the first page).
    if not isinstance(folder, Path) or not marker.is_file():
        raise MissingResource(
            f"the installed backoffice package has no {name}/ folder (looked for {marker}); "
            "reinstall it from a complete build"
        )
    return folder.resolve()


def check_resources() -> None:
    """Raise MissingResource naming the first packaged folder that is missing."""
    for name in RESOURCES:
        resource_dir(name)
