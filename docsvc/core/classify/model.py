"""Training: a linear SVM per class blended with complement naive Bayes over the features,
the weighting, the blend and the confidences chosen on held-out folds of the labels."""

from __future__ import annotations

import datetime as dt
import hashlib
import math
import os
from collections.abc import Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from importlib import metadata
from typing import Any

import numpy as np

from docsvc.core import text as textmod
from docsvc.core.classify.features import Counts, Features, Weighting, meaning_version, meanings, model_input
from docsvc.core.classify.labels import HEAD_CHARS, MIN_TRAIN_SAMPLES, TARGETS, LabeledSample, Target
from docsvc.core.classify.rules import LABELS, rule_scores, rules_label, zones
from docsvc.core.semantic import INSTALLED, Embedder, Installed, embedder_of

# Bump when the Model layout, the features or the blending change: load() then refuses old
# files and needs_retrain() says so. 6: a target that weighs the meaning keeps a twin over the
# words alone (TargetModel.words), for a suggestion whose vector is not made yet. 7: the meaning
# is read from a head of 400 characters (features.MEANING_CHARS), not 120.
MODEL_VERSION = 7
# The features depend on the analyzer (jieba + domain dictionary) as well as on this module.
FEATURES_VERSION = f"clf-features-2/{textmod.ANALYZER_VERSION}"

WEIGHTINGS: tuple[Weighting, ...] = (Weighting(idf=True, c=0.5), Weighting(idf=False, c=1.0))
# With an embedding model, the meaning block's weight beside the characters' (both of unit
# length), which the held-out folds choose. On the six natural sets of bench/eval_classify.py
# --grid, 1 did best (+2.61 points over the baseline on average; 0.75: +2.53, 1.5: +2.24); every
# real set chose it; of the generated word salad, which means nothing, the long texts chose 0
# and the short ones 1, at the same accuracy.
MEANING_WEIGHTS = (0.0, 1.0)
# Held-out folds: the training set is cut into this many folds (each class spread over them)
# and a model trained without a fold scores it, fold after fold until about CALIBRATION_ROWS
# documents have been scored (past a thousand, more rows hardly move what is fitted on them,
# and each fold costs a training). On them: the weighting is chosen, and the confidences are
# calibrated.
CALIBRATION_FOLDS = 5
CALIBRATION_ROWS = 1000
# Candidate temperatures and rule weights for the calibration (see _calibrate).
_TEMPERATURES = tuple(0.01 * 1.2**i for i in range(40))  # 0.01 … 12 (a blend's scores are wider)
_RULE_WEIGHTS = (0.0, 0.25, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0)
# How much of the naive Bayes model joins the SVM's scores, the spread of its scores over the
# held-out documents matched to the SVM's (see _fit_target); the held-out folds choose, 0
# included.
NB_WEIGHTS = (0.0, 0.25, 0.5, 1.0, 2.0, 4.0, 8.0)
# Complement naive Bayes smoothing: 0.3 was better than 0.1 and 1.0 on the sets of
# bench/eval_classify.py (each alone; in the blend the weight matters more).
NB_ALPHA = 0.3


@dataclass(frozen=True)
class TargetModel:
    """One target's model: a linear SVM per class (one against the rest) over features weighed
    by ``weighting``, plus a share (``nb_weight``) of a complement naive Bayes model's
    log-likelihoods (both linear in the features, so they are added into one ``coef`` and
    ``intercept``); the
    scores become probabilities as softmax(score / temperature + rule_weight · log p_rules). The
    weighting and the three numbers are chosen on held-out folds (see :func:`_fit_target`)."""

    classes: tuple[str, ...]
    weighting: Weighting
    coef: Any  # float32 array, classes × features
    intercept: Any  # float32 array, one per class
    temperature: float
    rule_weight: float  # 0 when the rules know none of the classes or do not help
    n_samples: int  # samples that carried this target's label
    held_out_accuracy: float | None  # on the held-out folds, rules included; None: no folds
    nb_weight: float = 0.0  # the naive Bayes share, its held-out score spread matched to the SVM's
    # When ``weighting`` reads the meaning: the best model over the words alone, chosen and
    # calibrated on the same held-out folds. It answers for a text whose vector is not at hand:
    # making one takes up to 0.4 s of a core, a suggestion from the words milliseconds.
    words: TargetModel | None = None

    def scores(self, x: Any) -> Any:
        """Decision scores of one document (a 1-row sparse matrix), one per class. Only the
        weights of the document's features are read: a product with the whole matrix would
        copy it (megabytes) on every call."""
        return self.coef[:, x.indices] @ x.data + self.intercept


