"""The queue of suggested labels waiting for a person, read in the database on SQLite and
PostgreSQL: its count and its oldest entries, with the on-site rule (spec 9.2) applied there, so
that a dashboard after an import of thousands never loads the whole queue. What it costs at
100,000 is bench/bench_queues.py's to print."""

from __future__ import annotations

from docsvc.app import open_docsvc

USER = {"service_category": "4.2", "doc_class": "user"}
SITE = {"service_category": "4.2", "doc_class": "site", "project": "银行核心系统"}
INSPECTION = "巡检记录：机房温度正常，空调运行正常。"  # a type the rules are unsure of


def test_the_queue_is_counted_and_read_oldest_first_with_the_on_site_rule(config):
    svc = open_docsvc(config)
    try:
        svc.users.create_user("bob", "member", actor="test", password="a-long-password-1", projects=("银行核心系统",))
        svc.users.create_user("alice", "member", actor="test", password="a-long-password-2", projects=("港口运维二期",))
        svc.users.create_user("mgr", "manager", actor="test", password="a-long-password-3")
        bob = svc.guard(svc.users.principal_for_cli("bob"))
        made = []
        for i, meta in enumerate([USER, SITE, USER, SITE, USER, USER]):
            added = bob.add_document(f"{INSPECTION}第 {i} 次。".encode(), f"{i}.txt", {**meta, "title": f"巡检{i}"})
            made.append((added.document.id, meta is SITE))
        queue = svc.classifier.review_list()
        assert [i.document.id for i in queue] == [d for d, _ in made], "each upload waits for review, oldest first"
        user_docs = [d for d, site in made if not site]

        alice = svc.guard(svc.users.principal_for_cli("alice"))
        assert alice.review_count() == 4
        assert [i.document.id for i in alice.review_list()] == user_docs
        assert [i.document.id for i in alice.review_list(limit=2)] == user_docs[:2]
        for who in ("bob", "mgr"):
            g = svc.guard(svc.users.principal_for_cli(who))
            assert g.review_count() == 6
            assert [i.document.id for i in g.review_list(limit=3)] == [d for d, _ in made][:3]

        # A confirmed suggestion leaves the queue.
        bob.confirm_labels(made[0][0], {})
        assert alice.review_count() == 3 and alice.review_list(limit=1)[0].document.id == user_docs[1]
    finally:
        svc.close()
