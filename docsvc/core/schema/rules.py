"""Business checks across fields: the ``checks`` a template schema declares.

Type checks see one value; these see the document: the instalments of a payment table against
the contract price, the priorities of an SLA against each other, the review cycle against the
term, an acceptance conclusion against the results it concludes, and numbers against the
archive. Each rule is declared in schema.json with the field names it reads, e.g.
``{"rule": "share_of_total", "list": "payment_schedule", "share": "ratio", "amount": "amount",
"total": "total_fee"}``; :meth:`Rule.verify` checks those names when the schema is loaded and
:meth:`Rule.run` checks a converted form. The rules are listed in docs/template-schema.md.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from docsvc.core.model import Choice
from docsvc.core.schema.model import (
    ARCHIVE_VERSION,
    FIELD_NAME_RE,
    SCALAR_TYPES,
    SLUG_RE,
    Check,
    Field,
    GeneratedDocuments,
    TemplateSchema,
)
from docsvc.core.schema.problems import Errors
from docsvc.core.zhformat import date_cn


@dataclass(frozen=True)
class Form:
    """A converted form as a rule sees it, and where the rule reports."""

    schema: TemplateSchema
    check: Check
    clean: dict[str, Any]  # the converted values (every field present, invalid ones refused before)
    sink: Errors  # where the check's findings go: the errors, or for a warning check the warnings
    warnings: Errors  # where a rule's own warnings go whatever its severity
    archive: GeneratedDocuments | None  # None: the checks against the archive are skipped
    document_id: int | None  # the document being revised, which may keep its own number


_UNIT_MINUTES = {"minute": 1, "hour": 60, "day": 1440, "workday": 1440, "week": 10080}


def _months_later(day: dt.date, months: int) -> dt.date:
    """The same day ``months`` later, or the month's last day (1-31 + 1 month = 2-28)."""
    month0 = day.month - 1 + months
    year, month = day.year + month0 // 12, month0 % 12 + 1
    for d in range(day.day, 27, -1):
        try:
            return dt.date(year, month, d)
        except ValueError:
            continue
    return dt.date(year, month, min(day.day, 28))


class Rule:
    """One kind of check: the parameters it takes, how to verify them, how to run it."""

    params: tuple[str, ...] = ()
    optional: frozenset[str] = frozenset()
    severity = "error"

    def verify(self, schema: TemplateSchema, check: Check) -> tuple[str, str, str] | None:
        return None

    def run(self, form: Form) -> None:
        raise NotImplementedError


def _choice(f: Field, value: Any) -> Choice:
    """The choice a validated form holds (validation refused every other value)."""
    choice = f.choice(value)
    assert choice is not None, (f.name, value)
    return choice


def _expect(schema: TemplateSchema, key: str, path: str, types: tuple[str, ...]) -> tuple[str, str, str] | None:
    try:
        f = schema.field(path)
    except KeyError:
        return key, f"字段“{path}”不存在。", f"there is no field '{path}'."
    if f.type not in types:
        return (key, f"字段“{path}”应为 {'/'.join(types)} 类型。", f"field '{path}' must be of type {'/'.join(types)}.")
    return None


def _first(*problems: tuple[str, str, str] | None) -> tuple[str, str, str] | None:
    return next((p for p in problems if p), None)