@dataclass(frozen=True)
class Model:
    """What :func:`train` learnt. ``targets[t]`` is None for a target that had too few labelled
    samples; the rules answer for it. One set of features serves both targets, so a document is
    analysed once."""

    model_version: int
    features_version: str
    sklearn_version: str
    trained_at: str
    n_samples: int
    labels_fingerprint: str
    features: Features | None  # None when no target was trained
    targets: Mapping[str, TargetModel | None] = field(default_factory=dict)
    # The meaning version (features.meaning_version) of the vectors it read, if any.
    embedder_version: str | None = None

    @property
    def reads_meaning(self) -> bool:
        """Whether a suggestion needs the text's meaning vector: some target weighs it (the
        held-out folds may have found it no help)."""
        return any(tm is not None and tm.weighting.meaning for tm in self.targets.values())


def labels_fingerprint(samples: Iterable[LabeledSample]) -> str:
    """A hash of which documents carry which confirmed labels, independent of order. Compare it
    with ``Model.labels_fingerprint`` (see :func:`needs_retrain`)."""
    lines = []
    for s in samples:
        key = s.key or "sha256:" + hashlib.sha256(f"{s.title}\n{s.text}".encode()).hexdigest()
        lines.append(f"{key}\t{s.doc_type or ''}\t{s.service_category or ''}")
    return hashlib.sha256("\n".join(sorted(lines)).encode()).hexdigest()


def needs_retrain(model: Model | None, labels_fingerprint: str, embedder_version: str | None = None) -> bool:
    """True when there is no model, it was made by another version of this module or the
    analyzer, the confirmed labels changed since it was trained, or it read another meaning
    version than ``embedder_version`` (features.meaning_version; None: no meaning)."""
    return (
        model is None
        or model.model_version != MODEL_VERSION
        or model.features_version != FEATURES_VERSION
        or model.labels_fingerprint != labels_fingerprint
        or model.embedder_version != embedder_version
    )


def _meanings(samples: Sequence[LabeledSample], embedder: Embedder) -> Any:
    """One vector per sample: the one it carries, else made now."""
    out = np.zeros((len(samples), embedder.dim), dtype=np.float32)
    todo = []
    for i, s in enumerate(samples):
        if s.meaning is None:
            todo.append(i)
        else:
            out[i] = s.meaning
    if todo:
        # Both cores: training waits for every vector.
        out[todo] = meanings([samples[i].text for i in todo], embedder, workers=min(2, os.cpu_count() or 1))
    return out


def train(
    samples: Iterable[LabeledSample],
    *,
    min_samples: int = MIN_TRAIN_SAMPLES,
    embedder: Embedder | Installed | None = INSTALLED,
) -> Model:
    """Learn both targets from confirmed labels. A target with fewer than ``min_samples``
    labelled samples or fewer than two distinct labels gets no model (the rules answer).

    With an embedding model (the installed one unless another is given; None for the words
    alone) the model also reads the meaning of each text's head, where the held-out folds find
    it helps: a sample's ``meaning`` when it carries one, else made now (about 0.4 s of a core
    per text of 400 characters or more).

    Labels are free strings: the built-in doc types and categories, an organisation's own
    types (``DOCSVC_EXTRA_DOC_TYPES``), or any other set of classes, from two to a few hundred;
    a class with a single sample is learnt too."""
    samples = list(samples)
    embedder = embedder_of(embedder)
    rows: dict[Target, list[int]] = {}
    for target in TARGETS:
        idx = [i for i, s in enumerate(samples) if getattr(s, target)]
        if len(idx) >= min_samples and len({getattr(samples[i], target) for i in idx}) >= 2:
            rows[target] = idx
    features = None
    targets: dict[str, TargetModel | None] = {t: None for t in TARGETS}
    if rows:
        vectors = _meanings(samples, embedder) if embedder else None
        features, counts = Features.fit([model_input(s.text, s.title) for s in samples], vectors)
        for target, idx in rows.items():
            labels = [str(getattr(samples[i], target)) for i in idx]
            chars, words, meaning = counts
            rows_counts = (chars[idx], words[idx], None if meaning is None else meaning[idx])
            targets[target] = _fit_target(target, features, rows_counts, labels, [samples[i] for i in idx])
    return Model(
        model_version=MODEL_VERSION,
        features_version=FEATURES_VERSION,
        sklearn_version=sklearn_version(),
        trained_at=dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        n_samples=len(samples),
        labels_fingerprint=labels_fingerprint(samples),
        features=features,
        targets=targets,
        embedder_version=meaning_version(embedder) if embedder and features else None,
    )


