"""Saved views: a search or a document-list filter kept under a name (Chinese as a rule), per
user, optionally shared with every signed-in user, and pinned to the dashboard as widgets.

A view stores the query string's parameters, not results: whoever opens or pins it sees what
*they* may read (a shared view of on-site documents shows a member of another project nothing of
them). The parameters are checked, when saved, by the same parser the page uses (the document
list's :meth:`ArchiveService.list_documents`, the search's
:func:`docsvc.core.search.request_from_params`), so a view that was saved always opens.

Only the owner (or an administrator) renames, changes, shares or deletes a view; anyone who can
see a view may pin it to their own dashboard.
"""

from __future__ import annotations

import builtins
import datetime as dt
import unicodedata
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, urlencode

from docsvc.adapters import saved_views as store
from docsvc.adapters.catalog import Connection, KeyTaken
from docsvc.core.inputs import refuse_controls
from docsvc.core.search import check_whole_request, request_from_params
from docsvc.errors import Conflict, DocsvcError, InvalidInput, NotFound, Unavailable
from docsvc.services.users import Permission, Role

if TYPE_CHECKING:
    from docsvc.services.access import Guard

MAX_NAME = 100
MAX_PARAMS_CHARS = 4000  # the stored query string; a URL longer than this is no filter a person made
MAX_VIEWS = 200  # per owner
WIDGET_ROWS = 5  # results a dashboard widget shows
MAX_RESULTS = 100  # results one evaluation returns (the search's page size limit)
# Paging is where one is in the results, not part of what the view is.
_PAGING = {"page", "per_page", "offset", "limit"}
_SEARCH_KEYS = ("q", "filter", "sort", "all_versions")


class ViewKind(StrEnum):
    SEARCH = "search"  # the search page: /search?q=…&filter=…
    DOCUMENTS = "documents"  # the document list: /documents?doc_type=…&sort=…

    @property
    def zh(self) -> str:
        return {"search": "搜索", "documents": "文档列表"}[self.value]

    @property
    def en(self) -> str:
        return {"search": "Search", "documents": "Document list"}[self.value]


@dataclass(frozen=True)
class SavedView:
    id: int
    owner: str
    name: str
    kind: ViewKind
    params: tuple[tuple[str, str], ...]
    shared: bool
    created_at: dt.datetime
    updated_at: dt.datetime
    pinned: bool = False  # on the dashboard of the user who asked
    editable: bool = False  # the user who asked may rename, change, share or delete it

    @property
    def query_string(self) -> str:
        return urlencode(self.params)

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "owner": self.owner,
            "name": self.name,
            "kind": self.kind.value,
            "params": [list(p) for p in self.params],
            "query_string": self.query_string,
            "shared": self.shared,
            "pinned": self.pinned,
            "editable": self.editable,
            "created_at": _iso(self.created_at),
            "updated_at": _iso(self.updated_at),
        }


@dataclass(frozen=True)
class ResultItem:
    document_id: int
    title: str
    version: int


@dataclass(frozen=True)
class ViewResult:
    """A view evaluated for one user: how many documents (or, for a search, versions) it finds
    and the first few; ``error`` when it cannot be evaluated now (the index is being rebuilt, a
    value no longer exists), which a widget shows instead of failing the whole dashboard."""

    view: SavedView
    total: int
    items: tuple[ResultItem, ...] = ()
    error: DocsvcError | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "view": self.view.to_dict(),
            "total": self.total,
            "items": [{"document_id": i.document_id, "title": i.title, "version": i.version} for i in self.items],
            "error": {"code": self.error.code, "message": self.error.zh, "message_en": self.error.en}
            if self.error
            else None,
        }


class _Pairs:
    """Stored parameters as the search parser reads a query string (``getlist``)."""

    def __init__(self, pairs: Sequence[tuple[str, str]]) -> None:
        self.pairs = pairs

    def getlist(self, name: str) -> list[str]:
        return [v for k, v in self.pairs if k == name]


def _iso(when: dt.datetime) -> str:
    return (when if when.tzinfo else when.replace(tzinfo=dt.UTC)).isoformat()