class _ShareOfTotal(Rule):
    """Each row's share (%) of the total equals the row's amount (to the cent)."""

    params = ("list", "share", "amount", "total")

    def verify(self, schema: TemplateSchema, check: Check) -> tuple[str, str, str] | None:
        p = check.params
        return _first(
            _expect(schema, "list", p["list"], ("list",)),
            _expect(schema, "share", f"{p['list']}[].{p['share']}", ("percent",)),
            _expect(schema, "amount", f"{p['list']}[].{p['amount']}", ("money",)),
            _expect(schema, "total", p["total"], ("money",)),
        )

    def run(self, form: Form) -> None:
        p = form.check.params
        total = form.clean.get(p["total"])
        if not total:
            return
        lst = form.schema.field(p["list"])
        share_f = form.schema.field(f"{p['list']}[].{p['share']}")
        amount_f = form.schema.field(f"{p['list']}[].{p['amount']}")
        total_f = form.schema.field(p["total"])
        for i, row in enumerate(form.clean.get(p["list"]) or []):
            share, amount = row.get(p["share"]), row.get(p["amount"])
            if share is None or not amount:
                continue
            expected = (Decimal(total["amount"]) * Decimal(share) / 100).quantize(Decimal("0.01"))
            actual = Decimal(amount["amount"])
            if abs(actual - expected) > Decimal("0.01"):
                form.sink.add(
                    f"{p['list']}[{i}].{p['amount']}",
                    f"“{lst.label_zh}”第 {i + 1} 行：“{share_f.label_zh}” {share}% × "
                    f"“{total_f.label_zh}” {Decimal(total['amount']):,.2f} = {expected:,.2f}，"
                    f"但“{amount_f.label_zh}”为 {actual:,.2f}；请核对比例或金额。",
                    f"{lst.label_en}, row {i + 1}: {share_f.label_en} {share}% of "
                    f"{total_f.label_en} {Decimal(total['amount']):,.2f} is {expected:,.2f}, "
                    f"but {amount_f.label_en} is {actual:,.2f}; check the share or the amount.",
                )


class _Unique(Rule):
    """A column's values are unique; with ``complete``, every choice of an enum appears."""

    params = ("list", "field", "complete")
    optional = frozenset({"complete"})

    def verify(self, schema: TemplateSchema, check: Check) -> tuple[str, str, str] | None:
        p = check.params
        if "complete" in p and not isinstance(p["complete"], bool):
            return "complete", "应为 true 或 false。", "must be true or false."
        return _first(
            _expect(schema, "list", p["list"], ("list",)),
            _expect(schema, "field", f"{p['list']}[].{p['field']}", ("text", "enum", "integer", "date")),
        )

    def run(self, form: Form) -> None:
        p = form.check.params
        lst, col = form.schema.field(p["list"]), form.schema.field(f"{p['list']}[].{p['field']}")
        seen: dict[Any, int] = {}
        for i, row in enumerate(form.clean.get(p["list"]) or []):
            value = row.get(p["field"])
            if value in (None, ""):
                continue
            if value in seen:
                form.sink.add(
                    f"{p['list']}[{i}].{p['field']}",
                    f"“{lst.label_zh}”第 {i + 1} 行的“{col.label_zh}”“{value}”与第 "
                    f"{seen[value] + 1} 行重复；每个值只能出现一次。",
                    f"{lst.label_en}, row {i + 1}: {col.label_en} '{value}' repeats row "
                    f"{seen[value] + 1}; each value may appear only once.",
                )
            else:
                seen[value] = i
        if p.get("complete") and col.choices and seen:
            missing = [c for c in col.choices if c.code not in seen]
            if missing:
                form.warnings.add(
                    p["list"],
                    f"“{lst.label_zh}”缺少“{col.label_zh}”：{'、'.join(c.code for c in missing)}；请确认是否有意省略。",
                    f"{lst.label_en} has no row for {col.label_en} "
                    f"{', '.join(c.code for c in missing)}; check this is intended.",
                )


