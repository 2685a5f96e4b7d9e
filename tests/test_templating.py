"""Word templates: package checks, field discovery, lint and sandboxed rendering.

Templates are built with python-docx inside the tests; hostile packages are built by hand with
zipfile, so the tests need nothing outside the repository.
"""

from __future__ import annotations

import io
import os
import secrets
import signal
import struct
import threading
import time
import zipfile
from collections.abc import Iterator

import docx
import pytest

from docsvc.core.content import check_docx_package
from docsvc.core.templating import LintReport, RenderPool, discover_fields, lint_template, render_docx
from docsvc.errors import InvalidInput, TemplateError, TooLarge, UnsupportedType
from tests.conftest import within
from tests.docxutil import docx_text

W_NS = "http://schemas.openxmlformats.org/wordprocessingml/2006/main"
R_NS = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"


@pytest.fixture(scope="module")
def pool() -> Iterator[RenderPool]:
    p = RenderPool(2)
    yield p
    p.close()


# ------------------------------------------------------------------------------- builders


def make_template(
    *paragraphs: str | list[str],
    header: str | None = None,
    footer: str | None = None,
    table: list[list[str]] | None = None,
    title: str | None = None,
) -> bytes:
    """A .docx made by python-docx. A list item is one paragraph written as several runs."""
    d = docx.Document()
    for para in paragraphs:
        p = d.add_paragraph()
        for run in [para] if isinstance(para, str) else para:
            p.add_run(run)
    if table:
        t = d.add_table(rows=len(table), cols=max(len(r) for r in table))
        for row, cells in zip(t.rows, table):
            for cell, text in zip(row.cells, cells):
                cell.text = text
    if header is not None:
        d.sections[0].header.paragraphs[0].text = header
    if footer is not None:
        d.sections[0].footer.paragraphs[0].text = footer
    if title is not None:
        d.core_properties.title = title
    buf = io.BytesIO()
    d.save(buf)
    return buf.getvalue()


_NOTE_TYPES = {
    "footnotes": ("footnote", "application/vnd.openxmlformats-officedocument.wordprocessingml.footnotes+xml"),
    "endnotes": ("endnote", "application/vnd.openxmlformats-officedocument.wordprocessingml.endnotes+xml"),
}


def add_notes(
    data: bytes, *, footnote: str | None = None, endnote: str | None = None, extra_section: bool = False
) -> bytes:
    """Add a footnotes and/or endnotes part (python-docx cannot write them)."""
    notes = {"footnotes": footnote, "endnotes": endnote}
    src = zipfile.ZipFile(io.BytesIO(data))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst:
        for item in src.infolist():
            content = src.read(item.filename)
            if item.filename == "[Content_Types].xml":
                extra = "".join(
                    f'<Override PartName="/word/{kind}.xml" ContentType="{_NOTE_TYPES[kind][1]}"/>'
                    for kind, text in notes.items()
                    if text is not None
                )
                content = content.replace(b"</Types>", extra.encode() + b"</Types>")
            elif item.filename == "word/_rels/document.xml.rels":
                extra = "".join(
                    f'<Relationship Id="rIdN{kind}" Type="{R_NS}/{kind}" Target="{kind}.xml"/>'
                    for kind, text in notes.items()
                    if text is not None
                )
                content = content.replace(b"</Relationships>", extra.encode() + b"</Relationships>")
            elif item.filename == "word/document.xml" and extra_section:
                # A second section: docxtpl used to render footnotes once per section.
                content = content.replace(b"<w:body>", b"<w:body><w:p><w:pPr><w:sectPr/></w:pPr></w:p>", 1)
            dst.writestr(item, content)
        for kind, text in notes.items():
            if text is not None:
                tag = _NOTE_TYPES[kind][0]
                dst.writestr(
                    f"word/{kind}.xml",
                    (
                        '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
                        f'<w:{kind} xmlns:w="{W_NS}"><w:{tag} w:id="1"><w:p><w:r>'
                        f'<w:t xml:space="preserve">{text}</w:t></w:r></w:p></w:{tag}></w:{kind}>'
                    ),
                )
    return out.getvalue()


