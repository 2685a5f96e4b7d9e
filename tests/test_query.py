"""docsvc.core.query on any text: the search box's parser ends, quickly, on whatever is typed or
pasted, with a query, nothing to search, or a bilingual InvalidInput; never another exception."""

from __future__ import annotations

from hypothesis import HealthCheck, Phase, example, given, settings
from hypothesis import strategies as st

from docsvc.core.query import parse_query
from docsvc.errors import InvalidInput
from tests.conftest import ends_soon

# What the query language gives a meaning to, and what Chinese text is made of.
PIECES = [
    *'合同服务等级协议续签甲乙方 "“”「」『』()（）[]{}:：+-＋－*?~^!&|\\/.,，。、　\t\n',
    *("AND", "OR", "NOT", "and", "title:", "标题:", "year:", "date:", "2026-01-01", "..", "TO", "tag:", "SLA-2026"),
]


# No shrinking: a text that hangs the parser costs the alarm's time at every step of it.
@settings(
    max_examples=1500,
    deadline=None,
    phases=[Phase.explicit, Phase.generate],
    report_multiple_bugs=False,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(st.lists(st.sampled_from(PIECES), max_size=40).map("".join))
@example("」")  # a closing corner bracket alone once looped for ever
@example("合同」续签』")
def test_any_text_is_parsed_or_refused_in_both_languages(q):
    with ends_soon():
        try:
            parse_query(q)
        except InvalidInput as exc:
            assert exc.zh and exc.en and exc.field == "q"


def test_a_closing_corner_bracket_alone_is_punctuation():
    with ends_soon():
        assert parse_query("」") is None
        assert parse_query("合同」") == parse_query("合同")
        assert parse_query("「合同」").phrase  # balanced, still a phrase
