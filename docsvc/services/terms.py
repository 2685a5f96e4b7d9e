"""Managed tags and counterparties: a catalog of the names (a tag with its colour) that managers
and administrators create, rename, merge, recolour and remove, and that every form offers as it
is typed in.

Documents keep storing the names. So a rename or a merge changes every document carrying the
old name, each through the single edit (:meth:`Guard.set_metadata`: its checks, one audited
``metadata.changed`` entry per document with the reason "标签改名 / tag renamed：旧 → 新"), never
by a silent bulk UPDATE. Every document's new metadata is checked first, so bad input changes
nothing; the catalog row changes last, after every document, in one transaction with its own
audit entry (``terms.changed``). Should the database fail part-way, the documents already
changed keep the new name, the rest the old one, and the error says so: the same merge (old
into new) finishes the work.

The catalog is the rows plus every name already on a document (a name typed into an upload is
in use at once; it gets a row when it is first renamed, merged or recoloured).

What the autocomplete may offer (:meth:`Terms.suggest`): to a principal who reads every
project's on-site documents, every name; to anyone else, the names on documents they may read
and the catalog's unused names (made by a manager, they belong to no document) — so the
counterparties and tags of another project's on-site documents never leak through it.
"""

from __future__ import annotations

import builtins
import datetime as dt
import unicodedata
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from docsvc.adapters import terms as store
from docsvc.adapters.catalog import KeyTaken
from docsvc.core.collation import sort_key
from docsvc.core.inputs import refuse_controls
from docsvc.core.model import MAX_TEXT, AuditAction, Document
from docsvc.errors import Conflict, DocsvcError, InvalidInput, NotFound
from docsvc.services.selection import BulkItem, BulkReport, BulkStatus
from docsvc.services.users import Permission

if TYPE_CHECKING:
    from docsvc.services.access import Guard

MAX_TAG = 50
MAX_COUNTERPARTY = 200
MAX_SUGGESTIONS = 20
DEFAULT_COLOUR = "grey"
# A fixed palette: each colour has a light and a dark pair in app.css, both AA contrast.
PALETTE: dict[str, tuple[str, str]] = {
    "grey": ("灰色", "Grey"),
    "red": ("红色", "Red"),
    "orange": ("橙色", "Orange"),
    "yellow": ("黄色", "Yellow"),
    "green": ("绿色", "Green"),
    "teal": ("青色", "Teal"),
    "blue": ("蓝色", "Blue"),
    "purple": ("紫色", "Purple"),
    "pink": ("粉色", "Pink"),
}


class TermKind(StrEnum):
    TAG = "tag"
    COUNTERPARTY = "counterparty"

    @property
    def zh(self) -> str:
        return {"tag": "标签", "counterparty": "相对方"}[self.value]

    @property
    def en(self) -> str:
        return {"tag": "tag", "counterparty": "counterparty"}[self.value]

    @property
    def max_len(self) -> int:
        return MAX_TAG if self is TermKind.TAG else MAX_COUNTERPARTY


@dataclass(frozen=True)
class Term:
    kind: TermKind
    name: str
    documents: int  # documents carrying the name (all of them: only managers see the catalog)
    colour: str = DEFAULT_COLOUR
    created_at: dt.datetime | None = None  # None: only on documents, no catalog row yet
    updated_at: dt.datetime | None = None

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "kind": self.kind.value,
            "name": self.name,
            "documents": self.documents,
            "created_at": _iso(self.created_at),
            "updated_at": _iso(self.updated_at),
        }
        if self.kind is TermKind.TAG:
            out["colour"] = self.colour
        return out


@dataclass(frozen=True)
class TermChange:
    """A rename or a merge: the name afterwards and each affected document's result."""

    term: Term
    previous: str
    report: BulkReport

    def to_dict(self) -> dict[str, Any]:
        return {"term": self.term.to_dict(), "previous": self.previous, **self.report.to_dict()}


def _iso(when: dt.datetime | None) -> str | None:
    if when is None:
        return None
    return (when if when.tzinfo else when.replace(tzinfo=dt.UTC)).isoformat()


def parse_kind(kind: Any) -> TermKind:
    try:
        return TermKind(kind)
    except ValueError:
        raise InvalidInput(
            f"未知的类别“{str(kind)[:40]}”，可选：tag（标签）、counterparty（相对方）。",
            f"Unknown kind '{str(kind)[:40]}'; use tag or counterparty.",
            field="kind",
        ) from None


