"""Full-text search and similar documents."""

from __future__ import annotations

from flask import jsonify, request

from docsvc.services.similar import DEFAULT_LIMIT as SIMILAR_DEFAULT
from docsvc.services.similar import MAX_LIMIT as SIMILAR_MAX
from docsvc.web.api import bp, guard
from docsvc.web.params import arg_int, search_request
from docsvc.web.shapes import search_json, similar_json


@bp.get("/api/v1/search")
def search():
    request_ = search_request(request.args)
    return jsonify(search_json(guard().search(request_), request_.query))


@bp.get("/api/v1/documents/<int:doc_id>/similar")
def similar(doc_id: int):
    """Documents like this one, found by a search as the caller (latest versions, best first)."""
    hits = guard().similar(doc_id, arg_int(request.args, "limit", high=SIMILAR_MAX, default=SIMILAR_DEFAULT))
    return jsonify({"document_id": doc_id, "items": [similar_json(h) for h in hits]})
