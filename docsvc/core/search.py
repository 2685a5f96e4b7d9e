"""The search seam: the values a search speaks in and what every search engine must do.

Engines (Whoosh in a folder, PostgreSQL full-text tables) sit behind :class:`SearchIndex` in
``docsvc.adapters``; the services and the faces import only this module. The product's rules
live here, above the seam, so that every engine applies them the same way:

- a request is checked once (:func:`check_request`): paging within :data:`MAX_PER_PAGE` and
  :data:`MAX_RESULT_WINDOW`, a known sort order, and filters only on :data:`FILTER_FIELDS`
  (:func:`resolve_filters` gives each engine validated, typed values);
- on-site documents (spec 9.2) are visible only to members of their project
  (:attr:`SearchRequest.site_projects`, see :func:`site_visible`);
- a hit's excerpt is a :class:`Snippet`: plain text with the spans to mark. The faces render
  it (HTML-escaped with ``<mark>`` in the web, 【】 in a terminal), never the engine.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable, Mapping
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from enum import StrEnum
from functools import cached_property
from typing import Any, Protocol, runtime_checkable

from docsvc.core import query as q
from docsvc.core import ranking, text
from docsvc.core.inputs import MAX_ID, parse_int, refuse_controls
from docsvc.core.model import DocClass
from docsvc.core.synonyms import SynonymTable
from docsvc.errors import InvalidInput, Unavailable

MAX_PER_PAGE = 100
MAX_RESULT_WINDOW = 10_000  # page * per_page: deep paging costs a full sort
MAX_PAGE = MAX_RESULT_WINDOW // MAX_PER_PAGE  # so that any page with any per_page stays in the window
MAX_FILTER_VALUES = 100
SNIPPET_CHARS = 160
_WS_RE = re.compile(r"\s+")
TITLE_BOOST = 3.0  # a word in the title says more about a document than one in the body
MAX_QUERY_WORDS = 32  # analysed words per query, after stop words: bounds the query's cost


@dataclass(frozen=True)
class IndexEntry:
    """One archived version as an index sees it (plain values, no engine types)."""

    version_id: int
    document_id: int
    number: int
    title: str
    content: str = ""
    is_latest: bool = True
    sha256: str = ""
    original_filename: str = ""
    doc_type: str = ""
    service_category: str = ""
    doc_class: str = ""
    service_scope: str = ""
    project: str = ""
    counterparty: str = ""
    tags: tuple[str, ...] = ()
    status: str = ""
    year: int | None = None
    created_at: dt.datetime | None = None  # aware or UTC
    effective_date: dt.date | None = None
    review_due: dt.date | None = None
    extraction_status: str = "ok"


# Metadata an index may change in place (update_metadata): everything but identity and content.
METADATA_FIELDS = frozenset(
    {
        "title",
        "original_filename",
        "doc_type",
        "service_category",
        "doc_class",
        "service_scope",
        "project",
        "counterparty",
        "tags",
        "status",
        "year",
        "created_at",
        "effective_date",
        "review_due",
        "extraction_status",
    }
)


class SortOrder(StrEnum):
    RELEVANCE = "relevance"
    DATE = "date"  # newest first


FACETS = ("doc_type", "service_category", "doc_class", "project", "counterparty", "tags", "year")
# Facets of a field holding a list: a version counts once under each of its values, keyed by the
# value as the engines match it (lower case: the filter tags:ISO finds the tag "iso" too).
LIST_FACETS = frozenset({"tags"})

# Filter names a caller may use (an allow-list: anything else is InvalidInput), and the field.
FILTER_FIELDS: dict[str, str] = {
    "doc_type": "doc_type",
    "service_category": "service_category",
    "doc_class": "doc_class",
    "service_scope": "service_scope",
    "project": "project",
    "counterparty": "counterparty",
    "tag": "tags",
    "tags": "tags",
    "status": "status",
    "year": "year",
    "extraction_status": "extraction_status",
    "document_id": "document_id",
}


@dataclass(frozen=True)
class SearchRequest:
    query: str = ""
    filters: Mapping[str, list[str]] = field(default_factory=dict)  # OR within a key, AND across keys
    all_versions: bool = False
    page: int = 1
    per_page: int = 20
    sort: str = SortOrder.RELEVANCE
    highlight: bool = True
    facets: bool = True
    # Access control: when given, only these documents can appear in hits, totals and facets.
    allowed_document_ids: frozenset[int] | None = None
    # Access control for on-site documents (spec 9.2): when given, a version with doc_class
    # "site" can appear only if its project is one of these; user documents (9.1) are not
    # affected. A query filter, so totals and facet counts follow it (principal.site_projects).
    site_projects: frozenset[str] | None = None
    # The synonym table the query's plain words are expanded with (the service sets it).
    synonyms: SynonymTable | None = None


@dataclass(frozen=True)
class Snippet:
    """An excerpt of a hit's text: whitespace runs folded to one space, "…" where it was cut,
    and ``marks``, the [start, end) spans of ``text`` that matched, sorted and disjoint."""

    text: str
    marks: tuple[tuple[int, int], ...] = ()

    def parts(self) -> list[tuple[str, bool]]:
        """The text in pieces, each with whether it is marked (for a face to render)."""
        out: list[tuple[str, bool]] = []
        cur = 0
        for s, e in self.marks:
            if s > cur:
                out.append((self.text[cur:s], False))
            out.append((self.text[s:e], True))
            cur = e
        if cur < len(self.text):
            out.append((self.text[cur:], False))
        return out


@dataclass(frozen=True)
class Hit:
    version_id: int
    document_id: int
    number: int
    title: str
    original_filename: str
    score: float
    snippet: Snippet
    is_latest: bool
    sha256: str
    doc_type: str
    service_category: str
    doc_class: str
    service_scope: str
    project: str
    counterparty: str
    tags: tuple[str, ...]
    status: str
    year: int | None
    created_at: dt.datetime | None
    effective_date: dt.date | None
    review_due: dt.date | None
    extraction_status: str

    @classmethod
    def of(cls, e: IndexEntry, score: float, snippet: Snippet) -> Hit:
        return cls(
            version_id=e.version_id,
            document_id=e.document_id,
            number=e.number,
            title=e.title,
            original_filename=e.original_filename,
            score=score,
            snippet=snippet,
            is_latest=e.is_latest,
            sha256=e.sha256,
            doc_type=e.doc_type,
            service_category=e.service_category,
            doc_class=e.doc_class,
            service_scope=e.service_scope,
            project=e.project,
            counterparty=e.counterparty,
            tags=e.tags,
            status=e.status,
            year=e.year,
            created_at=e.created_at,
            effective_date=e.effective_date,
            review_due=e.review_due,
            extraction_status=e.extraction_status,
        )


@dataclass(frozen=True)
class SearchResult:
    total: int
    hits: list[Hit]
    facets: dict[str, dict[str, int]]
    page: int
    per_page: int
    partial: bool  # the time limit stopped the search: hits and counts are incomplete
    took_ms: float
    # What the synonym table added (a term as typed, the others searched for it), and the
    # table's version: how a result can be explained later.
    expansions: tuple[q.Expansion, ...] = ()
    synonyms_version: str = ""


@dataclass(frozen=True)
class ParsedQuery:
    """What every engine searches: the request's query as typed (``typed``), parsed and
    expanded with its synonyms (``node``; None: no words, every document), the expansions
    applied, and the question's grams that rank the best matches (:attr:`grams`)."""

    typed: q.Node | None
    node: q.Node | None
    expansions: tuple[q.Expansion, ...]

    @cached_property
    def grams(self) -> tuple[tuple[str, float], ...]:
        """docsvc.core.ranking.question_grams of the query as typed: worked out when an engine
        ranks, not when a request is only checked."""
        return tuple(ranking.question_grams(self.typed).items())


