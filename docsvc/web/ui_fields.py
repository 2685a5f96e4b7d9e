"""Custom fields per document type in the UI: the page /fields (every definition by type, forms
to define, edit, retire and restore them, for administrators; a read-only list for the others),
reached from the tag and counterparty pages; and the helpers the document forms, the document
page and the list use to show the fields of a type. Each form calls one use case of
docsvc.services.fields through the Guard.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, current_app, flash, redirect, render_template, request, url_for

from docsvc.core.fields import FILTER_PREFIX, FieldDefinition, FieldKind, display_value, kept_values
from docsvc.core.model import Document
from docsvc.errors import Conflict, InvalidInput, NotFound
from docsvc.services.users import Permission
from docsvc.web.auth import guard, login_required
from docsvc.web.i18n import is_en, pick

bp = Blueprint("ui_fields", __name__, template_folder="templates")
bp.before_request(login_required(lambda: None))

FORM_KEYS = ("doc_type", "key", "label_zh", "label_en", "kind", "choices", "required", "position")


@bp.app_template_global()
def field_name(d: FieldDefinition) -> str:
    """A field's label in the page's language (its Chinese one when it has no English one)."""
    return d.label(en=is_en())


@bp.app_template_global()
def field_kind_name(kind: FieldKind | str) -> str:
    return pick(FieldKind(kind))


@bp.app_template_global()
def field_format(d: FieldDefinition) -> str:
    return d.format_en if is_en() else d.format_zh


@bp.app_template_global()
def definition_part(name: str) -> str:
    """What a ``fields.changed`` audit entry changed, named for people."""
    parts = {
        "label_zh": ("中文名称", "Chinese label"),
        "label_en": ("英文名称", "English label"),
        "choices": ("选项", "Choices"),
        "required": ("必填", "Required"),
        "position": ("顺序", "Position"),
        "retired": ("已停用", "Retired"),
    }
    zh, en = parts.get(name, (name, name))
    return en if is_en() else zh


@bp.app_template_global()
def definition_value(value: Any) -> str:
    if isinstance(value, bool):
        return ("yes" if value else "no") if is_en() else ("是" if value else "否")
    if isinstance(value, list):
        return (", " if is_en() else "、").join(str(v) for v in value) or "—"
    return "—" if value in (None, "") else str(value)


def form_values() -> dict[str, str]:
    """The custom fields of a submitted document form (inputs named field.KEY): key → value."""
    return {k[len(FILTER_PREFIX) :]: v for k, v in request.form.items() if k.startswith(FILTER_PREFIX)}


def field_types() -> list[tuple[Any, list[FieldDefinition]]]:
    """(document type, its active fields) for each type that has some: what the forms offer."""
    active = guard().fields.list(retired=False)
    return [
        (t, [d for d in active if d.doc_type == t.code])
        for t in current_app.extensions["docsvc"].vocab.doc_types
        if any(d.doc_type == t.code for d in active)
    ]


def shown_fields(doc: Document) -> list[dict[str, Any]]:
    """A document's custom field values for its page: the type's fields in their order, then
    values kept from a retired field or from an earlier type (noted so, never hidden)."""
    values = doc.metadata.field_values
    if not values:
        return []
    definitions = guard().fields.list()
    by_key = {d.key: d for d in definitions}
    keys = [d.key for d in definitions if d.key in values and d.doc_type == doc.metadata.doc_type]
    keys += sorted(k for k in values if k not in keys)
    rows = []
    for key in keys:
        d = by_key.get(key)
        rows.append(
            {
                "key": key,
                "label": field_name(d) if d else key,
                "value": display_value(d, values[key], en=is_en()),
                "retired": d is None or d.retired,
                "other_type": d is not None and d.doc_type != doc.metadata.doc_type,
            }
        )
    return rows


def kept_labels(doc: Document) -> list[str]:
    """Labels of the values a document keeps although its type has no such active field."""
    definitions = guard().fields.list()
    by_key = {d.key: d for d in definitions}
    keys = kept_values(definitions, doc.metadata.doc_type, doc.metadata.field_values)
    return [field_name(by_key[k]) if k in by_key else k for k in keys]


def _page(error: InvalidInput | Conflict | NotFound | None = None, form: dict[str, str] | None = None, status=200):
    fields = guard().fields
    can_manage = guard().p.can(Permission.MANAGE_FIELDS)
    definitions = fields.list()
    usage = fields.usage() if can_manage else {}
    vocab = current_app.extensions["docsvc"].vocab
    groups = [(t, [d for d in definitions if d.doc_type == t.code]) for t in vocab.doc_types]
    return render_template(
        "fields.html",
        groups=[g for g in groups if g[1]],
        doc_types=vocab.doc_types,
        kinds=list(FieldKind),
        usage=usage,
        can_manage=can_manage,
        error=error,
        form=form or {},
    ), status


@bp.get("/fields")
def fields_page():
    return _page()


@bp.post("/fields")
def change_fields():
    action = request.form.get("action", "")
    form = {k: request.form.get(k, "") for k in FORM_KEYS}
    form["action"] = action
    fields = guard().fields
    try:
        if action == "create":
            raw: dict[str, Any] = {k: v for k, v in form.items() if k in FORM_KEYS and v != ""}
            raw["required"] = "required" in request.form
            d = fields.create(raw)
            flash(pick(InvalidInput(f"已新建字段“{d.label_zh}”。", f"Field “{field_name(d)}” defined.")), "ok")
        elif action in ("retire", "restore"):
            d = fields.retire(form["key"]) if action == "retire" else fields.restore(form["key"])
            flash(
                pick(
                    InvalidInput(
                        f"字段“{d.label_zh}”已{'停用，文档上已有的值保留' if action == 'retire' else '恢复'}。",
                        f"Field “{field_name(d)}” {'retired; the values on documents are kept' if action == 'retire' else 'restored'}.",
                    )
                ),
                "ok",
            )
        else:
            raise InvalidInput(f"未知操作“{action[:40]}”。", f"Unknown action '{action[:40]}'.", field="action")
    except (InvalidInput, Conflict, NotFound) as exc:
        status = 409 if isinstance(exc, Conflict) else 404 if isinstance(exc, NotFound) else 400
        return _page(exc, form, status)
    return redirect(url_for("ui_fields.fields_page"))


@bp.route("/fields/<key>/edit", methods=["GET", "POST"])
def edit_field(key: str):
    fields = guard().fields
    d = fields.get(key)
    guard().require(Permission.MANAGE_FIELDS, "edit_field")
    error = None
    form = {
        "label_zh": d.label_zh,
        "label_en": d.label_en,
        "choices": "\n".join(d.choices),
        "position": str(d.position),
        "required": "1" if d.required else "",
    }
    if request.method == "POST":
        form = {k: request.form.get(k, "") for k in ("label_zh", "label_en", "choices", "position")}
        form["required"] = "1" if "required" in request.form else ""
        raw: dict[str, Any] = {k: form[k] for k in ("label_zh", "label_en", "position")}
        raw["required"] = bool(form["required"])
        if d.kind is FieldKind.CHOICE:
            raw["choices"] = form["choices"]
        try:
            d = fields.update(key, raw)
        except (InvalidInput, Conflict) as exc:
            error = exc
        else:
            flash(pick(InvalidInput(f"字段“{d.label_zh}”已修改。", f"Field “{field_name(d)}” changed.")), "ok")
            return redirect(url_for("ui_fields.fields_page"))
    return render_template("field_edit.html", d=d, form=form, error=error), (400 if error else 200)
