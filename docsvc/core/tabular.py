"""Rows of form data from a CSV or XLSX file, for batch generation, and the spreadsheet a
drafter fills in (the "skeleton").

Column headers are field paths: ``contract_no``, ``party_a.name`` for a group,
``payment_schedule[0].amount`` for a list row (0-based), ``total_fee.amount`` and
``total_fee.currency`` for money. A list may also be given whole as JSON in one column
(``payment_schedule`` = ``[{"period": "第一期", …}]``). Empty cells are left out, so optional
fields take their defaults.

With a template's schema, headers may also be the fields' Chinese labels, as the skeleton
(:func:`skeleton_columns`) writes them: ``合同编号``, ``甲方（委托方）·名称`` for a group's field,
``付款计划·第1行·金额`` for a table's cell (rows counted from 1, as a person counts). Money is
one column (the amount, in the field's first currency) unless the field allows several
currencies, then ``…·金额`` and ``…·币种``.

Rows keep their number in the spreadsheet: the header is row 1, the first data row is row 2,
and blank rows are skipped without renumbering the others, so an error names the row a drafter
sees in Excel or WPS.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from docsvc.core.content import decode_text
from docsvc.core.schema.model import Field, TemplateSchema
from docsvc.errors import InvalidInput

MAX_ROWS = 10_000
SEP = "·"  # between a group's (or a table's) label and its field's label in a skeleton header
_PART = re.compile(r"^(?P<name>[^\W\d][\w]*)(?:\[(?P<index>\d{1,4})\])?$")
# A cell a spreadsheet program would run as a formula (=…, @…, +SUM(…), -cmd|…): refused rather
# than stored, so nothing docsvc writes back into a spreadsheet can carry one (CSV injection).
_FORMULA = re.compile(r"^\s*(?:[=@]|[+\-]\s*[A-Za-z_][\w.]*\s*[(!|])")


@dataclass(frozen=True)
class Row:
    """One data row: its number in the spreadsheet (header = 1) and its nested form data."""

    number: int
    data: dict[str, Any]


@dataclass(frozen=True)
class Column:
    """One skeleton column: the header a drafter sees, the field path it fills, an example."""

    header: str
    path: str
    example: Any = None


def read_rows(data: bytes, filename: str) -> list[dict[str, Any]]:
    """Parse ``data`` (CSV or XLSX, decided by content) into nested form-data dicts."""
    return [r.data for r in read_numbered(data)]


def read_numbered(data: bytes, *, schema: TemplateSchema | None = None, max_rows: int = MAX_ROWS) -> list[Row]:
    """The data rows of ``data`` (CSV or XLSX, decided by content) with their spreadsheet
    numbers. With the template's ``schema``, headers may be the skeleton's labels, and every
    header must name one of its fields."""
    header, rows = read_table(data)
    if not any(header):
        raise InvalidInput(
            "批量文件没有表头行。第一行应为字段名或字段标签，例如 contract_no 或 合同编号。",
            "The batch file has no header row. The first row must hold field names or labels, "
            "e.g. contract_no or 合同编号.",
            field="file",
        )
    paths = _header_paths(header, header_map(schema) if schema else {})
    if schema is not None:
        for i, path in enumerate(paths):
            if path and not _known(schema.fields, _split(path)):
                raise InvalidInput(
                    f"第 1 行 {column_letter(i)} 列的表头“{header[i]}”不是模板“{schema.name_zh}”的字段。请使用下载的"
                    "表格模板中的表头（字段的中文标签），或字段路径（如 party_a.name）。",
                    f"The header '{header[i]}' in row 1, column {column_letter(i)} is not a field of the template "
                    f"'{schema.name_en}'. Use the headers of the downloaded spreadsheet (the fields' labels) or "
                    "field paths (e.g. party_a.name).",
                    field="file",
                    details={"column": column_letter(i)},
                )
    out: list[Row] = []
    for number, values in rows:
        if all(v in (None, "") for v in values):
            continue
        if len(out) >= max_rows:
            raise InvalidInput(
                f"批量文件超过 {max_rows} 行数据，请拆分后分批提交。",
                f"The batch file has more than {max_rows} data rows; split it into several files.",
                field="file",
            )
        for i, v in enumerate(values):
            if isinstance(v, str) and _FORMULA.match(v):
                raise _formula(number, i)
        fields = unflatten({p: v for p, v in zip(paths, values) if p and v not in (None, "")})
        out.append(Row(number, _by_code(schema.fields, fields) if schema else fields))
    return out


def read_table(data: bytes) -> tuple[list[str], list[tuple[int, list[Any]]]]:
    """The header and the numbered rows of a CSV or XLSX file, as text (dates in ISO form)."""
    if not data.strip():
        raise InvalidInput(
            "批量文件是空的。请下载表格模板，填写后再上传。",
            "The batch file is empty. Download the spreadsheet template, fill it in and upload it.",
            field="file",
        )
    if data.startswith(b"PK\x03\x04"):
        header, rows = _xlsx(data)
    else:
        header, rows = _csv(data)
    return header, [(i, r) for i, r in enumerate(rows, start=2)]


def _header_paths(header: list[str], columns: Mapping[str, str]) -> list[str]:
    """Each column's field path ("" for a column without a header, which must stay empty)."""
    paths = []
    seen: dict[str, int] = {}
    for i, col in enumerate(header):
        path = columns.get(col, col) if col else ""
        if path:
            _split(path, column_index=i)  # every header checked up front
            if path in seen:
                raise InvalidInput(
                    f"第 1 行的 {column_letter(seen[path])} 列和 {column_letter(i)} 列填的是同一字段“{col}”，请删除其中一列。",
                    f"Columns {column_letter(seen[path])} and {column_letter(i)} of row 1 are the same field "
                    f"'{col}'; remove one of them.",
                    field="file",
                )
            seen[path] = i
        paths.append(path)
    return paths