def clean_name(kind: TermKind, name: Any, field: str = "name") -> str:
    """A name as the catalog keeps it: trimmed, NFC, no control characters, not too long; a tag
    has no comma either (forms separate tags with commas)."""
    if not isinstance(name, str) or not name.strip():
        example = "等保测评" if kind is TermKind.TAG else "大连港集团有限公司"
        raise InvalidInput(
            f"{kind.zh}名称不能为空，例如“{example}”。", f"The {kind.en} name cannot be empty.", field=field
        )
    text = unicodedata.normalize("NFC", name.strip())
    refuse_controls(text, field, f"{kind.zh}名称")
    if len(text) > min(kind.max_len, MAX_TEXT):
        raise InvalidInput(
            f"{kind.zh}名称最多 {kind.max_len} 个字符（现有 {len(text)} 个）。",
            f"A {kind.en} name has at most {kind.max_len} characters (this one has {len(text)}).",
            field=field,
        )
    if kind is TermKind.TAG and ("," in text or "，" in text):
        raise InvalidInput(
            "标签名称不能含逗号（表单中用逗号分隔多个标签）。",
            "A tag name cannot contain a comma (forms separate tags with commas).",
            field=field,
        )
    return text


def parse_colour(colour: Any) -> str:
    """A colour of the palette; None (not given) is the default, grey."""
    if colour is None:
        return DEFAULT_COLOUR
    if not isinstance(colour, str) or colour.strip() not in PALETTE:
        raise InvalidInput(
            f"未知的颜色“{str(colour)[:40]}”，可选：{', '.join(PALETTE)}。",
            f"Unknown colour '{str(colour)[:40]}'; use one of {', '.join(PALETTE)}.",
            field="colour",
        )
    return colour.strip()


