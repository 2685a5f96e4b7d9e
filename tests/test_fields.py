"""Custom fields per document type (docsvc.core.fields, docsvc.services.fields, the archive's
values) on SQLite and PostgreSQL: parsing of each kind (hostile input too), definitions for
administrators only, values checked against the type's definitions, required fields, audit
entries with labels, list filters and ranges, search by value, retired fields keep values."""

from __future__ import annotations

import pytest

from docsvc.app import open_docsvc
from docsvc.core.fields import FieldDefinition, FieldKind, apply_values, parse_value, search_text
from docsvc.core.model import AuditAction
from docsvc.core.search import SearchRequest
from docsvc.errors import Conflict, Forbidden, InvalidInput, NotFound
from tests.conftest import add

MONEY = FieldDefinition("contract", "contract_value", "合同金额", FieldKind.MONEY, label_en="Contract value")
NUMBER = FieldDefinition("sla", "desk_count", "服务台数", FieldKind.NUMBER)
DATE = FieldDefinition("contract", "signed_on", "签订日期", FieldKind.DATE, label_en="Signed on")
CHOICE = FieldDefinition("sla", "sla_level", "SLA 等级", FieldKind.CHOICE, choices=("金", "银", "铜"))
TEXT = FieldDefinition("sla", "contact", "对方联系人", FieldKind.TEXT)


# -- parsing, per kind ---------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("raw", "want"),
    [
        ("486000", "486000.00"),
        ("48.6万", "486000.00"),
        ("48.6万元", "486000.00"),
        ("¥486,000.00", "486000.00"),
        ("￥４８６，０００", "486000.00"),
        ("RMB 1200", "1200.00"),
        ("1200元", "1200.00"),
        ("1.5亿", "150000000.00"),
        ("0", "0.00"),
        ("  12.5 ", "12.50"),
    ],
)
def test_money_is_read_in_the_forms_people_write(raw, want):
    assert parse_value(MONEY, raw) == want


@pytest.mark.parametrize(
    "raw",
    ["-5", "abc", "1e309", "NaN", "Infinity", "1.234", "1.2.3", "9" * 16, "$100", "１e５", "48.6万万", "0x10"],
)
def test_money_refuses_what_is_not_an_amount(raw):
    with pytest.raises(InvalidInput) as exc:
        parse_value(MONEY, raw)
    assert "合同金额" in exc.value.zh and "Contract value" in exc.value.en
    assert "48.6万" in exc.value.zh  # says what is expected
    assert exc.value.field == "field.contract_value"


@pytest.mark.parametrize(
    ("raw", "want"),
    [("12", "12"), ("1,200", "1200"), ("１２", "12"), ("-3.50", "-3.5"), ("007", "7"), ("0.000001", "0.000001")],
)
def test_numbers(raw, want):
    assert parse_value(NUMBER, raw) == want


@pytest.mark.parametrize("raw", ["1e309", "nan", "inf", "1" * 16, "0.0000001", "1 2 3 x", "--1", "1_000x"])
def test_numbers_refuse_exponents_nan_and_huge_values(raw):
    with pytest.raises(InvalidInput):
        parse_value(NUMBER, raw)


@pytest.mark.parametrize(
    ("raw", "want"),
    [
        ("2026-03-01", "2026-03-01"),
        ("2026年3月1日", "2026-03-01"),
        ("2026/3/1", "2026-03-01"),
        ("２０２６年３月１日", "2026-03-01"),
        ("2026.3.1", "2026-03-01"),
    ],
)
def test_dates(raw, want):
    assert parse_value(DATE, raw) == want


@pytest.mark.parametrize("raw", ["2026-02-30", "3/1/2026", "明天", "0001-01-01", "2026-13-01"])
def test_dates_refuse_what_is_no_day(raw):
    with pytest.raises(InvalidInput) as exc:
        parse_value(DATE, raw)
    assert "2026年3月1日" in exc.value.zh


