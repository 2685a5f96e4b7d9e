"""Saved views and the dashboard read model (docsvc.services.views, docsvc.services.dashboard),
on SQLite and PostgreSQL: a view is checked by the page's own parser when saved, is evaluated
with the rights of whoever opens it, and only its owner (or an administrator) changes it; the
dashboard never counts, names or reports an on-site document its reader may not read."""

from __future__ import annotations

import datetime as dt

import pytest

from docsvc.core.model import AuditAction
from docsvc.errors import Conflict, Forbidden, InvalidInput, NotFound, Unavailable
from docsvc.services.views import ViewKind
from tests.conftest import add

TODAY = dt.date(2026, 12, 5)


@pytest.fixture
def archive(svc):
    """A user SLA due in ten days, an on-site inspection log and an on-site SLA of 港口运维二期,
    and a contract: indexed for search."""
    sla = add(svc, title="年度服务等级协议", doc_type="sla", review_due="2026-12-15").document
    site = add(
        svc,
        "现场巡检记录：机房温度正常。".encode(),
        "巡检.txt",
        title="港口运维二期现场巡检记录",
        doc_type="report",
        doc_class="site",
        project="港口运维二期",
        service_category="4.4",
    ).document
    site_sla = add(
        svc,
        title="港口现场服务等级协议",
        doc_type="sla",
        doc_class="site",
        project="港口运维二期",
        review_due="2026-12-01",
    ).document
    contract = add(svc, title="大连港集团信息系统运维服务合同").document
    svc.index.sync()
    return {"sla": sla, "site": site, "site_sla": site_sla, "contract": contract}


def test_a_view_is_saved_listed_renamed_and_deleted(svc, people, archive):
    alice = people("alice")
    view = alice.views.create("港口现场文档", "documents", "doc_class=site&project=港口运维二期&offset=25")
    assert view.kind is ViewKind.DOCUMENTS and view.owner == "alice" and not view.shared and view.editable
    assert view.params == (("doc_class", "site"), ("project", "港口运维二期"))  # paging is not part of a view
    assert [v.name for v in alice.views.list()] == ["港口现场文档"]
    asked = alice.views.create("续签", "search", "/search?q=怎么续签?&page=2")  # a whole URL; a ? in a value
    assert asked.params == (("q", "怎么续签?"),)
    alice.views.delete(asked.id)
    renamed = alice.views.update(view.id, name="  我的现场文档 ", shared=True)
    assert renamed.name == "我的现场文档" and renamed.shared and renamed.updated_at >= view.updated_at
    alice.views.delete(view.id)
    assert alice.views.list() == []
    with pytest.raises(NotFound):
        alice.views.get(view.id)


def test_a_name_taken_at_the_same_moment_is_a_conflict(svc, people, archive, monkeypatch):
    """The same view saved twice at once (a double click): the check passes for both, the unique
    key stops the second, which is told so (the race is injected: the check sees nothing)."""
    from docsvc.adapters import saved_views

    alice = people("alice")
    alice.views.create("港口现场文档", "documents", "doc_class=site")
    monkeypatch.setattr(saved_views, "name_taken", lambda *a, **k: False)
    with pytest.raises(Conflict) as exc:
        alice.views.create("港口现场文档", "documents", "doc_class=user")
    assert "刚被同时修改" in exc.value.zh and "at the same moment" in exc.value.en and exc.value.field == "name"
    assert [(v.name, v.params) for v in alice.views.list()] == [("港口现场文档", (("doc_class", "site"),))]


def test_bad_views_are_refused_and_nothing_is_saved(svc, people, archive):
    alice = people("alice")
    alice.views.create("合同", "search", "q=合同")
    bad = [
        ("", "search", "q=合同", "name"),
        ("x" * 101, "search", "q=合同", "name"),
        ("合同", "search", "q=协议", "name"),  # the name is taken (409)
        ("坏查询", "search", "q=date:abc", "q"),
        ("坏筛选", "search", "filter=colour:red", "colour"),
        ("缺键", "search", "filter=sla", "filter"),
        ("空搜索", "search", "sort=date", "params"),
        ("未知参数", "search", "q=合同&colour=red", "colour"),
        ("坏排序", "documents", "sort=title;DROP", "sort"),
        ("坏类别", "documents", "service_category=9.9", "service_category"),
        ("坏类型", "documents", "doc_type=nonsense", "doc_type"),
        ("未知", "documents", "colour=red", "colour"),
        ("两次", "documents", "status=draft&status=effective", "status"),
        ("坏种类", "report", "q=合同", "kind"),
        ("控制符", "documents", "title=a%00b", "title"),
    ]
    for name, kind, params, field in bad:
        with pytest.raises((InvalidInput, Conflict)) as caught:
            alice.views.create(name, kind, params)
        assert caught.value.zh and caught.value.en and caught.value.field == field, (name, caught.value.en)
    assert [v.name for v in alice.views.list()] == ["合同"]


