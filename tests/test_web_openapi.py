"""The OpenAPI document is valid 3.1 and matches the registered /api/v1 routes exactly."""

from __future__ import annotations

import re

from openapi_spec_validator import validate

from docsvc.web.openapi import spec
from tests.webutil import app, world  # noqa: F401

IGNORED = {"HEAD", "OPTIONS"}


def test_spec_is_valid_openapi_31():
    validate(spec())


def test_every_route_is_documented_and_vice_versa(app):
    routes = set()
    for rule in app.url_map.iter_rules():
        if rule.rule.startswith("/api/v1"):
            path = re.sub(r"<(?:[a-z]+:)?([a-z_]+)>", r"{\1}", rule.rule)
            routes |= {(path, m.lower()) for m in rule.methods - IGNORED}
    documented = {
        (path, method)
        for path, item in spec()["paths"].items()
        for method in item
        if method in ("get", "post", "put", "patch", "delete")
    }
    assert routes - documented == set(), "routes missing from openapi.json"
    assert documented - routes == set(), "documented operations that do not exist"


def test_served_document_is_the_spec(app):
    assert app.test_client().get("/api/v1/openapi.json").json == spec()


def test_the_search_accepts_exactly_the_values_its_document_allows(world):
    """A form's empty field means "left out": the document says so where the server reads it so
    (schemathesis found all_versions= accepted while the document's enum refused it)."""
    params = {p["name"]: p["schema"] for p in spec()["paths"]["/api/v1/search"]["get"]["parameters"]}
    api = world.api("root")
    for name in ("all_versions", "sort"):
        for value in ("", "1", "0", "true", "off", "relevance", "date", "maybe"):
            status = api.get("/api/v1/search", query_string={name: value}).status_code
            assert status == (200 if value in params[name]["enum"] else 400), (name, value, status)
