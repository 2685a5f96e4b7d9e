"""Custom fields per document type: an administrator defines them (create, edit the labels,
choices, required flag and position, retire, restore); everyone who reads documents reads the
definitions, to fill and show the values.

A definition is never deleted, only retired: documents keep its values, readable on their pages,
in the API and in the audit log, and a list still filters by them; it is no longer offered in
forms and takes no new values. A field's key, type and kind never change (stored values and
filters rely on them): to change them, retire the field and define another.

Every change of a definition is one ``fields.changed`` audit entry (what changed, from → to).
The values on documents are docsvc.services.archive's (checked by docsvc.core.fields).
"""

from __future__ import annotations

import builtins
from collections.abc import Mapping
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from docsvc.adapters import fields as store
from docsvc.adapters.catalog import KeyTaken
from docsvc.core.fields import (
    MAX_FIELDS_PER_TYPE,
    FieldDefinition,
    clean_key,
    clean_label,
    parse_choices,
    parse_flag,
    parse_kind,
    parse_position,
)
from docsvc.core.model import AuditAction, Choice
from docsvc.errors import Conflict, InvalidInput, NotFound
from docsvc.services.users import Permission

if TYPE_CHECKING:
    from docsvc.services.access import Guard

CREATE_KEYS = frozenset({"doc_type", "key", "label_zh", "label_en", "kind", "choices", "required", "position"})
EDIT_KEYS = frozenset({"label_zh", "label_en", "choices", "required", "position"})


