"""docsvc.core.schema and docsvc.core.zhformat: loading schemas, validating form data, samples, metadata,
the Chinese ways of writing dates and amounts."""

from __future__ import annotations

import copy
import datetime as dt
import json
import re
import shutil
import time
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from docsvc.core.model import Metadata, ServiceCategory, Vocabulary
from docsvc.core.schema import TemplateSchema, list_shipped, load_schema
from docsvc.core.zhformat import amount_in_words, date_cn, uscc_check_char, uscc_is_valid
from docsvc.errors import InvalidInput
from tests.conftest import within

TEMPLATES = Path(__file__).resolve().parent.parent / "templates"
CJK = re.compile(r"[\u4e00-\u9fff]")

# A small schema that exercises every field type, used for the validation cases below.
SMALL: dict[str, Any] = {
    "schema_version": 1,
    "template": {
        "slug": "small",
        "name_zh": "测试合同",
        "name_en": "Test contract",
        "description_zh": "测试用。",
        "description_en": "For tests.",
        "spec_ref": "7.1",
        "doc_type": "contract",
        "doc_class": "user",
        "metadata": {
            "title": "title",
            "service_category": "service_category",
            "counterparty": "party_a.name",
            "effective_date": "start",
            "review_due": "end",
        },
    },
    "fields": [
        {
            "name": "title",
            "label_zh": "合同名称",
            "label_en": "Title",
            "type": "text",
            "required": True,
            "default": None,
            "example": "运维服务合同",
            "max_length": 50,
        },
        {
            "name": "note",
            "label_zh": "备注",
            "label_en": "Note",
            "type": "text",
            "required": False,
            "default": "无",
            "example": "加急",
        },
        {
            "name": "body",
            "label_zh": "正文",
            "label_en": "Body",
            "type": "longtext",
            "required": False,
            "default": "",
            "example": "第一段\n\n第二段",
        },
        {
            "name": "service_category",
            "label_zh": "服务类别",
            "label_en": "Service category",
            "type": "enum",
            "required": True,
            "default": None,
            "example": "4.2",
            "choices_from": "service_category",
        },
        {
            "name": "venue",
            "label_zh": "争议解决方式",
            "label_en": "Dispute resolution",
            "type": "enum",
            "required": False,
            "default": "court",
            "example": "arbitration",
            "choices": [
                {"value": "arbitration", "zh": "仲裁", "en": "Arbitration"},
                {"value": "court", "zh": "诉讼", "en": "Court"},
            ],
        },
        {
            "name": "start",
            "label_zh": "开始日期",
            "label_en": "Start",
            "type": "date",
            "required": True,
            "default": None,
            "example": "2026-03-01",
        },
        {
            "name": "end",
            "label_zh": "结束日期",
            "label_en": "End",
            "type": "date",
            "required": False,
            "default": None,
            "example": "2027-02-28",
            "not_before": "start",
        },
        {
            "name": "fee",
            "label_zh": "总价",
            "label_en": "Fee",
            "type": "money",
            "required": True,
            "default": None,
            "example": {"amount": "123456.00", "currency": "CNY"},
            "currencies": ["CNY", "USD"],
        },
        {
            "name": "years",
            "label_zh": "保密年限",
            "label_en": "Years",
            "type": "integer",
            "required": False,
            "default": 3,
            "example": 5,
            "min": 1,
            "max": 20,
        },
        {
            "name": "rate",
            "label_zh": "税率",
            "label_en": "Rate",
            "type": "percent",
            "required": False,
            "default": None,
            "example": "6",
        },
        {
            "name": "party_a",
            "label_zh": "甲方",
            "label_en": "Party A",
            "type": "group",
            "required": True,
            "fields": [
                {
                    "name": "name",
                    "label_zh": "名称",
                    "label_en": "Name",
                    "type": "text",
                    "required": True,
                    "default": None,
                    "example": "大连长兴湾物流集团有限公司",
                    "max_length": 100,
                },
                {
                    "name": "credit_code",
                    "label_zh": "统一社会信用代码",
                    "label_en": "Credit code",
                    "type": "text",
                    "required": True,
                    "default": None,
                    "example": "91210231MA0Y4R7K35",
                    "max_length": 18,
                    "checksum": "gb32100",
                    "pattern": {
                        "regex": "[0-9A-HJ-NPQRTUWXY]{18}",
                        "zh": "应为 18 位数字或大写字母。",
                        "en": "must be 18 digits or capital letters.",
                    },
                },
            ],
        },
        {
            "name": "payments",
            "label_zh": "付款计划",
            "label_en": "Payments",
            "type": "list",
            "required": True,
            "default": None,
            "min_items": 1,
            "max_items": 3,
            "sums": [{"field": "ratio", "equals": 100}, {"field": "amount", "equals_field": "fee"}],
            "example": [
                {"phase": "第一期", "ratio": "30", "amount": "37036.80", "due": "2026-03-20"},
                {"phase": "第二期", "ratio": "70", "amount": "86419.20"},
            ],
            "fields": [
                {
                    "name": "phase",
                    "label_zh": "期次",
                    "label_en": "Instalment",
                    "type": "text",
                    "required": True,
                    "default": None,
                    "example": "第一期",
                },
                {
                    "name": "ratio",
                    "label_zh": "比例",
                    "label_en": "Share",
                    "type": "percent",
                    "required": True,
                    "default": None,
                    "example": "30",
                },
                {
                    "name": "amount",
                    "label_zh": "金额",
                    "label_en": "Amount",
                    "type": "money",
                    "required": True,
                    "default": None,
                    "example": "1000.00",
                    "currencies": ["CNY", "USD"],
                },
                {
                    "name": "due",
                    "label_zh": "付款日期",
                    "label_en": "Due",
                    "type": "date",
                    "required": False,
                    "default": None,
                    "example": "2026-03-20",
                },
            ],
        },
    ],
}


