"""Malformed requests stopped at the HTTP edge, for every route at once (see docsvc.core.inputs).

- ``<int:…>`` in a URL is a catalog key (an id or a version number): it matches only 1 to
  ``MAX_ID``, so ``/documents/99999999999`` is "no such URL" (404) for the API and the pages
  alike, before any view or query runs. Set before any blueprint is registered, so it holds for
  routes added later too.
- A multipart body with a part that has no name is refused (400); Werkzeug files such a part
  under the key ``None``, which every view would have to guard against.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask import Flask, Request
from werkzeug.exceptions import NotFound
from werkzeug.formparser import FormDataParser
from werkzeug.routing import IntegerConverter, Map, Rule

from docsvc.core.inputs import MAX_ID
from docsvc.errors import InvalidInput


class CatalogKey(IntegerConverter):
    """An unsigned decimal integer from 1 to MAX_ID (what an INTEGER column can hold); any other
    number is "no such URL" (404) whatever the method. (With min/max a number out of range only
    fails this rule, and Werkzeug answers 405 when a rule for another method matched the path.)"""

    regex = "[0-9]+"  # not \d, which matches the digits of every script

    def __init__(self, map: Map, *args: Any, **kwargs: Any) -> None:
        super().__init__(map, *args, **kwargs)
        self.min, self.max = 1, MAX_ID

    def to_python(self, value: str) -> int:
        number = int(value)
        assert self.min is not None and self.max is not None  # set in __init__
        if not self.min <= number <= self.max:
            raise NotFound()
        return number


class _FormParser(FormDataParser):
    def _parse_multipart(self, *args: Any, **kwargs: Any):
        stream, form, files = super()._parse_multipart(*args, **kwargs)
        if None in form or None in files:
            raise InvalidInput(
                "multipart 请求中有一个部分没有字段名（Content-Disposition 缺少 name）。请为每个部分写明 name。",
                "A part of the multipart body has no field name (no name in its "
                "Content-Disposition); give every part a name.",
            )
        return stream, form, files


class DocsvcRequest(Request):
    form_data_parser_class = _FormParser


class LazyRule(Rule):
    """A URL rule that compiles its URL builders when it first builds a URL. Werkzeug compiles
    two small Python functions per rule as the rule is added, which is most of the time an app
    takes to start (docsvc has some 120 rules); a process builds URLs with a few of them."""

    def _compile_builder(self, append_unknown: bool = True) -> Callable[..., tuple[str, str]]:
        compiled: Callable[..., tuple[str, str]] | None = None

        def build(rule: Rule, **values: Any) -> tuple[str, str]:
            nonlocal compiled
            if compiled is None:
                compiled = Rule._compile_builder(rule, append_unknown).__get__(rule, None)
            return compiled(**values)

        return build


def register(app: Flask) -> None:
    """Call before registering blueprints: converters are looked up when a rule is added."""
    app.url_rule_class = LazyRule
    app.url_map.converters["int"] = CatalogKey
    app.request_class = DocsvcRequest
