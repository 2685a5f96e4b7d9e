"""Custom fields per document type (docsvc.services.fields)."""

from __future__ import annotations

from flask import jsonify, request

from docsvc.web.api import bp, guard
from docsvc.web.params import arg, arg_flag, json_object


@bp.get("/api/v1/fields")
def list_fields():
    doc_type = arg(request.args, "doc_type") or None
    retired = arg_flag(request.args, "retired") if arg(request.args, "retired") is not None else True
    return jsonify({"items": [d.to_dict() for d in guard().fields.list(doc_type, retired=retired)]})


@bp.post("/api/v1/fields")
def create_field():
    resp = jsonify(guard().fields.create(json_object()).to_dict())
    resp.status_code = 201
    return resp


@bp.get("/api/v1/fields/<key>")
def show_field(key: str):
    return jsonify(guard().fields.get(key).to_dict())


@bp.patch("/api/v1/fields/<key>")
def update_field(key: str):
    return jsonify(guard().fields.update(key, json_object()).to_dict())


@bp.post("/api/v1/fields/<key>/retire")
def retire_field(key: str):
    return jsonify(guard().fields.retire(key).to_dict())


@bp.post("/api/v1/fields/<key>/restore")
def restore_field(key: str):
    return jsonify(guard().fields.restore(key).to_dict())