@pytest.fixture(scope="module")
def small() -> TemplateSchema:
    return load_schema(SMALL)


def errors_of(schema: TemplateSchema, data: dict[str, Any]) -> list[dict[str, str]]:
    with pytest.raises(InvalidInput) as info:
        schema.validate(data)
    errors = info.value.details["errors"]
    for e in errors:  # every message is bilingual and the Chinese one is Chinese
        assert CJK.search(e["zh"]), e
        assert e["en"] and not CJK.search(e["en"].split("'")[0]), e
    return errors


def error_at(schema: TemplateSchema, data: dict[str, Any], path: str) -> dict[str, str]:
    errors = errors_of(schema, data)
    found = [e for e in errors if e["field"] == path]
    assert found, f"no error at {path}: {errors}"
    return found[0]


def with_(sample: dict[str, Any], **changes: Any) -> dict[str, Any]:
    data = copy.deepcopy(sample)
    data.update(changes)
    return data


# ---------------------------------------------------------------------------------------------
# Formatting helpers


@pytest.mark.parametrize(
    "amount, words",
    [
        ("123456", "壹拾贰万叁仟肆佰伍拾陆元整"),
        ("0", "零元整"),
        ("0.05", "伍分"),
        ("0.50", "伍角整"),
        ("1.05", "壹元零伍分"),
        ("1.55", "壹元伍角伍分"),
        ("10", "壹拾元整"),
        ("1010", "壹仟零壹拾元整"),
        ("105000", "壹拾万伍仟元整"),
        ("1000.05", "壹仟元零伍分"),
        ("100000000", "壹亿元整"),
        ("100010000", "壹亿零壹万元整"),
        ("100001000", "壹亿零壹仟元整"),
        ("486500.00", "肆拾捌万陆仟伍佰元整"),
        ("999999999999.99", "玖仟玖佰玖拾玖亿玖仟玖佰玖拾玖万玖仟玖佰玖拾玖元玖角玖分"),
    ],
)
def test_amount_in_words(amount: str, words: str) -> None:
    assert amount_in_words(Decimal(amount)) == words


def test_amount_in_words_refuses_out_of_range() -> None:
    with pytest.raises(ValueError):
        amount_in_words(Decimal(1000000000000))
    with pytest.raises(ValueError):
        amount_in_words(Decimal(-1))


def test_date_cn_has_no_leading_zeros() -> None:
    assert date_cn(dt.date(2026, 1, 5)) == "2026年1月5日"
    assert date_cn(dt.date(2026, 12, 31)) == "2026年12月31日"


def test_unified_social_credit_code_check_character() -> None:
    assert uscc_is_valid("91350100M000100Y43")  # the worked example published with GB 32100
    assert uscc_check_char("91210231MA0Y4R7K3") == "5"
    assert not uscc_is_valid("91210231MA0Y4R7K36")  # wrong check character
    assert not uscc_is_valid("91210231MA0Y4R7K3")  # 17 characters
    assert not uscc_is_valid("91210231MA0Y4R7KI5")  # I is not in the character set


