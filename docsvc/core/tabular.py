"""Rows of form data from a CSV or XLSX file, for batch generation.

Column headers are field paths: ``contract_no``, ``party_a.name`` for a group,
``payment_schedule[0].amount`` for a list row (0-based), ``total_fee.amount`` and
``total_fee.currency`` for money. A list may also be given whole as JSON in one column
(``payment_schedule`` = ``[{"period": "第一期", …}]``). Empty cells are left out, so optional
fields take their defaults.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import re
from typing import Any

from docsvc.core.content import decode_text
from docsvc.errors import InvalidInput

MAX_ROWS = 10_000
_PART = re.compile(r"^(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?:\[(?P<index>\d{1,4})\])?$")


def read_rows(data: bytes, filename: str) -> list[dict[str, Any]]:
    """Parse ``data`` (CSV or XLSX, decided by content) into nested form-data dicts."""
    if data.startswith(b"PK\x03\x04"):
        header, rows = _xlsx(data)
    else:
        header, rows = _csv(data)
    if not header:
        raise InvalidInput(
            "批量文件没有表头行。第一行应为字段名，例如 contract_no, party_a.name。",
            "The batch file has no header row. The first row must hold field names, e.g. contract_no, party_a.name.",
            field="file",
        )
    for col in header:
        _split(col)  # validate every header up front
    out: list[dict[str, Any]] = []
    for values in rows:
        if len(out) >= MAX_ROWS:
            raise InvalidInput(
                f"批量文件超过 {MAX_ROWS} 行，请拆分后再提交。",
                f"The batch file has more than {MAX_ROWS} rows; split it.",
                field="file",
            )
        if all(v in (None, "") for v in values):
            continue
        out.append(unflatten({h: v for h, v in zip(header, values) if v not in (None, "")}))
    return out


def _csv(data: bytes) -> tuple[list[str], list[list[Any]]]:
    text = decode_text(data)
    try:
        dialect = csv.Sniffer().sniff(text[:4096], delimiters=",;\t")
    except csv.Error:
        dialect = csv.excel
    reader = csv.reader(io.StringIO(text), dialect)
    try:
        header = [h.strip() for h in next(reader, [])]
        return header, [row for row in reader]
    except csv.Error as exc:
        raise InvalidInput(f"CSV 文件格式错误：{exc}", f"Malformed CSV file: {exc}", field="file") from None


def _xlsx(data: bytes) -> tuple[list[str], list[list[Any]]]:
    from openpyxl import load_workbook

    from docsvc.core.content import PackageLimits, check_ooxml_package

    try:
        # The same zip-bomb and DTD checks as for Word packages (minus the Word parts).
        check_ooxml_package(data, limits=PackageLimits(), require=("[Content_Types].xml", "xl/workbook.xml"))
        wb = load_workbook(io.BytesIO(data), read_only=True, data_only=True)
        sheet = wb.worksheets[0]
        rows = [list(r) for r in sheet.iter_rows(values_only=True)]
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


def _split(column: str) -> list[tuple[str, int | None]]:
    parts = []
    for piece in column.split("."):
        m = _PART.match(piece.strip())
        if not m:
            raise InvalidInput(
                f"表头“{column}”不是有效的字段路径（例如 party_a.name 或 payment_schedule[0].amount）。",
                f"Header '{column}' is not a field path (e.g. party_a.name or payment_schedule[0].amount).",
                field=column,
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
    return root
