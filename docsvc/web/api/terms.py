"""Managed tags and counterparties (docsvc.services.terms)."""

from __future__ import annotations

from typing import Any

from flask import jsonify, request

from docsvc.errors import InvalidInput
from docsvc.services.terms import MAX_SUGGESTIONS, TermKind
from docsvc.web.api import bp, guard
from docsvc.web.params import arg, arg_int, json_object, string_value


def _terms_routes(plural: str, kind: TermKind) -> None:
    """The same routes for tags and counterparties: names travel in JSON bodies, not in paths
    (a name may hold any character but a control character, a slash too)."""
    base = f"/api/v1/{plural}"

    def suggest():
        """Names for an autocomplete: only those the caller may see (docsvc.services.terms)."""
        prefix = arg(request.args, "prefix") or ""
        limit = arg_int(request.args, "limit", low=1, high=MAX_SUGGESTIONS, default=MAX_SUGGESTIONS)
        return jsonify({"items": guard().terms(kind).suggest(prefix, limit=limit)})

    def catalog():
        return jsonify({"items": [t.to_dict() for t in guard().terms(kind).list()]})

    def create():
        body = json_object()
        InvalidInput.check_known(body, {"name", "colour"} if kind is TermKind.TAG else {"name"})
        term = (
            guard()
            .terms(kind)
            .create(string_value(body, "name"), string_value(body, "colour") if "colour" in body else None)
        )
        resp = jsonify(term.to_dict())
        resp.status_code = 201
        return resp

    def rename():
        body = json_object()
        InvalidInput.check_known(body, {"name", "new_name"})
        return jsonify(guard().terms(kind).rename(string_value(body, "name"), string_value(body, "new_name")).to_dict())

    def merge():
        body = json_object()
        InvalidInput.check_known(body, {"name", "into"})
        return jsonify(guard().terms(kind).merge(string_value(body, "name"), string_value(body, "into")).to_dict())

    def colour():
        body = json_object()
        InvalidInput.check_known(body, {"name", "colour"})
        return jsonify(guard().terms(kind).recolour(string_value(body, "name"), string_value(body, "colour")).to_dict())

    def remove():
        body = json_object()
        InvalidInput.check_known(body, {"name"})
        return jsonify(guard().terms(kind).remove(string_value(body, "name")).to_dict())

    views: list[tuple[str, str, Any]] = [
        ("", "GET", suggest),
        ("/catalog", "GET", catalog),
        ("", "POST", create),
        ("/rename", "POST", rename),
        ("/merge", "POST", merge),
        ("/remove", "POST", remove),
    ]
    if kind is TermKind.TAG:
        views.append(("/colour", "POST", colour))
    for suffix, method, view in views:
        bp.add_url_rule(base + suffix, f"{plural}_{view.__name__}", view, methods=[method])


_terms_routes("tags", TermKind.TAG)


_terms_routes("counterparties", TermKind.COUNTERPARTY)
