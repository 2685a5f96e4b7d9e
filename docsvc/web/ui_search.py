"""The search page: one box (Chinese or English, the query language of README "Search and
classification"), facet filters, paging, sort and the all-versions switch.

The page reads the same parameters as ``GET /api/v1/search`` (``q``, ``filter=key:value`` …),
so a result page's URL can be shared and each facet link is just that URL with one more filter.
Access rules are applied by ``Guard.search`` inside the index: on-site documents of other
projects never reach this view.
"""

from __future__ import annotations

from dataclasses import dataclass
from math import ceil

from flask import Blueprint, render_template, request, url_for
from werkzeug.datastructures import MultiDict

from docsvc.core.search import FACETS, MAX_PAGE, MAX_RESULT_WINDOW, SearchRequest, SearchResult
from docsvc.errors import InvalidInput, Unavailable
from docsvc.web.auth import guard, login_required
from docsvc.web.labels import facet_label
from docsvc.web.params import search_request
from docsvc.web.shapes import snippet_html

bp = Blueprint("ui_search", __name__, template_folder="templates")
bp.before_request(login_required(lambda: None))

PER_PAGE = 10
FACET_VALUES = 8  # values shown per facet, most frequent first


@dataclass(frozen=True)
class FacetValue:
    value: str
    label: str
    count: int
    active: bool
    url: str  # this search with the value added (or, when active, removed)


@dataclass(frozen=True)
class Facet:
    name: str
    values: list[FacetValue]


@dataclass(frozen=True)
class ActiveFilter:
    name: str
    label: str
    remove_url: str


@bp.get("/search")
def search():
    asked = "q" in request.args or bool(request.args.getlist("filter"))
    req, result, error, status = SearchRequest(), None, None, 200
    try:
        # The search form sends its empty boxes too: empty means "not given" here.
        req = search_request(MultiDict([(k, v) for k, v in request.args.items(multi=True) if v]), per_page=PER_PAGE)
        if asked:
            result = guard().search(req)
    except InvalidInput as exc:
        error, status = exc, 400
    except Unavailable as exc:
        error, status = exc, 503
    filters = _filter_pairs(req)
    return render_template(
        "search.html",
        req=req,
        result=result,
        error=error,
        asked=asked,
        filters=filters,
        label_of=facet_label,
        snippet_html=snippet_html,
        thumbs=guard().thumbnail_states(result.hits) if result else {},
        q_invalid=isinstance(error, InvalidInput),
        active=[ActiveFilter(k, facet_label(k, v), _url(req, [p for p in filters if p != (k, v)])) for k, v in filters],
        facets=_facets(req, result, filters) if result else [],
        pages=_pages(req, result),
    ), status


def _filter_pairs(req: SearchRequest) -> list[tuple[str, str]]:
    return [(k, v) for k, values in req.filters.items() for v in values]


def _url(req: SearchRequest, filters: list[tuple[str, str]], page: int = 1) -> str:
    args = {"q": req.query, "filter": [f"{k}:{v}" for k, v in filters]}
    if req.sort != "relevance":
        args["sort"] = req.sort
    if req.all_versions:
        args["all_versions"] = "1"
    if page > 1:
        args["page"] = page
    return url_for("ui_search.search", **args)


def _facets(req: SearchRequest, result: SearchResult, filters: list[tuple[str, str]]) -> list[Facet]:
    out = []
    for name in FACETS:
        values = []
        for value, count in list(result.facets.get(name, {}).items())[:FACET_VALUES]:
            pair = (name, value)
            active = pair in filters
            values.append(
                FacetValue(
                    value,
                    facet_label(name, value),
                    count,
                    active,
                    _url(req, [p for p in filters if p != pair] if active else filters + [pair]),
                )
            )
        if values:
            out.append(Facet(name, values))
    return out


def _pages(req: SearchRequest, result: SearchResult | None) -> dict | None:
    if result is None or result.total <= req.per_page:
        return None
    last = max(1, min(ceil(result.total / req.per_page), MAX_RESULT_WINDOW // req.per_page, MAX_PAGE))
    filters = _filter_pairs(req)
    return {
        "current": req.page,
        "last": last,
        "prev": _url(req, filters, req.page - 1) if req.page > 1 else None,
        "next": _url(req, filters, req.page + 1) if req.page < last else None,
    }