def raw_package(
    document_body: str = "<w:p><w:r><w:t>hello</w:t></w:r></w:p>",
    *,
    prolog: str = "",
    extra: dict[str, bytes] | None = None,
    content_types_extra: str = "",
    level: int = 6,
    skip: tuple[str, ...] = (),
    main_type: str = "wordprocessingml.document.main+xml",
) -> bytes:
    """A minimal OOXML package written member by member (for hostile packages)."""
    members = {
        "[Content_Types].xml": (
            '<?xml version="1.0" encoding="UTF-8"?><Types xmlns="http://schemas.openxmlformats.'
            'org/package/2006/content-types"><Default Extension="rels" ContentType="application/'
            'vnd.openxmlformats-package.relationships+xml"/><Default Extension="xml" '
            'ContentType="application/xml"/><Override PartName="/word/document.xml" '
            f'ContentType="application/vnd.openxmlformats-officedocument.{main_type}"/>'
            f"{content_types_extra}</Types>"
        ).encode(),
        "_rels/.rels": (
            '<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="http://schemas.'
            'openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" '
            f'Type="{R_NS}/officeDocument" Target="word/document.xml"/></Relationships>'
        ).encode(),
        "word/document.xml": (
            f'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n{prolog}'
            f'<w:document xmlns:w="{W_NS}" xmlns:r="{R_NS}"><w:body>{document_body}'
            "<w:sectPr/></w:body></w:document>"
        ).encode(),
    }
    members.update(extra or {})
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED, compresslevel=level) as z:
        for name, content in members.items():
            if name not in skip:
                z.writestr(name, content)
    return buf.getvalue()


def corrupt_first_member(data: bytes) -> bytes:
    out = bytearray(data)
    name_len, extra_len = struct.unpack("<HH", out[26:30])
    out[30 + name_len + extra_len + 5] ^= 0xFF
    return bytes(out)


def understate_sizes(data: bytes, member: str, declared: int) -> bytes:
    """Rewrite one member's uncompressed size in both headers: a package that lies."""
    out = bytearray(data)
    name = member.encode()
    local = out.find(b"PK\x03\x04")
    while local >= 0:
        n, _ = struct.unpack_from("<HH", out, local + 26)
        if out[local + 30 : local + 30 + n] == name:
            struct.pack_into("<I", out, local + 22, declared)
        local = out.find(b"PK\x03\x04", local + 4)
    central = out.find(b"PK\x01\x02")
    while central >= 0:
        n = struct.unpack_from("<H", out, central + 28)[0]
        if out[central + 46 : central + 46 + n] == name:
            struct.pack_into("<I", out, central + 24, declared)
        central = out.find(b"PK\x01\x02", central + 4)
    return bytes(out)


PNG = (
    b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x02\x00\x00"
    b"\x00\x90wS\xde\x00\x00\x00\x0cIDATx\x9cc\xf8\xff\xff?\x00\x05\xfe\x02\xfe\xa7\x35\x81"
    b"\x84\x00\x00\x00\x00IEND\xaeB`\x82"
)
XXE = (
    '<!DOCTYPE w:document [<!ENTITY xxe SYSTEM "file:///etc/hostname">'
    '<!ENTITY % remote SYSTEM "http://127.0.0.1:9/x.dtd"> %remote;]>\n'
)
LAUGHS = (
    "<!DOCTYPE w:document ["
    + '<!ENTITY lol0 "lol">'
    + "".join(f'<!ENTITY lol{i} "{f"&lol{i - 1};" * 10}">' for i in range(1, 10))
    + "]>\n"
)


# ------------------------------------------------------------------------------- package check

BAD_PACKAGES = {
    "png_renamed": (PNG, UnsupportedType, "not_docx"),
    "text_file": (b"this is just text, not a word document\n", UnsupportedType, "not_docx"),
    "empty": (b"", InvalidInput, "empty"),
    "corrupt_crc": (corrupt_first_member(raw_package()), InvalidInput, "corrupt"),
    "many_members": (
        raw_package(extra={f"customXml/item{i}.xml": b"" for i in range(20000)}),
        TooLarge,
        "too_many_members",
    ),
    "zip_bomb": (raw_package(f"<w:p><w:r><w:t>{'A' * 48_000_000}</w:t></w:r></w:p>", level=9), TooLarge, "zip_bomb"),
    "xxe": (raw_package("<w:p><w:r><w:t>before &xxe; after</w:t></w:r></w:p>", prolog=XXE), InvalidInput, "dtd"),
    "billion_laughs": (raw_package("<w:p><w:r><w:t>&lol9;</w:t></w:r></w:p>", prolog=LAUGHS), InvalidInput, "dtd"),
    "zip_slip": (raw_package(extra={"../../../../tmp/docsvc_zipslip.txt": b"x"}), InvalidInput, "unsafe_name"),
    "absolute_name": (raw_package(extra={"/tmp/docsvc_abs.txt": b"x"}), InvalidInput, "unsafe_name"),
    "backslash_name": (raw_package(extra={"word\\..\\..\\evil.txt": b"x"}), InvalidInput, "unsafe_name"),
    "missing_main_part": (raw_package(skip=("word/document.xml",)), InvalidInput, "missing_part"),
    "missing_content_types": (raw_package(skip=("[Content_Types].xml",)), InvalidInput, "missing_part"),
    "vba_project": (raw_package(extra={"word/vbaProject.bin": b"\xd0\xcf\x11\xe0"}), UnsupportedType, "macros"),
    "macro_enabled_type": (
        raw_package(
            content_types_extra=(
                '<Override PartName="/word/x.xml" ContentType="application/vnd.ms-word.document.'
                'macroEnabled.main+xml"/>'
            )
        ),
        UnsupportedType,
        "macros",
    ),
    "utf16_part": (
        raw_package(extra={"word/styles.xml": '<?xml version="1.0" encoding="UTF-16"?><w:styles/>'.encode("utf-16")}),
        InvalidInput,
        "xml_encoding",
    ),
    "dtd_in_other_part": (
        raw_package(extra={"word/header1.xml": b"<?xml version='1.0'?><!DOCTYPE x [<!ENTITY a 'b'>]><x>&a;</x>"}),
        InvalidInput,
        "dtd",
    ),
}