def parse_request(request: SearchRequest) -> ParsedQuery:
    """The request's query as every engine searches it (:class:`ParsedQuery`)."""
    typed = q.parse_query(request.query)
    return ParsedQuery(typed, *q.expand(typed, request.synonyms))


# --- a request from query parameters --------------------------------------------------------

_FLAGS = {"1": True, "true": True, "yes": True, "on": True, "0": False, "false": False, "no": False, "off": False}


def _one(args: Any, name: str) -> str | None:
    """One query parameter; given twice it is refused rather than one copy silently winning."""
    values = args.getlist(name)
    if len(values) > 1:
        raise InvalidInput(f"参数 {name} 只能给出一次。", f"The parameter {name} may be given only once.", field=name)
    return values[0] if values else None


def parse_filters(raws: Iterable[str]) -> dict[str, list[str]]:
    """Search filters as people type them, the same in a URL, a saved view and the CLI's
    ``--filter``: ``key:value`` (``doc_type:sla``), with ``key=value`` accepted as well (what
    the CLI took before, kept for scripts); the first ``:`` or ``=`` ends the key. A key given
    again is OR-ed with its other values. An empty entry (a form's empty box) is no filter."""
    raws = list(raws)
    if len(raws) > MAX_FILTER_VALUES:  # empty ones too: the API's document counts every one given
        raise _too_many_filters("filter")
    filters: dict[str, list[str]] = {}
    for raw in raws:
        if not raw.strip():
            continue
        cut = min((i for i in (raw.find(":"), raw.find("=")) if i >= 0), default=-1)
        key, value = (raw[:cut], raw[cut + 1 :]) if cut >= 0 else ("", "")
        if not key.strip() or not value.strip():
            raise InvalidInput(
                f"筛选条件“{raw[:80]}”格式不对，应为 键:值，例如 doc_type:sla。",
                f"Filter '{raw[:80]}' is not key:value, e.g. doc_type:sla.",
                field="filter",
            )
        filters.setdefault(key.strip(), []).append(value.strip())
    return filters