def test_a_shared_view_is_evaluated_with_the_viewers_rights(svc, people, archive):
    mgr, alice, bob = people("mgr"), people("alice"), people("bob")
    listing = mgr.views.create("全部现场文档", "documents", {"doc_class": "site"}, shared=True)
    search = mgr.views.create("巡检", "search", "q=巡检", shared=True)
    assert mgr.views.results(listing).total == 2
    assert {i.title for i in alice.views.results(listing).items} == {"港口运维二期现场巡检记录", "港口现场服务等级协议"}
    assert bob.views.results(listing).total == 0 and bob.views.results(listing).items == ()
    assert alice.views.results(search).total >= 1
    assert bob.views.results(search).total == 0
    assert [v.name for v in bob.views.list()] == ["全部现场文档", "巡检"]  # shared: readable by everyone
    assert not bob.views.get(listing.id).editable


def test_only_the_owner_or_an_administrator_changes_a_view(svc, people, archive):
    alice, bob, root = people("alice"), people("bob"), people("root")
    private = alice.views.create("私人", "search", "q=合同")
    shared = alice.views.create("共享", "search", "q=协议", shared=True)
    with pytest.raises(NotFound):  # a private view of someone else does not exist for bob
        bob.views.get(private.id)
    with pytest.raises(NotFound):
        bob.views.delete(private.id)
    for change in (lambda: bob.views.delete(shared.id), lambda: bob.views.update(shared.id, name="改名")):
        with pytest.raises(Forbidden):
            change()
    denied = [e for e in svc.catalog.audit_entries(actions=[AuditAction.ACCESS_DENIED.value]) if e.actor == "bob"]
    assert [e.details["operation"] for e in denied] == ["delete_view", "change_view"]
    assert alice.views.get(shared.id).name == "共享"
    bob.views.pin(shared.id)  # anyone who sees a view may pin it to their own dashboard
    assert bob.views.get(shared.id).pinned and not alice.views.get(shared.id).pinned
    root.views.update(shared.id, shared=False)  # an administrator may; bob's pin goes with the sharing
    with pytest.raises(NotFound):
        bob.views.get(shared.id)
    root.views.delete(private.id)
    assert [v.name for v in alice.views.list()] == ["共享"]


def test_the_same_name_for_two_owners_and_a_cli_operator_without_a_user(svc, people, archive):
    people("alice").views.create("待复审", "documents", "review_due_before=2026-12-31")
    people("bob").views.create("待复审", "documents", "review_due_before=2026-12-31")
    operator = svc.guard(svc.users.principal_for_cli("运维值班"))
    with pytest.raises(InvalidInput) as caught:
        operator.views.create("x", "search", "q=合同")
    assert "--as" in caught.value.en


def test_the_dashboard_shows_only_what_its_reader_may_read(svc, people, archive):
    mgr = people("mgr")
    pinned = mgr.views.create("现场文档", "documents", "doc_class=site", shared=True, pinned=True)
    mgr.read_version(archive["site"].id)  # an event on an on-site document
    people("bob").views.pin(pinned.id)

    full = mgr.dashboard(TODAY)
    assert full.total == 4 and {c.code: c.documents for c in full.by_class} == {"user": 2, "site": 2}
    assert {c.code: c.documents for c in full.by_category} == {"4.2": 3, "4.4": 1}
    assert [d.title for d in full.due_for_review] == ["港口现场服务等级协议", "年度服务等级协议"]  # SLAs, by date
    assert full.due_for_review[0].days == -4
    assert full.widgets[0].total == 2 and full.can_upload and full.can_draft

    bob = people("bob").dashboard(TODAY)
    assert bob.total == 2 and {c.code: c.documents for c in bob.by_class} == {"user": 2}
    assert {c.code: c.documents for c in bob.by_category} == {"4.2": 2}
    assert [d.title for d in bob.due_for_review] == ["年度服务等级协议"]
    assert bob.widgets[0].view.id == pinned.id and bob.widgets[0].total == 0
    assert all(a.entry.document_id not in (archive["site"].id, archive["site_sla"].id) for a in bob.activity)
    assert all(a.entry.document_id is not None and a.entry.action != "access.denied" for a in bob.activity)
    titles = [d.metadata.title for d in bob.recent] + [a.document_title for a in bob.activity]
    assert not any("现场" in (t or "") for t in titles)
    assert bob.can_upload and not bob.can_draft and bob.can_review  # a member files documents, drafts none

    alice = people("alice").dashboard(TODAY)
    assert alice.total == 4 and any(a.entry.document_id == archive["site"].id for a in alice.activity)

    auditor = people("audit").dashboard(TODAY)  # the whole log: refusals and account events too
    assert not auditor.can_upload and not auditor.can_draft and not auditor.can_review
    with pytest.raises(Forbidden):
        people("bob").views.delete(pinned.id)
    assert people("audit").dashboard(TODAY).activity[0].entry.action == "access.denied"


def test_a_widget_says_why_it_cannot_be_shown_while_the_dashboard_still_opens(svc, people, archive, monkeypatch):
    mgr = people("mgr")
    mgr.views.create("巡检", "search", "q=巡检", pinned=True)
    mgr.views.create("现场", "documents", "doc_class=site", pinned=True)

    def rebuilding(request):  # the fault: the index is being rebuilt
        raise Unavailable("搜索索引正在重建，请稍后再试。", "The search index is being rebuilt; retry later.")

    monkeypatch.setattr(svc.index, "search", rebuilding)
    widgets = {w.view.name: w for w in mgr.dashboard(TODAY).widgets}
    assert widgets["巡检"].error is not None and widgets["巡检"].total == 0
    assert widgets["现场"].error is None and widgets["现场"].total == 2