def test_choices_and_text():
    assert parse_value(CHOICE, " 金 ") == "金"
    with pytest.raises(InvalidInput) as exc:
        parse_value(CHOICE, "钻石")
    assert exc.value.details["valid"] == ["金", "银", "铜"]
    assert parse_value(TEXT, "  王经理 ") == "王经理"
    with pytest.raises(InvalidInput):
        parse_value(TEXT, "王\x00经理")
    with pytest.raises(InvalidInput):
        parse_value(TEXT, "王\x1b[31m")
    with pytest.raises(InvalidInput):
        parse_value(TEXT, "长" * 501)
    assert parse_value(TEXT, "") == "" and parse_value(MONEY, "   ") == ""


def test_search_text_has_the_forms_people_search_for():
    words = search_text(MONEY, "486000.00").split()
    assert {"486000.00", "486,000.00", "486000", "48.6万"} <= set(words)
    assert "2026年3月1日" in search_text(DATE, "2026-03-01")


def test_apply_values_rules():
    defs = [
        MONEY,
        DATE,
        NUMBER,
        CHOICE,
        TEXT,
        FieldDefinition("contract", "old", "旧字段", FieldKind.TEXT, retired=True),
    ]
    assert apply_values(defs, "contract", {}, {"contract_value": "48.6万"}, check_required=True) == {
        "contract_value": "486000.00"
    }
    with pytest.raises(InvalidInput) as exc:  # a field of another type
        apply_values(defs, "contract", {}, {"sla_level": "金"}, check_required=False)
    assert exc.value.field == "field.sla_level"
    with pytest.raises(InvalidInput):  # a retired field takes no new value …
        apply_values(defs, "contract", {}, {"old": "x"}, check_required=False)
    # … but keeps its value, and may be cleared
    assert apply_values(defs, "contract", {"old": "x"}, {"old": "x"}, check_required=False) == {"old": "x"}
    assert apply_values(defs, "contract", {"old": "x"}, {"old": ""}, check_required=False) == {}
    required = [*defs, FieldDefinition("contract", "party", "甲方", FieldKind.TEXT, required=True)]
    with pytest.raises(InvalidInput) as exc:
        apply_values(required, "contract", {}, {"contract_value": "x", "nope": "1"}, check_required=True)
    fields = {e["field"] for e in exc.value.details["errors"]}
    assert fields == {"field.contract_value", "field.nope", "field.party"}


# -- definitions and values in the archive ------------------------------------------------------------
def _define(guard):
    f = guard.fields
    f.create(
        {
            "doc_type": "contract",
            "key": "contract_value",
            "label_zh": "合同金额",
            "label_en": "Contract value",
            "kind": "money",
        }
    )
    f.create({"doc_type": "contract", "key": "signed_on", "label_zh": "签订日期", "kind": "date", "position": 2})
    f.create(
        {
            "doc_type": "sla",
            "key": "sla_level",
            "label_zh": "SLA 等级",
            "kind": "choice",
            "choices": "金、银、铜",
            "required": True,
        }
    )
    f.create({"doc_type": "sla", "key": "contact", "label_zh": "对方联系人", "kind": "text"})
    f.create({"doc_type": "sla", "key": "desk_count", "label_zh": "服务台数", "kind": "number"})


def test_a_key_taken_at_the_same_moment_is_a_conflict_and_changes_nothing(svc, people, monkeypatch):
    """Two administrators define the same key at once: both pass the check, the database's unique
    key stops the second, and that one is told so (the race is injected: the check sees nothing)."""
    root = people("root")
    root.fields.create({"doc_type": "contract", "key": "party", "label_zh": "甲方", "kind": "text"})
    entries = len(list(svc.catalog.audit_entries()))
    monkeypatch.setattr(type(svc.archive), "field_definitions", lambda self, *a, **k: [])
    with pytest.raises(Conflict) as exc:
        root.fields.create({"doc_type": "sla", "key": "party", "label_zh": "乙方", "kind": "text"})
    assert "刚被同时占用" in exc.value.zh and "at the same moment" in exc.value.en and exc.value.field == "key"
    monkeypatch.undo()
    assert [(d.doc_type, d.label_zh) for d in svc.archive.field_definitions() if d.key == "party"] == [
        ("contract", "甲方")
    ]
    assert len(list(svc.catalog.audit_entries())) == entries  # no audit entry for what was not done


