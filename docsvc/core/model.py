"""The metadata model, taken from the specification (DSIA02012007, 信息服务管理规范 第一部分).

Values are frozen dataclasses; fixed vocabularies are ``StrEnum``s whose value is what is
stored. Document types are the one vocabulary an organisation may extend (setting
``DOCSVC_EXTRA_DOC_TYPES``), so they live in a :class:`Vocabulary` rather than an enum.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, fields, replace
from enum import StrEnum
from typing import Any, TypeVar

from docsvc.core.inputs import refuse_controls
from docsvc.errors import InvalidInput


@dataclass(frozen=True)
class Choice:
    code: str
    zh: str
    en: str

    def label(self) -> str:
        """The code with its Chinese name, for a Chinese message listing the valid values."""
        return f"{self.code}（{self.zh}）"


class LabelledEnum(StrEnum):
    """A StrEnum whose members carry a Chinese and an English label."""

    @property
    def zh(self) -> str:
        return _LABELS[type(self).__name__][self.value][0]

    @property
    def en(self) -> str:
        return _LABELS[type(self).__name__][self.value][1]

    @classmethod
    def choices(cls) -> list[Choice]:
        return [Choice(m.value, m.zh, m.en) for m in cls]


class ServiceCategory(LabelledEnum):
    """Spec §4: the information-service categories."""

    SYSTEM_INTEGRATION = "4.1"
    OPERATION_MAINTENANCE = "4.2"
    SOFTWARE = "4.3"
    SOFTWARE_BASIC = "4.3.1"
    SOFTWARE_APPLICATION = "4.3.2"
    SOFTWARE_CUSTOM = "4.3.3"
    DATA_PROCESSING = "4.4"
    CONTENT_VALUE_ADDED = "4.5"
    DATABASE = "4.6"
    E_COMMERCE = "4.7"
    SUPERVISION = "4.8"
    OTHER_PROFESSIONAL = "4.9"
    SOFTWARE_TESTING = "4.9.1"
    CONSULTING = "4.9.2"
    IT_TRAINING = "4.9.3"


class DocClass(LabelledEnum):
    """Spec §9: user documents (9.1) and on-site project documents (9.2)."""

    USER = "user"
    SITE = "site"


class ServiceScope(LabelledEnum):
    """Spec §5: support, provision, delivery."""

    SUPPORT = "support"
    PROVISION = "provision"
    DELIVERY = "delivery"


class PdcaPhase(LabelledEnum):
    """Spec §6: the plan-do-check-act process model."""

    PLAN = "plan"
    DO = "do"
    CHECK = "check"
    ACT = "act"


class DocStatus(LabelledEnum):
    DRAFT = "draft"
    EFFECTIVE = "effective"
    SUPERSEDED = "superseded"
    ARCHIVED = "archived"


class VersionSource(LabelledEnum):
    UPLOAD = "upload"
    GENERATED = "generated"


class AuditAction(LabelledEnum):
    DOCUMENT_CREATED = "document.created"
    VERSION_ADDED = "version.added"
    METADATA_CHANGED = "metadata.changed"
    VERSION_VIEWED = "version.viewed"
    VERSION_DOWNLOADED = "version.downloaded"
    EXPORTED = "exported"
    DELETION_REQUESTED = "deletion.requested"
    DELETION_REFUSED = "deletion.refused"
    ACCESS_DENIED = "access.denied"
    UPLOAD_REJECTED = "upload.rejected"
    TEMPLATE_ADDED = "template.added"
    LABELS_SUGGESTED = "labels.suggested"
    LABELS_CONFIRMED = "labels.confirmed"
    RENDITION_ADDED = "rendition.added"  # a PDF made later, by a job, for an archived version
    REVIEW_REMINDED = "review.reminded"  # the daily job found the document's review date reached
    TERMS_CHANGED = "terms.changed"  # the tag or counterparty catalog: created, renamed, merged, recoloured, removed
    FIELDS_CHANGED = "fields.changed"  # a custom field definition: created, edited, retired, restored


_LABELS: dict[str, dict[str, tuple[str, str]]] = {
    "ServiceCategory": {
        "4.1": ("计算机信息系统集成服务", "Computer information system integration"),
        "4.2": ("计算机信息系统运营和维护服务", "Information system operation and maintenance"),
        "4.3": ("软件服务", "Software services"),
        "4.3.1": ("基础软件服务", "Basic software services"),
        "4.3.2": ("应用软件服务", "Application software services"),
        "4.3.3": ("定制软件服务", "Custom software services"),
        "4.4": ("数据加工和处理服务", "Data processing services"),
        "4.5": ("内容和增值服务", "Content and value-added services"),
        "4.6": ("数据库服务", "Database services"),
        "4.7": ("电子商务", "E-commerce"),
        "4.8": ("信息化工程监理服务", "Information engineering supervision"),
        "4.9": ("其它专业类服务", "Other professional services"),
        "4.9.1": ("软件测试服务", "Software testing"),
        "4.9.2": ("咨询服务", "Consulting"),
        "4.9.3": ("IT 教育与培训", "IT education and training"),
    },
    "DocClass": {
        "user": ("用户文档", "User document (9.1)"),
        "site": ("现场文档", "On-site document (9.2)"),
    },
    "ServiceScope": {
        "support": ("服务支持", "Service support"),
        "provision": ("服务提供", "Service provision"),
        "delivery": ("服务交付", "Service delivery"),
    },
    "PdcaPhase": {
        "plan": ("计划", "Plan"),
        "do": ("实施", "Do"),
        "check": ("检查", "Check"),
        "act": ("改进", "Act"),
    },
    "DocStatus": {
        "draft": ("草稿", "Draft"),
        "effective": ("生效", "Effective"),
        "superseded": ("已被取代", "Superseded"),
        "archived": ("已归档", "Archived"),
    },
    "VersionSource": {
        "upload": ("上传", "Upload"),
        "generated": ("模板生成", "Generated"),
    },
    "AuditAction": {
        "document.created": ("创建文档", "Document created"),
        "version.added": ("新增版本", "Version added"),
        "metadata.changed": ("修改元数据", "Metadata changed"),
        "version.viewed": ("查看版本", "Version viewed"),
        "version.downloaded": ("下载版本", "Version downloaded"),
        "exported": ("导出", "Exported"),
        "deletion.requested": ("申请删除", "Deletion requested"),
        "deletion.refused": ("拒绝删除", "Deletion refused"),
        "access.denied": ("拒绝访问", "Access denied"),
        "upload.rejected": ("拒绝上传", "Upload rejected"),
        "template.added": ("新增模板版本", "Template version added"),
        "labels.suggested": ("建议分类", "Labels suggested"),
        "labels.confirmed": ("确认分类", "Labels confirmed"),
        "rendition.added": ("生成 PDF", "PDF made"),
        "review.reminded": ("复审到期提醒", "Review reminder"),
        "terms.changed": ("修改标签或相对方目录", "Tags or counterparties changed"),
        "fields.changed": ("修改自定义字段定义", "Custom field definition changed"),
    },
}

# How far a version's text could be read (docsvc.core.extract.ExtractionStatus values), for people.
EXTRACTION_STATUS_LABELS: dict[str, tuple[str, str]] = {
    "ok": ("已提取", "extracted"),
    "pending": ("等待提取", "pending"),
    "empty": ("无文本", "no text"),
    "unreadable_text": (
        "未索引：文本为乱码（字体无字符映射）",
        "not indexed: unreadable text (fonts without a character map)",
    ),
    "encrypted": ("未索引：已加密", "not indexed: encrypted"),
    "no_text_layer": ("未索引：无文本层（扫描件）", "not indexed: no text layer (scan)"),
    "ocr_pending": ("等待 OCR", "OCR pending"),
    "partial_text_layer": (
        "部分索引：部分页无文本层（扫描页未识别）",
        "partly indexed: some pages have no text layer (scanned pages not read)",
    ),
    "too_large": ("未索引：超出限制", "not indexed: over the limits"),
    "failed": ("未索引：文件损坏或无法解析", "not indexed: damaged or unreadable"),
    "unsupported": ("未索引：不支持的类型", "not indexed: unsupported type"),
}

BUILTIN_DOC_TYPES: tuple[Choice, ...] = (
    Choice("contract", "合同", "Contract"),
    Choice("service_plan", "服务管理计划", "Service management plan"),
    Choice("sla", "服务等级协议", "Service level agreement"),
    Choice("change_request", "变更申请", "Change request"),
    Choice("acceptance_report", "验收报告", "Acceptance report"),
    Choice("meeting_minutes", "会议纪要", "Meeting minutes"),
    Choice("report", "报告", "Report"),
    Choice("other", "其他", "Other"),
)


@dataclass(frozen=True)
class Vocabulary:
    """The document types in force: the built-in ones plus those an operator configured."""

    doc_types: tuple[Choice, ...] = BUILTIN_DOC_TYPES

    @classmethod
    def with_extra(cls, extra: str) -> Vocabulary:
        """``extra`` is ``code:中文:English`` entries separated by commas or semicolons."""
        types = list(BUILTIN_DOC_TYPES)
        known = {c.code for c in types}
        for item in filter(None, (p.strip() for p in extra.replace(";", ",").split(","))):
            parts = [p.strip() for p in item.split(":")]
            code = parts[0]
            if not code.replace("_", "").isalnum() or not code.isascii():
                raise InvalidInput(
                    f"自定义文档类型代码“{code}”无效：只能使用英文字母、数字和下划线。",
                    f"Custom document type code '{code}' is invalid: use letters, digits and _.",
                    field="DOCSVC_EXTRA_DOC_TYPES",
                )
            if code in known:
                continue
            zh = parts[1] if len(parts) > 1 and parts[1] else code
            en = parts[2] if len(parts) > 2 and parts[2] else code
            types.append(Choice(code, zh, en))
            known.add(code)
        return cls(tuple(types))

    def doc_type(self, code: str) -> Choice:
        for c in self.doc_types:
            if c.code == code:
                return c
        raise _invalid_choice("doc_type", "文档类型", "document type", code, self.doc_types)


def _invalid_choice(name: str, zh_name: str, en_name: str, value: Any, valid: Iterable[Choice]) -> InvalidInput:
    valid = list(valid)
    listing = "；".join(c.label() for c in valid)
    return InvalidInput(
        f"{zh_name}“{value}”无效。可选值：{listing}",
        f"Invalid {en_name} '{value}'. Valid values: {', '.join(c.code for c in valid)}",
        field=name,
        details={"valid": [c.code for c in valid]},
    )


E = TypeVar("E", bound=LabelledEnum)


def parse_enum(enum: type[E], name: str, zh_name: str, value: Any) -> E:
    try:
        return enum(str(value).strip())
    except ValueError:
        raise _invalid_choice(name, zh_name, name.replace("_", " "), value, enum.choices()) from None


def parse_date(name: str, zh_name: str, value: Any) -> dt.date | None:
    if value is None or value == "":
        return None
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    try:
        return dt.date.fromisoformat(str(value).strip())
    except ValueError:
        raise InvalidInput(
            f"{zh_name}“{value}”不是有效日期，请使用 YYYY-MM-DD 格式，例如 2026-12-31。",
            f"{name} '{value}' is not a valid date; use YYYY-MM-DD, e.g. 2026-12-31.",
            field=name,
        ) from None


MAX_TEXT = 500
MAX_TAGS = 50


def clean_text(name: str, zh_name: str, value: Any, *, required: bool = False) -> str:
    text = "" if value is None else str(value)
    # Control characters (C0, DEL and C1) in metadata break CSV exports and terminals.
    text = refuse_controls(text.strip(), name, zh_name)
    if required and not text:
        raise InvalidInput(f"{zh_name}不能为空。", f"{name} is required.", field=name)
    if len(text) > MAX_TEXT:
        raise InvalidInput(
            f"{zh_name}过长（{len(text)} 个字符），最多 {MAX_TEXT} 个字符。",
            f"{name} is too long ({len(text)} characters); at most {MAX_TEXT}.",
            field=name,
        )
    return text


MAX_FIELDS = 200  # custom field values on one document


def _field_pairs(raw: Any) -> tuple[tuple[str, str], ...]:
    """Custom field values in shape: an object of key → text; empty ones left out."""
    if raw in (None, ""):
        return ()
    if not isinstance(raw, Mapping):
        raise InvalidInput(
            "自定义字段（fields）应为“字段代码: 值”的对象。",
            "Custom fields (fields) must be an object of key: value.",
            field="fields",
        )
    if len(raw) > MAX_FIELDS:
        raise InvalidInput(f"自定义字段最多 {MAX_FIELDS} 个。", f"At most {MAX_FIELDS} custom fields.", field="fields")
    pairs: dict[str, str] = {}
    for key, value in raw.items():
        name = f"field.{key}"
        if not isinstance(key, str) or not key.isascii() or not 0 < len(key) <= 40:
            raise InvalidInput(
                f"自定义字段代码“{str(key)[:40]}”无效。", f"Custom field key '{str(key)[:40]}' is invalid.", field=name
            )
        if value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, (str, int)):
            raise InvalidInput(
                f"自定义字段 {key} 的值必须是文字。", f"The value of custom field {key} must be a string.", field=name
            )
        # Checked against the field's definition, with its label, by the archive (core.fields).
        text = str(value).strip()
        if text:
            pairs[key] = text
    return tuple(sorted(pairs.items()))


@dataclass(frozen=True)
class Metadata:
    """A document's descriptive metadata. Every change to it is an audit event."""

    title: str
    doc_type: str
    service_category: ServiceCategory
    doc_class: DocClass
    service_scope: ServiceScope | None = None
    pdca_phase: PdcaPhase | None = None
    project: str = ""
    counterparty: str = ""
    tags: tuple[str, ...] = ()
    status: DocStatus = DocStatus.DRAFT
    effective_date: dt.date | None = None
    review_due: dt.date | None = None
    owner: str = ""
    # Custom fields (docsvc.core.fields): key → canonical value, sorted by key. Parsed here for
    # shape only; the archive checks them against the definitions of the document's type.
    fields: tuple[tuple[str, str], ...] = ()

    @property
    def field_values(self) -> dict[str, str]:
        return dict(self.fields)

    @classmethod
    def field_names(cls) -> list[str]:
        return [f.name for f in fields(cls)]

    @classmethod
    def parse(cls, data: Mapping[str, Any], vocab: Vocabulary) -> Metadata:
        """Validate raw input (strings from a form, CLI or JSON) into a Metadata value."""
        unknown = set(data) - set(cls.field_names())
        if unknown:
            raise InvalidInput(
                f"未知的元数据字段：{', '.join(sorted(unknown))}。可用字段：{', '.join(cls.field_names())}",
                f"Unknown metadata field(s): {', '.join(sorted(unknown))}. "
                f"Known fields: {', '.join(cls.field_names())}",
                field=sorted(unknown)[0],
            )
        for name, zh in (
            ("title", "标题"),
            ("doc_type", "文档类型"),
            ("service_category", "服务类别"),
            ("doc_class", "文档类别"),
        ):
            if data.get(name) in (None, ""):
                raise InvalidInput(f"缺少必填字段：{zh}（{name}）。", f"Missing required field: {name}.", field=name)
        return cls._build(data, vocab)

    def update(self, changes: Mapping[str, Any], vocab: Vocabulary) -> Metadata:
        """``changes["fields"]`` changes only the custom fields it names (an empty value clears one)."""
        if "fields" in changes and isinstance(changes["fields"], Mapping):
            changes = {**changes, "fields": {**self.field_values, **changes["fields"]}}
        return Metadata.parse({**self.to_dict(), **changes}, vocab)

    @classmethod
    def _build(cls, data: Mapping[str, Any], vocab: Vocabulary) -> Metadata:
        def opt(enum: type[E], name: str, zh: str) -> E | None:
            v = data.get(name)
            return None if v in (None, "") else parse_enum(enum, name, zh, v)

        tags_raw = data.get("tags") or ()
        if isinstance(tags_raw, str):
            tags_raw = [t for t in tags_raw.replace("，", ",").split(",")]
        elif not isinstance(tags_raw, list | tuple):
            raise InvalidInput(
                "标签应为文字（以逗号分隔）或文字的列表。",
                "tags must be a text (comma-separated) or a list of texts.",
                field="tags",
            )
        tags = tuple(dict.fromkeys(clean_text("tags", "标签", t) for t in tags_raw if str(t).strip()))
        if len(tags) > MAX_TAGS:
            raise InvalidInput(f"标签过多，最多 {MAX_TAGS} 个。", f"Too many tags; at most {MAX_TAGS}.", field="tags")
        effective = parse_date("effective_date", "生效日期", data.get("effective_date"))
        review = parse_date("review_due", "复审到期日", data.get("review_due"))
        if effective and review and review < effective:
            raise InvalidInput(
                "复审到期日不能早于生效日期。",
                "review_due cannot be earlier than effective_date.",
                field="review_due",
            )
        return cls(
            title=clean_text("title", "标题", data.get("title"), required=True),
            doc_type=vocab.doc_type(str(data.get("doc_type")).strip()).code,
            service_category=parse_enum(ServiceCategory, "service_category", "服务类别", data.get("service_category")),
            doc_class=parse_enum(DocClass, "doc_class", "文档类别", data.get("doc_class")),
            service_scope=opt(ServiceScope, "service_scope", "服务范畴"),
            pdca_phase=opt(PdcaPhase, "pdca_phase", "PDCA 阶段"),
            project=clean_text("project", "项目", data.get("project")),
            counterparty=clean_text("counterparty", "相对方", data.get("counterparty")),
            tags=tags,
            status=opt(DocStatus, "status", "状态") or DocStatus.DRAFT,
            effective_date=effective,
            review_due=review,
            owner=clean_text("owner", "负责人", data.get("owner")),
            fields=_field_pairs(data.get("fields")),
        )

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: enums as their codes, dates as ISO strings, tags as a list."""
        out: dict[str, Any] = {}
        for f in fields(self):
            v = getattr(self, f.name)
            if isinstance(v, dt.date):
                v = v.isoformat()
            elif f.name == "fields":
                v = dict(v)
            elif isinstance(v, tuple):
                v = list(v)
            elif isinstance(v, StrEnum):
                v = v.value
            out[f.name] = v
        return out

    def diff(self, other: Metadata) -> dict[str, dict[str, Any]]:
        """What changed, field by field; a custom field as ``field.KEY`` (absent: "")."""
        a, b = self.to_dict(), other.to_dict()
        out = {k: {"from": a[k], "to": b[k]} for k in a if k != "fields" and a[k] != b[k]}
        fa, fb = a["fields"], b["fields"]
        for key in sorted(set(fa) | set(fb)):
            if fa.get(key, "") != fb.get(key, ""):
                out[f"field.{key}"] = {"from": fa.get(key, ""), "to": fb.get(key, "")}
        return out


@dataclass(frozen=True)
class Document:
    id: int
    metadata: Metadata
    created_at: dt.datetime
    created_by: str
    updated_at: dt.datetime
    latest_version: int

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            **self.metadata.to_dict(),
            "created_at": iso(self.created_at),
            "created_by": self.created_by,
            "updated_at": iso(self.updated_at),
            "latest_version": self.latest_version,
        }


@dataclass(frozen=True)
class Version:
    id: int
    document_id: int
    number: int
    sha256: str
    size: int
    media_type: str
    original_filename: str
    created_at: dt.datetime
    created_by: str
    reason: str
    source: VersionSource
    provenance: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "document_id": self.document_id,
            "number": self.number,
            "sha256": self.sha256,
            "size": self.size,
            "media_type": self.media_type,
            "original_filename": self.original_filename,
            "created_at": iso(self.created_at),
            "created_by": self.created_by,
            "reason": self.reason,
            "source": self.source.value,
            "provenance": self.provenance,
        }


def iso(ts: dt.datetime) -> str:
    """UTC timestamps, always with an explicit offset."""
    if ts.tzinfo is None:
        ts = ts.replace(tzinfo=dt.UTC)
    return ts.astimezone(dt.UTC).isoformat(timespec="microseconds")


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


__all__ = [
    "AuditAction",
    "BUILTIN_DOC_TYPES",
    "Choice",
    "DocClass",
    "DocStatus",
    "Document",
    "Metadata",
    "PdcaPhase",
    "ServiceCategory",
    "ServiceScope",
    "Version",
    "VersionSource",
    "Vocabulary",
    "iso",
    "parse_date",
    "parse_enum",
    "replace",
    "utcnow",
]
