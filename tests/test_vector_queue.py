"""The embedder's queue in the catalog (docsvc.adapters.vectors): which versions still lack
passage vectors or a meaning vector by the running model, on SQLite and PostgreSQL. What it
costs at 100,000 versions is bench/bench_queues.py's to print."""

from __future__ import annotations

from docsvc.adapters import vectors
from docsvc.adapters.catalog import write_connection
from docsvc.core.extract import EXTRACTOR_VERSION
from docsvc.core.model import utcnow
from tests.conftest import add

MODEL = "model-a"


def _passages(conn, version_ids, model=MODEL):
    rows = [{"version_id": v, "text_key": f"key-{v}", "passages": 1, "vectors": b"\0\0"} for v in version_ids]
    vectors.put(conn, rows, model, utcnow())


def _pending(svc, model=MODEL, limit=100):
    with svc.catalog.engine.connect() as conn:
        return vectors.pending(conn, model, model, EXTRACTOR_VERSION, limit), vectors.count_pending(
            conn, model, model, EXTRACTOR_VERSION
        )


def test_a_version_waits_until_it_has_both_its_passages_and_its_meaning(svc):
    texts = ["机房巡检记录：温度正常。", "服务等级协议：可用性 99.9%。", "运维月报：故障 2 起。", "验收报告：通过。"]
    docs = [add(svc, t.encode(), f"{i}.txt", title=f"文档{i}").document for i, t in enumerate(texts)]
    # Another document with the first one's text: one content, two versions.
    docs.append(add(svc, texts[0].encode(), "copy.txt", title="副本").document)
    ids = [v.id for d in docs for v in svc.archive.history(d.id).versions]
    # Nothing is pending before its text is read: the queue waits for the extraction.
    assert _pending(svc) == ([], 0)
    svc.index.sync()
    newest_first = sorted(ids, reverse=True)
    assert _pending(svc) == (newest_first, 5)
    assert _pending(svc, limit=2) == (newest_first[:2], 5)

    first, second, third, fourth, again = (svc.archive.version(d.id, 1) for d in docs)
    with write_connection(svc.catalog.engine) as conn:
        _passages(conn, [first.id, again.id, second.id])  # passages, no meaning
        vectors.put_meanings(conn, {third.sha256: b"\0\0"}, MODEL, utcnow())  # a meaning, no passages
        _passages(conn, [fourth.id], model="model-b")  # another model's: not this one's
        vectors.put_meanings(conn, {fourth.sha256: b"\0\0"}, "model-b", utcnow())
    assert _pending(svc)[1] == 5
    with write_connection(svc.catalog.engine) as conn:
        vectors.put_meanings(conn, {first.sha256: b"\0\0"}, MODEL, utcnow())  # both versions of that content
    assert _pending(svc) == (sorted([second.id, third.id, fourth.id], reverse=True), 3)
    with write_connection(svc.catalog.engine) as conn:
        _passages(conn, [third.id, fourth.id])
        vectors.put_meanings(conn, {second.sha256: b"\0\0", fourth.sha256: b"\0\0"}, MODEL, utcnow())
    assert _pending(svc) == ([], 0)
    # One model's vectors are kept at a time: this model's replaced the other's, which would
    # make them all again.
    assert _pending(svc, model="model-b")[1] == 5
    # Text read again (OCR): that content's vectors go, and its versions wait again.
    with write_connection(svc.catalog.engine) as conn:
        vectors.forget(conn, first.sha256)
    assert _pending(svc) == (sorted([first.id, again.id], reverse=True), 2)
