"""The Chinese analyzer: what a word is for indexing, querying and the classifier."""

from __future__ import annotations

import threading

import pytest

from docsvc.core import text
from docsvc.core.text import analyze, analyze_unknown, cjk_bigrams, normalize, words


def spans(s: str) -> list[tuple[str, str]]:
    """(token, the original text it covers)."""
    return [(t.text, s[t.start : t.end]) for t in analyze(s)]


def test_positions_are_compact_offsets_and_offsets_point_into_the_original_text() -> None:
    s = "甲方应在合同到期前三十日提出续签申请。"
    toks = list(analyze(s))
    for t in toks:
        assert normalize(s[t.start : t.end]) == t.text
        assert t.pos == t.start  # no separators before the full stop
    # Separators do not count: spaced-out text (as PDF extraction gives) keeps the offsets of
    # the unspaced text, and a part of a hyphenated word sits where the word would.
    spaced = [(t.text, t.pos) for t in analyze("服务 等级，协议") if not t.sub]
    assert spaced == [("服务", 0), ("等级", 2), ("协议", 4)]
    assert [(t.text, t.pos) for t in analyze("service-level agreement")] == [
        ("service-level", 0),
        ("service", 0),
        ("level", 7),
        ("agreement", 12),
    ]


def test_offsets_survive_full_width_folding() -> None:
    s = "ＳＬＡ编号：ＳＬＡ－２０２６－００１，可用性９９．９％"
    got = spans(s)
    assert ("sla-2026-001", "ＳＬＡ－２０２６－００１") in got
    assert ("99.9", "９９．９") in got
    assert ("可用性", "可用性") in got


def test_offsets_survive_characters_that_fold_to_several() -> None:
    s = "㈱大连 ﬁle 合同"  # ㈱ → (株), ﬁ → fi: the folded text is longer than the original
    got = spans(s)
    assert ("file", "ﬁle") in got
    assert ("合同", "合同") in got


def test_nfkc_and_lowercase() -> None:
    assert normalize("ＡＢＣ１２３，（测试）") == "abc123,(测试)"
    assert words("ＩＳＯ／ＩＥＣ") == words("iso/iec")


def test_single_character_words_are_kept() -> None:
    assert {"后", "云"} <= set(words("合同到期后迁移到云"))


def test_punctuation_and_whitespace_are_dropped() -> None:
    assert words("，。！？、；：“”（）《》 \n\t…—") == []


@pytest.mark.parametrize(
    "term",
    [
        "信息服务管理",
        "服务等级协议",
        "服务级别协议",
        "变更管理",
        "服务支持",
        "服务提供",
        "服务交付",
        "系统集成",
        "运营和维护",
        "运维",
        "数据加工",
        "信息化工程监理",
        "验收报告",
        "可用性",
        "违约责任",
        "争议解决",
        "知识产权",
        "保密",
    ],
)
def test_domain_dictionary_keeps_spec_terms_whole(term: str) -> None:
    assert term in words(f"根据{term}的要求执行")
    assert [t.text for t in analyze(term) if not t.sub] == [term]


def test_dictionary_words_inside_longer_words_are_emitted_as_parts() -> None:
    toks = list(analyze("信息服务管理规范"))
    main = [t.text for t in toks if not t.sub]
    parts = {t.text for t in toks if t.sub}
    assert main == ["信息服务管理规范"]
    # Not only 2- and 3-character parts (jieba's search mode): 信息服务 and 信息服务管理 too.
    assert {"信息", "服务", "管理", "规范", "信息服务", "信息服务管理"} <= parts


def test_words_across_the_spaces_of_letter_spaced_chinese_are_emitted_as_parts() -> None:
    # A heading spaced out by hand, a form's 甲　　方, a text layer or OCR line with spaces:
    # Chinese has no spaces between words, so the word across them is found as typed unspaced.
    assert ("服务等级协议", "服务 等级 协议") in spans("附件三 服务 等级 协议 已盖章")
    assert ("合同", "合 同") in spans("合 同 编 号：SLA-2026-0412")
    assert ("编号", "编 号") in spans("合 同 编 号：SLA-2026-0412")
    assert ("甲方", "甲\u3000\u3000方") in spans("甲\u3000\u3000方：某某公司")
    toks = list(analyze("项目 经理\t张三"))
    assert [(t.text, t.pos, t.sub) for t in toks if t.text == "项目经理"] == [("项目经理", 0, True)]
    # The words on each side are the same as before, and a query's analysis (main words) too.
    assert [t.text for t in toks if not t.sub] == ["项目", "经理", "张", "三"]
    # A space the author meant stays a boundary: 上海 市场部 is not cut as 上海市 / 场部.
    assert [t.text for t in analyze("上海 市场部") if not t.sub] == ["上海", "市场部"]
    assert "上海市" not in words("上海 市场部")
    # Nothing crosses a line break, punctuation or a Latin word.
    for s in ("服务\n等级协议", "服务，等级协议", "服务 SLA 等级协议"):
        assert "服务等级协议" not in words(s)


def test_bigrams_of_unknown_words_across_the_spaces_of_letter_spaced_chinese() -> None:
    # A name jieba does not know, spaced out in a heading, is found as the name typed unspaced.
    grams = [(t.text, t.pos) for t in analyze_unknown("乙 方：云 栖 数 服")]
    assert grams == [("云栖", 2), ("栖数", 3), ("数服", 4)]
    assert [t.text for t in analyze_unknown("云栖数服")] == ["云栖", "栖数", "数服"]
    # Known words across the spaces are words, not bigrams.
    assert list(analyze_unknown("合 同 编 号")) == []