@pytest.mark.timing
@pytest.mark.parametrize("name", sorted(BAD_PACKAGES))
def test_bad_packages_are_refused_before_parsing(name: str) -> None:
    data, error, reason = BAD_PACKAGES[name]
    started = time.monotonic()
    with pytest.raises(error) as caught:
        check_docx_package(data)
    assert caught.value.details["reason"] == reason
    assert caught.value.zh and caught.value.en
    assert time.monotonic() - started < within(1.0)


def test_a_sound_zip_that_is_not_a_word_document(pool: RenderPool) -> None:
    wrong_type = raw_package(main_type="spreadsheetml.sheet.main+xml")
    no_relationship = raw_package(skip=("_rels/.rels",))
    for data in (wrong_type, no_relationship):
        check_docx_package(data)  # the zip itself is fine
        for call in (lambda d: render_docx(d, {}, pool=pool), lambda d: discover_fields(d, pool=pool)):
            with pytest.raises(UnsupportedType) as caught:
                call(data)
            assert caught.value.details["reason"] == "not_word_document"


def test_dtd_straddling_a_read_chunk_is_found() -> None:
    pad = "x" * (64 * 1024 - 120)  # puts "<!DOCTYPE" across the first 64 KiB boundary
    data = raw_package(
        extra={"word/header1.xml": (f"<?xml version='1.0'?><!--{pad}--><!DOCTYPE x [<!ENTITY a 'b'>]><x/>").encode()}
    )
    with pytest.raises(InvalidInput) as caught:
        check_docx_package(data)
    assert caught.value.details["reason"] == "dtd"


def test_understated_sizes_do_not_let_a_member_inflate_past_its_header() -> None:
    big = raw_package(f"<w:p><w:r><w:t>{'A' * 2_000_000}</w:t></w:r></w:p>")
    with pytest.raises(InvalidInput) as caught:
        check_docx_package(understate_sizes(big, "word/document.xml", 1000))
    assert caught.value.details["reason"] in {"corrupt", "size_mismatch"}


def test_a_part_seen_before_is_judged_by_its_bytes_not_by_its_header() -> None:
    # Packages made from one template share their big parts (styles, theme): a part whose
    # compressed bytes passed before is not inflated again, and its header still has to agree.
    from docsvc.core import content

    content._CLEAN_MEMBERS.clear()
    first = make_template("甲方：{{ party_a.name }}")
    second = make_template("乙方：{{ party_b.name }}")
    check_docx_package(first)
    assert content._CLEAN_MEMBERS  # styles.xml and the like, remembered by their bytes
    remembered = dict(content._CLEAN_MEMBERS)
    info = check_docx_package(second)
    assert dict(content._CLEAN_MEMBERS).keys() >= remembered.keys()
    content._CLEAN_MEMBERS.clear()
    content._PASSED.clear()
    assert check_docx_package(second) == info  # the same verdict as inflating everything
    check_docx_package(first)
    with pytest.raises(InvalidInput) as caught:  # same bytes, a header that understates them
        check_docx_package(understate_sizes(second, "word/styles.xml", 1000))
    assert caught.value.details["reason"] == "size_mismatch"


def test_expanded_size_limit() -> None:
    data = raw_package(f"<w:p><w:r><w:t>{'A' * 3_000_000}</w:t></w:r></w:p>")
    with pytest.raises(TooLarge):
        check_docx_package(data, max_expanded=2 * 1024 * 1024)


def test_a_real_template_passes() -> None:
    info = check_docx_package(make_template("甲方：{{ party_a.name }}", header="{{ contract_no }}"))
    assert 5 < info.members < 40
    assert info.expanded_bytes > 10_000


