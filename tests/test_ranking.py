"""docsvc.core.ranking and the search box's reading of plain questions (docsvc.core.query)."""

from __future__ import annotations

import pytest

from docsvc.core import query as q
from docsvc.core import ranking, synonyms
from docsvc.core.search import SearchRequest, parse_request
from docsvc.errors import InvalidInput


def test_idf_is_never_negative_and_falls_with_document_frequency() -> None:
    values = [ranking.idf(1000, df) for df in (0, 1, 10, 500, 999, 1000)]
    assert values == sorted(values, reverse=True) and values[-1] >= 0


def test_bm25f_saturates_once_across_fields() -> None:
    body = ranking.bm25f([(1, 100, 100, 1.0)], 2.0)
    title = ranking.bm25f([(1, 5, 5, 3.0)], 2.0)
    both = ranking.bm25f([(1, 100, 100, 1.0), (1, 5, 5, 3.0)], 2.0)
    assert body < title < both < body + title  # more than either, less than the two summed
    assert both < 2.0 * (ranking.K1 + 1)  # never past the term's ceiling
    assert ranking.bm25f([], 2.0) == 0.0
    # Longer fields weigh an occurrence less.
    assert ranking.bm25f([(1, 400, 100, 1.0)], 1.0) < ranking.bm25f([(1, 50, 100, 1.0)], 1.0)


def test_query_grams_leave_out_particles_and_are_bounded() -> None:
    grams = ranking.query_grams(["合同到期后服务怎么续签？"])
    assert grams["续签"] == ranking.BIGRAM_WEIGHT and grams["续"] == ranking.CHAR_WEIGHT
    assert "么" not in grams and "怎" not in grams and "？" not in grams
    assert len(ranking.query_grams(["条款" * 400])) <= ranking.MAX_GRAMS
    assert ranking.query_grams(["SLA 2026"]) == {}


def test_a_question_is_ranked_by_its_grams_keywords_and_phrases_by_their_words() -> None:
    def grams(typed: str) -> dict[str, float]:
        return ranking.question_grams(q.parse_query(typed))

    question = grams("合同到期后服务怎么续签？")
    assert question == ranking.query_grams(["合同到期后服务怎么续签？"]) and "续签" in question
    # Keywords typed alone or apart, and a phrase alone, match whole: nothing to rank by grams.
    for typed in ("续签", "合同 续签 期限", '"服务等级协议"', "SLA-2026-0412", "type:sla", ""):
        assert grams(typed) == {}, typed
    # A stretch of two words or more makes a question; the terms it quotes are part of it.
    assert grams('"服务等级协议" 续签怎么办 SLA') == ranking.query_grams(["服务等级协议", "续签怎么办"])
    quoting = grams("什么情形构成“帮助信息网络犯罪活动罪”")
    assert "犯罪" in quoting and "情形" in quoting
    # What a query excludes, or searches in a metadata field, never ranks.
    assert grams("可用性怎么保证 -合同到期后续签") == grams("可用性怎么保证")
    assert grams("title:合同到期后续签") == {}
    assert grams("content:合同到期后续签") == grams("合同到期后续签")


def test_the_grams_of_a_question_are_those_it_was_typed_with_before_synonyms_split_it() -> None:
    table = synonyms.parse("机房 = 数据中心机房 = IDC")
    request = SearchRequest("搬机房的钱谁出", synonyms=table)
    parsed = parse_request(request)
    assert isinstance(parsed.node, q.Soft) and any(isinstance(n, q.Synonyms) for n in parsed.node.items)
    assert dict(parsed.grams) == ranking.query_grams(["搬机房的钱谁出"])
    assert "搬机" in dict(parsed.grams)  # across the synonym's edge


def test_document_grams_count_characters_and_bigrams_of_chinese_runs() -> None:
    counts = ranking.document_grams("续签续签。SLA 续")
    assert counts["续签"] == 2 and counts["签续"] == 1 and counts["续"] == 3 and "。" not in counts
    assert "签。" not in counts and not any(c.isascii() for c in counts)


def test_most_informative_keeps_the_rarest_present_words() -> None:
    df = {"服务": 900, "运维": 500, "续签": 3, "可用性": 40, "不存在": 0}.get
    assert ranking.most_informative(["服务", "运维", "续签", "可用性", "不存在"], lambda w: df(w, 0), 2) == {
        "续签",
        "可用性",
    }
    assert ranking.most_informative(["服务", "服务", "续签"], lambda w: 0, 5) == {"服务", "续签"}


@pytest.mark.parametrize(
    "typed",
    [
        '"合同到期后续签',
        '合同到期后续签"',
        "“合同到期后续签",
        "合同（到期后续签",
        "合同) 到期后续签",
        "AND 合同 到期后续签",
        "合同 到期后续签 OR",
        "NOT",
        "+",
        "()",
        '""',
        "合同 AND AND 续签",
        "(合同 OR) 续签",
    ],
)
def test_plain_text_with_stray_syntax_is_read_as_words(typed: str) -> None:
    node = q.parse_query(typed)  # never raises
    texts = [
        n.text for n in (node.items if isinstance(node, q.Soft) else (node,) if node else ()) if isinstance(n, q.Text)
    ]
    assert all(isinstance(t, str) for t in texts)


def test_balanced_quotes_still_make_a_phrase_and_filters_survive_a_malformed_rest() -> None:
    assert q.parse_query("“服务等级协议” 续签") == q.Soft((q.Text("服务等级协议", phrase=True), q.Text("续签")))
    node = q.parse_query("type:合同 (续签 AND")
    assert isinstance(node, q.Soft)
    assert q.Match(q.Field.DOC_TYPE, ("contract",)) in node.items and q.Text("续签") in node.items


def test_document_grams_read_letter_spaced_chinese_as_one_run() -> None:
    # A spaced-out heading ranks by its characters' bigrams as the unspaced one does.
    assert ranking.document_grams("合 同\t编\u3000号：乙方") == ranking.document_grams("合同编号：乙方")
    assert ranking.document_grams("合同\n编号")["同编"] == 0  # a line break still parts them


def test_a_letter_spaced_heading_pasted_in_is_the_word_it_spells() -> None:
    assert q.parse_query("合 同 编 号") == q.parse_query("合同编号") == q.Text("合同编号")
    assert q.parse_query("“服 务 协 议” 甲\u3000方") == q.Soft((q.Text("服务协议", phrase=True), q.Text("甲方")))
    assert q.parse_query("机房 搬 迁") == q.Soft((q.Text("机房"), q.Text("搬迁")))
    # Words of two or more characters keep their spaces; a lone character beside one too.
    assert q.parse_query("机房 搬迁") == q.Soft((q.Text("机房"), q.Text("搬迁")))
    assert q.parse_query("合 同编号") == q.Soft((q.Text("合"), q.Text("同编号")))
    assert q.parse_query("SLA 合 同") == q.Soft((q.Text("SLA"), q.Text("合同")))


@pytest.mark.parametrize("typed", ["date:2026-13", "year:二〇二六", "(" * 9 + "合同" + ")" * 9, "x" * 501])
def test_what_clearly_uses_the_query_language_wrongly_is_still_refused(typed: str) -> None:
    with pytest.raises(InvalidInput) as err:
        q.parse_query(typed)
    assert err.value.zh and err.value.en