# ---------------------------------------------------------------------------------------------
# The clean context


def test_sample_validates_into_documented_context(small: TemplateSchema) -> None:
    ctx = small.validate(small.sample())
    assert ctx["title"] == "运维服务合同"
    assert ctx["start"] == dt.date(2026, 3, 1) and ctx["start_cn"] == "2026年3月1日"
    assert ctx["service_category"] == "4.2"
    assert ctx["service_category_cn"] == ServiceCategory("4.2").zh
    assert ctx["venue_cn"] == "仲裁"
    assert ctx["body_paragraphs"] == ["第一段", "第二段"]  # blank lines do not make paragraphs
    assert ctx["fee"] == {
        "amount": "123456.00",
        "currency": "CNY",
        "currency_zh": "人民币",
        "amount_grouped": "123,456.00",
        "amount_cn": "壹拾贰万叁仟肆佰伍拾陆元整",
        "symbol": "¥",
        "unit_zh": "元",
    }
    assert ctx["years"] == 5 and ctx["years_cn"] == "伍" and ctx["rate"] == "6"
    assert ctx["body_items"] == ["第一段", "第二段"]
    assert ctx["party_a"]["name"] == "大连长兴湾物流集团有限公司"
    rows = ctx["payments"]
    assert rows[0]["amount"]["amount_cn"] == "叁万柒仟零叁拾陆元捌角整"
    assert rows[0]["due_cn"] == "2026年3月20日"
    assert rows[1]["due"] is None and rows[1]["due_cn"] == ""


def test_blank_optional_fields_take_defaults_or_empties(small: TemplateSchema) -> None:
    data = small.sample()
    for key in ("note", "body", "venue", "end", "years", "rate"):
        data.pop(key)
    data["body"] = "   "  # whitespace only counts as blank
    ctx = small.validate(data)
    assert ctx["note"] == "无" and ctx["venue"] == "court" and ctx["venue_cn"] == "诉讼"
    assert ctx["years"] == 3
    assert ctx["body"] == "" and ctx["body_paragraphs"] == []
    assert ctx["end"] is None and ctx["end_cn"] == ""
    assert ctx["rate"] is None


@pytest.mark.parametrize(
    "raw, amount",
    [
        ("123456", "123456.00"),
        ("123,456.5", "123456.50"),
        (123456, "123456.00"),
        (123456.78, "123456.78"),
        (Decimal("0.1"), "0.10"),
        ({"amount": "99.9"}, "99.90"),
    ],
)
def test_money_accepts_plain_amounts(small: TemplateSchema, raw: Any, amount: str) -> None:
    data = with_(small.sample(), fee=raw, payments=[{"phase": "一次性", "ratio": "100", "amount": raw}])
    ctx = small.validate(data)
    assert ctx["fee"]["amount"] == amount and ctx["fee"]["currency"] == "CNY"


def test_money_keeps_a_listed_currency(small: TemplateSchema) -> None:
    fee = {"amount": "100", "currency": "USD"}
    ctx = small.validate(with_(small.sample(), fee=fee, payments=[{"phase": "一次性", "ratio": "100", "amount": fee}]))
    assert ctx["fee"]["currency_zh"] == "美元" and ctx["fee"]["amount_cn"] == "壹佰元整"


def test_validate_does_not_touch_its_input(small: TemplateSchema) -> None:
    data = small.sample()
    before = copy.deepcopy(data)
    small.validate(data)
    assert data == before


# ---------------------------------------------------------------------------------------------
# Validation errors: each names the field path and says in Chinese what to fix


def test_missing_required_at_every_level(small: TemplateSchema) -> None:
    data = small.sample()
    del data["title"]
    data["party_a"]["name"] = ""
    data["payments"][1]["phase"] = None
    errors = {e["field"]: e for e in errors_of(small, data)}
    assert "必填" in errors["title"]["zh"] and "合同名称" in errors["title"]["zh"]
    assert "甲方" in errors["party_a.name"]["zh"]
    assert "第 2 行" in errors["payments[1].phase"]["zh"]
    assert "row 2" in errors["payments[1].phase"]["en"]