# The SVM's intercept for a class its training samples lack: a score no document reaches.
_ABSENT = -1e4


def _fit_svm(x: Any, y: Any, n_classes: int, c: float) -> tuple[Any, Any]:
    """(coef, intercept) over all ``n_classes`` class numbers; a class absent from ``y`` gets
    a score no document reaches."""
    # Imported only now: without enough labels (a new archive) there is nothing to fit, and
    # importing scikit-learn takes most of a second.
    from sklearn.svm import LinearSVC

    present = np.unique(y)
    coef = np.zeros((n_classes, x.shape[1]), dtype=np.float32)
    intercept = np.full(n_classes, _ABSENT, dtype=np.float32)
    # tol: scikit-learn's default (1e-4) is a thousandth of liblinear's own; at 1e-2 training is a
    # third faster and no set of bench/eval_classify.py changed its accuracy.
    svm = LinearSVC(C=c, tol=1e-2, random_state=0).fit(x, y)  # liblinear shuffles: same labels, same model
    if len(present) == 2:  # one decision function for two classes: the second class's side
        coef[present] = np.vstack([-svm.coef_[0], svm.coef_[0]])
        intercept[present] = [-svm.intercept_[0], svm.intercept_[0]]
    else:
        coef[present] = svm.coef_
        intercept[present] = svm.intercept_
    return coef, intercept


def _fit_nb(x: Any, y: Any, n_classes: int, n_lexical: int) -> tuple[Any, Any]:
    """(coef, intercept) of complement naive Bayes over all ``n_classes`` class numbers: its
    joint log-likelihood is linear in the features. Each feature's weights are taken less their
    mean over the classes: every class's score moves by the same amount, which changes no
    probability, and what is left says which classes a feature speaks for (so the words shown as
    a suggestion's reasons are those). A class absent from ``y`` gets the lowest weights any
    class has, and the SVM's part keeps it out of reach."""
    from sklearn.naive_bayes import ComplementNB

    present = np.unique(y)
    nb = ComplementNB(alpha=NB_ALPHA).fit(x[:, :n_lexical], y)
    log_prob = nb.feature_log_prob_ - nb.feature_log_prob_.mean(axis=0)
    coef = np.zeros((n_classes, x.shape[1]), dtype=np.float32)
    coef[present, :n_lexical] = log_prob
    coef[np.setdiff1d(np.arange(n_classes), present), :n_lexical] = log_prob.min(axis=0)
    intercept = np.zeros(n_classes, dtype=np.float32)
    return coef, intercept


def _folds(y: Any, k: int) -> Any:
    """A fold number per sample: each class's samples dealt round-robin in a fixed shuffled
    order, so every fold sees every class with at least k samples."""
    rng = np.random.default_rng(0)
    fold = np.empty(len(y), dtype=np.int64)
    for c in np.unique(y):
        members = np.flatnonzero(y == c)
        start = rng.integers(k)  # classes smaller than k do not all pile into fold 0
        fold[rng.permutation(members)] = (start + np.arange(len(members))) % k
    return fold


def rule_log_probs(target: Target, samples: Sequence[LabeledSample], classes: Sequence[str]) -> Any:
    """The rules' log-probability of each class for each sample (documents × classes)."""
    out = np.empty((len(samples), len(classes)))
    for i, s in enumerate(samples):
        zone, body = zones(s.title, (s.text or "")[:HEAD_CHARS])
        out[i] = rule_log_prior(target, rules_label(target, rule_scores(target, zone, body))[1], classes)
    return out


def rule_log_prior(target: Target, rule_probs: Mapping[str, float], classes: Sequence[str]) -> Any:
    """log p_rules for each class. A label the rules do not know (an organisation's own doc
    type) gets the rules' probability for "none of mine" — their "other" — or, for categories,
    which have no such label, the uniform share: the rules have no opinion on it and must not
    veto it."""
    unknown = rule_probs.get("other", 1.0 / max(len(rule_probs), 1))
    return np.log(np.maximum([rule_probs.get(c, unknown) for c in classes], 1e-6))


@dataclass(frozen=True)
class _HeldOut:
    """How one weighting did on the held-out documents, and the calibration fitted on them."""

    weighting: Weighting
    temperature: float
    rule_weight: float
    accuracy: float
    log_loss: float
    nb_weight: float = 0.0
    nb_ratio: float = 1.0  # the SVM's score spread per naive Bayes'