def test_only_administrators_define_fields(svc, people):
    for who in ("mgr", "drafter", "alice", "audit"):
        with pytest.raises(Forbidden):
            people(who).fields.create({"doc_type": "contract", "key": "x", "label_zh": "X", "kind": "text"})
    _define(people("root"))
    assert [d.key for d in people("alice").fields.list("contract")] == ["contract_value", "signed_on"]
    with pytest.raises(Forbidden):
        people("mgr").fields.retire("contact")
    denied = [e for e in svc.catalog.audit_entries() if e.action == AuditAction.ACCESS_DENIED]
    assert len(denied) == 5
    created = [e for e in svc.catalog.audit_entries() if e.action == AuditAction.FIELDS_CHANGED]
    assert len(created) == 5 and created[0].details["op"] == "created"


def test_definitions_are_checked(svc, people):
    f = people("root").fields
    _define(people("root"))
    with pytest.raises(Conflict):
        f.create({"doc_type": "sla", "key": "contract_value", "label_zh": "金额", "kind": "money"})
    for bad in (
        {"doc_type": "contract", "key": "Bad Key", "label_zh": "x", "kind": "text"},
        {"doc_type": "contract", "key": "amount_min", "label_zh": "x", "kind": "money"},
        {"doc_type": "nope", "key": "k", "label_zh": "x", "kind": "text"},
        {"doc_type": "contract", "key": "k", "label_zh": "", "kind": "text"},
        {"doc_type": "contract", "key": "k", "label_zh": "x", "kind": "colour"},
        {"doc_type": "contract", "key": "k", "label_zh": "x", "kind": "choice"},
        {"doc_type": "contract", "key": "k", "label_zh": "x", "kind": "text", "choices": ["a"]},
        {"doc_type": "contract", "key": "k", "label_zh": "x\x00", "kind": "text"},
        {"doc_type": "contract", "key": "k", "label_zh": "x", "kind": "text", "colour": "red"},
    ):
        with pytest.raises(InvalidInput):
            f.create(bad)
    with pytest.raises(InvalidInput):
        f.update("contract_value", {"kind": "text"})
    with pytest.raises(NotFound):
        f.update("nope", {"label_zh": "y"})
    changed = f.update("sla_level", {"choices": ["金", "银", "铜", "铁"], "label_en": "SLA level"})
    assert changed.choices == ("金", "银", "铜", "铁") and changed.label_en == "SLA level"
    last = [e for e in svc.catalog.audit_entries() if e.action == AuditAction.FIELDS_CHANGED][-1]
    assert last.details["op"] == "edited" and last.details["changes"]["label_en"] == {"from": "", "to": "SLA level"}