def test_wrong_types(small: TemplateSchema) -> None:
    data = with_(small.sample(), title=42, party_a=["x"], years=True)
    data["payments"] = [data["payments"][0], "第二期"]
    errors = {e["field"]: e for e in errors_of(small, data)}
    assert "应为文本" in errors["title"]["zh"] and "数字" in errors["title"]["zh"]
    assert "应为对象" in errors["party_a"]["zh"]
    assert "整数" in errors["years"]["zh"]
    assert "第 2 行应为对象" in errors["payments[1]"]["zh"]
    e = error_at(small, with_(small.sample(), payments="第一期"), "payments")
    assert "列表" in e["zh"]


def test_unknown_fields_at_every_level(small: TemplateSchema) -> None:
    data = with_(small.sample(), titel="拼写错误")
    data["party_a"]["fax"] = "0411-1"
    data["payments"][0]["memo"] = "x"
    data["fee"] = {"amount": "123456.00", "amount_cn": "壹拾贰万"}
    errors = {e["field"]: e for e in errors_of(small, data)}
    assert "未知字段“titel”" in errors["titel"]["zh"] and "title" in errors["titel"]["zh"]
    assert "party_a.fax" in errors and "payments[0].memo" in errors
    assert "fee.amount_cn" in errors


def test_enum_outside_its_list_lists_the_valid_values(small: TemplateSchema) -> None:
    e = error_at(small, with_(small.sample(), service_category="4.10"), "service_category")
    assert "4.10" in e["zh"] and "4.2（计算机信息系统运营和维护服务）" in e["zh"]
    assert "4.9.3" in e["en"]
    e = error_at(small, with_(small.sample(), venue="mediation"), "venue")
    assert "arbitration（仲裁）" in e["zh"] and "court" in e["en"]


def test_text_over_max_length(small: TemplateSchema) -> None:
    e = error_at(small, with_(small.sample(), title="长" * 51), "title")
    assert "过长" in e["zh"] and "50" in e["zh"]


def test_every_text_is_capped_by_default(small: TemplateSchema) -> None:
    error_at(small, with_(small.sample(), note="字" * 2001), "note")
    small.validate(with_(small.sample(), body="字" * 20000))
    error_at(small, with_(small.sample(), body="字" * 20001), "body")


@pytest.mark.timing
def test_a_ten_megabyte_value_is_refused_quickly(small: TemplateSchema) -> None:
    started = time.perf_counter()
    e = error_at(small, with_(small.sample(), body="x" * 10_000_000), "body")
    assert time.perf_counter() - started < within(1.0)
    assert "过长" in e["zh"]
    assert len(e["zh"]) < 200  # the value itself is not echoed back


def test_control_characters_and_line_breaks(small: TemplateSchema) -> None:
    e = error_at(small, with_(small.sample(), title="合同\x00名称"), "title")
    assert "U+0000" in e["zh"]
    e = error_at(small, with_(small.sample(), title="第一行\n第二行"), "title")
    assert "换行" in e["zh"]
    small.validate(with_(small.sample(), body="第一行\r\n第二行\t缩进"))  # fine in long text


@pytest.mark.parametrize("value", ["2026/03/01", "2026-02-30", "20260301", "2026-W10-1", "明天", 20260301])
def test_bad_dates(small: TemplateSchema, value: Any) -> None:
    e = error_at(small, with_(small.sample(), start=value), "start")
    assert "YYYY-MM-DD" in e["zh"] and "有效日期" in e["zh"]


def test_date_objects_are_accepted(small: TemplateSchema) -> None:
    ctx = small.validate(with_(small.sample(), start=dt.datetime(2026, 3, 1, 9, 30)))
    assert ctx["start"] == dt.date(2026, 3, 1)


def test_date_not_before(small: TemplateSchema) -> None:
    e = error_at(small, with_(small.sample(), end="2026-02-28"), "end")
    assert "不能早于" in e["zh"] and "开始日期" in e["zh"]


@pytest.mark.parametrize(
    "fee, path",
    [
        ("12.345", "fee.amount"),
        ("-100", "fee.amount"),
        ("¥100", "fee.amount"),
        ("1e5", "fee.amount"),
        (True, "fee.amount"),
        ("1000000000000", "fee.amount"),
        ({"currency": "CNY"}, "fee.amount"),
        ({"amount": "100", "currency": "JPY"}, "fee.currency"),
    ],
)
def test_bad_money(small: TemplateSchema, fee: Any, path: str) -> None:
    e = error_at(small, with_(small.sample(), fee=fee), path)
    assert "总价" in e["zh"]


