"""Audit pages: the log with filters, chain verification, bundle download, management reports."""

from __future__ import annotations

import datetime as dt

from flask import Blueprint, flash, redirect, render_template, request, url_for
from werkzeug.datastructures import MultiDict

from docsvc.core.inputs import MAX_OFFSET, parse_int
from docsvc.core.model import AuditAction, ServiceCategory, parse_date
from docsvc.errors import Forbidden, InvalidInput, Unavailable
from docsvc.services.access import AuditFilter
from docsvc.services.export import MAX_RANGE_DAYS, BundleScope
from docsvc.services.reports import ReportKind, ReportRequest
from docsvc.services.users import AccountAction, Permission
from docsvc.web.auth import guard, login_required
from docsvc.web.downloads import send_bundle
from docsvc.web.errors import status_for
from docsvc.web.i18n import pick
from docsvc.web.params import audit_filter

bp = Blueprint("ui_audit", __name__, template_folder="templates")
bp.before_request(login_required(lambda: None))

PAGE = 50


@bp.get("/audit")
def audit_log():
    args = {k: v for k, v in request.args.items() if v}
    error = page = scope = None
    try:
        # The filter form sends its empty fields too: empty means "any" here.
        filled = MultiDict([(k, v) for k, v in request.args.items(multi=True) if v])
        offset = parse_int(args.get("offset"), "offset", low=0, high=MAX_OFFSET, default=0)
        gd = guard()
        f = audit_filter(filled)
        page = gd.audit_page(f, limit=PAGE, offset=offset)
        scope = _bundle_scope(gd, f, page.total)
    except InvalidInput as exc:
        error = exc
    return render_template(
        "audit.html", page=page, args=args, error=error, scope=scope, actions=[*AuditAction, *AccountAction]
    ), (400 if error else 200)


def _bundle_scope(gd, f: AuditFilter, total: int) -> BundleScope | None:
    """The bundle that covers what the filtered log shows, so it is one click away: the
    document filtered on, else the filter's dates, open ends closed by the oldest entry shown
    and today (None when nothing is shown)."""
    if f.document_id is not None:
        return BundleScope(f.document_id, f.since, f.until)
    if not total:
        return None
    until = f.until or dt.datetime.now(dt.UTC).date()
    since = f.since or dt.date.fromisoformat(gd.audit_page(f, limit=1, offset=total - 1).entries[0].ts[:10])
    return BundleScope(None, max(since, until - dt.timedelta(days=MAX_RANGE_DAYS)), until)


@bp.post("/audit/verify")
def verify():
    result = guard().verify_audit()
    if result.ok:
        flash(
            pick(
                InvalidInput(
                    f"审计链完整：已校验 {result.checked} 条记录。",
                    f"The audit chain is intact: {result.checked} entries verified.",
                )
            ),
            "ok",
        )
    for p in result.problems:
        flash(
            pick(
                InvalidInput(
                    f"审计链异常（第 {p.seq} 条）：{p.zh}" if p.seq is not None else f"审计链异常：{p.zh}",
                    f"Audit chain BROKEN (entry {p.seq}): {p.en}"
                    if p.seq is not None
                    else f"Audit chain BROKEN: {p.en}",
                )
            ),
            "error",
        )
    latest = (result.anchor or {}).get("latest")
    if result.anchor is None:
        flash(
            pick(
                InvalidInput(
                    "未配置签名检查点：能改写目录库的人可以不被发现地截断或重写审计链（见 DOCSVC_AUDIT_KEY_FILE）。",
                    "No signed checkpoints are configured: whoever can write the catalog could truncate "
                    "or rewrite the chain unnoticed (see DOCSVC_AUDIT_KEY_FILE).",
                )
            ),
            "error",
        )
    elif latest:
        flash(
            pick(
                InvalidInput(
                    f"最新签名检查点：第 {latest['seq']} 条（{latest['ts'][:19]}，密钥 {result.anchor['key_id']}）。",
                    f"Latest signed checkpoint: entry {latest['seq']} ({latest['ts'][:19]}, key "
                    f"{result.anchor['key_id']}).",
                )
            ),
            "ok",
        )
    return redirect(url_for("ui_audit.audit_log"))


@bp.post("/audit/export")
def export():
    form = request.form
    gd = guard()
    try:
        scope = BundleScope(
            parse_int(form.get("document_id") or None, "document_id"),
            parse_date("since", "开始日期", form.get("since")),
            parse_date("until", "结束日期", form.get("until")),
        )
        return send_bundle(gd, scope)
    except InvalidInput as exc:
        flash(pick(exc), "error")
        return redirect(
            request.referrer if (request.referrer or "").startswith(request.host_url) else url_for("ui_audit.audit_log")
        )


@bp.route("/reports", methods=["GET", "POST"])
def reports():
    """Management reports: each is filled from the archive's data, archived as a new document
    (DOCX, optionally PDF) and opened on its document page."""
    gd = guard()
    gd.require(Permission.AUDIT, "reports_page")
    error, status = None, 200
    if request.method == "POST":
        form = request.form
        try:
            report = ReportRequest.parse(
                form.get("kind", ""),
                today=gd.today(),
                since=form.get("since"),
                until=form.get("until"),
                service_category=form.get("service_category") or None,
            )
            generated = gd.report(report, pdf=form.get("pdf") == "1")
        except (InvalidInput, Unavailable, Forbidden) as exc:
            error, status = exc, status_for(exc)
        else:
            flash(
                pick(
                    InvalidInput(
                        f"报告已生成并归档：{generated.result.document.metadata.title}",
                        f"Report generated and archived: {generated.result.document.metadata.title}",
                    )
                ),
                "ok",
            )
            return redirect(url_for("ui_docs.document", doc_id=generated.result.document.id))
    return render_template(
        "reports.html",
        error=error,
        kinds=list(ReportKind),
        categories=list(ServiceCategory),
        default_category=ReportRequest.service_category,
    ), status