def request_from_params(args: Any, *, per_page: int = 20) -> SearchRequest:
    """A search as a URL states it (``args``: anything with ``getlist(name)``, a query string's
    parameters): ``q``, ``filter=key:value`` (repeatable: OR within a key, AND across keys),
    ``page``, ``per_page``, ``sort`` (relevance | date), ``all_versions``. The search page, the
    API and saved views read it here, so a saved search means what its URL means."""
    filters = parse_filters(args.getlist("filter"))
    flag = (_one(args, "all_versions") or "false").strip().lower()
    if flag not in _FLAGS:
        raise InvalidInput(
            "参数 all_versions 应为 true 或 false。", "all_versions must be true or false.", field="all_versions"
        )
    return SearchRequest(
        query=_one(args, "q") or "",
        filters=filters,
        all_versions=_FLAGS[flag],
        page=parse_int(_one(args, "page"), "page", default=1),
        per_page=parse_int(_one(args, "per_page"), "per_page", default=per_page),
        sort=_one(args, "sort") or "relevance",
    )


def check_whole_request(request: SearchRequest) -> None:
    """Everything an engine would refuse about a request, without searching: paging, sort,
    filters and the query's syntax."""
    check_request(request)
    resolve_filters(request)
    parse_request(request)


# --- the rules above the seam ---------------------------------------------------------------


def check_request(r: SearchRequest) -> None:
    if not 1 <= r.page <= MAX_PAGE or not 1 <= r.per_page <= MAX_PER_PAGE:
        raise InvalidInput(
            f"分页参数无效：page 为 1–{MAX_PAGE}，per_page 为 1–{MAX_PER_PAGE}。",
            f"Invalid paging: page must be 1–{MAX_PAGE} and per_page 1–{MAX_PER_PAGE}.",
            field="page",
        )
    if r.page * r.per_page > MAX_RESULT_WINDOW:
        raise InvalidInput(
            f"只能翻到前 {MAX_RESULT_WINDOW} 条结果，请缩小搜索范围。",
            f"Only the first {MAX_RESULT_WINDOW} results can be paged; narrow the search.",
            field="page",
        )
    if r.sort not in tuple(SortOrder):
        raise InvalidInput(
            f"未知的排序方式“{r.sort}”，可选 relevance 或 date。",
            f"Unknown sort '{r.sort}'; use relevance or date.",
            field="sort",
        )