def test_render_lint_and_discover_refuse_bad_packages(pool: RenderPool) -> None:
    for call in (
        lambda d: render_docx(d, {}, pool=pool),
        lambda d: discover_fields(d, pool=pool),
        lambda d: lint_template(d, pool=pool),
    ):
        for name in ("png_renamed", "zip_bomb", "xxe", "corrupt_crc"):
            data, error, reason = BAD_PACKAGES[name]
            with pytest.raises(error) as caught:
                call(data)
            assert caught.value.details["reason"] == reason


# ------------------------------------------------------------------------------- discovery


def contract_template() -> bytes:
    data = make_template(
        "信息服务管理合同 {{ contract_no }}",
        "甲方：{{ party_a.name }}，地址：{{ party_a['address'] }}",
        "{% if sla.level == 'gold' %}金牌服务{% endif %}",
        "{% set owner = party_b %}乙方：{{ owner.name|upper }}",
        "{% for item in services|sort(attribute='code') %}{{ item.code }} {{ item.name.strip() }}{% endfor %}",
        "{% for k, v in extra.items() %}{{ k }}={{ v.label }}{% endfor %}",
        "{% with c = party_a.contact %}联系人：{{ c.phone }}{% endwith %}",
        "{% macro money(x) %}{{ '%.2f'|format(x) }}{% endmacro %}合计：{{ money(total) }}",
        "{% for m in milestones %}{{ loop.index }}. {{ m.title }}"
        "{% for d in m.deliverables %}{{ d.name }}{% endfor %}{% endfor %}",
        table=[
            ["期次", "金额"],
            ["{%tr for row in payment_schedule %}", ""],
            ["{{ row.phase }}", "{{ row.amount }}"],
            ["{%tr endfor %}", ""],
        ],
        header="合同编号：{{ contract_no }}",
        footer="{{ party_a.name }} 第 {{ page_hint }} 页",
        title="{{ contract_no }} 信息服务管理合同",
    )
    return add_notes(data, footnote="注：{{ notes.footnote }}", endnote="尾注：{{ notes.endnote }}")


def test_discover_fields_everywhere(pool: RenderPool) -> None:
    report = discover_fields(contract_template(), pool=pool)
    assert report.paths == {
        "contract_no",
        "party_a.name",
        "party_a.address",
        "sla.level",
        "party_b.name",
        "services[]",
        "services[].code",
        "services[].name",
        "extra",
        "party_a.contact.phone",
        "total",
        "milestones[]",
        "milestones[].title",
        "milestones[].deliverables[]",
        "milestones[].deliverables[].name",
        "payment_schedule[]",
        "payment_schedule[].phase",
        "payment_schedule[].amount",
        "page_hint",
        "notes.footnote",
        "notes.endnote",
    }
    # Document order: the first field of the body comes first.
    assert report.fields[0].path == "contract_no"
    parts = {loc.part for loc in report.get("contract_no").locations}
    assert parts == {"word/document.xml", "word/header1.xml", "docProps/core.xml#title"}
    assert report.get("page_hint").locations[0].part == "word/footer1.xml"
    assert report.get("notes.footnote").locations[0].part == "word/footnotes.xml"
    assert report.get("notes.endnote").locations[0].part == "word/endnotes.xml"
    [amount] = report.get("payment_schedule[].amount").locations
    assert amount.part == "word/document.xml"
    assert amount.text.startswith("{{ row.amount }}")  # + the {%tr endfor %} docxtpl moved here
    party = report.get("party_a.name").locations[0]
    assert party.text == "甲方：{{ party_a.name }}，地址：{{ party_a['address'] }}"


def test_docxtpl_paragraph_and_cell_tags(pool: RenderPool) -> None:
    data = make_template(
        "{%p if show_terms %}",
        "条款：{{ terms }}",
        "{%p endif %}",
        table=[["{%tc for c in columns %}", "{{ c.title }}", "{%tc endfor %}"]],
    )
    report = discover_fields(data, pool=pool)
    assert report.paths == {"show_terms", "terms", "columns[]", "columns[].title"}
    assert lint_template(data, pool=pool).issues == ()
    out = render_docx(
        data, {"show_terms": True, "terms": "甲乙双方", "columns": [{"title": "期次"}, {"title": "金额"}]}, pool=pool
    )
    d = docx.Document(io.BytesIO(out))
    assert [p.text for p in d.paragraphs] == ["条款：甲乙双方"]
    assert [c.text for c in d.tables[0].rows[0].cells] == ["期次", "金额"]


def test_location_text_is_truncated(pool: RenderPool) -> None:
    report = discover_fields(make_template("说明" * 100 + "{{ x }}"), pool=pool)
    text = report.get("x").locations[0].text
    assert len(text) <= 60 and text.endswith("…")


# ------------------------------------------------------------------------------- lint


