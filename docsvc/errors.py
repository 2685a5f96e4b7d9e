"""Domain errors.

They carry no HTTP: ``docsvc.web.errors`` maps each class to a status code and the CLI maps
them to an exit code. Every message is given in Chinese first and English second, and says
what was wrong and how to fix it.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from typing import Any


class DocsvcError(Exception):
    """Base class. ``code`` is a stable machine-readable identifier."""

    code = "error"

    def __init__(
        self,
        zh: str,
        en: str,
        *,
        field: str | None = None,
        details: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(f"{zh} / {en}")
        self.zh = zh
        self.en = en
        self.field = field
        self.details = details or {}

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"code": self.code, "message": self.zh, "message_en": self.en}
        if self.field:
            out["field"] = self.field
        if self.details:
            out["details"] = self.details
        return out


class InvalidInput(DocsvcError):
    """The caller sent something malformed: fix the input and try again."""

    code = "invalid_input"

    @classmethod
    def check_known(cls, names: Iterable[object], allowed: Collection[str]) -> None:
        """Refuse ``names`` (a request body's keys, say) that are not ``allowed``, naming the
        unknown ones and listing the allowed."""
        unknown = sorted({str(n) for n in names} - set(allowed))
        if unknown:
            known = ", ".join(sorted(allowed))
            raise cls(
                f"未知字段：{', '.join(unknown)}。可用：{known}。",
                f"Unknown field(s): {', '.join(unknown)}. Known: {known}.",
                field=unknown[0],
                details={"valid": sorted(allowed)},
            )


class InvalidContent(InvalidInput):
    """The bytes of an upload are not what they claim to be, or are damaged."""

    code = "invalid_content"


class UnsupportedType(InvalidInput):
    """The content is of a kind docsvc does not accept (decided from the bytes, not the name)."""

    code = "unsupported_type"


class TooLarge(InvalidInput):
    """The input is over a configured limit."""

    code = "too_large"


class TemplateError(InvalidInput):
    """A Word template or its form data cannot be rendered."""

    code = "template_error"


class NotFound(DocsvcError):
    code = "not_found"


class Conflict(DocsvcError):
    """The request clashes with the current state (a concurrent change, a legal hold)."""

    code = "conflict"


class Forbidden(DocsvcError):
    code = "forbidden"


class StorageError(DocsvcError):
    """The archive could not durably store something; nothing was recorded."""

    code = "storage_error"


class StorageFull(StorageError):
    code = "storage_full"


class Corrupted(DocsvcError):
    """Stored data no longer matches its recorded hash: an operator must restore it."""

    code = "corrupted"


class Unavailable(DocsvcError):
    """A dependency (database, converter, index) is not available right now; retry later."""

    code = "unavailable"