@dataclass(frozen=True)
class FieldFilter:
    """A checked filter: the index field ``name`` has one of ``values`` (ints for year and
    document_id, tags lowercased, the rest stripped strings)."""

    name: str
    values: tuple[Any, ...]


def _too_many_filters(field: str) -> InvalidInput:
    return InvalidInput(
        f"筛选值过多：所有筛选条件合计最多 {MAX_FILTER_VALUES} 个。",
        f"Too many filter values: at most {MAX_FILTER_VALUES} in all.",
        field=field,
    )


def resolve_filters(request: SearchRequest) -> tuple[FieldFilter, ...]:
    """The request's filters, checked against the allow-list and typed."""
    out: list[FieldFilter] = []
    given = 0
    for key, values in request.filters.items():
        name = FILTER_FIELDS.get(key)
        if name is None:
            raise InvalidInput(
                f"未知的筛选字段“{key}”。可用：{', '.join(sorted(FILTER_FIELDS))}",
                f"Unknown filter '{key}'. Known filters: {', '.join(sorted(FILTER_FIELDS))}",
                field=key,
            )
        if isinstance(values, str):
            values = [values]
        kept = [refuse_controls(str(v).strip(), key, f"筛选条件 {key} ") for v in values if str(v).strip()]
        if not kept:
            continue
        given += len(kept)
        if given > MAX_FILTER_VALUES:
            raise _too_many_filters(key)
        if name in ("year", "document_id"):
            high = 9999 if name == "year" else MAX_ID
            typed: tuple[Any, ...] = tuple(parse_int(v, key, high=high) for v in kept)
        elif name == "tags":
            typed = tuple(v.lower() for v in kept)
        else:
            typed = tuple(kept)
        out.append(FieldFilter(name, typed))
    return tuple(out)


def site_visible(doc_class: str, project: str, site_projects: frozenset[str] | None) -> bool:
    """The on-site rule (spec 9.2) every engine applies as a filter: a user document is always
    visible; an on-site one only in a project the reader belongs to (one without a project is
    in none)."""
    if site_projects is None or doc_class != DocClass.SITE.value:
        return True
    return bool(project.strip()) and project in site_projects


def visible_site_projects(site_projects: frozenset[str]) -> list[str]:
    """The project names an engine matches on-site documents against (blank names match none)."""
    return sorted(p for p in site_projects if p.strip())


# --- snippets -------------------------------------------------------------------------------


# Where a passage may start: after the end of a Chinese sentence or clause, or a line break
# (not after ASCII ; ! ?, which also sit inside entities, URLs and code).
_BOUNDARIES = "。！？；\n"
# A passage is looked for among at most this many matches: the first ones, and after them the
# first of each string not among them. A document repeating a query word 300,000 times took two
# seconds a hit to scan; a passage among its first matches shows as well why it matched.
MAX_SNIPPET_SPANS = 2000


def make_snippet(content: str, spans: Iterable[tuple[int, int]], width: int = SNIPPET_CHARS) -> Snippet:
    """An excerpt of ``content`` that shows why it matched: the passage holding the most of
    what the query found (``spans``, character offsets in ``content``; each distinct string
    counts once, by its length, so a phrase outweighs a common word repeated), and a second
    passage when another part of the text has query words the first lacks. Marked spans; a
    passage starts at a sentence when one begins shortly before its first match. Without
    spans: the beginning of the text."""
    found = sorted({(s, e) for s, e in spans if s < e})
    merged: list[list[int]] = []
    for s, e in found:
        if merged and s <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], e)
        else:
            merged.append([s, e])
    if not found:
        return _render(content, [(0, min(len(content), width))], [])
    if len(found) > MAX_SNIPPET_SPANS:
        found, later = found[:MAX_SNIPPET_SPANS], found[MAX_SNIPPET_SPANS:]
        strings = {content[s:e] for s, e in found}
        for s, e in later:  # in order: found stays sorted
            if content[s:e] not in strings:
                strings.add(content[s:e])
                found.append((s, e))
    keys = [text.normalize(content[s:e]) for s, e in found]
    first = _best_window(found, keys, width, set())
    assert first is not None  # spans were found and nothing is seen yet: some window adds them
    windows = [first]
    second = _best_window(found, keys, width, set(keys[first[0] : first[1]]), avoid=first)
    if second is not None:
        windows = sorted([first, second])
    part = width if len(windows) == 1 else width * 2 // 3
    passages: list[tuple[int, int]] = []
    for i, _ in windows:
        start = _passage_start(content, found[i][0], part)
        if passages:
            start = max(start, passages[-1][1])  # never the same text twice
        passages.append((start, min(len(content), start + part)))
    return _render(content, passages, merged)