def issues_by_code(report: LintReport, code: str) -> list:
    return [i for i in report.issues if i.code == code]


def test_clean_template_has_no_issues(pool: RenderPool) -> None:
    report = lint_template(make_template("甲方：{{ party_a.name }}"), {"party_a.name"}, pool=pool)
    assert report.ok and report.issues == ()


def test_the_same_template_and_fields_are_linted_once(pool: RenderPool, monkeypatch) -> None:
    import docsvc.core.templating as templating

    calls = []
    real = templating.call
    monkeypatch.setattr(templating, "call", lambda *a, **k: calls.append(a[1]) or real(*a, **k))
    data = make_template(f"甲方：{{{{ party_a.name }}}} {secrets.token_hex(4)}")
    first = lint_template(data, {"party_a.name"}, pool=pool)
    assert lint_template(data, {"party_a.name"}, pool=pool) == first and calls == ["lint"]
    other = lint_template(data, {"party_a.name", "amount"}, pool=pool)  # other fields: linted again
    assert calls == ["lint", "lint"] and [i.subject for i in issues_by_code(other, "unused_field")] == ["amount"]


def test_lint_syntax_error_names_the_paragraph(pool: RenderPool) -> None:
    report = lint_template(make_template("第一段", "金额：{{ amount | }}", "第三段"), pool=pool)
    [issue] = issues_by_code(report, "syntax_error")
    assert not report.ok and issue.severity == "error"
    assert issue.location.part == "word/document.xml"
    assert issue.location.text == "金额：{{ amount | }}"
    assert "模板语法错误" in issue.zh and "syntax error" in issue.en


def test_lint_names_are_snake_case_or_chinese(pool: RenderPool) -> None:
    report = lint_template(
        make_template("{{ 甲方名称 }}", "{{ party.Name }}", "{{ ok_name }}", "{{ partyB }}"), pool=pool
    )
    bad = issues_by_code(report, "bad_name")
    assert {i.subject for i in bad} == {"Name", "partyB"}
    assert {i.location.text for i in bad} == {"{{ party.Name }}", "{{ partyB }}"}
    assert all(i.severity == "error" for i in bad)
    assert {i.fix_zh for i in bad} == {"改为 name", "改为 party_b"}


def test_lint_reports_every_broken_tag_at_its_paragraph_or_cell(pool: RenderPool) -> None:
    data = make_template(
        "第一段",
        "金额：{{ amount | }}",
        "{{ 甲方（委托方）名称 }}",
        "{% if a %}有",
        "{% endfor %}",
        table=[["项目", "说明"], ["一", "{{ b + }}"]],
    )
    report = lint_template(data, pool=pool)
    syntax = issues_by_code(report, "syntax_error")
    assert [i.location.text for i in syntax] == ["金额：{{ amount | }}", "{{ 甲方（委托方）名称 }}", "{{ b + }}"]
    assert [i.location.place for i in syntax] == ["第 2 段", "第 3 段", "表格 1 第 2 行第 2 列"]
    assert "全角标点" in syntax[1].fix_zh and "{{ 甲方委托方名称 }}" in syntax[1].fix_zh
    unbalanced = issues_by_code(report, "unbalanced_block")
    assert {(i.subject, i.location.place) for i in unbalanced} == {
        ("{% endfor %}", "第 5 段"),
        ("{% if a %}", "第 4 段"),
    }
    assert all(i.fix_zh and i.fix_en for i in report.issues)
    assert str(syntax[2].location) == "正文 表格 1 第 2 行第 2 列：“{{ b + }}”"


def test_lint_tick_boxes_are_fields(pool: RenderPool) -> None:
    data = make_template("争议解决：{{☐ 争议解决方式:仲裁 }}　{{☐ 争议解决方式：诉讼 }}", "□ 是否出境：{{□ 数据出境 }}")
    report = lint_template(data, {"争议解决方式", "数据出境"}, pool=pool)
    assert report.issues == ()
    fields = discover_fields(data, pool=pool)
    assert fields.paths == {"争议解决方式", "数据出境"}
    assert {(c.path, c.choices) for c in fields.checkboxes} == {("争议解决方式", ("仲裁", "诉讼")), ("数据出境", ())}
    out = render_docx(data, {"争议解决方式": "诉讼", "数据出境": False}, pool=pool)
    text = "\n".join(p.text for p in docx.Document(io.BytesIO(out)).paragraphs)
    assert "争议解决：☐仲裁　☑诉讼" in text and "□ 是否出境：☐" in text