def parse_kind(kind: Any) -> ViewKind:
    try:
        return ViewKind(kind)
    except ValueError:
        raise InvalidInput(
            f"未知的视图类型“{str(kind)[:40]}”，可选：search（搜索）、documents（文档列表）。",
            f"Unknown view kind '{str(kind)[:40]}'; use search or documents.",
            field="kind",
        ) from None


def clean_name(name: Any) -> str:
    if not isinstance(name, str) or not name.strip():
        raise InvalidInput(
            "请为视图起一个名称，例如“待复审的 SLA”。", "Give the view a name, e.g. 'SLAs to review'.", field="name"
        )
    name = unicodedata.normalize("NFC", str(name).strip())
    refuse_controls(name, "name", "视图名称")
    if len(name) > MAX_NAME:
        raise InvalidInput(
            f"视图名称最多 {MAX_NAME} 个字符（现有 {len(name)} 个）。",
            f"A view name has at most {MAX_NAME} characters (this one has {len(name)}).",
            field="name",
        )
    return str(name)


def clean_params(kind: ViewKind, raw: Any) -> tuple[tuple[str, str], ...]:
    """The parameters of a page's URL — a query string (``q=…&filter=…``, a leading ``?`` or a
    whole ``/search?…`` path allowed), a mapping, or [name, value] pairs — without empty values
    and paging; checked only for shape here (:meth:`Views._check` checks the meaning)."""
    if isinstance(raw, str):
        text = raw.strip()
        if text.startswith(("/", "http://", "https://")):  # a page's whole URL: its query string
            text = text.partition("?")[2]
        text = text.removeprefix("?")  # a "?" further on belongs to a value (q=怎么续签?)
        if len(text) > MAX_PARAMS_CHARS:
            raise _too_long()
        pairs = parse_qsl(text, keep_blank_values=False)
    elif isinstance(raw, Mapping):
        pairs = [(k, x) for k, v in raw.items() for x in (v if isinstance(v, list) else [v])]
    elif isinstance(raw, (list, tuple)):
        pairs = [tuple(p) for p in raw if isinstance(p, (list, tuple)) and len(p) == 2]
        if len(pairs) != len(raw):
            raise _bad_params()
    else:
        raise _bad_params()
    if not all(isinstance(k, str) and isinstance(v, str) for k, v in pairs):
        raise _bad_params()
    kept = tuple((k.strip(), v.strip()) for k, v in pairs if v.strip() and k.strip() not in _PAGING)
    for k, v in kept:
        refuse_controls(k, "params", "视图参数名")
        refuse_controls(v, k, f"视图参数 {k} ")
    if len(urlencode(kept)) > MAX_PARAMS_CHARS:
        raise _too_long()
    if kind is ViewKind.SEARCH:
        unknown = sorted({k for k, _ in kept} - set(_SEARCH_KEYS))
        if unknown:
            raise InvalidInput(
                f"搜索视图不认识参数：{', '.join(unknown)}。可用：{', '.join(_SEARCH_KEYS)}。",
                f"Unknown search parameter(s): {', '.join(unknown)}. Known: {', '.join(_SEARCH_KEYS)}.",
                field=unknown[0],
            )
        if not any(k in ("q", "filter") for k, _ in kept):
            raise InvalidInput(
                "搜索视图需要搜索词（q）或至少一个筛选条件（filter）。",
                "A search view needs search words (q) or at least one filter.",
                field="params",
            )
    else:
        names = [k for k, _ in kept]
        twice = sorted({k for k in names if names.count(k) > 1})
        if twice:
            raise InvalidInput(
                f"参数 {twice[0]} 只能给出一次。", f"The parameter {twice[0]} may be given only once.", field=twice[0]
            )
    return kept


def _bad_params() -> InvalidInput:
    return InvalidInput(
        "视图参数应为查询字符串（如 q=合同&filter=doc_type:sla）或 [名称, 值] 对的列表。",
        "View parameters must be a query string (e.g. q=contract&filter=doc_type:sla) or a list "
        "of [name, value] pairs.",
        field="params",
    )