def column_letter(index: int) -> str:
    """0 → A, 25 → Z, 26 → AA: the column as a spreadsheet names it."""
    letters = ""
    index += 1
    while index:
        index, rest = divmod(index - 1, 26)
        letters = chr(65 + rest) + letters
    return letters


def _formula(number: int, index: int) -> InvalidInput:
    return InvalidInput(
        f"第 {number} 行 {column_letter(index)} 列是公式（以 = 、@ 等开头）。批量文件只接受数值和文字，"
        "请把公式复制后“选择性粘贴为数值”，或在开头加一个撇号（'）。未生成任何文档。",
        f"Row {number}, column {column_letter(index)} holds a formula (it starts with =, @ …). A batch file takes "
        "values and text only: paste the formulas as values, or start the cell with an apostrophe ('). "
        "Nothing was generated.",
        field="file",
        details={"row": number, "column": column_letter(index)},
    )


def _not_a_sheet() -> InvalidInput:
    return InvalidInput(
        "这不是可读取的 CSV 或 Excel（.xlsx）文件：内容含有二进制数据，或文字编码无法识别。请在 Excel 或 WPS 中"
        "另存为“Excel 工作簿（.xlsx）”或“CSV UTF-8（逗号分隔）”后重新上传。",
        "This is not a readable CSV or Excel (.xlsx) file: it holds binary data or text in an encoding docsvc "
        "cannot recognise. Save it from Excel or WPS as an Excel workbook (.xlsx) or as CSV UTF-8 "
        "(comma delimited) and upload it again.",
        field="file",
    )