def test_bad_money_in_a_row_names_the_row(small: TemplateSchema) -> None:
    data = small.sample()
    data["payments"][1]["amount"] = "八万"
    e = error_at(small, data, "payments[1].amount.amount")
    assert "付款计划" in e["zh"] and "第 2 行" in e["zh"] and "两位小数" in e["zh"]


def test_list_too_long_and_too_short(small: TemplateSchema) -> None:
    e = error_at(small, with_(small.sample(), payments=[]), "payments")
    assert "必填" in e["zh"] or "至少" in e["zh"]
    rows = [{"phase": f"第{i}期", "ratio": "25", "amount": "30864.00"} for i in range(4)]
    e = error_at(small, with_(small.sample(), payments=rows), "payments")
    assert "最多 3 行" in e["zh"] and "4" in e["zh"]


def test_a_huge_list_is_only_checked_up_to_its_limit(small: TemplateSchema) -> None:
    rows = [{"phase": 1}] * 100_000
    errors = errors_of(small, with_(small.sample(), payments=rows))
    assert [e["field"] for e in errors].count("payments") == 1
    assert not any(e["field"].startswith("payments[3]") for e in errors)


@pytest.mark.parametrize("value", ["101", "-1", "6.0001", "六", "abc"])
def test_bad_percent(small: TemplateSchema, value: str) -> None:
    e = error_at(small, with_(small.sample(), rate=value), "rate")
    assert "百分数" in e["zh"]


def test_percent_forms(small: TemplateSchema) -> None:
    assert small.validate(with_(small.sample(), rate="6.50%"))["rate"] == "6.5"
    assert small.validate(with_(small.sample(), rate=99.999))["rate"] == "99.999"
    assert small.validate(with_(small.sample(), rate=100))["rate"] == "100"


@pytest.mark.parametrize("value", [0, 21, "3.5", 3.0, "十"])
def test_bad_integer(small: TemplateSchema, value: Any) -> None:
    e = error_at(small, with_(small.sample(), years=value), "years")
    assert "整数" in e["zh"] or "之间" in e["zh"]


def test_pattern_and_checksum(small: TemplateSchema) -> None:
    data = small.sample()
    data["party_a"]["credit_code"] = "9121023IMA0Y4R7K3"
    e = error_at(small, data, "party_a.credit_code")
    assert "18 位" in e["zh"]
    data["party_a"]["credit_code"] = "91210231MA0Y4R7K36"
    e = error_at(small, data, "party_a.credit_code")
    assert "校验位" in e["zh"]


def test_list_sums(small: TemplateSchema) -> None:
    data = small.sample()
    data["payments"][1]["ratio"] = "60"
    e = error_at(small, data, "payments")
    assert "合计为 90" in e["zh"] and "应为 100" in e["zh"]
    data = small.sample()
    data["payments"][1]["amount"] = "86419.00"
    e = error_at(small, data, "payments")
    assert "123,455.80" in e["zh"] and "123,456.00" in e["zh"]


def test_every_problem_is_reported_at_once(small: TemplateSchema) -> None:
    data = {
        "title": "长" * 60,
        "service_category": "9.9",
        "start": "2026-13-01",
        "fee": "abc",
        "party_a": {"credit_code": "x"},
        "extra": 1,
        "payments": [{"phase": "第一期", "ratio": "100", "amount": "1.001"}],
    }
    fields = {e["field"] for e in errors_of(small, data)}
    assert {
        "title",
        "service_category",
        "start",
        "fee.amount",
        "party_a.name",
        "party_a.credit_code",
        "extra",
        "payments[0].amount.amount",
    } <= fields
    with pytest.raises(InvalidInput) as info:
        small.validate(data)
    assert info.value.field == "extra" or info.value.field in fields
    assert "处" in info.value.zh  # the summary counts the problems


def test_a_flood_of_unknown_keys_is_capped(small: TemplateSchema) -> None:
    data = small.sample()
    data.update({f"k{i}": i for i in range(20_000)})
    with pytest.raises(InvalidInput) as info:
        small.validate(data)
    assert len(info.value.details["errors"]) == 200
    assert info.value.details["not_listed"] == 20_000 - 200


