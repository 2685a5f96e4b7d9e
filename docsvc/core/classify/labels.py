"""What a suggestion is: the targets, the labels with their confidence and reasons, and the
confirmed samples a model learns from."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

# Classify on the head of the text: the kind and the subject of a document show in its first
# pages, and jieba over a 300-page PDF would cost seconds for no gain.
HEAD_CHARS = 20_000
# Below this confidence on either target the suggestion should be confirmed by a person.
REVIEW_THRESHOLD = 0.6
# A target's model is trained only with at least this many labelled samples and two classes;
# with fewer, logistic regression over thousands of features mostly memorises.
MIN_TRAIN_SAMPLES = 30

Source = Literal["rules", "model"]
Target = Literal["doc_type", "service_category"]
TARGETS: tuple[Target, ...] = ("doc_type", "service_category")

# What the rules answer when they find no cue at all (with confidence 0).
FALLBACK = {"doc_type": "other", "service_category": "4.9"}


@dataclass(frozen=True)
class Label:
    """One suggested value with how sure we are and why."""

    value: str
    confidence: float  # 0..1
    terms: tuple[str, ...]  # the words that drove it, strongest first
    source: Source

    def to_dict(self) -> dict[str, object]:
        return {
            "value": self.value,
            "confidence": round(self.confidence, 3),
            "terms": list(self.terms),
            "source": self.source,
        }


@dataclass(frozen=True)
class Suggestion:
    """What :func:`suggest` proposes for one document; a person confirms or corrects it."""

    doc_type: Label
    service_category: Label
    project: str | None = None
    # The model reads the meaning, but this text's vector was not at hand: the words alone
    # answered (TargetModel.words), and the caller may suggest again once the vector is made.
    words_alone: bool = False

    @property
    def needs_review(self) -> bool:
        return min(self.doc_type.confidence, self.service_category.confidence) < REVIEW_THRESHOLD

    def to_dict(self) -> dict[str, object]:
        return {
            "doc_type": self.doc_type.to_dict(),
            "service_category": self.service_category.to_dict(),
            "project": self.project,
            "needs_review": self.needs_review,
        }


@dataclass(frozen=True)
class LabeledSample:
    """A document whose labels a person confirmed. A label left ``None`` was not confirmed and
    is not trained on. ``key`` identifies the document for :func:`labels_fingerprint` (e.g. the
    catalog id); without it the text's hash is used. ``meaning``: the vector of
    :func:`~docsvc.core.classify.features.meaning_input` by the embedding model given to
    :func:`~docsvc.core.classify.train`, when the caller already has it (else it is made)."""

    text: str
    title: str = ""
    doc_type: str | None = None
    service_category: str | None = None
    key: str = ""
    meaning: Any = field(default=None, compare=False, repr=False)