def _csv(data: bytes) -> tuple[list[str], list[list[Any]]]:
    if data.startswith(b"\xd0\xcf\x11\xe0"):  # an OLE file: Excel 97-2003 (.xls) or an old Word file
        raise InvalidInput(
            "不支持 Excel 97-2003（.xls）格式：请在 Excel 或 WPS 中另存为 .xlsx 后重新上传。",
            "Excel 97-2003 (.xls) files are not supported: save it as .xlsx in Excel or WPS and upload it again.",
            field="file",
        )
    text = decode_text(data)
    # decode_text never fails (it replaces what it cannot read): a replaced or NUL character
    # means binary data or an encoding other than UTF-8, UTF-16 and GB18030.
    if "\ufffd" in text or "\x00" in text:
        raise _not_a_sheet()
    try:
        dialect = csv.Sniffer().sniff(text[:4096], delimiters=",;\t")
    except csv.Error:
        dialect = csv.excel
    reader = csv.reader(io.StringIO(text, newline=""), dialect)
    try:
        header = [h.strip() for h in next(reader, [])]
        return header, [[v.strip() for v in row] for row in reader]
    except csv.Error as exc:
        raise InvalidInput(f"CSV 文件格式错误：{exc}", f"Malformed CSV file: {exc}", field="file") from None


def _xlsx(data: bytes) -> tuple[list[str], list[list[Any]]]:
    from openpyxl import load_workbook

    from docsvc.core.content import PackageLimits, check_ooxml_package

    try:
        # The same zip-bomb and DTD checks as for Word packages (minus the Word parts).
        check_ooxml_package(data, limits=PackageLimits(), require=("[Content_Types].xml", "xl/workbook.xml"))
    except InvalidInput as exc:  # its words are about Word documents: say what this upload is
        raise InvalidInput(
            "无法作为 Excel 工作簿（.xlsx）读取：文件已损坏、不安全，或是另一种 Office 文件（如 Word 文档）。请在 Excel 或 "
            "WPS 中另存为 .xlsx 或 CSV 后重新上传。",
            "This cannot be read as an Excel workbook (.xlsx): it is damaged, unsafe, or another kind of Office "
            "file (e.g. a Word document). Save it as .xlsx or CSV in Excel or WPS and upload it again.",
            field="file",
            details={"reason": exc.en},
        ) from None
    try:
        # Streamed (read-only), with every cell's type, so a formula is seen as one (its cached
        # value would hide it). Missing rows come as empty ones, so the n-th row is row n; the
        # dimensions the file claims are not trusted (some programs write them wrongly).
        wb = load_workbook(io.BytesIO(data), read_only=True, data_only=False)
        sheet = wb.worksheets[0]
        sheet.reset_dimensions()
        rows: list[list[Any]] = []
        for number, cells in enumerate(sheet.iter_rows(min_row=1), start=1):
            for i, c in enumerate(cells):
                if c.data_type == "f" or (isinstance(c.value, str) and _FORMULA.match(c.value)):
                    raise _formula(number, i)
            rows.append([c.value for c in cells])
        wb.close()
    except InvalidInput:
        raise
    except Exception as exc:  # noqa: BLE001 - openpyxl raises many kinds for damaged files
        raise InvalidInput(
            f"无法读取 Excel 文件：{type(exc).__name__}。请另存为 .xlsx 或 CSV 后重试。",
            f"Cannot read the Excel file ({type(exc).__name__}); save it as .xlsx or CSV.",
            field="file",
        ) from None
    if not rows:
        return [], []
    header = [str(h).strip() if h is not None else "" for h in rows[0]]
    return header, [[_cell(v) for v in r] for r in rows[1:]]


def _cell(value: Any) -> Any:
    # Excel stores dates as datetimes; form dates are ISO strings.
    if isinstance(value, dt.datetime):
        return value.date().isoformat() if value.time() == dt.time() else value.isoformat()
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return value if value is None else str(value).strip()


def _split(column: str, *, column_index: int | None = None) -> list[tuple[str, int | None]]:
    parts = []
    for piece in column.split("."):
        m = _PART.match(piece.strip())
        if not m:
            where = f"第 1 行 {column_letter(column_index)} 列的" if column_index is not None else ""
            where_en = f"in row 1, column {column_letter(column_index)} " if column_index is not None else ""
            raise InvalidInput(
                f"{where}表头“{column}”不是本模板的字段标签或字段路径（例如 合同编号、party_a.name 或 "
                "payment_schedule[0].amount）。",
                f"Header '{column}' {where_en}is neither a field label of this template nor a field "
                "path (e.g. 合同编号, party_a.name or payment_schedule[0].amount).",
                field="file",
            )
        parts.append((m["name"], int(m["index"]) if m["index"] is not None else None))
    return parts


