"""Management reports, generated like any document: the archive's own data fills a report
template (templates/reports/, restylable by registering a new template version) through the
drafting path, and the result is archived with its provenance (the template version, the data,
and the question that produced it).

- inventory: documents by service category, document class and project; the latest versions;
  documents whose suggested labels nobody has confirmed;
- audit: a period's activity (who did what), verifications, denied attempts;
- reviews: SLAs and service plans due for review (spec 8.1.3).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from docsvc.adapters import reports as queries
from docsvc.adapters.catalog import Connection
from docsvc.core.audit import AuditEntry
from docsvc.core.model import AuditAction, DocClass, ServiceCategory, Vocabulary
from docsvc.errors import InvalidInput
from docsvc.services.archive import AddResult
from docsvc.services.users import AccountAction

if TYPE_CHECKING:
    from docsvc.adapters.catalog import SqlCatalog
    from docsvc.services.templates import TemplateService

MAX_ROWS = 1000  # the report templates' list limit
LATEST = 50
MAX_PERIOD_DAYS = 3660
REVIEWED_TYPES = ("sla", "service_plan")  # spec 8.1.3: reviewed at planned intervals
#: Who was refused something: the Guard's refusals, failed and locked sign-ins, rejected uploads,
#: refused deletions.
DENIED = (
    AuditAction.ACCESS_DENIED,
    AccountAction.LOGIN_FAILED,
    AccountAction.LOGIN_LOCKED,
    AuditAction.UPLOAD_REJECTED,
    AuditAction.DELETION_REFUSED,
)
#: Someone checked something: audit bundles exported for an auditor, labels a person confirmed.
VERIFIED = (AuditAction.EXPORTED, AuditAction.LABELS_CONFIRMED)


class ReportKind(StrEnum):
    INVENTORY = "inventory"
    AUDIT = "audit"
    REVIEWS = "reviews"

    @property
    def template(self) -> str:
        return f"report_{self.value}"  # one of templates.REPORT_TEMPLATES


@dataclass(frozen=True)
class ReportRequest:
    kind: ReportKind
    as_of: dt.date  # the day the report is made (local time)
    since: dt.date | None = None  # audit: first day of the period
    until: dt.date | None = None  # audit: last day; reviews: due on or before
    service_category: str = ServiceCategory.OPERATION_MAINTENANCE.value  # filed under (metadata)

    @classmethod
    def parse(
        cls,
        kind: str,
        *,
        today: dt.date,
        since: str | dt.date | None = None,
        until: str | dt.date | None = None,
        service_category: str | None = None,
    ) -> ReportRequest:
        """From user input (CLI options, a form, JSON), with defaults a person would expect:
        an audit report covers the last 30 days, a review report the next 30."""
        try:
            k = ReportKind(kind)
        except ValueError:
            raise InvalidInput(
                f"未知的报告类型“{kind}”，可选：{'、'.join(ReportKind)}。",
                f"Unknown report '{kind}'; choose one of: {', '.join(ReportKind)}.",
                field="kind",
            ) from None
        s, u = _day(since, "since"), _day(until, "until")
        if k is ReportKind.AUDIT:
            u = u or today
            s = s or u - dt.timedelta(days=30)
            if u < s:
                raise InvalidInput(
                    "结束日期不能早于开始日期。", "The end date cannot be before the start date.", field="until"
                )
            if (u - s).days > MAX_PERIOD_DAYS:
                raise InvalidInput(
                    "审计报告的期间最长 10 年。", "An audit report covers at most 10 years.", field="since"
                )
        elif k is ReportKind.REVIEWS:
            u = u or today + dt.timedelta(days=30)
            s = None
        else:
            s = u = None
        category = service_category or cls.service_category
        if category not in {c.value for c in ServiceCategory}:
            raise InvalidInput(
                f"未知的服务类别“{category}”，例如 4.2。",
                f"Unknown service category '{category}', e.g. 4.2.",
                field="service_category",
            )
        return cls(k, today, s, u, category)

    @property
    def title(self) -> str:
        """The report document's title (and so its file name)."""
        return {
            ReportKind.INVENTORY: f"档案清单报告（截至{_cn(self.as_of)}）",
            ReportKind.AUDIT: f"审计报告（{_cn(self.since)}至{_cn(self.until)}）",
            ReportKind.REVIEWS: f"到期复审报告（截至{_cn(self.until)}）",
        }[self.kind]

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind.value,
            "as_of": self.as_of.isoformat(),
            "since": self.since.isoformat() if self.since else None,
            "until": self.until.isoformat() if self.until else None,
            "service_category": self.service_category,
        }