def test_values_on_upload_edit_audit_and_required(svc, people):
    _define(people("root"))
    alice = people("alice")
    doc = alice.add_document(
        b"contract body",
        "c.txt",
        {
            "title": "运维合同",
            "doc_type": "contract",
            "service_category": "4.2",
            "doc_class": "user",
            "fields": {"contract_value": "48.6万", "signed_on": "2026年3月1日"},
        },
    ).document
    assert doc.metadata.field_values == {"contract_value": "486000.00", "signed_on": "2026-03-01"}
    assert doc.to_dict()["fields"] == {"contract_value": "486000.00", "signed_on": "2026-03-01"}
    created = [e for e in svc.catalog.audit_entries(document_id=doc.id) if e.action == AuditAction.DOCUMENT_CREATED][0]
    assert created.details["field_labels"]["contract_value"] == {"zh": "合同金额", "en": "Contract value"}
    # a required field of the type: refused with what to fill in, nothing stored
    before = len(list(svc.catalog.audit_entries()))
    with pytest.raises(InvalidInput) as exc:
        alice.add_document(
            b"sla", "s.txt", {"title": "SLA", "doc_type": "sla", "service_category": "4.2", "doc_class": "user"}
        )
    assert "SLA 等级" in exc.value.zh and "金、银、铜" in exc.value.zh and exc.value.field == "field.sla_level"
    assert len(list(svc.catalog.audit_entries())) == before
    # an edit: one audit entry, old → new with the label
    doc = alice.set_metadata(doc.id, {"fields": {"contract_value": "50万"}}, reason="补充协议")
    assert doc.metadata.field_values["contract_value"] == "500000.00"
    assert doc.metadata.field_values["signed_on"] == "2026-03-01"  # untouched
    change = [e for e in svc.catalog.audit_entries(document_id=doc.id) if e.action == AuditAction.METADATA_CHANGED][-1]
    assert change.details["changes"] == {
        "field.contract_value": {
            "from": "486000.00",
            "to": "500000.00",
            "label": "合同金额",
            "label_en": "Contract value",
        }
    }
    with pytest.raises(InvalidInput):  # a field of another type
        alice.set_metadata(doc.id, {"fields": {"sla_level": "金"}})
    # the type changes to sla: its required field must be given; the contract's values are kept
    with pytest.raises(InvalidInput) as exc:
        alice.set_metadata(doc.id, {"doc_type": "sla"})
    assert exc.value.field == "field.sla_level"
    doc = alice.set_metadata(doc.id, {"doc_type": "sla", "fields": {"sla_level": "金"}})
    assert doc.metadata.field_values == {"contract_value": "500000.00", "signed_on": "2026-03-01", "sla_level": "金"}
    # a status change does not need the fields
    assert alice.set_metadata(doc.id, {"status": "effective"}).metadata.status.value == "effective"


def test_list_filters_and_ranges(svc, people):
    _define(people("root"))
    root = people("root")
    for title, value, day in (
        ("甲", "10万", "2026-01-05"),
        ("乙", "48.6万", "2026-03-01"),
        ("丙", "200万", "2026-06-30"),
    ):
        add(svc, title=title, fields={"contract_value": value, "signed_on": day})
    add(svc, title="无金额")
    add(svc, title="SLA", doc_type="sla", fields={"sla_level": "银", "contact": "王经理"})

    def titles(**params):
        return sorted(d.metadata.title for d in root.list_documents(params).items)

    assert titles(**{"field.contract_value": "48.6万"}) == ["乙"]
    assert titles(**{"field.contract_value_min": "40万"}) == ["丙", "乙"]
    assert titles(**{"field.contract_value_min": "100000", "field.contract_value_max": "486000"}) == ["乙", "甲"]
    assert titles(**{"field.signed_on_max": "2026年3月1日"}) == ["乙", "甲"]
    assert titles(**{"field.sla_level": "银"}) == ["SLA"]
    assert titles(**{"field.contact": "王"}) == ["SLA"]
    for bad in (
        {"field.nope": "1"},
        {"field.sla_level_min": "金"},
        {"field.contract_value_min": "abc"},
        {"field.sla_level": "钻"},
    ):
        with pytest.raises(InvalidInput) as exc:
            root.list_documents(bad)
    assert exc.value.details["valid"] == ["金", "银", "铜"]


