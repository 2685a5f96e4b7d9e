"""One filter syntax for every face: the search page's URL, the REST API, saved views and the CLI's
``--filter`` are all read by docsvc.core.search.parse_filters."""

from __future__ import annotations

import pytest
from werkzeug.datastructures import MultiDict

from docsvc.core.search import MAX_FILTER_VALUES, SearchRequest, parse_filters, request_from_params, resolve_filters
from docsvc.errors import InvalidInput


def test_key_colon_value_with_key_equals_value_as_an_alias():
    assert parse_filters(["doc_type:sla", "doc_type=contract", " project : 港口运维二期 ", ""]) == {
        "doc_type": ["sla", "contract"],
        "project": ["港口运维二期"],
    }
    # The first ":" or "=" ends the key: a value may hold either.
    assert parse_filters(["counterparty:甲方=大连港", "title=时间 10:30"]) == {
        "counterparty": ["甲方=大连港"],
        "title": ["时间 10:30"],
    }


@pytest.mark.parametrize("raw", ["doc_type", ":sla", "=sla", "doc_type:", "doc_type=  "])
def test_a_filter_without_key_or_value_is_refused_in_both_languages(raw):
    with pytest.raises(InvalidInput) as caught:
        parse_filters([raw])
    assert caught.value.field == "filter"
    assert "应为 键:值" in caught.value.zh and "is not key:value" in caught.value.en


def test_the_web_reads_filters_with_the_same_function():
    args = MultiDict([("q", "运维"), ("filter", "doc_type:sla"), ("filter", "project=港口运维二期")])
    assert request_from_params(args).filters == {"doc_type": ["sla"], "project": ["港口运维二期"]}


def test_more_filter_values_than_the_limit_in_all_are_refused_whichever_keys_they_name():
    """The API's document allows MAX_FILTER_VALUES ``filter`` parameters in all, empty ones
    included; spread over several keys, each under the limit, they are refused the same."""
    half = MAX_FILTER_VALUES // 2 + 1
    spread = [f"tags:t{i}" for i in range(half)] + [f"project:p{i}" for i in range(half)]
    with pytest.raises(InvalidInput) as caught:
        parse_filters(spread)
    assert "最多 100 个" in caught.value.zh and "at most 100 in all" in caught.value.en
    with pytest.raises(InvalidInput):
        parse_filters(["doc_type:sla"] + [""] * MAX_FILTER_VALUES)
    # What a library caller builds by hand is counted the same, across keys.
    request = SearchRequest(query="", filters={"tags": ["a"] * half, "project": ["b"] * half})
    with pytest.raises(InvalidInput):
        resolve_filters(request)
    assert len(parse_filters(spread[:MAX_FILTER_VALUES])) == 2