class Fields:
    """The custom field definitions as one principal may use them (made by :attr:`Guard.fields`)."""

    def __init__(self, guard: Guard) -> None:
        self.g = guard
        self.svc = guard.svc

    # -- reads -------------------------------------------------------------------------------
    def list(self, doc_type: str | None = None, *, retired: bool = True) -> builtins.list[FieldDefinition]:
        """The definitions (of one type when given), by type, position and key."""
        self.g.require(Permission.READ, "list_fields")
        if doc_type is not None:
            self.svc.vocab.doc_type(doc_type)
        found = self.svc.archive.field_definitions()
        return [d for d in found if (doc_type is None or d.doc_type == doc_type) and (retired or not d.retired)]

    def get(self, key: Any) -> FieldDefinition:
        self.g.require(Permission.READ, "list_fields")
        return self._existing(key)

    def usage(self) -> dict[str, int]:
        """Documents holding a value of each key (administrators: it counts every document)."""
        self._require("list")
        with self.svc.catalog.reading() as conn:
            return dict(store.usage(conn))

    # -- writes ------------------------------------------------------------------------------
    def create(self, raw: Mapping[str, Any]) -> FieldDefinition:
        self._require("create")
        InvalidInput.check_known(raw, CREATE_KEYS)
        doc_type = self.svc.vocab.doc_type(str(raw.get("doc_type") or "").strip()).code
        kind = parse_kind(raw.get("kind"))
        d = FieldDefinition(
            doc_type=doc_type,
            key=clean_key(raw.get("key")),
            label_zh=clean_label(raw.get("label_zh", ""), "label_zh", required=True),
            label_en=clean_label(raw.get("label_en", ""), "label_en", required=False),
            kind=kind,
            choices=parse_choices(raw.get("choices", ""), kind),
            required=parse_flag(raw.get("required", False), "required"),
            position=parse_position(raw.get("position", 0)),
        )
        existing = self.svc.archive.field_definitions()
        taken = next((x for x in existing if x.key == d.key), None)
        if taken is not None:
            other = self._type(taken.doc_type)
            raise Conflict(
                f"字段代码“{d.key}”已被文档类型“{other.zh}”的字段“{taken.label_zh}”使用"
                f"{'（已停用）' if taken.retired else ''}；字段代码全局唯一，请换一个。",
                f"The key '{d.key}' is taken by the field '{taken.label(en=True)}' of document type "
                f"'{other.en}'{' (retired)' if taken.retired else ''}; keys are unique, choose another.",
                field="key",
            )
        same_type = [x for x in existing if x.doc_type == doc_type and not x.retired]
        if any(x.label_zh == d.label_zh for x in same_type):
            mine = self._type(doc_type)
            raise Conflict(
                f"文档类型“{mine.zh}”已有名为“{d.label_zh}”的字段。",
                f"Document type '{mine.en}' has a field labelled '{d.label_zh}' already.",
                field="label_zh",
            )
        if len(same_type) >= MAX_FIELDS_PER_TYPE:
            raise Conflict(
                f"每个文档类型最多 {MAX_FIELDS_PER_TYPE} 个字段；请先停用不用的字段。",
                f"A document type has at most {MAX_FIELDS_PER_TYPE} fields; retire unused ones first.",
                field="key",
            )
        try:
            with self.svc.catalog.transaction() as tx:
                store.insert(tx.conn, d, actor=self.g.p.username, now=tx.now)
                self._audit(tx, "created", d, definition=d.to_dict())
        except KeyTaken:
            raise Conflict(
                f"字段代码“{d.key}”刚被同时占用，未做任何修改。",
                f"The key '{d.key}' was taken at the same moment; nothing was changed.",
                field="key",
            ) from None
        return self._existing(d.key)

    def update(self, key: Any, raw: Mapping[str, Any]) -> FieldDefinition:
        """Change the labels, choices, required flag or position (what ``raw`` names)."""
        self._require("edit")
        d = self._existing(key)
        fixed = sorted(set(raw) & {"doc_type", "key", "kind"})
        if fixed:
            raise InvalidInput(
                f"字段的文档类型、代码和类型不能修改（{', '.join(fixed)}）：已有的值依赖它们。请停用此字段并新建一个。",
                f"A field's doc_type, key and kind cannot change ({', '.join(fixed)}): stored values rely on "
                "them. Retire this field and define a new one.",
                field=fixed[0],
            )
        InvalidInput.check_known(raw, EDIT_KEYS)
        new = replace(
            d,
            label_zh=clean_label(raw["label_zh"], "label_zh", required=True) if "label_zh" in raw else d.label_zh,
            label_en=clean_label(raw["label_en"], "label_en", required=False) if "label_en" in raw else d.label_en,
            choices=parse_choices(raw["choices"], d.kind) if "choices" in raw else d.choices,
            required=parse_flag(raw["required"], "required") if "required" in raw else d.required,
            position=parse_position(raw["position"]) if "position" in raw else d.position,
        )
        return self._write(d, new, "edited")

    def retire(self, key: Any) -> FieldDefinition:
        self._require("retire")
        d = self._existing(key)
        if d.retired:
            raise Conflict(
                f"字段“{d.label_zh}”已停用。", f"The field '{d.label(en=True)}' is retired already.", field="key"
            )
        return self._write(d, replace(d, retired=True), "retired")

    def restore(self, key: Any) -> FieldDefinition:
        self._require("restore")
        d = self._existing(key)
        if not d.retired:
            raise Conflict(
                f"字段“{d.label_zh}”未停用。", f"The field '{d.label(en=True)}' is not retired.", field="key"
            )
        return self._write(d, replace(d, retired=False), "restored")

    # -- helpers -----------------------------------------------------------------------------
    def _write(self, old: FieldDefinition, new: FieldDefinition, op: str) -> FieldDefinition:
        before, after = old.to_dict(), new.to_dict()
        changes = {k: {"from": before[k], "to": after[k]} for k in after if before[k] != after[k]}
        if not changes:
            return old
        with self.svc.catalog.transaction() as tx:
            store.update(tx.conn, new, now=tx.now)
            self._audit(tx, op, new, changes=changes)
        return self._existing(new.key)

    def _type(self, code: str) -> Choice:
        """A document type's names; a type no longer configured names itself."""
        try:
            return self.svc.vocab.doc_type(code)
        except InvalidInput:
            return Choice(code, code, code)

    def _existing(self, key: Any) -> FieldDefinition:
        text = key.strip() if isinstance(key, str) else ""
        for d in self.svc.archive.field_definitions():
            if d.key == text:
                return d
        raise NotFound(
            f"没有代码为“{str(key)[:40]}”的自定义字段。请用 docsvc field list 查看。",
            f"There is no custom field with the key '{str(key)[:40]}'. See `docsvc field list`.",
            field="key",
        )

    def _require(self, operation: str) -> None:
        self.g.require(Permission.MANAGE_FIELDS, f"{operation}_field")

    def _audit(self, tx: Any, op: str, d: FieldDefinition, **details: Any) -> None:
        tx.append_audit(
            self.g.p.username,
            AuditAction.FIELDS_CHANGED,
            details={"op": op, "key": d.key, "doc_type": d.doc_type, "label": d.label_zh, **details},
        )


__all__ = ["CREATE_KEYS", "EDIT_KEYS", "Fields"]
