"""Suggest a document's type and service category (spec §4), and the project it belongs to.

Two sources of suggestions:

* **Rules** built from the specification's own vocabulary: each target has a table of cue terms
  with weights. A cue found in the title zone (the title, the document's first line, an e-mail
  subject) counts :data:`TITLE_WEIGHT` times, because people name documents after their kind
  (…合同, …纪要, …验收报告); a cue in the body counts once per occurrence, capped, so that a long
  document cannot win on repetition alone. Overlapping cues resolve longest first, so 服务等级协议
  is an SLA and not a 协议 (contract), and 验收报告 is not a plain 报告. Scores become
  confidences through a softmax (see :data:`TEMPERATURE`). The rules know the built-in doc
  types; an organisation's own types are learnt by the model.
* **A model** learnt from confirmed labels (:func:`train`): character 1–3-grams beside the
  analyzer's words (:func:`docsvc.core.text.words`, title words also kept apart), weighed by
  TF-IDF or by term frequency alone, whichever held-out folds of the labels find better (the
  lower log loss), and a linear SVM per class, blended with a complement naive Bayes model as
  far as the held-out folds find it helps (naive Bayes does better on small classes, where a
  one-against-the-rest SVM has a handful of positives). Its scores become confidences on held-out folds too
  (a temperature), where it is also measured how far the rules' opinion should move the
  model's (``model._calibrate``). Labels are free strings: the built-in types and categories, an
  organisation's own types, or any set of a few to a few hundred classes. A target's model
  exists only when it was trained on enough samples. With a sentence-embedding model (a
  :class:`docsvc.core.semantic.Embedder`: the one this installation provides unless
  ``embedder=`` names another, or None) it also reads what the head of each text means, as a
  vector beside the characters and words, as far as the held-out folds find it helps: texts
  that share few words with the labelled ones are then found by their meaning.

Everything here is pure and synchronous: the caller decides when to train, where to store the
model (:func:`save` / :func:`load`) and when to retrain (:func:`needs_retrain`).

The package: :mod:`~docsvc.core.classify.labels` (the values), :mod:`~docsvc.core.classify.rules`,
:mod:`~docsvc.core.classify.features`, :mod:`~docsvc.core.classify.model` (training),
:mod:`~docsvc.core.classify.suggestion` and :mod:`~docsvc.core.classify.storage`; callers use
the names below.
"""

from __future__ import annotations

from docsvc.core.classify.features import MODEL_HEAD_CHARS, CharBlock, Features, Weighting, WordBlock
from docsvc.core.classify.labels import (
    HEAD_CHARS,
    MIN_TRAIN_SAMPLES,
    REVIEW_THRESHOLD,
    TARGETS,
    Label,
    LabeledSample,
    Suggestion,
    Target,
)
from docsvc.core.classify.model import (
    FEATURES_VERSION,
    MODEL_VERSION,
    WEIGHTINGS,
    Model,
    TargetModel,
    labels_fingerprint,
    needs_retrain,
    train,
)
from docsvc.core.classify.storage import dumps, load, loads, save
from docsvc.core.classify.suggestion import suggest, suggest_project

# Models saved before this package was split name their classes in this module (pickle keeps a
# class's module and name): they load through these names, so no archive has to retrain.
_TargetModel = TargetModel
_Features = Features
_CharBlock = CharBlock
_WordBlock = WordBlock

__all__ = [
    "FEATURES_VERSION",
    "HEAD_CHARS",
    "MIN_TRAIN_SAMPLES",
    "MODEL_HEAD_CHARS",
    "MODEL_VERSION",
    "REVIEW_THRESHOLD",
    "TARGETS",
    "WEIGHTINGS",
    "Label",
    "LabeledSample",
    "Model",
    "Suggestion",
    "Target",
    "Weighting",
    "dumps",
    "labels_fingerprint",
    "load",
    "loads",
    "needs_retrain",
    "save",
    "suggest",
    "suggest_project",
    "train",
]