def unflatten(flat: dict[str, Any]) -> dict[str, Any]:
    root: dict[str, Any] = {}
    for column, value in flat.items():
        if isinstance(value, str) and value[:1] in "[{" and "." not in column and "[" not in column:
            try:
                value = json.loads(value)
            except json.JSONDecodeError:
                pass  # plain text that happens to start with a bracket
        node: Any = root
        parts = _split(column)
        for i, (name, index) in enumerate(parts):
            last = i == len(parts) - 1
            if index is None:
                if last:
                    node[name] = value
                else:
                    node = node.setdefault(name, {})
            else:
                items = node.setdefault(name, [])
                while len(items) <= index:
                    items.append({})
                if last:
                    items[index] = value
                else:
                    node = items[index]
    kept: dict[str, Any] = _drop_blank_rows(root)
    return kept


def _drop_blank_rows(node: Any) -> Any:
    """A table's rows left blank in the sheet (row 3 filled, row 2 not) are dropped, as the web
    form drops blank rows: the rows that remain are numbered in order."""
    if isinstance(node, dict):
        return {k: _drop_blank_rows(v) for k, v in node.items()}
    if isinstance(node, list):
        return [_drop_blank_rows(v) for v in node if v != {}]
    return node


def _by_code(fields: tuple[Field, ...], data: dict[str, Any]) -> dict[str, Any]:
    """A choice typed as its Chinese (or English) name, as the skeleton shows it, becomes its code."""
    for f in fields:
        value = data.get(f.name)
        if f.type == "enum" and isinstance(value, str):
            data[f.name] = next((c.code for c in f.choices if value in (c.zh, c.en)), value)
        elif f.type == "group" and isinstance(value, dict):
            _by_code(f.fields, value)
        elif f.type == "list" and isinstance(value, list):
            for row in value:
                if isinstance(row, dict):
                    _by_code(f.fields, row)
    return data


def _known(fields: tuple[Field, ...], parts: list[tuple[str, int | None]]) -> bool:
    """Whether a header's path names a field of the schema (a list cell with a row index, a
    money field's amount or currency, or a whole list or group as JSON)."""
    (name, index), rest = parts[0], parts[1:]
    f = next((f for f in fields if f.name == name), None)
    if f is None:
        return False
    if f.type == "list":
        if index is None:
            return not rest  # the whole table as JSON in one cell
        return index < f.max_items and bool(rest) and _known(f.fields, rest)
    if index is not None:
        return False
    if f.type == "group":
        return not rest or _known(f.fields, rest)  # the whole group as JSON, or one of its fields
    if f.type == "money":
        return not rest or (len(rest) == 1 and rest[0] in (("amount", None), ("currency", None)))
    return not rest


# -- the skeleton: the spreadsheet a drafter downloads and fills in ----------------------------
def skeleton_columns(schema: TemplateSchema) -> list[Column]:
    """The columns of a template's spreadsheet, in form order, with the example row from the
    schema's sample data. A table (list) gets as many rows of columns as its example has (at
    least its minimum, at least one); more rows are added by copying a row's columns with the
    next number (``付款计划·第3行·金额``)."""
    sample = schema.sample()
    out: list[Column] = []
    for f in schema.fields:
        value = sample.get(f.name)
        if f.type == "group":
            inner = value if isinstance(value, Mapping) else {}
            for c in f.fields:
                out += _scalar_columns(c, f"{f.name}.{c.name}", f"{f.label_zh}{SEP}{c.label_zh}", inner.get(c.name))
        elif f.type == "list":
            rows = value if isinstance(value, list) else []
            for i in range(max(len(rows), f.min_items, 1)):
                row = rows[i] if i < len(rows) and isinstance(rows[i], Mapping) else {}
                for c in f.fields:
                    out += _scalar_columns(c, f"{f.name}[{i}].{c.name}", _row_label(f, i, c), row.get(c.name))
        else:
            out += _scalar_columns(f, f.name, f.label_zh, value)
    return _unique_headers(out)