def test_lint_split_runs_and_unclosed_tags(pool: RenderPool) -> None:
    data = make_template(["甲方：{{ party_", "a.name }}"], ["{", "{ b }}"], "{{ c }}", "{{ d", "}}")
    report = lint_template(data, pool=pool)
    split = issues_by_code(report, "split_tag")
    assert [i.subject for i in split] == ["{{ party_a.name }}", "{{ b }}"]
    assert split[0].severity == "warning"
    assert split[0].location.text == "甲方：{{ party_a.name }}"
    [unclosed] = issues_by_code(report, "unclosed_tag")
    assert unclosed.severity == "error" and unclosed.location.text == "{{ d"


def test_lint_smart_quotes_and_fullwidth_braces(pool: RenderPool) -> None:
    report = lint_template(
        make_template("{{ name|default(“无”) }}", "｛｛ name ｝｝", "{{ name|default('ok') }}"), {"name"}, pool=pool
    )
    [smart] = issues_by_code(report, "smart_quotes")
    assert smart.location.text == "{{ name|default(“无”) }}"
    [full] = issues_by_code(report, "fullwidth_brace")
    assert full.location.text == "｛｛ name ｝｝"
    assert report.ok  # both are warnings; docxtpl straightens curly quotes itself


def test_lint_declared_and_used(pool: RenderPool) -> None:
    data = make_template(
        "{{ party_a.name }} {{ extra_field }}",
        "{% if payment_schedule %}{% for r in payment_schedule %}{{ r.amount }}{% endfor %}{% endif %}",
    )
    declared = {
        "party_a.name",
        "party_a.address",
        "payment_schedule[]",
        "payment_schedule[].amount",
        "payment_schedule[].due_date",
    }
    report = lint_template(data, declared, pool=pool)
    [undeclared] = issues_by_code(report, "undeclared_field")
    assert undeclared.subject == "extra_field" and undeclared.severity == "error"
    assert undeclared.location.text == "{{ party_a.name }} {{ extra_field }}"
    unused = {i.subject for i in issues_by_code(report, "unused_field")}
    assert unused == {"party_a.address", "payment_schedule[].due_date"}  # rows[] counts as used
    assert lint_template(data, None, pool=pool).codes() == set()


def test_lint_declared_as_sources_counts_derived_paths(pool: RenderPool) -> None:
    # A schema's field_sources(): term_start_cn derives from term_start, and so on.
    data = make_template("{{ term_start_cn }}", "{% for p in terms_paragraphs %}{{ p }}{% endfor %}")
    sources = {
        "term_start": "term_start",
        "term_start_cn": "term_start",
        "terms": "terms",
        "terms_paragraphs": "terms",
        "terms_paragraphs[]": "terms",
        "fee": "fee",
        "fee.amount": "fee",
        "fee.amount_cn": "fee",
    }
    report = lint_template(data, sources, pool=pool)
    assert {i.subject for i in report.issues} == {"fee"}
    assert report.issues[0].code == "unused_field"


def test_lint_forbidden_constructs(pool: RenderPool) -> None:
    data = make_template(
        "{% include 'x.docx' %}",
        "{% import 'm' as m %}",
        "{% extends 'base' %}",
        "{{ row._secret }}",
        "{{ row|attr('__class__') }}",
        "{{ row['_k'] }}",
    )
    report = lint_template(data, pool=pool)
    forbidden = issues_by_code(report, "forbidden_tag")
    assert {i.subject for i in forbidden} == {"include", "import", "extends"}
    private = issues_by_code(report, "private_attribute")
    assert {i.subject for i in private} == {"_secret", "__class__", "_k"}
    assert {i.location.text for i in private} >= {"{{ row._secret }}"}
    assert not report.ok


# ------------------------------------------------------------------------------- rendering


def test_render_fills_body_table_header_footer_notes_and_title(pool: RenderPool) -> None:
    context = {
        "contract_no": "SLA-2026-001",
        "party_a": {"name": "大连甲方", "address": "大连", "contact": {"phone": "0411"}},
        "sla": {"level": "gold"},
        "party_b": {"name": "yifang"},
        "services": [{"code": "B", "name": " 运维 "}, {"code": "A", "name": "集成"}],
        "extra": {},
        "total": 12.5,
        "milestones": [{"title": "启动", "deliverables": [{"name": "计划书"}]}],
        "payment_schedule": [{"phase": f"第{i}期", "amount": i * 100} for i in range(1, 4)],
        "page_hint": "1",
        "notes": {"footnote": "脚注内容", "endnote": "尾注内容"},
    }
    out = render_docx(contract_template(), context, pool=pool)
    text = docx_text(out)
    for expected in (
        "信息服务管理合同 SLA-2026-001",
        "甲方：大连甲方，地址：大连",
        "金牌服务",
        "乙方：YIFANG",
        "A 集成B 运维",
        "联系人：0411",
        "合计：12.50",
        "1. 启动计划书",
        "第3期",
        "300",
    ):
        assert expected in text
    d = docx.Document(io.BytesIO(out))
    assert d.sections[0].header.paragraphs[0].text == "合同编号：SLA-2026-001"
    assert d.sections[0].footer.paragraphs[0].text == "大连甲方 第 1 页"
    assert d.core_properties.title == "SLA-2026-001 信息服务管理合同"
    z = zipfile.ZipFile(io.BytesIO(out))
    assert "脚注内容" in z.read("word/footnotes.xml").decode()
    assert "尾注内容" in z.read("word/endnotes.xml").decode()