def _best_window(
    found: list[tuple[int, int]], keys: list[str], width: int, seen: set[str], avoid: tuple[int, int] | None = None
) -> tuple[int, int] | None:
    """[i, j) of the spans a window starting at span i holds, whose distinct strings not in
    ``seen`` weigh most (ties: the earliest); None when no window adds anything."""
    best, best_weight, j = None, 0, 0
    for i in range(len(found)):
        if avoid is not None and avoid[0] <= i < avoid[1]:
            continue
        j = max(j, i)
        while j < len(found) and found[j][1] <= found[i][0] + width:
            j += 1
        if avoid is not None and i < avoid[0] < j:
            j_end = avoid[0]  # the second passage never overlaps the first
        else:
            j_end = j
        weight = sum(len(k) for k in set(keys[i:j_end]) - seen)
        if weight > best_weight:
            best, best_weight = (i, j_end), weight
    return best


def _passage_start(content: str, first: int, width: int) -> int:
    lead = first - width // 4
    if lead <= 0:
        return 0  # the text's own beginning is near enough
    cut = max(content.rfind(c, lead, first) for c in _BOUNDARIES)
    return cut + 1 if cut >= 0 else lead


def _render(content: str, passages: list[tuple[int, int]], merged: list[list[int]]) -> Snippet:
    """The passages joined by ellipses, whitespace squeezed, the spans inside them marked."""
    out: list[str] = []
    marks: list[tuple[int, int]] = []
    size = 0
    for n, (start, end) in enumerate(passages):
        if start > 0:
            out.append("…" if n == 0 else " … ")
        elif n > 0:
            out.append(" … ")
        size = sum(map(len, out))
        cur = start
        pieces: list[tuple[str, bool]] = []
        for s, e in merged:
            if e <= cur or s >= end:
                continue
            s, e = max(s, cur), min(e, end)
            pieces.append((content[cur:s], False))
            pieces.append((content[s:e], True))
            cur = e
        pieces.append((content[cur:end], False))
        for piece, marked in pieces:
            piece = _WS_RE.sub(" ", piece)
            if not piece:
                continue
            if marked:
                marks.append((size, size + len(piece)))
            out.append(piece)
            size += len(piece)
    if passages and passages[-1][1] < len(content):
        out.append("…")
    return Snippet("".join(out), tuple(marks))


def find_strings(content: str, needles: Iterable[str], *, limit: int = 200) -> list[tuple[int, int]]:
    """Occurrences of normalised ``needles`` in ``content`` (phrases and words an engine has no
    offsets for). Folding is per character, so offsets map back one to one."""
    folded = text.normalize(content)
    if len(folded) != len(content):
        return []  # a character that folds to several: skip rather than mark the wrong place
    spans: list[tuple[int, int]] = []
    for needle in needles:
        if not needle:
            continue
        start = folded.find(needle)
        while start >= 0 and len(spans) < limit:
            spans.append((start, start + len(needle)))
            start = folded.find(needle, start + len(needle))
    return spans


# --- the port -------------------------------------------------------------------------------


@runtime_checkable
class IndexStream(Protocol):
    """New versions streamed into an index while a bulk import archives them. Each call returns
    the version ids committed meanwhile; ``failed`` says why the stream stopped taking entries
    (the caller then indexes the rest another way)."""

    @property
    def failed(self) -> str: ...

    def add(self, entry: IndexEntry) -> list[int]: ...

    def finish(self) -> list[int]: ...