def header_map(schema: TemplateSchema) -> dict[str, str]:
    """Every header a skeleton of ``schema`` may have (its labels, a table's rows up to its
    maximum) → the field path it fills."""
    out: dict[str, str] = {}
    for col in skeleton_columns(schema):
        out[col.header] = col.path
    for f in schema.fields:
        if f.type == "list":
            out.setdefault(f.label_zh, f.name)  # the whole table as JSON
            for i in range(f.max_items):
                for c in f.fields:
                    for col in _scalar_columns(c, f"{f.name}[{i}].{c.name}", _row_label(f, i, c), None):
                        out.setdefault(col.header, col.path)
    return out


def _row_label(f: Field, i: int, c: Field) -> str:
    return f"{f.label_zh}{SEP}第{i + 1}行{SEP}{c.label_zh}"


def _scalar_columns(f: Field, path: str, header: str, value: Any) -> list[Column]:
    if f.type == "money" and len(f.currencies) > 1:
        money = value if isinstance(value, Mapping) else {"amount": value}
        return [
            Column(f"{header}{SEP}金额", f"{path}.amount", _text(money.get("amount"))),
            Column(f"{header}{SEP}币种", f"{path}.currency", _text(money.get("currency"))),
        ]
    if f.type == "money" and isinstance(value, Mapping):
        value = value.get("amount")
    if f.type == "boolean" and isinstance(value, bool):
        value = "是" if value else "否"
    if f.type == "enum" and isinstance(value, str):
        value = next((c.zh for c in f.choices if c.code == value), value)
    return [Column(header, path, _text(value))]


def _text(value: Any) -> Any:
    return None if value is None else str(value)


def _unique_headers(columns: list[Column]) -> list[Column]:
    """Two fields with the same label (rare) get their paths added, so each header is one field."""
    counts: dict[str, int] = {}
    for c in columns:
        counts[c.header] = counts.get(c.header, 0) + 1
    return [c if counts[c.header] == 1 else Column(f"{c.header}（{c.path}）", c.path, c.example) for c in columns]


def skeleton_csv(columns: Iterable[Column]) -> bytes:
    """The skeleton as CSV in UTF-8 with a byte-order mark (so that Excel reads it as UTF-8)."""
    cols = list(columns)
    buf = io.StringIO(newline="")
    writer = csv.writer(buf, lineterminator="\r\n")
    writer.writerow([c.header for c in cols])
    writer.writerow(["" if c.example is None else c.example for c in cols])
    return ("\ufeff" + buf.getvalue()).encode("utf-8")


def skeleton_xlsx(columns: Iterable[Column], *, title: str = "批量生成") -> bytes:
    """The skeleton as an Excel workbook: the header row frozen and bold, every cell text (so
    Excel keeps 2026-01-31 and 00123 as typed, and never reads a value as a formula)."""
    from openpyxl import Workbook
    from openpyxl.styles import Alignment, Font

    cols = list(columns)
    wb = Workbook()
    ws = wb.active
    ws.title = title[:31]
    for i, c in enumerate(cols, start=1):
        head = ws.cell(row=1, column=i, value=c.header)
        head.font = Font(bold=True)
        head.data_type = "s"
        cell = ws.cell(row=2, column=i)
        if c.example is not None:
            cell.value = c.example
            cell.data_type = "s"
            cell.alignment = Alignment(wrap_text="\n" in c.example, vertical="top")
        for row in (2, 3):  # the example row and the first empty one: text format for typing
            ws.cell(row=row, column=i).number_format = "@"
        ws.column_dimensions[column_letter(i - 1)].width = min(max(len(c.header) * 2 + 2, 12), 40)
    ws.freeze_panes = "A2"
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()