def _day(value: str | dt.date | None, field: str) -> dt.date | None:
    if value is None or value == "":
        return None
    if isinstance(value, dt.date):
        return value
    try:
        return dt.date.fromisoformat(str(value))
    except ValueError:
        raise InvalidInput(
            f"日期“{value}”无效，应为 YYYY-MM-DD。", f"Invalid date '{value}'; use YYYY-MM-DD.", field=field
        ) from None


class ReportService:
    def __init__(
        self,
        catalog: SqlCatalog,
        templates: TemplateService,
        vocab: Vocabulary,
        *,
        organization: str,
        tz: dt.tzinfo,
        verify: Callable[[], Any],
    ) -> None:
        self.catalog = catalog
        self.templates = templates
        self.vocab = vocab
        self.organization = organization
        self.tz = tz
        self._verify = verify  # the audit chain's verification (integrity.verify_audit)

    def data(self, request: ReportRequest) -> dict[str, Any]:
        """The report's form data, from the archive as it is now."""
        with self.catalog.reading() as conn:
            body = {
                ReportKind.INVENTORY: self._inventory,
                ReportKind.AUDIT: self._audit,
                ReportKind.REVIEWS: self._reviews,
            }[request.kind](conn, request)
        return {
            "title": request.title,
            "service_category": request.service_category,
            "organization": self.organization,
            "as_of": request.as_of.isoformat(),
            **body,
        }

    def generate(self, request: ReportRequest, *, actor: str, pdf: bool = False, pdf_a: bool = False) -> AddResult:
        """Fill the report's template and archive it, like any generated document; the
        provenance records the request beside the template and the data."""
        draft = self.templates.prepare(self.templates.get(request.kind.template), self.data(request), report=True)
        return self.templates.generate_draft(
            draft, actor=actor, pdf=pdf, pdf_a=pdf_a, also_record={"report": request.to_dict()}
        )

    # -- the three reports -------------------------------------------------------------------
    def _inventory(self, conn: Connection, request: ReportRequest) -> dict[str, Any]:
        groups = queries.inventory_groups(conn)
        unconfirmed = queries.unconfirmed_labels(conn)
        return {
            "total_documents": sum(g["documents"] for g in groups),
            "total_versions": sum(int(g["versions"] or 0) for g in groups),
            "unconfirmed_count": len(unconfirmed),
            "groups": [
                {
                    "category": _category(g["service_category"]),
                    "doc_class": _doc_class(g["doc_class"]),
                    "project": g["project"] or "",
                    "documents": g["documents"],
                    "versions": int(g["versions"] or 0),
                    "updated": self._local_day(g["updated_at"]),
                }
                for g in groups
            ][:MAX_ROWS],
            "latest": [
                {
                    "id": d["id"],
                    "title": d["title"],
                    "doc_type": self._doc_type(d["doc_type"]),
                    "project": d["project"] or "",
                    "version": d["latest_version"],
                    "updated": self._local_day(d["updated_at"]),
                }
                for d in queries.latest_documents(conn, limit=LATEST)
            ],
            "unconfirmed": [
                {
                    "id": d["id"],
                    "title": d["title"],
                    "project": d["project"] or "",
                    "suggested_type": self._doc_type(d["suggested_type"]),
                }
                for d in unconfirmed
            ][:MAX_ROWS],
        }

    def _audit(self, conn: Connection, request: ReportRequest) -> dict[str, Any]:
        assert request.since is not None and request.until is not None  # ReportRequest.parse fills them
        period = queries.AuditFilter(since=request.since, until=request.until)
        summary = queries.audit_summary(conn, period)
        verified = list(
            queries.audit_range(
                conn, queries.AuditFilter(since=request.since, until=request.until, actions=tuple(VERIFIED))
            )
        )
        denied = list(
            queries.audit_range(
                conn, queries.AuditFilter(since=request.since, until=request.until, actions=tuple(DENIED))
            )
        )
        chain = self._verify()
        chain_text = (
            f"完整：已逐条核验 {chain.checked} 条记录，哈希链无断裂。"
            if chain.ok
            else f"发现问题：第 {chain.broken_seq} 条记录处链断裂（{chain.reason_zh}）。"
        )
        return {
            "since": request.since.isoformat(),
            "until": request.until.isoformat(),
            "entries": sum(r["count"] for r in summary),
            "actor_count": len({r["actor"] for r in summary}),
            "denied_count": len(denied),
            "chain": chain_text,
            "activity": [{"actor": r["actor"], "action": _action(r["action"]), "count": r["count"]} for r in summary][
                :MAX_ROWS
            ],
            "verifications": [self._entry_row(e) for e in verified][-MAX_ROWS:],
            "denied": [self._entry_row(e) for e in denied][-MAX_ROWS:],
        }

    def _reviews(self, conn: Connection, request: ReportRequest) -> dict[str, Any]:
        assert request.until is not None  # ReportRequest.parse fills it
        due = queries.due_for_review(conn, doc_types=REVIEWED_TYPES, until=request.until)
        rows = []
        for d in due[:MAX_ROWS]:
            days = (d["review_due"] - request.as_of).days
            state = f"已逾期 {-days} 天" if days < 0 else ("今日到期" if days == 0 else f"{days} 天后到期")
            rows.append(
                {
                    "id": d["id"],
                    "title": d["title"],
                    "doc_type": self._doc_type(d["doc_type"]),
                    "project": d["project"] or "",
                    "owner": d["owner"] or "",
                    "review_due": d["review_due"].isoformat(),
                    "state": state,
                }
            )
        return {
            "until": request.until.isoformat(),
            "count": len(due),
            "overdue_count": sum(1 for d in due if d["review_due"] < request.as_of),
            "documents_due": rows,
        }

    # -- shaping ------------------------------------------------------------------------------
    def _local_day(self, when: dt.datetime) -> str:
        if when.tzinfo is None:  # SQLite gives naive UTC
            when = when.replace(tzinfo=dt.UTC)
        return when.astimezone(self.tz).date().isoformat()

    def _doc_type(self, code: str) -> str:
        return next((c.zh for c in self.vocab.doc_types if c.code == code), code)

    def _entry_row(self, e: AuditEntry) -> dict[str, str]:
        ts = dt.datetime.fromisoformat(e.ts.replace("Z", "+00:00")).astimezone(self.tz)
        what = _action(e.action)
        details = e.details or {}
        extra = [
            f"文档 {e.document_id}" if e.document_id else "",
            str(details.get("operation") or details.get("reason") or details.get("filename") or ""),
        ]
        return {
            "time": ts.strftime("%Y-%m-%d %H:%M"),
            "actor": e.actor,
            "what": "；".join(x for x in (what, *extra) if x)[:1000],
        }


def _cn(day: dt.date | None) -> str:
    return f"{day.year}年{day.month}月{day.day}日" if day else ""


def _category(code: str) -> str:
    try:
        return f"{code} {ServiceCategory(code).zh}"
    except ValueError:
        return code


def _doc_class(code: str) -> str:
    try:
        return DocClass(code).zh
    except ValueError:
        return code


def _action(action: str) -> str:
    for enum in (AuditAction, AccountAction):
        try:
            return enum(action).zh
        except (ValueError, KeyError):
            continue
    return action
