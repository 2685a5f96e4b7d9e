"""What a JSON client may send where docsvc expects text: any value of any JSON type in any
field of a document's metadata or of a template's form is taken or refused with a bilingual
field error, never another exception (which a face would answer with a 500). Two such crashes
were found this way: tags given as a number, a yes/no field given a list."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from docsvc.core.model import Metadata, Vocabulary
from docsvc.core.schema import TemplateSchema, list_shipped
from docsvc.errors import InvalidInput
from tests.test_schema import TEMPLATES

# Every JSON type, nested a little, with texts that mean something to docsvc's fields.
SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(10**20), max_value=10**20),
    st.floats(allow_nan=False, allow_infinity=False),
    st.sampled_from(["", " ", "合同", "contract", "4.2", "user", "site", "draft", "2026-01-01", "2026-13-45", "是"]),
    st.text(max_size=20),
)
JSON = st.recursive(
    SCALARS,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3),
    max_leaves=6,
)

META = {
    "title": "运维服务合同",
    "doc_type": "contract",
    "service_category": "4.2",
    "doc_class": "user",
    "project": "港口运维二期",
    "counterparty": "大连港集团",
    "tags": ["运维"],
    "status": "draft",
    "effective_date": "2026-01-01",
    "review_due": "2026-12-31",
    "owner": "root",
    "service_scope": "support",
    "pdca_phase": "plan",
    "fields": {},
}


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.dictionaries(st.sampled_from(sorted(META)), JSON, min_size=1, max_size=3))
def test_any_json_value_in_the_metadata_is_taken_or_refused_as_a_field_error(changes: dict[str, Any]):
    try:
        Metadata.parse({**META, **changes}, Vocabulary())
    except InvalidInput as exc:
        assert exc.zh and exc.en


SCHEMAS: dict[str, TemplateSchema] = {s.slug: s for s in list_shipped(TEMPLATES)}


def _paths(value: Any, path: tuple = ()) -> list[tuple]:
    """Every place in a form's sample data a value sits, nested groups and list rows included."""
    out = [path] if path else []
    if isinstance(value, dict):
        for k, v in value.items():
            out += _paths(v, (*path, k))
    elif isinstance(value, list):
        for i, v in enumerate(value[:1]):
            out += _paths(v, (*path, i))
    return out


@pytest.mark.parametrize("slug", sorted(SCHEMAS))
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_any_json_value_in_a_form_is_taken_or_refused_as_a_field_error(slug: str, data: st.DataObject):
    schema = SCHEMAS[slug]
    form = schema.sample()
    path = data.draw(st.sampled_from(_paths(form)))
    target = form
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = data.draw(JSON)
    try:
        schema.check(form)
    except InvalidInput as exc:
        assert exc.zh and exc.en
