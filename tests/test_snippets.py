"""Snippets show why a document matched (docsvc.core.search.make_snippet)."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from docsvc.core.search import SNIPPET_CHARS, Snippet, make_snippet


def spans_of(content: str, *words: str) -> list[tuple[int, int]]:
    out = []
    for w in words:
        at = content.find(w)
        while at >= 0:
            out.append((at, at + len(w)))
            at = content.find(w, at + len(w))
    return out


def marked(s: Snippet) -> list[str]:
    return [s.text[a:b] for a, b in s.marks]


FILLER = "本节说明一般事项，与问题无关。" * 12


def test_the_passage_with_the_most_distinct_words_wins_over_the_first_common_one() -> None:
    content = "服务内容见附件。" + FILLER + "合同到期前三十日，双方协商续签服务合同，续签条件另行约定。" + FILLER
    s = make_snippet(content, spans_of(content, "服务", "合同", "续签", "到期"))
    assert all(w in "|".join(marked(s)) for w in ("合同", "到期", "续签"))
    assert s.text.startswith("…合同到期前三十日")  # at the sentence where the match begins


def test_a_phrase_outweighs_a_common_word_repeated() -> None:
    content = "运维运维运维运维。" + FILLER + "乙方按服务等级协议提供支持。" + FILLER
    s = make_snippet(content, spans_of(content, "运维", "服务等级协议"))
    assert "服务等级协议" in marked(s)


def test_a_second_passage_shows_words_the_first_lacks() -> None:
    content = "故障响应时间为三十分钟。" + FILLER * 2 + "机房每季度巡检一次。" + FILLER
    s = make_snippet(content, spans_of(content, "故障", "响应", "巡检"))
    assert " … " in s.text and all(w in "|".join(marked(s)) for w in ("故障", "响应", "巡检"))
    assert s.text.index("故障") < s.text.index("巡检")  # in the document's order
    assert len(s.text) <= SNIPPET_CHARS * 3 // 2


def test_one_passage_when_a_second_would_add_nothing() -> None:
    content = "续签条款。" + FILLER * 2 + "续签条款。" + FILLER
    s = make_snippet(content, spans_of(content, "续签"))
    assert " … " not in s.text and marked(s) == ["续签"]


def test_short_text_is_shown_whole() -> None:
    assert make_snippet("前  言\n续签", [(5, 7)]) == Snippet("前 言 续签", ((4, 6),))
    assert make_snippet("", []) == Snippet("")


@settings(max_examples=200, deadline=None)
@given(
    st.text(alphabet="续签合同服务。 \n，ab", max_size=600),
    st.lists(st.tuples(st.integers(0, 600), st.integers(1, 8)), max_size=12),
)
def test_marks_are_disjoint_spans_of_the_text_covering_only_what_was_found(content, raw) -> None:
    spans = [(a, min(a + n, len(content))) for a, n in raw if a < len(content)]
    s = make_snippet(content, spans)
    last = 0
    for a, b in s.marks:
        assert last <= a < b <= len(s.text)
        last = b
    found = {" ".join(content[a:b].split()) for a, b in spans}
    for piece in marked(s):
        assert piece.strip() == "" or any(piece.strip() in f or f in piece for f in found if f)


def test_a_word_repeated_300000_times_is_not_scanned_whole_and_a_later_word_still_shows():
    """A passage is looked for among the first matches and the first of each other string (a
    document repeating a query word 300,000 times took two seconds a hit; bench figures, not a
    timed test): the later word still gets its passage."""
    content = "合同" * 300_000 + "。续签条款"
    spans = [(2 * i, 2 * i + 2) for i in range(300_000)] + [(600_001, 600_003)]
    snippet = make_snippet(content, spans)
    assert "续签" in snippet.text and (snippet.text.index("续签"), snippet.text.index("续签") + 2) in snippet.marks