def _fit_target(
    target: Target, features: Features, counts: Counts, labels: Sequence[str], samples: Sequence[LabeledSample]
) -> TargetModel:
    """Train one target on its labelled documents (``counts`` their rows): held-out folds
    choose the weighting and the naive Bayes share (the lower log loss) and calibrate them,
    then the chosen blend is trained on every sample."""
    classes = tuple(sorted(set(labels)))
    y = np.searchsorted(classes, labels)
    k = len(classes)
    weightings = _weightings(features)
    n_lexical = features.n_chars + features.n_words  # naive Bayes reads counts, not meanings
    xs = {w: features.weigh(counts, w) for w in weightings}
    fold = _folds(y, CALIBRATION_FOLDS)
    held_out: list[tuple[Any, Any]] = []  # (held, rest) row numbers
    for f in range(CALIBRATION_FOLDS):
        # One more fold only if it brings the count nearer CALIBRATION_ROWS: 5,000 documents
        # make folds of about a thousand, and one falling a document short is enough (each
        # fold costs a training per weighting).
        if held_out and sum(len(held) for held, _ in held_out) >= CALIBRATION_ROWS - len(y) / CALIBRATION_FOLDS / 2:
            break
        held, rest = np.flatnonzero(fold == f), np.flatnonzero(fold != f)
        # A document whose class the fold's model never saw says nothing about calibration.
        held = held[np.isin(y[held], y[rest])]
        if len(held) and len(np.unique(y[rest])) >= 2:
            held_out.append((held, rest))
    if not held_out:  # too few samples for any fold: the first weighting, SVM alone, uncalibrated
        w = weightings[0]
        coef, intercept = _fit_svm(xs[w], y, k, w.c)
        return TargetModel(classes, w, coef, intercept, 1.0, 0.0, len(labels), None)
    rows = np.concatenate([held for held, _ in held_out])
    # The rules join only where they know some of the classes (the built-in targets).
    rules = rule_log_probs(target, [samples[i] for i in rows], classes) if set(classes) & set(LABELS[target]) else None
    # A held-out document is scored as a new one will be: without the features only it (or
    # other held-out documents) has, which a new document's vocabulary would not contain.
    # Left in, they dilute its vector and make the fold's scores less sure than the final
    # model's. And a fold's model trains on fewer samples, which would loosen the fit: its C
    # is raised to keep the balance of loss and regularisation (C multiplies a sum over
    # samples).
    import scipy.sparse

    held_x: dict[Weighting, list[Any]] = {w: [] for w in weightings}
    for held, rest in held_out:
        masked = (
            *(
                block[held] @ scipy.sparse.diags((block[rest].getnnz(axis=0) > 0).astype(np.float32))
                for block in counts[:2]
            ),
            None if counts[2] is None else counts[2][held],
        )
        for w in weightings:
            held_x[w].append(features.weigh(masked, w))
    # The fits are independent and liblinear releases the GIL: two at a time use both cores
    # of a small server. Its shuffles come from one random generator per process, so fits that
    # run together perturb each other's. Here the scores only choose among a few settings,
    # which a difference in the last digits changes only in a near-tie; the fits on all samples
    # (_final) run alone, so the same labels give the same model (two trainings are compared in
    # tests/test_classify_meaning.py).
    with ThreadPoolExecutor(max_workers=min(2, os.cpu_count() or 1)) as pool:
        fits = {
            w: [pool.submit(_fit_svm, xs[w][rest], y[rest], k, w.c * len(y) / len(rest)) for _, rest in held_out]
            for w in weightings
        }
        results = []
        nbs: dict[Weighting, Any] = {}  # naive Bayes reads the words alike whatever the meaning's weight
        for w, futures in fits.items():
            scores = np.vstack([_linear(x, *f.result()) for x, f in zip(held_x[w], futures)])
            lexical = replace(w, meaning=0.0)
            if lexical not in nbs:
                nbs[lexical] = np.vstack(
                    [
                        _centred(_linear(x, *_fit_nb(xs[w][rest], y[rest], k, n_lexical)))
                        for x, (_, rest) in zip(held_x[w], held_out)
                    ]
                )
            nb = nbs[lexical]
            # The naive Bayes scores join in units of the SVM's spread per their own, so that
            # one set of weights suits a few short texts and thousands of long ones alike; the
            # temperature then tempers the blend as a whole.
            scores = np.asarray(scores)
            seen = scores > _ABSENT / 2  # a class its fold never saw has no spread to speak of
            ratio = _spread(scores, seen) / (_spread(nb, seen) or 1.0)
            for nb_weight in NB_WEIGHTS:
                results.append(_held_out_result(w, scores + nb_weight * ratio * nb, nb_weight, ratio, y[rows], rules))
    # Chosen on the held-out log loss, not accuracy: with a weighting and a blend weight to
    # choose, accuracy over a thousand documents ties or differs by a document or two, and picks
    # by chance; the log loss also counts how sure the right and wrong answers were (it chose
    # better on five sets of bench/eval_classify.py, worse on none).
    best = min(results, key=lambda r: r.log_loss)
    words = None
    if best.weighting.meaning:
        plain = min((r for r in results if not r.weighting.meaning), key=lambda r: r.log_loss)
        words = _final(plain, xs[plain.weighting], y, classes, n_lexical, len(labels), None)
    return _final(best, xs[best.weighting], y, classes, n_lexical, len(labels), words)