@pytest.mark.timing
def test_hostile_values_are_refused_cheaply_and_not_echoed(small: TemplateSchema) -> None:
    deep: Any = []
    for _ in range(100_000):
        deep = [deep]  # str() of this would overflow the stack
    data = with_(small.sample(), service_category=deep, start=deep, years=deep, rate=deep, fee="9" * 1_000_000)
    data["k" * 1_000_000] = 1
    started = time.perf_counter()
    errors = errors_of(small, data)
    assert time.perf_counter() - started < within(1.0)
    assert {"service_category", "start", "years", "rate", "fee.amount"} <= {e["field"] for e in errors}
    assert all(len(e["zh"]) < 1_000 and len(e["field"]) < 100 for e in errors)


def test_non_mapping_input(small: TemplateSchema) -> None:
    with pytest.raises(InvalidInput):
        small.validate(["not", "a", "form"])  # type: ignore[arg-type]


def test_optional_group_left_blank_is_fine() -> None:
    raw = copy.deepcopy(SMALL)
    raw["fields"][10]["required"] = False
    schema = load_schema(raw)
    data = schema.sample()
    del data["party_a"]
    ctx = schema.validate(data)
    assert ctx["party_a"] == {"name": "", "credit_code": ""}
    # half-filled, its own required fields apply again
    data["party_a"] = {"name": "大连某某信息技术有限公司"}
    error_at(schema, data, "party_a.credit_code")


# ---------------------------------------------------------------------------------------------
# Field paths and metadata


def test_field_paths_cover_declared_and_derived_names(small: TemplateSchema) -> None:
    paths = small.field_paths()
    for p in (
        "title",
        "start",
        "start_cn",
        "service_category_cn",
        "body_paragraphs",
        "body_paragraphs[]",
        "fee.amount_cn",
        "fee.amount_grouped",
        "party_a.name",
        "payments",
        "payments[]",
        "payments[].amount.amount_cn",
        "payments[].due_cn",
    ):
        assert p in paths, p
    assert "payments.phase" not in paths and "fee_cn" not in paths
    sources = small.field_sources()
    assert sources["payments[].due_cn"] == "payments[].due"
    assert sources["fee.amount_cn"] == "fee"
    assert sources["body_paragraphs[]"] == "body"


def test_the_check_gives_the_archive_metadata(small: TemplateSchema) -> None:
    meta = small.check(small.sample()).metadata
    assert meta == {
        "doc_type": "contract",
        "doc_class": "user",
        "title": "运维服务合同",
        "service_category": "4.2",
        "counterparty": "大连长兴湾物流集团有限公司",
        "effective_date": dt.date(2026, 3, 1),
        "review_due": dt.date(2027, 2, 28),
    }
    Metadata.parse(meta, Vocabulary())


def test_bad_values_of_metadata_fields_are_form_errors(small: TemplateSchema) -> None:
    with pytest.raises(InvalidInput) as info:
        small.check(with_(small.sample(), service_category="x", start="soon"))
    assert {e["field"] for e in info.value.details["errors"]} == {"service_category", "start"}


# ---------------------------------------------------------------------------------------------
# Malformed schemas are refused, naming the problem


def broken(mutate) -> InvalidInput:
    raw = copy.deepcopy(SMALL)
    mutate(raw)
    with pytest.raises(InvalidInput) as info:
        load_schema(raw)
    assert CJK.search(info.value.zh)
    return info.value


