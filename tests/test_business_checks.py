"""Business checks across fields: declared in the schemas, checked with the form in one pass,
bilingual and naming the fields; the archive checks (numbers unique, references present) on
SQLite and PostgreSQL; defaults and warnings recorded in the provenance."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from docsvc.app import open_docsvc
from docsvc.core.schema import load_schema
from docsvc.errors import InvalidInput

SHIPPED = Path(__file__).resolve().parents[1] / "templates"


def schema(slug: str):
    return load_schema(SHIPPED / slug)


def errors_of(slug: str, data: dict) -> list[dict]:
    with pytest.raises(InvalidInput) as exc:
        schema(slug).validate(data)
    errors = exc.value.details["errors"]
    assert all(e["zh"] and e["en"] for e in errors)
    return errors


# ---------------------------------------------------------------------------------------------
# In the form


def test_each_payment_row_is_its_share_of_the_total() -> None:
    data = schema("contract").sample()
    data["payment_schedule"][1]["ratio"] = "35"  # 35 % of 486,500.00 is 170,275.00, not 194,600.00
    errors = errors_of("contract", data)
    fields = [e["field"] for e in errors]
    assert "payment_schedule[1].amount" in fields
    row = next(e for e in errors if e["field"] == "payment_schedule[1].amount")
    assert "第 2 行" in row["zh"] and "170,275.00" in row["zh"] and "194,600.00" in row["zh"]
    assert "row 2" in row["en"]
    assert "payment_schedule" in fields  # and the ratios no longer add up to 100


def test_a_cent_of_rounding_is_accepted() -> None:
    data = schema("contract").sample()
    data["total_fee"]["amount"] = "100000.00"
    data["payment_schedule"] = [
        {"phase": f"第{n}期", "condition": "按季度", "ratio": r, "amount": {"amount": a, "currency": "CNY"}}
        for n, r, a in ((1, "33.33", "33330.00"), (2, "33.33", "33330.00"), (3, "33.34", "33340.00"))
    ]
    schema("contract").validate(data)


def test_sla_priorities_are_unique_and_limits_rise() -> None:
    data = schema("sla").sample()
    data["priorities"][2]["priority"] = "P2"  # P2 twice, no P3
    errors = errors_of("sla", data)
    assert any(e["field"] == "priorities[2].priority" and "与第 2 行重复" in e["zh"] for e in errors)

    data = schema("sla").sample()
    data["priorities"][1].update(response_time=3, response_unit="hour")  # P2 3 h > P3 2 h
    errors = errors_of("sla", data)
    assert [e["field"] for e in errors] == ["priorities[2].response_time"]
    assert "P3" in errors[0]["zh"] and "P2" in errors[0]["zh"] and "3 小时" in errors[0]["zh"]

    # units are compared, not bare numbers: 2 working days is longer than 8 hours
    data = schema("sla").sample()
    data["priorities"][1].update(resolution_time=1, resolution_unit="workday")
    data["priorities"][2].update(resolution_time=30, resolution_unit="hour")
    schema("sla").validate(data)


def test_missing_priority_is_a_warning() -> None:
    data = schema("sla").sample()
    del data["priorities"][2]
    checked = schema("sla").check(data)
    assert any(w.field == "priorities" and "P3" in w.zh for w in checked.warnings)


def test_review_date_within_the_cycle_and_the_term() -> None:
    data = schema("sla").sample()
    data["next_review_date"] = "2027-03-31"  # after the SLA ends (2027-02-28)
    errors = errors_of("sla", data)
    assert errors[0]["field"] == "next_review_date" and "2027年2月28日" in errors[0]["zh"]

    data = schema("sla").sample()
    data["next_review_date"] = "2026-10-31"  # 6-month cycle from 2026-03-01: due by 2026-09-01
    errors = errors_of("sla", data)
    assert errors[0]["field"] == "next_review_date" and "2026年9月1日" in errors[0]["zh"]

    data = schema("sla").sample()
    data.update(review_cycle_months=24)
    checked = schema("sla").check(data)
    assert any(w.field == "review_cycle_months" for w in checked.warnings)


def test_acceptance_conclusion_follows_the_results() -> None:
    data = schema("acceptance_report").sample()
    data["checks"][0]["result"] = "fail"
    data["conclusion"] = "passed"
    errors = errors_of("acceptance_report", data)
    assert errors[0]["field"] == "conclusion"
    assert "第 1 行（不合格）" in errors[0]["zh"] and "row 1 (Fail)" in errors[0]["en"]
    data["conclusion"] = "failed"
    schema("acceptance_report").validate(data)
    # passed with remarks under an unconditional pass: allowed, but said
    data = schema("acceptance_report").sample()
    data["conclusion"] = "passed"
    checked = schema("acceptance_report").check(data)
    assert [w.field for w in checked.warnings] == ["conclusion"]


def test_downtime_window_required_when_service_stops() -> None:
    data = schema("change_request").sample()
    data["downtime_window"] = ""
    assert errors_of("change_request", data)[0]["field"] == "downtime_window"
    data["service_interruption"] = "否"
    schema("change_request").validate(data)


def test_rules_run_after_type_errors_are_fixed_and_all_errors_come_at_once() -> None:
    data = schema("sla").sample()
    data["priorities"][2]["priority"] = "P2"
    data["next_review_date"] = "2027-03-31"
    fields = {e["field"] for e in errors_of("sla", data)}
    assert {"priorities[2].priority", "next_review_date"} <= fields
    data["availability"] = "abc"  # a type error: the rules wait until the form converts
    assert {e["field"] for e in errors_of("sla", data)} == {"availability"}


# ---------------------------------------------------------------------------------------------
# Declaring checks


def _with_checks(checks: list) -> dict:
    raw = json.loads((SHIPPED / "sla" / "schema.json").read_text("utf-8"))
    raw["checks"] = checks
    return raw


@pytest.mark.parametrize(
    "checks, where",
    [
        ([{"rule": "nonsense"}], "checks[0].rule"),
        ([{"rule": "unique", "list": "priorities"}], "checks[0].field"),
        ([{"rule": "unique", "list": "priorities", "field": "nope"}], "checks[0].field"),
        (
            [{"rule": "ascending", "list": "priorities", "field": "description", "order_by": "priority"}],
            "checks[0].field",
        ),
        (
            [
                {
                    "rule": "review_cycle",
                    "start": "effective_date",
                    "months": "title",
                    "next": "next_review_date",
                    "end": "end_date",
                }
            ],
            "checks[0].months",
        ),
        ([{"rule": "unique", "list": "priorities", "field": "priority", "severity": "fatal"}], "checks[0].severity"),
        ([{"rule": "unique", "list": "priorities", "field": "priority", "typo": 1}], "checks[0].typo"),
    ],
)
def test_a_malformed_check_is_refused_where_it_is(checks, where) -> None:
    with pytest.raises(InvalidInput) as exc:
        load_schema(_with_checks(checks))
    assert exc.value.field == where


def test_a_check_can_be_a_warning() -> None:
    raw = _with_checks([{"rule": "unique", "list": "priorities", "field": "priority", "severity": "warning"}])
    s = load_schema(raw)
    data = s.sample()
    data["priorities"][2]["priority"] = "P2"
    checked = s.check(data)
    assert any(w.field == "priorities[2].priority" for w in checked.warnings)


# ---------------------------------------------------------------------------------------------
# Against the archive, on both databases


@pytest.fixture
def shipped(config):
    s = open_docsvc({**config, "TEMPLATES_DIR": str(SHIPPED)})
    yield s
    s.close()


def test_numbers_are_unique_in_the_archive(shipped) -> None:
    data = shipped.templates.get("contract").schema.sample()
    first = shipped.templates.generate("contract", data, actor="起草人")
    with pytest.raises(InvalidInput) as exc:
        shipped.templates.generate("contract", data, actor="起草人")
    error = exc.value.details["errors"][0]
    assert error["field"] == "contract_no" and f"文档 {first.document.id}" in error["zh"]
    assert error["link"] == f"/documents/{first.document.id}"
    assert shipped.catalog.counts()["documents"] == 1
    # a new version of the same document keeps its number
    again = shipped.templates.generate(
        "contract",
        {**data, "project_name": "二期"},
        actor="起草人",
        document_id=first.document.id,
        reason="项目名称更正",
    )
    assert again.version.number == 2
    # another template's numbers are another matter
    other = copy.deepcopy(shipped.templates.get("sla").schema.sample())
    other["sla_no"] = data["contract_no"]
    shipped.templates.generate("sla", other, actor="起草人")


def test_missing_reference_is_a_warning_with_a_link(shipped) -> None:
    sla = shipped.templates.get("sla").schema.sample()
    result = shipped.templates.generate("sla", sla, actor="起草人")
    warnings = result.version.provenance["warnings"]
    ref = next(w for w in warnings if w["field"] == "contract_ref")
    assert sla["contract_ref"] in ref["zh"] and ref["link"] == "/templates/contract/generate"
    # once the contract is in the archive, the plan's and the report's references are found
    shipped.templates.generate("contract", shipped.templates.get("contract").schema.sample(), actor="起草人")
    report = shipped.templates.generate(
        "acceptance_report", shipped.templates.get("acceptance_report").schema.sample(), actor="起草人"
    )
    assert not [w for w in report.version.provenance["warnings"] if w["field"] in ("contract_no", "sla_reference")]


def test_defaults_used_are_in_the_provenance(shipped) -> None:
    data = shipped.templates.get("contract").schema.sample()
    for key in ("confidentiality_years", "copies"):
        del data[key]
    prov = shipped.templates.generate("contract", data, actor="起草人").version.provenance
    assert [(d["field"], d["value"]) for d in prov["defaults_used"]] == [
        ("confidentiality_years", "3"),
        ("copies", "4"),
    ]
    assert "保密期限（年）：3" in prov["warnings"][0]["zh"]


def test_plan_revision_needs_its_history_row(shipped) -> None:
    data = shipped.templates.get("service_plan").schema.sample()
    first = shipped.templates.generate("service_plan", data, actor="起草人")
    with pytest.raises(InvalidInput) as exc:
        shipped.templates.generate(
            "service_plan", data, actor="起草人", document_id=first.document.id, reason="年中调整"
        )
    assert exc.value.details["errors"][0]["field"] == "revisions"
    data["revisions"].append({"date": "2026-09-01", "author": "李明", "description": "年中调整"})
    second = shipped.templates.generate(
        "service_plan", data, actor="起草人", document_id=first.document.id, reason="年中调整"
    )
    assert second.version.number == 2


def test_cli_prints_the_warnings(config, tmp_path) -> None:
    from docsvc.cli import cli

    env = {f"DOCSVC_{k}": v for k, v in {**config, "TEMPLATES_DIR": str(SHIPPED)}.items()}
    runner = CliRunner()
    data = load_schema(SHIPPED / "sla").sample()
    path = tmp_path / "sla.json"
    path.write_text(json.dumps(data, ensure_ascii=False), "utf-8")
    result = runner.invoke(cli, ["generate", "sla", "--data", str(path)], env=env)
    assert result.exit_code == 0, result.output
    assert "警告 WARN" in result.stderr and "contract_ref" in result.stderr
    assert "/templates/contract/generate" in result.stderr
