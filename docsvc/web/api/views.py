"""The dashboard and saved views."""

from __future__ import annotations

from typing import Any

from flask import jsonify, request, url_for

from docsvc.errors import InvalidInput
from docsvc.services.views import MAX_RESULTS as MAX_VIEW_RESULTS
from docsvc.services.views import WIDGET_ROWS
from docsvc.web.api import bp, guard
from docsvc.web.params import arg_int, body_flag, json_object, string_value


@bp.get("/api/v1/dashboard")
def dashboard():
    """The home page's read model as JSON: everything the caller may read, nothing else."""
    gd = guard()
    return jsonify(gd.dashboard(gd.today()).to_dict())


@bp.get("/api/v1/views")
def list_views():
    return jsonify({"items": [v.to_dict() for v in guard().views.list()]})


def _view_params(body: dict[str, Any]) -> Any:
    """A view's parameters from JSON: a query string, or an array of [name, value] pairs."""
    params = body.get("params")
    if isinstance(params, str) or (
        isinstance(params, list)
        and all(isinstance(p, list) and len(p) == 2 and all(isinstance(x, str) for x in p) for p in params)
    ):
        return params
    raise InvalidInput(
        "params 必须是查询字符串（如 q=合同）或 [名称, 值] 对的数组。",
        "params must be a query string (e.g. q=contract) or an array of [name, value] pairs.",
        field="params",
    )


@bp.post("/api/v1/views")
def create_view():
    body = json_object()
    InvalidInput.check_known(body, {"name", "kind", "params", "shared", "pinned"})
    view = guard().views.create(
        string_value(body, "name"),
        string_value(body, "kind"),
        _view_params(body),
        shared=body_flag(body, "shared"),
        pinned=body_flag(body, "pinned"),
    )
    resp = jsonify(view.to_dict())
    resp.status_code = 201
    resp.headers["Location"] = url_for("api.show_view", view_id=view.id)
    return resp


@bp.get("/api/v1/views/<int:view_id>")
def show_view(view_id: int):
    return jsonify(guard().views.get(view_id).to_dict())


@bp.get("/api/v1/views/<int:view_id>/results")
def view_results(view_id: int):
    """The view evaluated with the caller's rights: the total and the first ``limit`` documents."""
    limit = arg_int(request.args, "limit", high=MAX_VIEW_RESULTS, default=WIDGET_ROWS)
    views = guard().views
    return jsonify(views.results(views.get(view_id), limit=limit).to_dict())


@bp.patch("/api/v1/views/<int:view_id>")
def update_view(view_id: int):
    body = json_object()
    InvalidInput.check_known(body, {"name", "params", "shared", "pinned"})
    view = guard().views.update(
        view_id,
        name=string_value(body, "name") if "name" in body else None,
        params=_view_params(body) if "params" in body else None,
        shared=body_flag(body, "shared") if "shared" in body else None,
        pinned=body_flag(body, "pinned") if "pinned" in body else None,
    )
    return jsonify(view.to_dict())


@bp.delete("/api/v1/views/<int:view_id>")
def delete_view(view_id: int):
    guard().views.delete(view_id)
    return "", 204