def test_each_words_positions_stay_in_order_with_words_across_spaces() -> None:
    positions: dict[str, list[int]] = {}
    for t in analyze("合 同 合同 合 同"):
        positions.setdefault(t.text, []).append(t.pos)
    assert positions["合同"] == [0, 2, 4]
    for pos in positions.values():
        assert pos == sorted(pos)


@pytest.mark.parametrize(
    "source, whole, parts",
    [
        ("GB/T 28827.1-2012", ["gb/t", "28827.1-2012"], ["gb", "t", "28827.1", "28827", "2012"]),
        ("ISO/IEC 20000", ["iso/iec", "20000"], ["iso", "iec"]),
        ("SLA-2026-001", ["sla-2026-001"], ["sla", "2026", "001"]),
        ("HT-DL-2026-0042", ["ht-dl-2026-0042"], ["ht", "dl", "2026", "0042"]),
        (
            "zhang.san@example.com",
            ["zhang.san@example.com"],
            ["zhang.san", "example.com", "zhang", "san", "example", "com"],
        ),
        ("版本v2.3.1发布", ["v2.3.1"], ["2.3.1", "v2", "3", "1"]),
    ],
)
def test_identifiers_are_kept_whole_and_in_parts(source: str, whole: list[str], parts: list[str]) -> None:
    toks = list(analyze(source))
    assert [t.text for t in toks if not t.sub and t.text in whole] == whole
    assert set(parts) <= {t.text for t in toks if t.sub}


def test_identifier_glued_to_chinese_is_still_found() -> None:
    assert "ht-dl-2026-0042" in words("合同编号HT-DL-2026-0042已归档")


def test_bigrams() -> None:
    assert cjk_bigrams("合同续签") == ["合同", "同续", "续签"]
    assert cjk_bigrams("云") == ["云"]
    assert cjk_bigrams("ＳＬＡ续签，云") == ["续签", "云"]


def test_unknown_bigrams_cover_only_what_jieba_does_not_know() -> None:
    # 云栖数 are single characters to jieba (an unknown name), 服务 and 平台 are words: bigrams
    # over the stretch, one character of context on each side, none inside known words.
    s = "甲方使用云栖数服务平台。"
    got = [(t.text, t.pos, s[t.start : t.end]) for t in analyze_unknown(s)]
    assert got == [("用云", 3, "用云"), ("云栖", 4, "云栖"), ("栖数", 5, "栖数"), ("数服", 6, "数服")]
    words_pos = {t.text: t.pos for t in analyze(s) if not t.sub}
    assert {g[0]: g[1] for g in got}["云栖"] == words_pos["云"]  # the same offsets as the words
    assert list(analyze_unknown("服务等级协议")) == []


def test_query_and_document_analyse_the_same_way() -> None:
    # One analyzer: a phrase analysed alone gives the same sequence as inside a document.
    doc = words("本服务等级协议自签订之日起生效")
    phrase = words("服务等级协议")
    n = len(phrase)
    assert any(doc[i : i + n] == phrase for i in range(len(doc)))


def test_jieba_loads_once_across_threads() -> None:
    got: list[object] = []
    threads = [threading.Thread(target=lambda: got.append(text.load())) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len({id(g) for g in got}) == 1


def test_analyzer_version_names_the_dictionary() -> None:
    assert text.ANALYZER_VERSION.startswith("zh-")
    assert len(text.ANALYZER_VERSION.split("+")[1]) == 10


def _python_jieba_cut(tk, run: str) -> list[str]:
    """Pure-Python jieba's precise mode without HMM: the DAG and the best route."""
    dag = tk.get_DAG(run)
    route: dict[int, tuple[float, int]] = {}
    tk.calc(run, dag, route)
    out, x = [], 0
    while x < len(run):
        y = route[x][1] + 1
        out.append(run[x:y])
        x = y
    return out


@pytest.mark.slow
def test_jieba_rs_cuts_as_python_jieba_does() -> None:
    # docsvc segments with jieba-rs for speed; an index built by either must answer the same
    # queries, so the cuts (domain dictionary included) and the dictionary look-ups must agree
    # on real documents and on random text over jieba's whole vocabulary.
    import random
    from pathlib import Path

    import jieba

    py = jieba.Tokenizer()
    py.initialize()
    for word, freq in text.domain_words():
        py.add_word(word, freq)
    rs = text.load()
    data = Path(__file__).parent / "data"
    texts = [p.read_text(encoding="utf-8") for p in sorted(data.rglob("*.txt"))]
    vocab = [w for w in py.FREQ if py.FREQ[w] and text.has_cjk(w)]
    rng = random.Random(11)
    texts += ["".join(rng.choices(vocab, k=400)) for _ in range(20)]
    runs = {m.group() for t in texts for m in text._CJK_RUN_RE.finditer(normalize(t))}
    assert len(runs) > 2000
    assert [r for r in runs if rs.cut(r, False) != _python_jieba_cut(py, r)] == []
    grams = {r[i : i + n] for r in list(runs)[:500] for n in (2, 3, 4) for i in range(len(r) - n + 1)}
    assert [g for g in grams if rs.has_word(g) != bool(py.FREQ.get(g))] == []
