"""People: list, create, change."""

from __future__ import annotations

from flask import jsonify

from docsvc.errors import InvalidInput
from docsvc.web.api import bp, guard
from docsvc.web.params import json_object, string_value


@bp.get("/api/v1/users")
def list_users():
    return jsonify({"items": [u.to_dict() for u in guard().users()]})


@bp.post("/api/v1/users")
def create_user():
    body = json_object()
    projects = body.get("projects", [])
    if not isinstance(projects, list) or not all(isinstance(p, str) for p in projects):
        raise InvalidInput("projects 必须是字符串数组。", "projects must be an array of strings.", field="projects")
    password = body.get("password")
    if password is not None and not isinstance(password, str):
        raise InvalidInput("password 必须是字符串。", "password must be a string.", field="password")
    user, generated = guard().create_user(
        string_value(body, "username"),
        string_value(body, "role"),
        password=password,
        display_name=string_value(body, "display_name"),
        projects=projects,
    )
    resp = jsonify({"user": user.to_dict(), **({"password": generated} if generated else {})})
    resp.status_code = 201
    return resp


@bp.patch("/api/v1/users/<username>")
def update_user(username: str):
    body = json_object()
    InvalidInput.check_known(body, {"role", "active", "display_name", "projects"})
    if "active" in body and not isinstance(body["active"], bool):
        raise InvalidInput("active 必须是 true 或 false。", "active must be true or false.", field="active")
    if "projects" in body and (
        not isinstance(body["projects"], list) or not all(isinstance(p, str) for p in body["projects"])
    ):
        raise InvalidInput("projects 必须是字符串数组。", "projects must be an array of strings.", field="projects")
    for name in ("role", "display_name"):
        if name in body:
            string_value(body, name)
    user = guard().update_user(username, **body)
    return jsonify(user.to_dict())