@pytest.mark.parametrize(
    "mutate, where",
    [
        (lambda s: s.update(schema_version=2), "schema_version"),
        (lambda s: s["template"].update(doc_type="memo"), "template.doc_type"),
        (lambda s: s["template"].update(doc_class="public"), "template.doc_class"),
        (lambda s: s["template"].update(slug="Bad Slug"), "template.slug"),
        (lambda s: s["fields"][0].update(requried=True), "requried"),
        (lambda s: s["fields"][0].update(type="string"), "type"),
        (lambda s: s["fields"][0].update(required="yes"), "required"),
        (lambda s: s["fields"][0].pop("example"), "example"),
        (lambda s: s["fields"][0].update(default="x"), "default"),
        (lambda s: s["fields"][0].update(name="items"), "name"),
        (lambda s: s["fields"][0].update(name="Title"), "name"),
        (lambda s: s["fields"][1].update(name="title"), "name"),
        (lambda s: s["fields"][1].update(name="start_cn"), "name"),
        (lambda s: s["fields"][0].update(max_length=10_000_000), "max_length"),
        (lambda s: s["fields"][0].update(pattern={"regex": "(", "zh": "x", "en": "x"}), "regex"),
        (lambda s: s["fields"][0].update(example="长" * 51), "example"),
        (lambda s: s["fields"][3].pop("choices_from"), "fields[3]"),
        (lambda s: s["fields"][3].update(choices_from="colours"), "choices_from"),
        (lambda s: s["fields"][4]["choices"].append({"value": "court", "zh": "法院", "en": "Court"}), "choices"),
        (lambda s: s["fields"][6].update(not_before="title"), "not_before"),
        (lambda s: s["fields"][7].update(currencies=["BTC"]), "currencies"),
        (lambda s: s["fields"][10]["fields"].append(copy.deepcopy(SMALL["fields"][10])), "type"),
        (lambda s: s["fields"][11].update(min_items=5), "min_items"),
        (lambda s: s["fields"][11]["sums"].append({"field": "phase", "equals": 1}), "sums"),
        (lambda s: s["fields"][11]["sums"].append({"field": "ratio", "equals_field": "fee"}), "sums"),
        (lambda s: s["template"]["metadata"].update(project="nowhere"), "metadata.project"),
        (lambda s: s["template"]["metadata"].update(effective_date="title"), "metadata.effective_date"),
        (lambda s: s["template"]["metadata"].pop("title"), "metadata.title"),
        (lambda s: s["template"]["metadata"].update(service_category="venue"), "metadata.service_category"),
        (lambda s: s["template"]["metadata"].update(pdca_phase={"value": "later"}), "metadata.pdca_phase"),
        (lambda s: s["template"]["metadata"].update(title={"value": "合同"}), "metadata.title"),
    ],
)
def test_malformed_schema(mutate, where: str) -> None:
    err = broken(mutate)
    assert where in err.zh and where in err.en


def test_examples_must_validate_together() -> None:
    err = broken(lambda s: s["fields"][11]["example"][1].update(ratio="60"))
    assert "示例" in err.zh and err.details["errors"][0]["field"] == "payments"


def test_schema_file_errors(tmp_path: Path) -> None:
    (tmp_path / "schema.json").write_text("{not json", encoding="utf-8")
    with pytest.raises(InvalidInput) as info:
        load_schema(tmp_path)
    assert "JSON" in info.value.zh
    with pytest.raises(InvalidInput):
        load_schema(tmp_path / "missing.json")


def test_a_schema_file_loads_with_its_directory(tmp_path: Path) -> None:
    (tmp_path / "schema.json").write_text(json.dumps(SMALL, ensure_ascii=False), encoding="utf-8")
    schema = load_schema(tmp_path / "schema.json")
    assert schema.directory == tmp_path and schema.template_path == tmp_path / "template.docx"


def test_extra_doc_types_are_accepted_when_configured() -> None:
    raw = copy.deepcopy(SMALL)
    raw["template"]["doc_type"] = "audit_report"
    vocab = Vocabulary.with_extra("audit_report:审计报告:Audit report")
    assert load_schema(raw, doc_types=vocab.doc_types).doc_type == "audit_report"


# ---------------------------------------------------------------------------------------------
# The shipped schemas


SLUGS = ["acceptance_report", "change_request", "contract", "service_plan", "sla"]


def test_shipped_schemas_load() -> None:
    schemas = list_shipped(TEMPLATES)
    assert [s.slug for s in schemas] == SLUGS
    for s in schemas:
        assert s.doc_type == s.slug  # the five shipped ones are the built-in document types
        assert s.template_path is not None and s.template_path.is_file()


@pytest.mark.parametrize("slug", SLUGS)
def test_shipped_sample_validates_and_gives_metadata(slug: str) -> None:
    schema = load_schema(TEMPLATES / slug)
    meta = Metadata.parse(schema.check(schema.sample()).metadata, Vocabulary())
    assert meta.service_category == ServiceCategory.OPERATION_MAINTENANCE
    assert meta.title and meta.counterparty.startswith("大连")
    for f in schema.iter_fields():
        assert f.label_zh and f.label_en
        if f.type not in ("group", "list"):
            assert f.example is not None or f.default is not None or not f.required, f.path


def test_shipped_credit_codes_are_valid() -> None:
    contract = load_schema(TEMPLATES / "contract")
    for party in ("party_a", "party_b"):
        assert uscc_is_valid(contract.sample()[party]["credit_code"])


def test_sla_review_due_is_the_next_review_date() -> None:
    sla = load_schema(TEMPLATES / "sla")
    data = sla.sample()
    data["next_review_date"] = "2026-08-31"  # within the six-month review cycle from 2026-03-01
    assert sla.check(data).metadata["review_due"] == dt.date(2026, 8, 31)