def test_autoescape_keeps_form_values_literal(pool: RenderPool) -> None:
    value = "A & B </w:t><w:p>{{7*7}}"
    data = add_notes(
        make_template("值：{{ v }}", header="{{ v }}", title="{{ v }}"), footnote="{{ v }}", extra_section=True
    )
    out = render_docx(data, {"v": value}, pool=pool)
    d = docx.Document(io.BytesIO(out))  # opens: the XML is intact
    assert f"值：{value}" in docx_text(out)
    assert d.sections[-1].header.paragraphs[0].text == value
    assert d.core_properties.title == value  # not "A &amp; B …"
    footnotes = zipfile.ZipFile(io.BytesIO(out)).read("word/footnotes.xml").decode()
    # docxtpl rendered footnotes once per section: the second pass evaluated {{7*7}}.
    assert "{{7*7}}" in footnotes and "49" not in footnotes


def test_characters_xml_cannot_hold_are_dropped(pool: RenderPool) -> None:
    value = "甲\x0b方\x00 A\ud800\ufffe\n第二行\t制表"
    out = render_docx(make_template("{{ v }}"), {"v": value, "rows": [value]}, pool=pool)
    assert docx.Document(io.BytesIO(out)).paragraphs[0].text == "甲方 A\n第二行\t制表"


def test_undefined_field_is_named(pool: RenderPool) -> None:
    data = make_template("甲方：{{ party_a.name }}", "{% for r in rows %}{{ r.amount }}{% endfor %}")
    with pytest.raises(TemplateError) as caught:
        render_docx(data, {"party_a": {}, "rows": [{"amount": 1}, {}]}, pool=pool)
    err = caught.value
    assert err.details["reason"] == "missing_field"
    assert err.details["missing"] == ["party_a.name", "rows[].amount"]
    assert err.field == "party_a.name" and "party_a.name" in err.zh and "party_a.name" in err.en


HOSTILE = {
    "mro": "{{ ''.__class__.__mro__ }}",
    "globals": "{{ cycler.__init__.__globals__.os.getpid() }}",
    "attr_filter": "{{ ''|attr('__class__')|attr('__mro__') }}",
    "str_format": "{{ '{0.__class__}'.format(x) }}",
    "format_map": "{{ '{a.__class__}'.format_map({'a': x}) }}",
}


@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_hostile_template_is_refused_as_unsafe(pool: RenderPool, name: str) -> None:
    with pytest.raises(TemplateError) as caught:
        render_docx(make_template("pid=" + HOSTILE[name]), {"x": 1}, pool=pool)
    err = caught.value
    assert err.code == "template_error" and err.details["reason"] == "unsafe"
    assert "模板包含不安全的表达式" in err.zh and "unsafe expression" in err.en
    assert str(os.getpid()) not in err.zh
    assert "ok" in docx_text(render_docx(make_template("{{ v }}"), {"v": "ok"}, pool=pool))


RUNAWAY = {
    "nested_range": ("{% for i in range(99999) %}{% for j in range(99999) %}x{% endfor %}{% endfor %}", {"budget"}),
    "string_product": ("{{ 'A' * 10**9 }}", {"budget"}),
    "list_product": ("{{ [0] * 2000000 }}", {"budget"}),
    "huge_power": ("{{ 7 ** 999999 }}", {"budget"}),
    "doubling": (
        "{% set ns = namespace(s='A' * 999999) %}{% for i in range(12) %}"
        "{% set ns.s = ns.s ~ ns.s %}{% endfor %}{{ ns.s|length }}",
        {"memory"},
    ),
    "huge_padding": ("{{ 'x'|center(900000000) }}", {"memory"}),
    "recursion": ("{% macro f() %}{{ f() }}{% endmacro %}{{ f() }}", {"recursion"}),
}


@pytest.mark.timing
@pytest.mark.parametrize("name", sorted(RUNAWAY))
def test_runaway_template_is_stopped(pool: RenderPool, name: str) -> None:
    source, reasons = RUNAWAY[name]
    started = time.monotonic()
    with pytest.raises(TemplateError) as caught:
        render_docx(make_template(source), {}, pool=pool, timeout_s=5)
    assert time.monotonic() - started < within(5)
    err = caught.value
    assert err.details["reason"] in reasons
    assert "模板渲染超时或超出内存限制" in err.zh and "too expensive" in err.en
    assert "ok" in docx_text(render_docx(make_template("{{ v }}"), {"v": "ok"}, pool=pool))