class _Ascending(Rule):
    """In the order of an enum column (P1 → P4), a duration column never gets shorter."""

    params = ("list", "field", "order_by", "unit")
    optional = frozenset({"unit"})

    def verify(self, schema: TemplateSchema, check: Check) -> tuple[str, str, str] | None:
        p = check.params
        problem = _first(
            _expect(schema, "list", p["list"], ("list",)),
            _expect(schema, "field", f"{p['list']}[].{p['field']}", ("integer", "percent")),
            _expect(schema, "order_by", f"{p['list']}[].{p['order_by']}", ("enum",)),
            _expect(schema, "unit", f"{p['list']}[].{p['unit']}", ("enum",)) if "unit" in p else None,
        )
        if problem is None and "unit" in p:
            unit = schema.field(f"{p['list']}[].{p['unit']}")
            if any(c.code not in _UNIT_MINUTES for c in unit.choices):
                return (
                    "unit",
                    f"时间单位的选项值应取自：{'、'.join(_UNIT_MINUTES)}。",
                    f"the unit's choice values must be drawn from: {', '.join(_UNIT_MINUTES)}.",
                )
        return problem

    def run(self, form: Form) -> None:
        p = form.check.params
        lst = form.schema.field(p["list"])
        col = form.schema.field(f"{p['list']}[].{p['field']}")
        order = form.schema.field(f"{p['list']}[].{p['order_by']}")
        unit_f = form.schema.field(f"{p['list']}[].{p['unit']}") if "unit" in p else None
        rank = {c.code: n for n, c in enumerate(order.choices)}
        rows = []
        for i, row in enumerate(form.clean.get(p["list"]) or []):
            value, key = row.get(p["field"]), row.get(p["order_by"])
            unit = row.get(p["unit"]) if unit_f else "minute"
            if value is None or key not in rank or unit not in _UNIT_MINUTES:
                continue
            shown = f"{value}" + (f" {_choice(unit_f, unit).zh}" if unit_f else "")
            rows.append((rank[key], i, Decimal(str(value)) * _UNIT_MINUTES[unit], key, shown))
        rows.sort()
        for (_, _, before, key_a, shown_a), (_, i, after, key_b, shown_b) in zip(rows, rows[1:]):
            if after < before:
                form.sink.add(
                    f"{p['list']}[{i}].{p['field']}",
                    f"“{lst.label_zh}”第 {i + 1} 行：{key_b} 的“{col.label_zh}”（{shown_b}）"
                    f"短于 {key_a}（{shown_a}）；优先级越低，时限应越长。",
                    f"{lst.label_en}, row {i + 1}: the {col.label_en} of {key_b} ({shown_b}) "
                    f"is shorter than that of {key_a} ({shown_a}); lower priorities need "
                    f"longer limits.",
                )


class _ReviewCycle(Rule):
    """The next review falls within one cycle of the start and within the term."""

    params = ("start", "months", "next", "end")

    def verify(self, schema: TemplateSchema, check: Check) -> tuple[str, str, str] | None:
        p = check.params
        return _first(
            _expect(schema, "start", p["start"], ("date",)),
            _expect(schema, "months", p["months"], ("integer",)),
            _expect(schema, "next", p["next"], ("date",)),
            _expect(schema, "end", p["end"], ("date",)),
        )

    def run(self, form: Form) -> None:
        p = form.check.params
        values: list[Any] = [form.clean.get(p[k]) for k in ("start", "months", "next", "end")]
        if None in values:
            return
        start, months, nxt, end = values
        f = {k: form.schema.field(p[k]) for k in ("start", "months", "next", "end")}
        if nxt > end:
            form.sink.add(
                p["next"],
                f"“{f['next'].label_zh}”（{date_cn(nxt)}）晚于“{f['end'].label_zh}”"
                f"（{date_cn(end)}）：期限内不会评审。请提前评审日期或缩短评审周期。",
                f"{f['next'].label_en} ({nxt}) is after {f['end'].label_en} ({end}): no review "
                f"would happen within the term. Move the review earlier.",
            )
            return
        due = _months_later(start, months)
        if nxt > due:
            form.sink.add(
                p["next"],
                f"“{f['next'].label_zh}”（{date_cn(nxt)}）与“{f['months'].label_zh}”"
                f"（{months} 个月）不符：自{date_cn(start)}起，首次评审应不晚于{date_cn(due)}。",
                f"{f['next'].label_en} ({nxt}) does not match the {f['months'].label_en} "
                f"({months} months): counting from {start}, the first review is due by {due}.",
            )
        if due > end:
            form.warnings.add(
                p["months"],
                f"“{f['months'].label_zh}”（{months} 个月）长于协议期限"
                f"（{date_cn(start)}至{date_cn(end)}）；请确认评审安排。",
                f"The {f['months'].label_en} ({months} months) is longer than the term "
                f"({start} to {end}); check the review arrangement.",
            )


