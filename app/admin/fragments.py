"""Admin page pieces rendered by a synchronous Jinja environment: the loops a page repeats.

sqladmin renders its pages with Jinja in async mode, where every expression of a template
is awaited and every piece of output climbs each level of the page's template inheritance
(our page, the layout, two bases). A list's table prints some four hundred values a page;
rendered apart, by a plain (synchronous) environment over the same template folder, and
placed in the page as one piece of Markup, it costs a fraction of that. Same templates,
same autoescaping, documented Jinja APIs only.
"""

from __future__ import annotations

from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape
from markupsafe import Markup


class Fragments:
    """Renders `templates/admin/*` fragments to Markup, synchronously."""

    def __init__(self, templates_dir: str, *, auto_reload: bool) -> None:
        self.env = Environment(
            loader=FileSystemLoader(templates_dir),
            autoescape=select_autoescape(default=True),
            # A typo in a fragment fails its test instead of printing nothing.
            undefined=StrictUndefined,
            auto_reload=auto_reload,
            extensions=["jinja2.ext.i18n"],
        )
        # The same translations as sqladmin's pages: the site configures no i18n, so
        # sqladmin installs null ones (if it ever gets an I18nConfig, install them here too).
        self.env.install_null_translations(newstyle=True)  # type: ignore[attr-defined]

    def render(self, name: str, **context: Any) -> Markup:
        # Autoescaped output is safe HTML.
        return Markup(self.env.get_template(name).render(**context))