def _final(
    chosen: _HeldOut, x: Any, y: Any, classes: tuple[str, ...], n_lexical: int, n: int, words: TargetModel | None
) -> TargetModel:
    """The blend the held-out folds chose, trained on every sample ``x``."""
    k = len(classes)
    coef, intercept = _fit_svm(x, y, k, chosen.weighting.c)
    if chosen.nb_weight:
        nb_coef, nb_intercept = _fit_nb(x, y, k, n_lexical)
        share = chosen.nb_weight * chosen.nb_ratio
        coef = (coef + share * nb_coef).astype(np.float32)
        intercept = (intercept + share * nb_intercept).astype(np.float32)
    return TargetModel(
        classes,
        chosen.weighting,
        coef,
        intercept,
        chosen.temperature,
        chosen.rule_weight,
        n,
        chosen.accuracy,
        chosen.nb_weight,
        words,
    )


def _weightings(features: Features) -> tuple[Weighting, ...]:
    """The weightings the held-out folds choose among: with meaning vectors, each also with the
    meaning at each of :data:`MEANING_WEIGHTS`."""
    if not features.meaning_dim:
        return WEIGHTINGS
    return tuple(replace(w, meaning=m) for w in WEIGHTINGS for m in MEANING_WEIGHTS)


def _linear(x: Any, coef: Any, intercept: Any) -> Any:
    """The scores x · coefᵀ + intercept of the documents ``x`` (rows)."""
    return np.asarray(x @ coef.T) + intercept


def _spread(scores: Any, mask: Any) -> float:
    """The standard deviation of the scores within each document (row), over the entries in
    ``mask``."""
    n = np.maximum(mask.sum(axis=1, keepdims=True), 1)
    dev = (scores - (scores * mask).sum(axis=1, keepdims=True) / n) * mask
    return float(np.sqrt((dev**2).sum() / max(int(mask.sum()), 1)))


def _centred(scores: Any) -> Any:
    """Scores less each document's mean: a softmax does not see the difference, and the
    spread of what is left is comparable across documents and models."""
    return scores - scores.mean(axis=1, keepdims=True)


def _held_out_result(
    w: Weighting, scores: Any, nb_weight: float, nb_ratio: float, gold: Any, rules: Any | None
) -> _HeldOut:
    temperature, rule_weight, loss = _calibrate(scores, gold, rules)
    z = scores / temperature + (rule_weight * rules if rule_weight and rules is not None else 0.0)
    return _HeldOut(w, temperature, rule_weight, float(np.mean(z.argmax(axis=1) == gold)), loss, nb_weight, nb_ratio)


def _calibrate(scores: Any, gold: Any, rules: Any | None) -> tuple[float, float, float]:
    """(temperature, rule weight, log loss): those minimising the log loss of
    softmax(scores / temperature + rule_weight · rules) on held-out documents.

    One temperature for all classes rather than a calibrator per class: with a hundred classes,
    many have a handful of samples, too few to fit anything of their own. The rule weight
    decides how far the rules' opinion moves the model's: where titles name the kind of
    document the rules are precise and the held-out documents show it; where the
    organisation's classes are its own, the rules have nothing to say (weight 0)."""
    best = (math.inf, 1.0, 0.0)
    for rule_weight in _RULE_WEIGHTS if rules is not None else (0.0,):
        prior = rule_weight * rules if rule_weight and rules is not None else 0.0
        for temperature in _TEMPERATURES:
            z = scores / temperature + prior
            top = z.max(axis=1)
            log_norm = top + np.log(np.exp(z - top[:, None]).sum(axis=1))
            loss = float(np.mean(log_norm - z[np.arange(len(gold)), gold]))
            if loss < best[0] - 1e-9:
                best = (loss, temperature, rule_weight)
    return best[1], best[2], best[0]


def sklearn_version() -> str:
    return metadata.version("scikit-learn")  # without importing it
