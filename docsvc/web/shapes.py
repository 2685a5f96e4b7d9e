"""The JSON shapes of docsvc's records (versions, hits, templates, jobs …) in the REST API, and a
snippet's HTML, which the pages show too."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from flask import url_for
from markupsafe import Markup, escape

from docsvc.core.model import ServiceCategory, Version, iso
from docsvc.core.schema import Field
from docsvc.core.search import Hit, SearchResult, Snippet
from docsvc.services import background
from docsvc.services.access import Generated, Job, Rendition
from docsvc.services.templates import Template
from docsvc.web.auth import svc


def version_json(v: Version, doc_id: int) -> dict[str, Any]:
    return {**v.to_dict(), "content_url": url_for("api.download", doc_id=doc_id, number=v.number)}


def rendition_json(r: Rendition, v: Version) -> dict[str, Any]:
    return {
        **r.to_dict(),
        "content_url": url_for("api.download_rendition", doc_id=v.document_id, number=v.number, kind=r.kind),
    }


def snippet_html(s: Snippet) -> Markup:
    """The excerpt as HTML: its text escaped, the matches in ``<mark>``."""
    return Markup("").join(Markup("<mark>%s</mark>") % part if marked else escape(part) for part, marked in s.parts())


def hit_json(h: Hit) -> dict[str, Any]:
    return {
        "document_id": h.document_id,
        "version": h.number,
        "version_id": h.version_id,
        "title": h.title,
        "original_filename": h.original_filename,
        "score": round(h.score, 4) if math.isfinite(h.score) else None,  # JSON has no NaN
        "snippet": str(snippet_html(h.snippet)),
        "snippet_text": h.snippet.text,
        "highlights": [list(m) for m in h.snippet.marks],
        "is_latest": h.is_latest,
        "doc_type": h.doc_type,
        "service_category": h.service_category,
        "doc_class": h.doc_class,
        "service_scope": h.service_scope,
        "project": h.project,
        "counterparty": h.counterparty,
        "tags": list(h.tags),
        "status": h.status,
        "year": h.year,
        "created_at": iso(h.created_at) if h.created_at else None,
        "effective_date": h.effective_date.isoformat() if h.effective_date else None,
        "review_due": h.review_due.isoformat() if h.review_due else None,
        "extraction_status": h.extraction_status,
        "url": url_for("api.show_document", doc_id=h.document_id),
        "content_url": url_for("api.download", doc_id=h.document_id, number=h.number),
    }


def search_json(r: SearchResult, q: str) -> dict[str, Any]:
    return {
        "query": q,
        "total": r.total,
        "page": r.page,
        "per_page": r.per_page,
        "partial": r.partial,
        "took_ms": round(r.took_ms, 1),
        "hits": [hit_json(h) for h in r.hits],
        "facets": r.facets,
        "expansions": [{"typed": typed, "also": list(others)} for typed, others in r.expansions],
        "synonyms_version": r.synonyms_version,
    }


def field_json(f: Field) -> dict[str, Any]:
    out: dict[str, Any] = {
        "name": f.name,
        "path": f.path,
        "type": f.type,
        "label_zh": f.label_zh,
        "label_en": f.label_en,
        "required": f.required,
    }
    optional = {
        "default": f.default,
        "example": f.example,
        "help_zh": f.help_zh,
        "help_en": f.help_en,
        "max_length": f.max_length,
        "min": plain(f.min),
        "max": plain(f.max),
        "not_before": f.not_before,
        "currencies": list(f.currencies) or None,
        "choices": [{"value": c.code, "zh": c.zh, "en": c.en} for c in f.choices] or None,
        "pattern": {"regex": f.pattern.regex.pattern, "zh": f.pattern.zh, "en": f.pattern.en} if f.pattern else None,
    }
    out.update({k: v for k, v in optional.items() if v not in (None, "")})
    if f.type == "list":
        out.update(
            min_items=f.min_items,
            max_items=f.max_items,
            sums=[{"field": x.field, "equals": plain(x.equals), "equals_field": x.equals_field} for x in f.sums],
        )
    if f.fields:
        out["fields"] = [field_json(c) for c in f.fields]
    return out


def plain(value: Any) -> str | None:
    return None if value is None else f"{value:f}"


def template_json(t: Template, *, fields: bool = False) -> dict[str, Any]:
    out = {
        **t.to_dict(),
        "doc_class": t.schema.doc_class,
        "url": url_for("api.show_template", slug=t.slug),
        "sample_url": url_for("api.template_sample", slug=t.slug),
    }
    if fields:
        out["fields"] = [field_json(f) for f in t.schema.fields]
    return out


def generated_json(g: Generated) -> dict[str, Any]:
    doc_id = g.result.document.id
    return {
        "created": g.result.created,
        "document": g.result.document.to_dict(),
        "version": version_json(g.result.version, doc_id),
        "renditions": [rendition_json(r, g.result.version) for r in g.renditions],
    }


def suggestion_json(s: Mapping[str, Any]) -> dict[str, Any]:
    """A suggestion (Suggestion.to_dict()) with each value's Chinese and English label."""
    vocab = svc().vocab

    def labelled(key: str, label: Mapping[str, Any]) -> dict[str, Any]:
        choice = vocab.doc_type(label["value"]) if key == "doc_type" else ServiceCategory(label["value"])
        return {**label, "label": choice.zh, "label_en": choice.en}

    return {
        "doc_type": labelled("doc_type", s["doc_type"]),
        "service_category": labelled("service_category", s["service_category"]),
        "project": s.get("project"),
        "needs_review": s["needs_review"],
    }


def job_json(job: Job) -> dict[str, Any]:
    """A job as the API shows it; a finished rendition job links to the rendition it made."""
    out = {**job.to_dict(), "status_url": url_for("api.show_job", job_id=job.id)}
    made = background.job_result_rendition(svc(), job)
    if made is not None:
        out["rendition"] = rendition_json(made[1], made[0])
    return out


def similar_json(h: Hit) -> dict[str, Any]:
    """A similar document: a hit without the excerpt (there is no question to explain)."""
    return {k: v for k, v in hit_json(h).items() if k not in ("snippet", "snippet_text", "highlights")}


def batch_json(b, slug: str) -> dict[str, Any]:
    return {
        **b.to_dict(),
        "status_url": url_for("api.show_batch", slug=slug, job_id=b.job.id),
        "files_url": url_for("api.batch_zip", slug=slug, job_id=b.job.id),
    }
