"""The dashboard, one read model for one principal: counts by service category and document
class, the review list, SLAs and plans due for review, recent activity, the recently changed
documents, the shortcuts the role may use and the saved views pinned as widgets.

Everything is what this principal may read: counts, titles and events of on-site (9.2)
documents of projects they are not a member of are left out, as they are from the list and the
search. The counts and the due-for-review list come from the management reports' queries
(docsvc.adapters.reports: the archive inventory, the SLAs and plans due for review), filtered
here by the same on-site rule.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from docsvc.adapters import reports as queries
from docsvc.core.audit import AuditEntry
from docsvc.core.model import DocClass, Document, ServiceCategory
from docsvc.core.search import site_visible
from docsvc.services import background
from docsvc.services.classify import ReviewItem, ReviewPage
from docsvc.services.reports import REVIEWED_TYPES
from docsvc.services.users import Permission
from docsvc.services.views import ViewResult

if TYPE_CHECKING:
    from docsvc.services.access import Guard

RECENT = 10  # recently changed documents
REVIEW_WINDOW_DAYS = 30  # SLAs and plans due within this many days (and those overdue)
REVIEW_SHOWN = 5  # pending suggestions listed (the count covers all)
ACTIVITY = 10  # recent audit entries


@dataclass(frozen=True)
class Count:
    code: str  # a ServiceCategory or DocClass value
    documents: int


@dataclass(frozen=True)
class DueItem:
    id: int
    title: str
    doc_type: str
    project: str
    counterparty: str
    review_due: dt.date
    days: int  # until the review date; negative: overdue


@dataclass(frozen=True)
class Activity:
    entry: AuditEntry
    document_title: str | None


@dataclass(frozen=True)
class Dashboard:
    today: dt.date
    recent: list[Document]
    due_for_review: list[DueItem]
    reminded: frozenset[int] = frozenset()  # documents the daily job reminded of, still unreviewed
    total: int = 0
    by_category: list[Count] = field(default_factory=list)
    by_class: list[Count] = field(default_factory=list)
    review_total: int = 0
    review_items: list[ReviewItem] = field(default_factory=list)
    activity: list[Activity] = field(default_factory=list)
    can_upload: bool = False
    can_draft: bool = False
    can_review: bool = False
    widgets: list[ViewResult] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "today": self.today.isoformat(),
            "total": self.total,
            "by_category": [{"service_category": c.code, "documents": c.documents} for c in self.by_category],
            "by_class": [{"doc_class": c.code, "documents": c.documents} for c in self.by_class],
            "review": {"total": self.review_total, "items": [i.to_dict() for i in self.review_items]}
            if self.can_review
            else None,
            "due_for_review": [
                {
                    "id": d.id,
                    "title": d.title,
                    "doc_type": d.doc_type,
                    "project": d.project,
                    "counterparty": d.counterparty,
                    "review_due": d.review_due.isoformat(),
                    "days": d.days,
                    "reminded": d.id in self.reminded,
                }
                for d in self.due_for_review
            ],
            "recent": [
                {
                    "id": d.id,
                    "title": d.metadata.title,
                    "latest_version": d.latest_version,
                    "updated_at": d.updated_at.isoformat(),
                }
                for d in self.recent
            ],
            "activity": [
                {
                    "seq": a.entry.seq,
                    "ts": a.entry.ts,
                    "actor": a.entry.actor,
                    "action": a.entry.action,
                    "document_id": a.entry.document_id,
                    "version": a.entry.version,
                    "document_title": a.document_title,
                }
                for a in self.activity
            ],
            "shortcuts": {"upload": self.can_upload, "drafting": self.can_draft},
            "widgets": [w.to_dict() for w in self.widgets],
        }


def build(g: Guard, today: dt.date) -> Dashboard:
    p = g.p
    sites = p.site_projects
    recent = g.list_documents({"sort": "-updated_at", "limit": RECENT}).items
    until = today + dt.timedelta(days=REVIEW_WINDOW_DAYS)
    with g.svc.catalog.reading() as conn:
        groups = [r for r in queries.inventory_groups(conn) if site_visible(r["doc_class"], r["project"] or "", sites)]
        due_rows = [
            r
            for r in queries.due_for_review(conn, doc_types=REVIEWED_TYPES, until=until)
            if site_visible(r["doc_class"], r["project"] or "", sites)
        ]
        everything = p.can(Permission.AUDIT)  # the whole log; others see events on documents they may read
        activity = queries.recent_activity(
            conn, limit=ACTIVITY, documents_only=not everything, site_projects=None if everything else sites
        )
    due = [
        DueItem(
            r["id"],
            r["title"],
            r["doc_type"],
            r["project"] or "",
            r["counterparty"] or "",
            r["review_due"],
            (r["review_due"] - today).days,
        )
        for r in due_rows
    ]
    can_review = p.can(Permission.WRITE)
    review = g.review_page(limit=REVIEW_SHOWN) if can_review else ReviewPage((), 0)
    return Dashboard(
        today,
        recent,
        due,
        frozenset(background.open_reminders(g.svc, site_projects=sites)),
        total=sum(r["documents"] for r in groups),
        by_category=_counts(groups, "service_category", [c.value for c in ServiceCategory]),
        by_class=_counts(groups, "doc_class", [c.value for c in DocClass]),
        review_total=review.total,
        review_items=list(review.items),
        activity=[Activity(e, t) for e, t in activity],
        can_upload=p.can(Permission.WRITE),
        can_draft=p.can(Permission.GENERATE),
        can_review=can_review,
        widgets=g.views.pinned() if p.user_id is not None else [],
    )


def _counts(groups: list[dict[str, Any]], key: str, order: list[str]) -> list[Count]:
    totals: dict[str, int] = {}
    for r in groups:
        totals[r[key]] = totals.get(r[key], 0) + r["documents"]
    known = [Count(code, totals[code]) for code in order if totals.get(code)]
    return known + [Count(code, n) for code, n in sorted(totals.items()) if code not in order and n]


__all__ = ["Activity", "Count", "Dashboard", "DueItem", "build"]
