"""The problems found in form data, as they are reported: each names its field path and says,
in Chinese and English, what is wrong; all of them come back in one InvalidInput.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from docsvc.core.schema.model import DefaultUsed, Field
from docsvc.errors import InvalidInput

MAX_ERRORS = 200  # reported per validation; beyond that we count, so a hostile form stays cheap


@dataclass(frozen=True)
class Where:
    """How a field is named in messages: zh '甲方的“名称”', en 'Party A: Name'."""

    zh: str
    en: str

    def child(self, f: Field) -> Where:
        return Where(f"{self.zh}“{f.label_zh}”", f"{self.en}{f.label_en}")


class Errors:
    """The problems found in a form, each naming its field; raised as one InvalidInput."""

    def __init__(self) -> None:
        self.items: list[dict[str, str]] = []
        self.dropped = 0
        self.defaults: list[DefaultUsed] = []  # blank fields the schema's default filled in

    @property
    def full(self) -> bool:
        return len(self.items) >= MAX_ERRORS

    def add(self, path: str, zh: str, en: str, *, link: str = "") -> None:
        if len(self.items) < MAX_ERRORS:
            self.items.append({"field": path, "zh": zh, "en": en, **({"link": link} if link else {})})
        else:
            self.dropped += 1

    def raise_if_any(self) -> None:
        if not self.items:
            return
        total = len(self.items) + self.dropped
        head = self.items[:3]
        more_zh = f"等共 {total} 处" if total > len(head) else ""
        more_en = f" ({total} problems in all)" if total > len(head) else ""
        details: dict[str, Any] = {"errors": self.items}
        if self.dropped:
            details["not_listed"] = self.dropped
        raise InvalidInput(
            "表单数据有误，请修改后重试：" + "；".join(e["zh"] for e in head) + more_zh,
            "The form data is invalid; fix it and try again: " + "; ".join(e["en"] for e in head) + more_en,
            field=self.items[0]["field"],
            details=details,
        )