@runtime_checkable
class SearchIndex(Protocol):
    """What a search engine must do for docsvc. Every engine passes tests/search_contract.py.

    An index is derived data: it can always be rebuilt from the catalog. ``needs_rebuild`` is
    True (with ``rebuild_reason``) when it is missing, from an older schema or analyzer, damaged,
    or a rebuild has not finished. Writes raise :class:`~docsvc.errors.Unavailable` when the
    engine cannot take them now (the caller keeps the work queued)."""

    needs_rebuild: bool
    rebuild_reason: str

    def search(self, request: SearchRequest) -> SearchResult: ...

    def upsert(self, entries: Iterable[IndexEntry], *, procs: int = 1) -> int:
        """Add or replace versions (by version_id)."""

    def delete(self, version_ids: Iterable[int]) -> int: ...

    def set_latest(self, document_id: int, latest_version_id: int) -> int:
        """Make this the document's only latest version; returns how many versions changed."""

    def update_metadata(self, document_id: int, changes: Mapping[str, Any]) -> int:
        """Apply metadata ``changes`` (:data:`METADATA_FIELDS`) to every version of a document."""

    def stream(self, *, procs: int, segment_docs: int) -> AbstractContextManager[IndexStream]: ...

    def clear(self) -> None:
        """Empty the index and mark it incomplete until :meth:`mark_complete`."""

    def mark_complete(self) -> None: ...

    def rebuilding(self) -> AbstractContextManager[None]:
        """Held while this process rebuilds the index; raises Unavailable (with a bilingual
        message) when another process, here or on another machine, is rebuilding it."""

    def rebuild_cursor(self) -> dict[str, int] | None:
        """Where an unfinished rebuild stopped (None: no rebuild in progress)."""

    def save_rebuild_cursor(self, cursor: Mapping[str, int] | None) -> None: ...

    def indexed_versions(self) -> dict[int, str]:
        """version_id → sha256 of everything indexed (to compare with the catalog)."""

    def doc_count(self) -> int: ...

    def doc_frequencies(self, words: Iterable[str]) -> dict[str, int]:
        """How many indexed versions have each word (analysed as docsvc.core.text cuts it) in
        their content: what makes a word distinctive. Counts may be estimates for the
        commonest words; a word nowhere is 0."""

    def close(self) -> None: ...


def rebuilding_elsewhere() -> Unavailable:
    return Unavailable(
        "另一个进程正在重建搜索索引，请稍后再试。", "Another process is rebuilding the search index; try again shortly."
    )


def check_metadata_changes(changes: Mapping[str, Any]) -> dict[str, Any]:
    """``changes`` for :meth:`SearchIndex.update_metadata`, checked and with tags as a tuple."""
    unknown = set(changes) - METADATA_FIELDS
    if unknown:
        raise InvalidInput(
            f"不能修改索引字段：{', '.join(sorted(unknown))}",
            f"Index fields that cannot be updated: {', '.join(sorted(unknown))}",
            field=sorted(unknown)[0],
        )
    values = dict(changes)
    if "tags" in values:
        values["tags"] = tuple(values["tags"] or ())
    return values


__all__ = [
    "FACETS",
    "FILTER_FIELDS",
    "LIST_FACETS",
    "FieldFilter",
    "Hit",
    "IndexEntry",
    "IndexStream",
    "MAX_PAGE",
    "MAX_PER_PAGE",
    "MAX_RESULT_WINDOW",
    "METADATA_FIELDS",
    "ParsedQuery",
    "SearchIndex",
    "SearchRequest",
    "SearchResult",
    "Snippet",
    "SortOrder",
    "check_metadata_changes",
    "check_request",
    "check_whole_request",
    "find_strings",
    "make_snippet",
    "rebuilding_elsewhere",
    "request_from_params",
    "resolve_filters",
    "site_visible",
    "visible_site_projects",
]