class _Conclusion(Rule):
    """A conclusion is no better than the results it concludes (choices listed best first):
    a failed check under a passing conclusion is an error; a check passed with remarks under
    an unconditional pass is a warning."""

    params = ("list", "field", "conclusion")

    def verify(self, schema: TemplateSchema, check: Check) -> tuple[str, str, str] | None:
        p = check.params
        problem = _first(
            _expect(schema, "list", p["list"], ("list",)),
            _expect(schema, "field", f"{p['list']}[].{p['field']}", ("enum",)),
            _expect(schema, "conclusion", p["conclusion"], ("enum",)),
        )
        if problem is None and len(schema.field(p["conclusion"]).choices) != len(
            schema.field(f"{p['list']}[].{p['field']}").choices
        ):
            return (
                "conclusion",
                "结论与结果的选项数应相同（均按由好到差排列）。",
                "the conclusion and the results need as many choices (both best first).",
            )
        return problem

    def run(self, form: Form) -> None:
        p = form.check.params
        conclusion: Any = form.clean.get(p["conclusion"])
        con_f, lst = form.schema.field(p["conclusion"]), form.schema.field(p["list"])
        col = form.schema.field(f"{p['list']}[].{p['field']}")
        rank_con = {c.code: n for n, c in enumerate(con_f.choices)}
        rank_row = {c.code: n for n, c in enumerate(col.choices)}
        rows = [
            (rank_row[r[p["field"]]], i, r[p["field"]])
            for i, r in enumerate(form.clean.get(p["list"]) or [])
            if r.get(p["field"]) in rank_row
        ]
        if conclusion not in rank_con or not rows:
            return
        chosen, worst = _choice(con_f, conclusion), max(r[0] for r in rows)
        bad = [r for r in rows if r[0] > rank_con[conclusion]]
        if bad:
            which = "、".join(f"第 {i + 1} 行（{_choice(col, v).zh}）" for _, i, v in bad)
            which_en = ", ".join(f"row {i + 1} ({_choice(col, v).en})" for _, i, v in bad)
            failing = worst == len(col.choices) - 1
            (form.sink if failing else form.warnings).add(
                p["conclusion"],
                f"“{con_f.label_zh}”为“{chosen.zh}”，但“{lst.label_zh}”{which}的"
                f"“{col.label_zh}”不支持这一结论；请修改结论或核对验收结果。",
                f"The {con_f.label_en} '{chosen.en}' does not match {lst.label_en} {which_en}; "
                f"change the conclusion or check the results.",
            )
        elif rank_con[conclusion] > worst:
            form.warnings.add(
                p["conclusion"],
                f"“{con_f.label_zh}”为“{chosen.zh}”，比各项“{col.label_zh}”都差；请确认。",
                f"The {con_f.label_en} '{chosen.en}' is worse than every {col.label_en}; check it.",
            )


class _UniqueInArchive(Rule):
    """No other document generated from this template has the same number."""

    params = ("field",)

    def verify(self, schema: TemplateSchema, check: Check) -> tuple[str, str, str] | None:
        return _expect(schema, "field", check.params["field"], ("text",))

    def run(self, form: Form) -> None:
        field = form.check.params["field"]
        value = form.clean.get(field)
        if not value or form.archive is None:
            return
        f = form.schema.field(field)
        for doc_id, title in form.archive.generated_with_value(form.schema.slug, field, value):
            if doc_id == form.document_id:
                continue
            form.sink.add(
                field,
                f"“{f.label_zh}”“{value}”已由文档 {doc_id}《{title}》使用，编号在档案中"
                f"必须唯一；请换一个编号，或生成该文档的新版本。",
                f"{f.label_en} '{value}' is already used by document {doc_id} ({title}); "
                f"numbers must be unique in the archive. Use another number, or generate a "
                f"new version of that document.",
                link=f"/documents/{doc_id}",
            )
            return


