"""How metadata values read on a page: a facet value (type, category, class, tag) in the page's
language, and a tag as the catalog spells it, in its colour. Shared by the pages and their
templates (``tag_name`` and ``tag_colour`` are template globals)."""

from __future__ import annotations

from flask import Flask, g

from docsvc.core.model import DocClass, ServiceCategory
from docsvc.errors import DocsvcError
from docsvc.services.terms import DEFAULT_COLOUR, TermKind
from docsvc.web.auth import guard, session_principal
from docsvc.web.i18n import doc_type_label, pick


def _colours() -> dict[str, str]:
    """Tag → colour, read once per request; the search engines match tags in lower case, so the
    lower-case form of a name finds its colour too."""
    if "tag_colours" not in g:
        colours: dict[str, str] = {}
        if session_principal() is not None:
            try:
                colours = guard().terms(TermKind.TAG).colours()
            except DocsvcError:
                pass
        g.tag_names = {name.lower(): name for name in sorted(colours, reverse=True)}
        g.tag_colours = colours
    return dict(g.tag_colours)


def tag_name(value: str) -> str:
    """A tag as the catalog spells it (a search facet's key is in lower case)."""
    if value in _colours():
        return value
    return str(g.tag_names.get(value, value))


def tag_colour(name: str) -> str:
    """The palette colour of a tag (grey for one without a catalog entry)."""
    return _colours().get(tag_name(name), DEFAULT_COLOUR)


def facet_label(name: str, value: str) -> str:
    """A facet value as people read it: type and category names in the page's language."""
    try:
        if name == "doc_type":
            return doc_type_label(value)
        if name == "service_category":
            return f"{value} {pick(ServiceCategory(value))}"
        if name == "doc_class":
            return pick(DocClass(value))
        if name == "tags":
            return tag_name(value)
    except ValueError:
        pass
    return value


def register(app: Flask) -> None:
    app.jinja_env.globals.update(tag_name=tag_name, tag_colour=tag_colour)