def _too_long() -> InvalidInput:
    return InvalidInput(
        f"视图参数过长（最多 {MAX_PARAMS_CHARS} 个字符）。",
        f"The view's parameters are too long (at most {MAX_PARAMS_CHARS} characters).",
        field="params",
    )


def _missing(view_id: int) -> NotFound:
    return NotFound(f"视图 {view_id} 不存在。", f"View {view_id} does not exist.", field="view_id")


class Views:
    """Saved views as one principal may use them (made by :attr:`Guard.views`)."""

    def __init__(self, guard: Guard) -> None:
        self.g = guard
        self.svc = guard.svc
        self.p = guard.p

    # -- reads -------------------------------------------------------------------------------
    def list(self) -> list[SavedView]:
        """The principal's own views, then those others shared."""
        user_id = self._user_id("list_views")
        with self.svc.catalog.reading() as conn:
            return [self._view(r) for r in store.visible(conn, user_id)]

    def get(self, view_id: int) -> SavedView:
        """A view the principal may see (their own, a shared one; an administrator any): any
        other answers like one that does not exist."""
        user_id = self._user_id("read_view")
        with self.svc.catalog.reading() as conn:
            row = store.get(conn, view_id)
            if row is None or not (row["owner_id"] == user_id or row["shared"] or self._is_admin()):
                raise _missing(view_id)
            pinned = store.is_pinned(conn, view_id, user_id)
        return self._view({**row, "pinned": pinned})

    def results(self, view: SavedView, *, limit: int = WIDGET_ROWS) -> ViewResult:
        """The view evaluated with the rights of the principal asking (never the owner's)."""
        limit = max(1, min(limit, MAX_RESULTS))
        try:
            if view.kind is ViewKind.SEARCH:
                req = request_from_params(_Pairs(view.params), per_page=limit)
                found = self.g.search(req)
                return ViewResult(
                    view, found.total, tuple(ResultItem(h.document_id, h.title, h.number) for h in found.hits[:limit])
                )
            page = self.g.list_documents({**dict(view.params), "limit": limit})
            return ViewResult(
                view,
                page.total,
                tuple(ResultItem(d.id, d.metadata.title, d.latest_version) for d in page.items[:limit]),
            )
        except (InvalidInput, Unavailable) as exc:  # a document type since removed; the index being rebuilt
            return ViewResult(view, 0, (), exc)

    def pinned(self) -> builtins.list[ViewResult]:
        """The views on the principal's dashboard, evaluated with their rights."""
        return [self.results(v) for v in self.list() if v.pinned]

    # -- writes ------------------------------------------------------------------------------
    def create(self, name: Any, kind: Any, params: Any, *, shared: bool = False, pinned: bool = False) -> SavedView:
        user_id = self._user_id("save_view")
        name, kind = clean_name(name), parse_kind(kind)
        pairs = self._check(kind, params)
        now = self._now()
        with self._write() as conn:
            if store.name_taken(conn, user_id, name):
                raise _name_taken(name)
            if store.count_owned(conn, user_id) >= MAX_VIEWS:
                raise Conflict(
                    f"每人最多保存 {MAX_VIEWS} 个视图，请先删除不用的。",
                    f"Each user may keep at most {MAX_VIEWS} views; delete some first.",
                    field="name",
                )
            view_id = store.insert(
                conn,
                owner_id=user_id,
                name=name,
                kind=kind.value,
                params=[list(p) for p in pairs],
                shared=bool(shared),
                now=now,
            )
            if pinned:
                store.pin(conn, view_id, user_id, pinned=True, now=now)
        return self.get(view_id)

    def update(
        self,
        view_id: int,
        *,
        name: Any = None,
        params: Any = None,
        shared: bool | None = None,
        pinned: bool | None = None,
    ) -> SavedView:
        """Rename, change the parameters, share or stop sharing (owner or administrator); pin or
        unpin on one's own dashboard (anyone who sees it). Nothing changes when anything is wrong."""
        view = self.get(view_id)
        if name is not None or params is not None or shared is not None:
            self._owned(view, "change_view")  # before looking at the values: nothing to probe
        changes: dict[str, Any] = {}
        if name is not None:
            changes["name"] = clean_name(name)
        if params is not None:
            changes["params"] = [list(p) for p in self._check(view.kind, params)]
        if shared is not None:
            changes["shared"] = bool(shared)
        now = self._now()
        user_id = self._user_id("change_view")
        with self._write() as conn:
            if "name" in changes and store.name_taken(
                conn, _owner_id(conn, view_id), changes["name"], other_than=view_id
            ):
                raise _name_taken(changes["name"])
            if changes:
                store.update(conn, view_id, changes, now=now)
                if changes.get("shared") is False:
                    store.unshare(conn, view_id, _owner_id(conn, view_id))
            if pinned is not None:
                store.pin(conn, view_id, user_id, pinned=bool(pinned), now=now)
        return self.get(view_id)

    def pin(self, view_id: int, *, pinned: bool = True) -> SavedView:
        return self.update(view_id, pinned=pinned)

    def delete(self, view_id: int) -> SavedView:
        view = self.get(view_id)
        self._owned(view, "delete_view")
        with self._write() as conn:
            store.delete(conn, view_id)
        return view

    # -- helpers -----------------------------------------------------------------------------
    def _user_id(self, operation: str) -> int:
        self.g.require(Permission.READ, operation)
        if self.p.user_id is None:
            raise InvalidInput(
                "保存的视图属于某个 docsvc 用户：请以用户身份登录，或在命令行加 --as 用户名。",
                "Saved views belong to a docsvc user: sign in, or add --as USERNAME on the command line.",
                field="user",
            )
        return self.p.user_id

    def _is_admin(self) -> bool:
        return self.p.role is Role.ADMIN

    def _owned(self, view: SavedView, operation: str) -> None:
        if view.owner != self.p.username and not self._is_admin():
            self.g._deny(operation)

    def _check(self, kind: ViewKind, params: Any) -> tuple[tuple[str, str], ...]:
        """The parameters, refused (InvalidInput, 400) exactly as the page would refuse them."""
        pairs = clean_params(kind, params)
        if kind is ViewKind.SEARCH:
            check_whole_request(request_from_params(_Pairs(pairs)))
        else:
            self.g.list_documents({**dict(pairs), "limit": 1})
        return pairs

    def _view(self, row: Mapping[str, Any]) -> SavedView:
        try:
            kind = ViewKind(row["kind"])
        except ValueError:
            kind = ViewKind.DOCUMENTS
        params = tuple((str(k), str(v)) for k, v in (row["params"] or []))
        return SavedView(
            row["id"],
            row["owner"],
            row["name"],
            kind,
            params,
            bool(row["shared"]),
            row["created_at"],
            row["updated_at"],
            bool(row.get("pinned")),
            row["owner_id"] == self.p.user_id or self._is_admin(),
        )

    def _now(self) -> dt.datetime:
        return dt.datetime.now(dt.UTC)

    @contextmanager
    def _write(self) -> Iterator[Connection]:
        """A write where a unique key taken meanwhile (the same name saved twice at once, a view
        pinned twice) is a conflict, not a server error."""
        try:
            with self.svc.catalog.writing() as conn:
                yield conn
        except KeyTaken:
            raise Conflict(
                "视图刚被同时修改（名称已被占用），未做任何修改，请重试。",
                "The view was changed at the same moment (the name is taken); nothing was changed. Try again.",
                field="name",
            ) from None


def _owner_id(conn: Connection, view_id: int) -> int:
    row = store.get(conn, view_id)
    if row is None:
        raise _missing(view_id)
    return int(row["owner_id"])


def _name_taken(name: str) -> Conflict:
    return Conflict(
        f"您已有名为“{name}”的视图，请换一个名称。",
        f"You already have a view named '{name}'; choose another name.",
        field="name",
    )


__all__ = ["ResultItem", "SavedView", "ViewKind", "ViewResult", "Views", "clean_name", "clean_params", "parse_kind"]