class _ExistsInArchive(Rule):
    """A referenced number (contract, SLA) belongs to a document in the archive."""

    params = ("field", "template", "target")
    severity = "warning"

    def verify(self, schema: TemplateSchema, check: Check) -> tuple[str, str, str] | None:
        p = check.params
        if not isinstance(p["template"], str) or not SLUG_RE.fullmatch(p["template"]):
            return "template", "应为模板名（slug）。", "must be a template slug."
        if not isinstance(p["target"], str) or not FIELD_NAME_RE.fullmatch(p["target"]):
            return "target", "应为该模板的字段名。", "must be a field name of that template."
        return _expect(schema, "field", p["field"], ("text",))

    def run(self, form: Form) -> None:
        p = form.check.params
        value = form.clean.get(p["field"])
        if not value or form.archive is None:
            return
        if form.archive.generated_with_value(p["template"], p["target"], value):
            return
        f = form.schema.field(p["field"])
        form.sink.add(
            p["field"],
            f"档案中没有编号为“{value}”的文档（{f.label_zh}）；请核对编号，或先生成并归档该文档。",
            f"No document numbered '{value}' ({f.label_en}) is in the archive; check the "
            f"number, or generate and archive that document first.",
            link=f"/templates/{p['template']}/generate",
        )


class _RequiredIf(Rule):
    """A field becomes required when a yes/no field is yes (a downtime window when the
    service is interrupted)."""

    params = ("field", "when")

    def verify(self, schema: TemplateSchema, check: Check) -> tuple[str, str, str] | None:
        p = check.params
        return _first(
            _expect(schema, "field", p["field"], tuple(sorted(SCALAR_TYPES))),
            _expect(schema, "when", p["when"], ("boolean",)),
        )

    def run(self, form: Form) -> None:
        p = form.check.params
        if form.clean.get(p["when"]) and form.clean.get(p["field"]) in (None, ""):
            f, when = form.schema.field(p["field"]), form.schema.field(p["when"])
            form.sink.add(
                p["field"],
                f"“{when.label_zh}”为“是”时，“{f.label_zh}”为必填项，请填写。",
                f"{f.label_en} is required when {when.label_en} is yes; fill it in.",
            )


class _RevisionHistory(Rule):
    """A revision table has one row per archive version, the last for the one being made."""

    params = ("list",)

    def verify(self, schema: TemplateSchema, check: Check) -> tuple[str, str, str] | None:
        return _expect(schema, "list", check.params["list"], ("list",))

    def run(self, form: Form) -> None:
        lst = form.schema.field(form.check.params["list"])
        rows, version = len(form.clean.get(form.check.params["list"]) or []), form.clean[ARCHIVE_VERSION]
        if rows != version:
            form.sink.add(
                form.check.params["list"],
                f"“{lst.label_zh}”有 {rows} 行，但本次生成的是档案中的第 {version} 版：每一版一行，"
                f"最后一行记录本次修订，请{'补充' if rows < version else '删减'}。",
                f"{lst.label_en} has {rows} rows, but this is version {version} in the "
                f"archive: one row per version, the last for this revision; "
                f"{'add' if rows < version else 'remove'} rows.",
            )


# Every rule a schema may name in "checks", by that name.
BY_NAME: dict[str, Rule] = {
    "revision_history": _RevisionHistory(),
    "required_if": _RequiredIf(),
    "share_of_total": _ShareOfTotal(),
    "unique": _Unique(),
    "ascending": _Ascending(),
    "review_cycle": _ReviewCycle(),
    "conclusion": _Conclusion(),
    "unique_in_archive": _UniqueInArchive(),
    "exists_in_archive": _ExistsInArchive(),
}
RULES = tuple(BY_NAME)  # their names