@pytest.mark.slow
@pytest.mark.timing
def test_wall_clock_timeout_kills_the_worker(pool: RenderPool) -> None:
    # Plain iteration over form data: no budget notices it, only the clock does.
    data = make_template(
        "{% for a in rows %}{% for b in rows %}{% for c in rows %}{% endfor %}{% endfor %}{% endfor %}"
    )
    started = time.monotonic()
    with pytest.raises(TemplateError) as caught:
        render_docx(data, {"rows": list(range(3000))}, pool=pool, timeout_s=1.5)
    elapsed = time.monotonic() - started
    assert caught.value.details["reason"] == "timeout"
    assert 1.4 < elapsed < within(3.0)
    assert "ok" in docx_text(render_docx(make_template("{{ v }}"), {"v": "ok"}, pool=pool))


def test_output_size_cap(pool: RenderPool) -> None:
    rows = [secrets.token_hex(50) for _ in range(3000)]  # ~300 KB that does not compress
    data = make_template("{% for r in rows %}{{ r }}{% endfor %}")
    with pytest.raises(TemplateError) as caught:
        render_docx(data, {"rows": rows}, pool=pool, max_output_bytes=100_000)
    assert caught.value.details["reason"] == "budget"


def test_broken_tag_nesting_is_reported_not_silently_repaired(pool: RenderPool) -> None:
    # {% if %} inside a table cell, {% endif %} in a paragraph after the table: when false,
    # the table's closing tags vanish. docxtpl's recover=True parser would hide that.
    d = docx.Document()
    d.add_paragraph("前言")
    d.add_table(rows=1, cols=1).rows[0].cells[0].text = "{% if show %}单元格"
    d.add_paragraph("{% endif %}后记")
    buf = io.BytesIO()
    d.save(buf)
    data = buf.getvalue()
    with pytest.raises(TemplateError) as caught:
        render_docx(data, {"show": False}, pool=pool)
    assert caught.value.details["reason"] == "structure"


def test_syntax_error_on_render_names_the_paragraph(pool: RenderPool) -> None:
    with pytest.raises(TemplateError) as caught:
        render_docx(make_template("第一段", "{% for x in %}"), {}, pool=pool)
    assert caught.value.details["reason"] == "syntax"
    assert "{% for x in %}" in caught.value.details["location"]


def test_sample_hostile_templates_from_the_reliability_notes(pool: RenderPool) -> None:
    def paragraphs(*texts: str) -> str:
        return "".join(f'<w:p><w:r><w:t xml:space="preserve">{t}</w:t></w:r></w:p>' for t in texts)

    ssti = raw_package(
        paragraphs("mro={{ ''.__class__.__mro__ }}", "pid={{ cycler.__init__.__globals__.os.getpid() }}")
    )
    with pytest.raises(TemplateError) as caught:
        render_docx(ssti, {}, pool=pool)
    assert caught.value.details["reason"] == "unsafe"
    dos = raw_package(
        paragraphs(
            "{% for i in range(99999) %}{% for j in range(99999) %}x{% endfor %}{% endfor %}", "{{ 'A' * 40000000 }}"
        )
    )
    with pytest.raises(TemplateError) as caught:
        render_docx(dos, {}, pool=pool)
    assert caught.value.details["reason"] == "budget"


def test_a_worker_that_died_while_idle_is_replaced(pool: RenderPool) -> None:
    render_docx(make_template("{{ v }}"), {"v": 1}, pool=pool)
    for worker in list(pool._workers._idle):  # fault injection: the OOM killer took the idle workers
        os.kill(worker.process.pid, signal.SIGKILL)
        worker.process.wait(2)
    assert "2" in docx_text(render_docx(make_template("{{ v }}"), {"v": 2}, pool=pool))


def test_concurrent_renders_share_the_pool(pool: RenderPool) -> None:
    data = make_template("编号 {{ n }}")
    results: dict[int, str] = {}
    errors: list[BaseException] = []

    def work(n: int) -> None:
        try:
            results[n] = docx_text(render_docx(data, {"n": n}, pool=pool))
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(12)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert not errors
    assert all(results[n] == f"编号 {n}" for n in range(12))
    assert pool.stats()["live"] <= 2


def test_context_must_be_a_mapping(pool: RenderPool) -> None:
    with pytest.raises(InvalidInput):
        render_docx(make_template("x"), ["not", "a", "dict"], pool=pool)  # type: ignore[arg-type]
