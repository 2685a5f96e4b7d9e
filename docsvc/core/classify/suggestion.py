"""A suggestion for one document: the rules' labels, moved by the model's calibrated
probabilities where a model was trained, and the project the document names."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from docsvc.core import text as textmod
from docsvc.core.classify.features import Features, Weighting, meaning_version, meanings, model_input
from docsvc.core.classify.labels import HEAD_CHARS, TARGETS, Label, Suggestion, Target
from docsvc.core.classify.model import Model, TargetModel, rule_log_prior
from docsvc.core.classify.rules import rule_scores, rules_label, zones
from docsvc.core.semantic import INSTALLED, Embedder, Installed, embedder_of


def _model_label(
    tm: TargetModel, x: Any, features: Features, rules: Label, rule_probs: Mapping[str, float], target: Target
) -> Label:
    """The label for one weighed document ``x``: the model's calibrated probabilities, moved
    by the rules' as far as the held-out documents showed it right."""
    z = tm.scores(x).astype(np.float64) / tm.temperature
    if tm.rule_weight:
        z = z + tm.rule_weight * rule_log_prior(target, rule_probs, tm.classes)
    p = np.exp(z - z.max())
    p /= p.sum()
    best = int(p.argmax())
    value, confidence = tm.classes[best], float(p[best])
    if tm.rule_weight and value == rules.value and rules.confidence > 0:
        # Agreement: the rules' cue words explain a suggestion better than model weights do.
        return Label(value, confidence, rules.terms, "rules")
    return Label(value, confidence, _model_terms(tm, best, x, features), "model")


def _model_terms(tm: TargetModel, best: int, x: Any, features: Features) -> tuple[str, ...]:
    """The words that pushed the document towards class ``best`` (feature value × weight),
    strongest first; character n-grams of two or more characters when no word did."""
    weighted = x.data * tm.coef[best, x.indices]
    is_word = (x.indices >= features.n_chars) & (x.indices < features.n_chars + features.n_words)
    for wanted in (is_word, x.indices < features.n_chars):
        picked = np.flatnonzero(wanted & (weighted > 0))
        terms: list[str] = []
        for j in picked[np.argsort(-weighted[picked], kind="stable")]:
            name = features.name(int(x.indices[j])).strip()
            name = name[2:] if name.startswith("t:") else name
            if len(name) >= 2 or wanted is is_word:
                terms.append(name)
            if len(dict.fromkeys(terms)) >= 5:
                break
        if terms:
            return tuple(dict.fromkeys(terms))[:5]
    return ()


def suggest(
    text: str,
    title: str = "",
    *,
    model: Model | None = None,
    known_projects: Sequence[str] = (),
    embedder: Embedder | Installed | None = INSTALLED,
    meaning: Any = None,
) -> Suggestion:
    """Suggest the document type, the service category and, among ``known_projects``, the
    project this document names. The rules read the first :data:`HEAD_CHARS` characters, the
    model the first :data:`MODEL_HEAD_CHARS`; a model trained with an embedding model reads the
    text's meaning too: ``meaning``, its vector when the caller has it, else made by
    ``embedder`` (the installed one unless another is given) when that is the model's. Without
    either (``embedder=None``) it reads the words alone, through the model's twin that was
    trained and calibrated on them (the suggestion then says ``words_alone``)."""
    text = text or ""
    title = title or ""
    zone, body = zones(title, text[:HEAD_CHARS])
    features = model.features if model is not None else None
    if not (title.strip() or text.strip()):
        features = None  # nothing to read: the rules' fallback says so, the model would guess
    vectors = None
    if features is not None and model is not None and model.reads_meaning:
        if meaning is not None:
            vectors = np.asarray(meaning, dtype=np.float32).reshape(1, -1)
        elif (reader := embedder_of(embedder)) is not None and meaning_version(reader) == model.embedder_version:
            vectors = meanings([text], reader)
    counts = features.counts([model_input(text, title)], vectors) if features is not None else None
    weighed: dict[Weighting, Any] = {}
    labels: dict[Target, Label] = {}
    words_alone = False
    for target in TARGETS:
        rules, rule_probs = rules_label(target, rule_scores(target, zone, body))
        tm = model.targets.get(target) if model is not None else None
        if tm is None or features is None or counts is None:
            labels[target] = rules
            continue
        if vectors is None and tm.weighting.meaning and tm.words is not None:
            tm, words_alone = tm.words, True
        if tm.weighting not in weighed:
            weighed[tm.weighting] = features.weigh(counts, tm.weighting)
        labels[target] = _model_label(tm, weighed[tm.weighting], features, rules, rule_probs, target)
    return Suggestion(
        labels["doc_type"],
        labels["service_category"],
        suggest_project(text, title, known_projects),
        words_alone=words_alone,
    )


def suggest_project(text: str, title: str, known_projects: Sequence[str]) -> str | None:
    """The known project whose name appears in the title or the text: a title match beats a
    body match, a longer name beats a shorter one (项目（二期） over 项目), then more mentions."""
    title_n = textmod.normalize(title or "")
    body_n = textmod.normalize((text or "")[:HEAD_CHARS])
    best: tuple[int, int, int] | None = None
    found: str | None = None
    for name in known_projects:
        key = textmod.normalize(name).strip()
        if len(key) < 2:  # one character would match almost anything
            continue
        rank = (1 if key in title_n else 0, len(key), body_n.count(key))
        if rank[0] == 0 and rank[2] == 0:
            continue
        if best is None or rank > best:
            best, found = rank, name
    return found