def test_retired_field_keeps_its_values(svc, people):
    _define(people("root"))
    doc = add(svc, fields={"contract_value": "1000"}).document
    people("root").fields.retire("contract_value")
    assert people("alice").fields.list("contract", retired=False)[0].key == "signed_on"
    kept = svc.archive.document(doc.id)
    assert kept.metadata.field_values == {"contract_value": "1000.00"}
    with pytest.raises(InvalidInput):
        people("alice").set_metadata(doc.id, {"fields": {"contract_value": "2000"}})
    assert svc.archive.list_documents({"field.contract_value": "1000"}).total == 1
    with pytest.raises(InvalidInput):
        add(svc, fields={"contract_value": "5"})
    people("root").fields.restore("contract_value")
    assert people("alice").set_metadata(doc.id, {"fields": {"contract_value": "2000"}}).metadata.field_values == {
        "contract_value": "2000.00"
    }


@pytest.fixture
def engine_svc(config, db_url):
    """PostgreSQL's own full-text engine on a PostgreSQL catalog, Whoosh on SQLite."""
    backend = "postgres" if db_url.startswith("postgresql") else "whoosh"
    s = open_docsvc({**config, "SEARCH_BACKEND": backend, "FSYNC": False})
    yield s
    s.close()


def test_search_finds_documents_by_their_values(engine_svc):
    from tests.webutil import PASSWORD, PEOPLE

    svc = engine_svc
    for name, (role, projects) in PEOPLE.items():
        svc.users.create_user(name, role, actor="setup", password=PASSWORD, projects=projects)

    def people(who):
        return svc.guard(svc.users.principal_for_cli(who))

    _define(people("root"))
    a = add(svc, title="甲合同", fields={"contract_value": "48.6万", "signed_on": "2026-03-01"}).document
    b = add(svc, title="乙协议", doc_type="sla", fields={"sla_level": "铜", "contact": "欧阳明"}).document
    svc.index.sync()
    assert svc.index.index.__class__.__name__ == (
        "PostgresIndex" if svc.catalog.engine.dialect.name == "postgresql" else "WhooshIndex"
    )
    alice = people("alice")

    def found(q):
        return {h.document_id for h in svc.index.search(SearchRequest(query=q)).hits}

    assert a.id in found("48.6万")
    assert a.id in found("486000")
    assert a.id in found("2026年3月1日")
    assert b.id in found("欧阳明")
    # a changed value is found, the old one no longer
    alice.set_metadata(b.id, {"fields": {"contact": "司马光"}})
    svc.index.sync()
    assert b.id in found("司马光") and b.id not in found("欧阳明")


def test_a_field_made_required_later_blocks_no_other_edit(svc, people):
    _define(people("root"))
    alice = people("alice")
    old = add(svc, title="旧合同").document  # filed before 合同金额 became required
    people("root").fields.update("contract_value", {"required": True})
    assert alice.set_metadata(old.id, {"status": "effective"}).metadata.status.value == "effective"
    with pytest.raises(InvalidInput) as exc:  # an edit of the fields asks for it
        alice.set_metadata(old.id, {"fields": {"signed_on": "2026-01-01"}})
    assert exc.value.field == "field.contract_value" and "合同金额" in exc.value.zh
    with pytest.raises(InvalidInput):  # so does a new document of the type
        add(svc, title="新合同")
    # a suggested type corrected on the review list: the list has no field inputs, it is not blocked
    sla = svc.archive.add_document(
        "运维服务合同".encode(),
        "x.txt",
        {
            "title": "待复核",
            "doc_type": "contract",
            "service_category": "4.2",
            "doc_class": "user",
            "fields": {"contract_value": "1"},
        },
        actor="alice",
        suggested=_suggestion(),
    ).document
    corrected = alice.confirm_labels(sla.id, {"doc_type": "sla"})
    assert corrected.metadata.doc_type == "sla" and corrected.metadata.field_values == {"contract_value": "1.00"}


def _suggestion():
    from docsvc.services.archive import SuggestionRecord

    label = {"value": "contract", "confidence": 0.4, "terms": [], "source": "model"}
    return SuggestionRecord(
        {"doc_type": label, "service_category": {**label, "value": "4.2"}, "project": None, "needs_review": True},
        model_version="test",
        needs_review=True,
    )