def test_contract_payments_must_add_up() -> None:
    contract = load_schema(TEMPLATES / "contract")
    data = contract.sample()
    data["total_fee"] = {"amount": "500000.00", "currency": "CNY"}
    e = error_at(contract, data, "payment_schedule")
    assert "486,500.00" in e["zh"] and "500,000.00" in e["zh"]


def test_fixed_metadata_values() -> None:
    report = load_schema(TEMPLATES / "acceptance_report")
    meta = report.check(report.sample()).metadata
    assert meta["service_scope"] == "delivery" and meta["pdca_phase"] == "check"  # spec 5.3, 6.3
    assert Metadata.parse(meta, Vocabulary()).doc_class.value == "user"
    plan = load_schema(TEMPLATES / "service_plan")
    assert plan.check(plan.sample()).metadata["pdca_phase"] == "plan"


def test_untitled_documents_take_the_template_name() -> None:
    contract = load_schema(TEMPLATES / "contract")
    data = contract.sample()
    del data["title"]
    assert contract.validate(data)["title"] == "信息服务管理合同"
    assert contract.check(data).metadata["title"] == "信息服务管理合同"


def test_list_shipped_refuses_a_renamed_directory(tmp_path: Path) -> None:
    shutil.copytree(TEMPLATES / "sla", tmp_path / "sla_copy")
    with pytest.raises(InvalidInput) as info:
        list_shipped(tmp_path)
    assert "sla_copy" in info.value.zh


# ------------------------------------------------------------------------------- onboarding types


def _one_field(field: dict) -> dict:
    return {
        "schema_version": 1,
        "template": {
            "slug": "t",
            "name_zh": "模板",
            "name_en": "T",
            "description_zh": "说明",
            "description_en": "d",
            "spec_ref": "7.1",
            "doc_type": "contract",
            "doc_class": "user",
            "metadata": {"title": "标题", "service_category": "类别"},
        },
        "fields": [
            {
                "name": "标题",
                "label_zh": "标题",
                "label_en": "Title",
                "type": "text",
                "required": True,
                "default": None,
                "example": "合同",
                "max_length": 100,
            },
            {
                "name": "类别",
                "label_zh": "类别",
                "label_en": "Category",
                "type": "enum",
                "required": True,
                "default": None,
                "example": "4.2",
                "choices_from": "service_category",
            },
            field,
        ],
    }


def test_chinese_field_names_and_booleans() -> None:
    s = load_schema(
        _one_field(
            {
                "name": "含个人信息",
                "label_zh": "含个人信息",
                "label_en": "PI",
                "type": "boolean",
                "required": False,
                "default": False,
                "example": True,
            }
        )
    )
    for raw, value in ((True, True), ("是", True), ("☑", True), ("false", False), ("否", False), ("", False)):
        ctx = s.validate({**s.sample(), "含个人信息": raw})
        assert ctx["含个人信息"] is value and ctx["含个人信息_cn"] == ("是" if value else "否")
    for raw, value in ((1, True), (0, False)):
        assert s.validate({**s.sample(), "含个人信息": raw})["含个人信息"] is value
    # Anything else, a list or an object from a JSON client included, is a field error, not a crash.
    for bad in ("也许", 2, [], ["是"], {}, {"a": 1}):
        with pytest.raises(InvalidInput) as exc:
            s.validate({**s.sample(), "含个人信息": bad})
        assert exc.value.details["errors"][0]["field"] == "含个人信息"
    for bad in ("PartyA", "甲方（委托方）", "_x", "甲方 名称"):
        with pytest.raises(InvalidInput):
            load_schema(
                _one_field(
                    {
                        "name": bad,
                        "label_zh": "x",
                        "label_en": "x",
                        "type": "text",
                        "required": False,
                        "default": "",
                        "example": None,
                    }
                )
            )


def test_longtext_items_drop_the_drafters_enumerators() -> None:
    s = load_schema(
        _one_field(
            {
                "name": "条款",
                "label_zh": "条款",
                "label_en": "Terms",
                "type": "longtext",
                "required": True,
                "default": None,
                "example": "（一）第一款\n2. 第二款\n三、第三款\n1.5 万元为限",
            }
        )
    )
    ctx = s.validate(s.sample())
    assert ctx["条款_items"] == ["第一款", "第二款", "第三款", "1.5 万元为限"]
    assert ctx["条款_paragraphs"][0] == "（一）第一款"