class Terms:
    """The tag or counterparty catalog as one principal may use it (made by :meth:`Guard.terms`)."""

    def __init__(self, guard: Guard, kind: TermKind) -> None:
        self.g = guard
        self.svc = guard.svc
        self.kind = kind

    # -- reads -------------------------------------------------------------------------------
    def list(self) -> list[Term]:
        """Every name with its document count, in pinyin order (managers and administrators)."""
        self._require("list")
        return self._all()

    def get(self, name: Any) -> Term:
        self._require("list")
        return self._existing(clean_name(self.kind, name))

    def suggest(self, prefix: Any = "", *, limit: int = MAX_SUGGESTIONS) -> builtins.list[str]:
        """Names for an autocomplete: those starting with ``prefix`` (case and width folded), then
        those containing it, in pinyin order; only names this principal may see (module doc)."""
        self.g.require(Permission.READ, f"suggest_{self.kind.value}")
        text = prefix if isinstance(prefix, str) else ""
        if len(text) > MAX_COUNTERPARTY:
            raise InvalidInput(
                f"前缀最多 {MAX_COUNTERPARTY} 个字符。",
                f"The prefix has at most {MAX_COUNTERPARTY} characters.",
                field="prefix",
            )
        text = refuse_controls(unicodedata.normalize("NFKC", text.strip()), "prefix", "前缀")
        sites = self.g.p.site_projects
        with self.svc.catalog.reading() as conn:
            counts = store.usage(conn, self.kind.value)
            names = set(counts)
            if sites is not None:
                names = set(store.usage(conn, self.kind.value, site_projects=sites))
            names |= {r["name"] for r in store.rows(conn, self.kind.value) if not counts.get(r["name"])}
        folded = text.casefold()
        starts = [n for n in names if unicodedata.normalize("NFKC", n).casefold().startswith(folded)]
        inside = [n for n in names if n not in starts and folded in unicodedata.normalize("NFKC", n).casefold()]
        return (sorted(starts, key=sort_key) + sorted(inside, key=sort_key))[: max(1, min(limit, MAX_SUGGESTIONS))]

    def colours(self) -> dict[str, str]:
        """Tag → colour, for showing tag chips (no counts, no access needed beyond reading)."""
        if self.kind is not TermKind.TAG:
            return {}
        with self.svc.catalog.reading() as conn:
            return {r["name"]: r["colour"] for r in store.rows(conn, self.kind.value)}

    # -- writes ------------------------------------------------------------------------------
    def create(self, name: Any, colour: Any = None) -> Term:
        self._require("create")
        name = clean_name(self.kind, name)
        chosen = parse_colour(colour) if self.kind is TermKind.TAG else None
        if colour is not None and self.kind is not TermKind.TAG:
            raise self._no_colour()
        self._free(name)
        with self._write() as tx:
            store.insert(tx.conn, self.kind.value, name, colour=chosen, now=tx.now)
            self._audit(tx, "created", name, colour=chosen)
        return self._existing(name)

    def recolour(self, name: Any, colour: Any) -> Term:
        self._require("recolour")
        if self.kind is not TermKind.TAG:
            raise self._no_colour()
        term = self._existing(clean_name(self.kind, name))
        chosen = parse_colour(colour)
        with self._write() as tx:
            if term.created_at is None:
                store.insert(tx.conn, self.kind.value, term.name, colour=chosen, now=tx.now)
            else:
                store.update(tx.conn, self.kind.value, term.name, {"colour": chosen}, now=tx.now)
            self._audit(tx, "recoloured", term.name, colour=chosen, previous_colour=term.colour)
        return self._existing(term.name)

    def remove(self, name: Any) -> Term:
        """Delete a name no document carries (one that is used is merged into another instead)."""
        self._require("remove")
        term = self._existing(clean_name(self.kind, name))
        if term.documents:
            raise Conflict(
                f"{self.kind.zh}“{term.name}”仍用于 {term.documents} 份文档，不能删除；请先把它合并到另一个{self.kind.zh}。",
                f"The {self.kind.en} '{term.name}' is still on {term.documents} document(s) and cannot be "
                f"removed; merge it into another {self.kind.en} first.",
                field="name",
            )
        with self._write() as tx:
            store.delete(tx.conn, self.kind.value, term.name)
            self._audit(tx, "removed", term.name)
        return term

    def rename(self, name: Any, new_name: Any) -> TermChange:
        """The name changed in the catalog and on every document carrying it; a name already in
        use is refused (merge into it instead). A change of case or width only is a rename."""
        self._require("rename")
        term = self._existing(clean_name(self.kind, name))
        new = clean_name(self.kind, new_name, "new_name")
        if new == term.name:
            raise InvalidInput(
                f"新名称与原名称相同：“{new}”。", f"The new name is the same as the old one: '{new}'.", field="new_name"
            )
        self._free(new, besides=term.name)
        return self._move(term, new, merge=False)

    def merge(self, name: Any, into: Any) -> TermChange:
        """``name`` replaced by ``into`` on every document carrying it, and taken out of the catalog."""
        self._require("merge")
        term = self._existing(clean_name(self.kind, name))
        target = self._existing(clean_name(self.kind, into, "into"), field="into")
        if target.name == term.name:
            raise InvalidInput(
                f"不能把{self.kind.zh}“{term.name}”合并到它自己。请选择另一个{self.kind.zh}。",
                f"A {self.kind.en} cannot be merged into itself ('{term.name}'). Choose another one.",
                field="into",
            )
        return self._move(term, target.name, merge=True)

    # -- helpers -----------------------------------------------------------------------------
    def _move(self, term: Term, new: str, *, merge: bool) -> TermChange:
        kind = self.kind
        what = (
            ("标签合并 / tags merged" if merge else "标签改名 / tag renamed")
            if kind is TermKind.TAG
            else ("相对方合并 / counterparties merged" if merge else "相对方改名 / counterparty renamed")
        )
        reason = f"{what}：{term.name} → {new}"
        with self.svc.catalog.reading() as conn:
            ids = store.documents_with(conn, kind.value, term.name)
        # Every document's change is checked before any is made: bad input changes nothing.
        plans: list[tuple[Document, dict[str, Any]]] = []
        for doc_id in ids:
            doc = self.g.editable(doc_id)
            changes = self._changes(doc, term.name, new)
            doc.metadata.update(changes, self.svc.vocab)
            plans.append((doc, changes))
        items: list[BulkItem] = []
        failed: DocsvcError | None = None
        for doc, changes in plans:
            try:
                after = self.g.set_metadata(doc.id, changes, reason=reason)
            except DocsvcError as exc:
                failed = exc
                items.append(BulkItem(doc.id, doc.metadata.title, BulkStatus.REFUSED, error=exc.to_dict()))
                break
            diff = doc.metadata.diff(after.metadata)
            items.append(
                BulkItem(
                    doc.id, after.metadata.title, BulkStatus.CHANGED if diff else BulkStatus.UNCHANGED, changes=diff
                )
            )
        report = BulkReport(tuple(items))
        if failed is not None:
            done = report.count(BulkStatus.CHANGED) + report.count(BulkStatus.UNCHANGED)
            raise Conflict(
                f"{kind.zh}“{term.name}”只在 {done}/{len(plans)} 份文档上改成了“{new}”，其余未改（{failed.zh}）。"
                f"请再次把“{term.name}”合并到“{new}”以完成；已完成的不会重复。",
                f"The {kind.en} '{term.name}' became '{new}' on only {done} of {len(plans)} documents; the others "
                f"were not changed ({failed.en}). Merge '{term.name}' into '{new}' again to finish; what is done is "
                "not done twice.",
                field="name",
                details=report.to_dict(),
            )
        with self._write() as tx:
            old_row = store.get(tx.conn, kind.value, term.name)
            target_row = store.get(tx.conn, kind.value, new)
            if merge or target_row is not None:
                if old_row is not None:
                    store.delete(tx.conn, kind.value, term.name)
                if target_row is None:
                    store.insert(
                        tx.conn, kind.value, new, colour=old_row.get("colour") if old_row else None, now=tx.now
                    )
            elif old_row is not None:
                store.update(tx.conn, kind.value, term.name, {"name": new}, now=tx.now)
            else:
                store.insert(tx.conn, kind.value, new, colour=None, now=tx.now)
            self._audit(tx, "merged" if merge else "renamed", term.name, to=new, documents=len(plans))
        return TermChange(self._existing(new), term.name, report)

    def _changes(self, doc: Document, old: str, new: str) -> dict[str, Any]:
        if self.kind is TermKind.COUNTERPARTY:
            return {"counterparty": new}
        tags = [new if t == old else t for t in doc.metadata.tags]
        return {"tags": list(dict.fromkeys(tags))}  # merged into a tag it had already: once

    def _all(self) -> builtins.list[Term]:
        with self.svc.catalog.reading() as conn:
            counts = store.usage(conn, self.kind.value)
            rows = {r["name"]: r for r in store.rows(conn, self.kind.value)}
        terms = [
            Term(
                self.kind,
                name,
                counts.get(name, 0),
                row.get("colour") or DEFAULT_COLOUR,
                row["created_at"],
                row["updated_at"],
            )
            for name, row in rows.items()
        ]
        terms += [Term(self.kind, name, n) for name, n in counts.items() if name not in rows]
        return sorted(terms, key=lambda t: (sort_key(t.name), t.name))

    def _existing(self, name: str, field: str = "name") -> Term:
        for term in self._all():
            if term.name == name:
                return term
        raise NotFound(
            f"{self.kind.zh}“{name}”不存在。请检查名称，或在{self.kind.zh}列表中查看。",
            f"There is no {self.kind.en} '{name}'. Check the name, or see the list of {self.kind.en}s.",
            field=field,
        )

    def _free(self, name: str, *, besides: str | None = None) -> None:
        """Refused when the name, ignoring case and width (the search matches them alike), is
        taken by another name than ``besides``."""
        folded = unicodedata.normalize("NFKC", name).casefold()
        for term in self._all():
            if term.name != besides and unicodedata.normalize("NFKC", term.name).casefold() == folded:
                raise Conflict(
                    f"{self.kind.zh}“{term.name}”已存在。要把两者合为一个，请使用“合并”。",
                    f"The {self.kind.en} '{term.name}' exists already. To make the two one, merge them.",
                    field="new_name" if besides else "name",
                )

    def _no_colour(self) -> InvalidInput:
        return InvalidInput(
            "只有标签有颜色，相对方没有。", "Only tags have a colour; counterparties do not.", field="colour"
        )

    def _require(self, operation: str) -> None:
        self.g.require(Permission.MANAGE_TERMS, f"{operation}_{self.kind.value}")

    def _audit(self, tx: Any, op: str, name: str, **details: Any) -> None:
        tx.append_audit(
            self.g.p.username,
            AuditAction.TERMS_CHANGED,
            details={
                "kind": self.kind.value,
                "op": op,
                "name": name,
                **{k: v for k, v in details.items() if v is not None},
            },
        )

    @contextmanager
    def _write(self) -> Iterator[Any]:
        """The catalog's write, with its audit entry, in one transaction; a name taken at the same
        moment is a conflict, not a server error."""
        try:
            with self.svc.catalog.transaction() as tx:
                yield tx
        except KeyTaken:
            raise Conflict(
                f"{self.kind.zh}目录刚被同时修改（名称已被占用），未做任何修改，请重试。",
                f"The {self.kind.en} list was changed at the same moment (the name is taken); nothing "
                "was changed. Try again.",
                field="name",
            ) from None


__all__ = ["PALETTE", "Term", "TermChange", "TermKind", "Terms", "clean_name", "parse_colour", "parse_kind"]
