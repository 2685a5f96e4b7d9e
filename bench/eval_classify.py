"""Accuracy, calibration and speed of docsvc.core.classify.

    .venv/bin/python bench/eval_classify.py                # labelled set: held-out test split
    .venv/bin/python bench/eval_classify.py --cv 5         # labelled set: k-fold on the TRAIN split
    .venv/bin/python bench/eval_classify.py --fit-temperature
    .venv/bin/python bench/eval_classify.py --sets         # every set: docsvc vs the baseline
    .venv/bin/python bench/eval_classify.py --sets ui,questions --folds 5
    .venv/bin/python bench/eval_classify.py --grid         # model settings compared over the sets
    .venv/bin/python bench/eval_classify.py --timing       # 5,000 documents: training, latency
    .venv/bin/python bench/eval_classify.py --sets --meaning   # docsvc reading meaning too

--meaning gives docsvc the sentence-embedding model (multilingual-e5-small) for training and
suggestions, as the library does by default: the meaning of each text's head beside its
characters and words. Without it docsvc is given none (embedder=None): the words alone. Each
text's vector is made once, as the service keeps one per content, and timed apart.

The labelled set is tests/data/classify/: rules and model settings are tuned with --cv and
--fit-temperature, which never read its test split.

--sets compares, under the same stratified k-fold cross-validation, docsvc (train() on the
training folds, suggest() on the held-out one, the label as the doc type, or as the category
for the labelled set's categories) with a plain baseline: TF-IDF of character 1–3-grams and a
linear SVM, scikit-learn's defaults. The sets:

* labelled-type, labelled-cat, untitled-type: tests/data/classify/ (the last without titles and
  heading lines, as scans arrive);
* statutes (articles → the law they belong to), civil-books (civil code articles → its book),
  questions (plain-language questions → the law of the article that answers them): read from
  /work/shared/eval/plain-questions/ when present, never copied into the repository;
* ui: the Chinese translations of program messages installed on this machine
  (/usr/share/locale/zh_CN) → the program they belong to: short texts, dozens of classes;
* ui-traditional: the same for the traditional-character (zh_TW) translations, another
  vocabulary and other translators;
* places: the Chinese names of the world's regions (ISO 3166-2, as translated on this machine)
  → their country: a hundred classes of four-character texts;
* packages: Debian's Chinese package descriptions (apt's Translation-zh_CN list, fetched with
  `apt-get -o Acquire::Languages=zh_CN update`) → the package's archive section: descriptions of
  programs → two dozen categories, as an app store files them; package-titles: the same with only
  each description's first line, titles of a dozen characters, as news titles → their section;
* generated-short, generated-long: word salad from jieba's dictionary with each class's own
  topic words, 60 classes of very unequal size (2 to 60 samples).

--grid retrains docsvc with other settings (the module's constants) and prints the accuracy
per set and the mean gain over the baseline: settings are chosen on that mean, never on one
set.
"""

from __future__ import annotations

import argparse
import csv
import dataclasses
import gettext
import hashlib
import json
import math
import os
import random
import re
import statistics
import subprocess
import sys
import time
import warnings
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from docsvc.core import classify, semantic  # noqa: E402 - after the sys.path lines above
from docsvc.core.classify.features import meaning_input, meanings  # noqa: E402

DATA = ROOT / "tests" / "data" / "classify"
PLAIN_QUESTIONS = Path("/work/shared/eval/plain-questions")
LOCALE = Path("/usr/share/locale/zh_CN/LC_MESSAGES")
LOCALE_TW = Path("/usr/share/locale/zh_TW/LC_MESSAGES")
APT_LISTS = Path("/var/lib/apt/lists")


# --- the labelled set (train/test split) -------------------------------------------------------


@dataclass(frozen=True)
class Doc:
    filename: str
    title: str
    text: str
    doc_type: str
    service_category: str
    split: str

    def untitled(self) -> Doc:
        """The document as a scan arrives: no title, and the heading line lost."""
        body = "\n".join(self.text.strip().splitlines()[1:])
        return Doc(self.filename, "", body, self.doc_type, self.service_category, self.split)

    def sample(self) -> classify.LabeledSample:
        return classify.LabeledSample(self.text, self.title, self.doc_type, self.service_category, key=self.filename)


def load_docs() -> list[Doc]:
    with (DATA / "labels.csv").open(encoding="utf-8", newline="") as f:
        return [
            Doc(
                r["filename"],
                r["title"],
                (DATA / r["filename"]).read_text(encoding="utf-8"),
                r["doc_type"],
                r["service_category"],
                r["split"],
            )
            for r in csv.DictReader(f)
        ]


def per_class(gold: list[str], pred: list[str]) -> list[tuple[str, float, float, int]]:
    rows = []
    for label in sorted(set(gold) | set(pred)):
        tp = sum(g == p == label for g, p in zip(gold, pred))
        n_pred = sum(p == label for p in pred)
        n_gold = sum(g == label for g in gold)
        rows.append((label, tp / n_pred if n_pred else 0.0, tp / n_gold if n_gold else 0.0, n_gold))
    return rows


def evaluate(docs: list[Doc], model: classify.Model | None) -> dict[str, tuple[list[str], list[str], list[float]]]:
    out: dict[str, tuple[list[str], list[str], list[float]]] = {}
    suggestions = [classify.suggest(d.text, d.title, model=model) for d in docs]
    for target in classify.TARGETS:
        gold = [getattr(d, target) for d in docs]
        labels = [getattr(s, target) for s in suggestions]
        out[target] = (gold, [lab.value for lab in labels], [lab.confidence for lab in labels])
    return out


def accuracy(gold: list[str], pred: list[str]) -> float:
    return sum(g == p for g, p in zip(gold, pred)) / len(gold)


def report(name: str, docs: list[Doc], model: classify.Model | None, detail: bool) -> None:
    res = evaluate(docs, model)
    print(f"\n== {name} ({len(docs)} documents)")
    for target, (gold, pred, conf) in res.items():
        acc = accuracy(gold, pred)
        sure = [(g, p) for g, p, c in zip(gold, pred, conf) if c >= classify.REVIEW_THRESHOLD]
        sure_acc = accuracy([g for g, _ in sure], [p for _, p in sure]) if sure else float("nan")
        print(
            f"{target:17s} accuracy {acc:6.1%}   "
            f"confident (>= {classify.REVIEW_THRESHOLD}) {len(sure)}/{len(gold)} at {sure_acc:6.1%}"
        )
        if detail:
            print(f"  {'label':18s} {'precision':>9s} {'recall':>7s} {'n':>3s}")
            for label, p, r, n in per_class(gold, pred):
                print(f"  {label:18s} {p:9.0%} {r:7.0%} {n:3d}")
    if detail:
        wrong = [
            (d.filename, t, g, p) for t, (gold, pred, _) in res.items() for d, g, p in zip(docs, gold, pred) if g != p
        ]
        for fn, t, g, p in wrong:
            print(f"  miss {fn} {t}: {g} -> {p}")


def cross_validate(train_docs: list[Doc], k: int, detail: bool) -> None:
    """k folds over the train split, assigned round-robin in file order within each doc type."""
    folds: dict[int, list[Doc]] = defaultdict(list)
    seen: Counter[str] = Counter()
    for d in train_docs:
        folds[seen[d.doc_type] % k].append(d)
        seen[d.doc_type] += 1
    totals: dict[str, dict[str, list[tuple[str, str]]]] = defaultdict(lambda: defaultdict(list))
    for i in range(k):
        held = folds[i]
        rest = [d for j in range(k) if j != i for d in folds[j]]
        model = classify.train((d.sample() for d in rest), embedder=EMBEDDER)
        for name, m in (("rules", None), ("rules+model", model)):
            for variant, docs in (("", held), (" untitled", [d.untitled() for d in held])):
                for target, (gold, pred, _) in evaluate(docs, m).items():
                    totals[name + variant][target].extend(zip(gold, pred))
    print(f"\n== {k}-fold cross-validation on the train split ({len(train_docs)} documents)")
    for name, by_target in totals.items():
        for target, pairs in by_target.items():
            g, p = zip(*pairs)
            print(f"{name:21s} {target:17s} accuracy {accuracy(list(g), list(p)):6.1%}")
            if detail and name == "rules":
                for label, prec, rec, n in per_class(list(g), list(p)):
                    print(f"  {label:18s} {prec:9.0%} {rec:7.0%} {n:3d}")


def fit_temperature(train_docs: list[Doc]) -> None:
    """The softmax temperature minimising the rules' log loss on the train split."""
    for target in classify.TARGETS:
        results = []
        for d in train_docs:
            zone, body = classify.rules.zones(d.title, d.text[: classify.HEAD_CHARS])
            results.append((classify.rules.rule_scores(target, zone, body), getattr(d, target)))
        best = None
        for t10 in range(5, 201, 5):
            t = t10 / 10
            loss = 0.0
            for res, gold in results:
                p = classify.rules.softmax(res.scores, t).get(gold, 0.0)
                loss -= math.log(max(p, 1e-9))
            if best is None or loss < best[1]:
                best = (t, loss)
        print(f"{target}: temperature {best[0]} (log loss {best[1] / len(results):.3f})")


# --- labelled sets for cross-validation -------------------------------------------------------


@dataclass(frozen=True)
class Item:
    text: str
    title: str
    label: str


@dataclass(frozen=True)
class LabelSet:
    name: str
    what: str
    target: str  # the Suggestion field the label goes to
    items: list[Item]


def _labelled(target: str, untitled: bool = False) -> list[Item]:
    docs = load_docs()
    if untitled:
        docs = [d.untitled() for d in docs]
    return [Item(d.text, d.title, getattr(d, target)) for d in docs]


_ARTICLE_RE = re.compile(r"第[零〇一二三四五六七八九十百千]+条.*$")


def _law(title: str) -> str:
    return _ARTICLE_RE.sub("", title)


def _articles() -> list[dict[str, str]]:
    with (PLAIN_QUESTIONS / "corpus.jsonl").open(encoding="utf-8") as f:
        return [json.loads(line) for line in f]


def _at_least(items: list[Item], n: int) -> list[Item]:
    sizes = Counter(i.label for i in items)
    return [i for i in items if sizes[i.label] >= n]


def statutes() -> list[Item]:
    """Each article's text (its title, which names the law, left out) → its law."""
    return _at_least([Item(a["text"], "", _law(a["title"])) for a in _articles()], 4)


_DIGITS = {c: i for i, c in enumerate("零一二三四五六七八九")}
_DIGITS["〇"] = 0
_UNITS = {"十": 10, "百": 100, "千": 1000}
# The civil code's books by their last article.
_CIVIL_BOOKS = (
    (204, "总则"),
    (462, "物权"),
    (988, "合同"),
    (1039, "人格权"),
    (1118, "婚姻家庭"),
    (1163, "继承"),
    (1260, "侵权责任"),
)


def _chinese_number(s: str) -> int:
    total = digit = 0
    for ch in s:
        if ch in _DIGITS:
            digit = _DIGITS[ch]
        else:
            total += (digit or 1) * _UNITS[ch]
            digit = 0
    return total + digit


def civil_books() -> list[Item]:
    out = []
    for a in _articles():
        m = re.match(r"中华人民共和国民法典第([零〇一二三四五六七八九十百千]+)条", a["title"])
        if m:
            n = _chinese_number(m.group(1))
            out.append(Item(a["text"], "", next(book for last, book in _CIVIL_BOOKS if n <= last)))
    return out


def questions() -> list[Item]:
    """Each question → the law of the articles that answer it (the most frequent one)."""
    law = {a["id"]: _law(a["title"]) for a in _articles()}
    answers: dict[str, Counter[str]] = defaultdict(Counter)
    with (PLAIN_QUESTIONS / "qrels.tsv").open(encoding="utf-8") as f:
        next(f)
        for line in f:
            q, d = line.split()
            answers[q][law[d]] += 1
    out = []
    with (PLAIN_QUESTIONS / "queries.jsonl").open(encoding="utf-8") as f:
        for line in f:
            q = json.loads(line)
            if answers[q["id"]]:
                out.append(Item(q["text"], "", answers[q["id"]].most_common(1)[0][0]))
    return _at_least(out, 4)


def ui_messages(min_per_class: int = 25, cap: int = 60, locale: Path = LOCALE) -> list[Item]:
    """Translated program messages → the program (message catalog) they come from; messages
    found in more than one catalog and the ISO code lists (names of places and languages) are
    left out, each catalog gives at most ``cap`` messages."""
    by: dict[str, set[str]] = defaultdict(set)
    for path in sorted(locale.glob("*.mo")):
        name = re.sub(r"-\d+$", "", path.stem)
        if name.startswith("iso_"):
            continue
        try:
            with path.open("rb") as f:
                catalog = gettext.GNUTranslations(f)._catalog  # type: ignore[attr-defined]
        except Exception:  # noqa: BLE001 - an unreadable catalogue is skipped
            continue
        for key, value in catalog.items():
            if key and isinstance(value, str) and re.search("[\u4e00-\u9fff]", value):
                by[name].add(value.strip())
    owners = Counter(v for values in by.values() for v in values)
    rng = random.Random(0)
    out = []
    for name in sorted(by):
        values = sorted(v for v in by[name] if owners[v] == 1)
        if len(values) >= min_per_class:
            rng.shuffle(values)
            out += [Item(v, "", name) for v in values[:cap]]
    return out


def place_names(min_per_class: int = 8) -> list[Item]:
    """Chinese names of the world's provinces and regions (the ISO 3166-2 list's translation
    installed on this machine) → the country, itself named in Chinese: very short texts, a
    hundred classes, where transliteration habits of each language are the cue."""
    iso = Path("/usr/share/iso-codes/json")
    with (LOCALE / "iso_3166-2.mo").open("rb") as f:
        regions = gettext.GNUTranslations(f)._catalog  # type: ignore[attr-defined]
    with (LOCALE / "iso_3166-1.mo").open("rb") as f:
        countries = gettext.GNUTranslations(f)._catalog  # type: ignore[attr-defined]
    country = {
        c["alpha_2"]: countries.get(c["name"], c["name"])
        for c in json.loads((iso / "iso_3166-1.json").read_text(encoding="utf-8"))["3166-1"]
    }
    out = [
        Item(regions[r["name"]], "", country[r["code"][:2]])
        for r in json.loads((iso / "iso_3166-2.json").read_text(encoding="utf-8"))["3166-2"]
        if regions.get(r["name"], r["name"]) != r["name"]
    ]
    return _at_least(out, min_per_class)


def _apt_stanzas(path: Path) -> Iterator[dict[str, str]]:
    """The stanzas of one of apt's list files (compressed as apt keeps it), continuation lines
    joined to their field."""
    text = subprocess.run(
        ["/usr/lib/apt/apt-helper", "cat-file", str(path)], capture_output=True, text=True, check=True
    ).stdout
    for block in text.split("\n\n"):
        fields: dict[str, str] = {}
        key = ""
        for line in block.splitlines():
            if line.startswith(" ") and key:
                fields[key] += "\n" + line[1:]
            elif ":" in line:
                key, _, value = line.partition(":")
                fields[key] = value.strip()
        if "Package" in fields:
            yield fields


def _translations() -> list[Path]:
    return sorted(APT_LISTS.glob("*_i18n_Translation-zh%5fCN*"))


def package_descriptions(min_per_class: int = 8, *, synopsis: bool = False) -> list[Item]:
    """Debian's Chinese package descriptions (Translation-zh_CN, fetched by
    `apt-get -o Acquire::Languages=zh_CN update`) → the package's archive section (libs, utils,
    games, science…): descriptions of programs → dozens of categories, as an app store files
    them. A description shared by several packages (a program and its data) counts once.
    ``synopsis``: only each description's first line, a title of a dozen characters."""
    section = {}
    for path in sorted(APT_LISTS.glob("*_binary-*_Packages*")):
        for fields in _apt_stanzas(path):
            section.setdefault(fields["Package"], fields.get("Section", "").rsplit("/", 1)[-1])
    out, seen = [], set()
    for path in _translations():
        for fields in _apt_stanzas(path):
            text = fields.get("Description-zh_CN", "")
            text = text.split("\n", 1)[0].strip() if synopsis else " ".join(text.replace("\n.\n", "\n").split("\n"))
            label = section.get(fields["Package"])
            if text and label and text not in seen:
                seen.add(text)
                out.append(Item(text, "", label))
    return _at_least(out, min_per_class)


def generated(
    n_classes: int, words: tuple[int, int], *, seed: int, topic_share: float = 0.3, sizes: tuple[int, int] = (2, 60)
) -> list[Item]:
    """Word salad from jieba's dictionary (weighted by frequency) where a share of the words
    are the class's own topic words; classes overlap (each draws half its topic words from a
    pool shared with its neighbours), and their sizes fall from sizes[1] to sizes[0]."""
    from corpus import Vocabulary

    vocab = Vocabulary.from_jieba()
    rng = random.Random(seed)
    pool = vocab.band(rng, 0.3, 0.95, 40 * n_classes)
    topics = []
    for c in range(n_classes):
        shared = pool[(c // 3) * 30 : (c // 3) * 30 + 30]  # three neighbouring classes share these
        own = pool[len(pool) // 2 + c * 15 : len(pool) // 2 + c * 15 + 15]
        topics.append(own + rng.sample(shared, 15))
    out = []
    for c in range(n_classes):
        size = round(sizes[1] * (sizes[0] / sizes[1]) ** (c / max(n_classes - 1, 1)))
        for _ in range(size):
            n = rng.randint(*words)
            body = [rng.choice(topics[c]) if rng.random() < topic_share else w for w in vocab.sample(rng, n)]
            out.append(Item("".join(body), "", f"类别{c:03d}"))
    return out


SETS: dict[str, tuple[str, str, Callable[[], list[Item]], Callable[[], bool]]] = {
    # name: (what, target, loader, available)
    "labelled-type": (
        "docsvc labelled set → document type (titled)",
        "doc_type",
        lambda: _labelled("doc_type"),
        lambda: True,
    ),
    "labelled-cat": (
        "docsvc labelled set → service category (titled)",
        "service_category",
        lambda: _labelled("service_category"),
        lambda: True,
    ),
    "untitled-type": (
        "docsvc labelled set → document type, no title or heading",
        "doc_type",
        lambda: _labelled("doc_type", untitled=True),
        lambda: True,
    ),
    "statutes": (
        "statute articles → their law (laws with ≥ 4 articles)",
        "doc_type",
        statutes,
        lambda: (PLAIN_QUESTIONS / "corpus.jsonl").exists(),
    ),
    "civil-books": (
        "civil code articles → its book",
        "doc_type",
        civil_books,
        lambda: (PLAIN_QUESTIONS / "corpus.jsonl").exists(),
    ),
    "questions": (
        "plain-language legal questions → law of the answer",
        "doc_type",
        questions,
        lambda: (PLAIN_QUESTIONS / "qrels.tsv").exists(),
    ),
    "ui": ("program messages (zh_CN) → program", "doc_type", ui_messages, lambda: LOCALE.is_dir()),
    "ui-traditional": (
        "program messages (zh_TW, traditional characters) → program",
        "doc_type",
        lambda: ui_messages(locale=LOCALE_TW),
        lambda: LOCALE_TW.is_dir(),
    ),
    "places": (
        "region names → country (both in Chinese)",
        "doc_type",
        place_names,
        lambda: (LOCALE / "iso_3166-2.mo").exists() and Path("/usr/share/iso-codes/json/iso_3166-2.json").exists(),
    ),
    "packages": (
        "Debian package descriptions (zh_CN) → archive section",
        "doc_type",
        package_descriptions,
        lambda: bool(_translations()),
    ),
    "package-titles": (
        "Debian package synopses (zh_CN, the description's first line) → archive section",
        "doc_type",
        lambda: package_descriptions(synopsis=True),
        lambda: bool(_translations()),
    ),
    "generated-short": (
        "generated, 60 classes, 6–15 words",
        "doc_type",
        lambda: generated(60, (6, 15), seed=1),
        lambda: True,
    ),
    "generated-long": (
        "generated, 60 classes, 40–200 words",
        "doc_type",
        lambda: generated(60, (40, 200), seed=2, topic_share=0.1),
        lambda: True,
    ),
}


def load_set(name: str) -> LabelSet:
    what, target, loader, _ = SETS[name]
    return LabelSet(name, what, target, loader())


def _splits(labels: list[str], k: int) -> list[tuple[list[int], list[int]]]:
    from sklearn.model_selection import StratifiedKFold

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # classes smaller than k
        return [(list(a), list(b)) for a, b in StratifiedKFold(k, shuffle=True, random_state=0).split(labels, labels)]


@dataclass
class Run:
    gold: list[str]
    pred: list[str]
    conf: list[float]
    train_s: list[float]
    latency_ms: list[float]
    # With --meaning: the suggestion an upload gets before its vector is made (the words alone).
    first_pred: list[str] = dataclasses.field(default_factory=list)
    first_latency_ms: list[float] = dataclasses.field(default_factory=list)

    @property
    def accuracy(self) -> float:
        return accuracy(self.gold, self.pred)


# The embedding model docsvc reads meaning with (--meaning), or None.
EMBEDDER: semantic.Embedder | None = None


def run_docsvc(ls: LabelSet, splits: list[tuple[list[int], list[int]]], *, timed: bool = True) -> Run:
    run = Run([], [], [], [], [])
    # With --meaning, each text's vector is made once, as the service keeps one per content
    # (made in the background as it is indexed): training and suggestions read it.
    meanings = _meanings(ls.name, [it.text for it in ls.items]) if EMBEDDER is not None else None
    for train_idx, test_idx in splits:
        samples = []
        for i in train_idx:
            it = ls.items[i]
            meaning = meanings[i] if meanings is not None else None
            samples.append(classify.LabeledSample(it.text, it.title, **{ls.target: it.label}, meaning=meaning))
        t0 = time.perf_counter()
        model = classify.train(samples, embedder=EMBEDDER)
        run.train_s.append(time.perf_counter() - t0)
        for i in test_idx:
            it = ls.items[i]
            meaning = meanings[i] if meanings is not None else None
            t0 = time.perf_counter()
            label = getattr(classify.suggest(it.text, it.title, model=model, meaning=meaning), ls.target)
            if timed:
                run.latency_ms.append((time.perf_counter() - t0) * 1000)
            run.gold.append(it.label)
            run.pred.append(label.value)
            run.conf.append(label.confidence)
            if meaning is not None:
                t0 = time.perf_counter()
                first = getattr(classify.suggest(it.text, it.title, model=model, embedder=None), ls.target)
                run.first_latency_ms.append((time.perf_counter() - t0) * 1000)
                run.first_pred.append(first.value)
    return run


# Vectors made by earlier runs, by the embedding model's version and the heads read: making
# them takes minutes per set, and --grid reads each set once per setting.
MEANING_CACHE = ROOT / ".cache" / "bench-meanings"


def _meanings(name: str, texts: list[str]) -> Any:
    """The meaning vectors of the texts' heads, as the service makes and keeps one per content
    (docsvc.core.classify.features.meanings: each distinct head once, zeros for no text), on as
    many of the engine's passage models at once as the library's ``train`` uses when it is given
    no vectors (two, or one on one core)."""
    assert EMBEDDER is not None
    heads = [meaning_input(t) for t in texts]
    key = hashlib.sha256("\n".join([EMBEDDER.version, "meanings", *heads]).encode()).hexdigest()[:16]
    cached = MEANING_CACHE / f"{name}-{key}.npy"
    if cached.exists():
        return np.load(cached)
    t0 = time.perf_counter()
    vectors = meanings(texts, EMBEDDER, workers=min(2, os.cpu_count() or 1))
    took = time.perf_counter() - t0
    MEANING_CACHE.mkdir(parents=True, exist_ok=True)
    np.save(cached, np.asarray(vectors, dtype=np.float32))
    print(
        f"   meaning vectors of {len(heads)} texts made in {took:.1f} s ({took / len(heads) * 1000:.0f} ms a text, "
        f"{statistics.median(map(len, heads)):.0f} characters median)"
    )
    return vectors


def run_baseline(ls: LabelSet, splits: list[tuple[list[int], list[int]]]) -> Run:
    """TF-IDF of character 1–3-grams + LinearSVC, scikit-learn's defaults."""
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.svm import LinearSVC

    run = Run([], [], [], [], [])
    texts = [f"{it.title}\n{it.text}" for it in ls.items]
    for train_idx, test_idx in splits:
        t0 = time.perf_counter()
        vec = TfidfVectorizer(analyzer="char", ngram_range=(1, 3))
        x = vec.fit_transform([texts[i] for i in train_idx])
        svm = LinearSVC().fit(x, [ls.items[i].label for i in train_idx])
        run.train_s.append(time.perf_counter() - t0)
        run.pred.extend(svm.predict(vec.transform([texts[i] for i in test_idx])))
        run.gold.extend(ls.items[i].label for i in test_idx)
    return run


def confused_pairs(run: Run, n: int = 5) -> list[tuple[str, str, int]]:
    pairs = Counter((g, p) for g, p in zip(run.gold, run.pred) if g != p)
    return [(g, p, c) for (g, p), c in pairs.most_common(n)]


def calibration(run: Run) -> str:
    """Accuracy within confidence bands: a confidence means what it says when the accuracy of
    the suggestions given it is about the confidence."""
    bands = [(0.0, 0.3), (0.3, 0.6), (0.6, 0.8), (0.8, 0.95), (0.95, 1.01)]
    parts = []
    for lo, hi in bands:
        sel = [g == p for g, p, c in zip(run.gold, run.pred, run.conf) if lo <= c < hi]
        if sel:
            parts.append(f"[{lo:.2f},{min(hi, 1):.2f}) {len(sel)} at {sum(sel) / len(sel):.0%}")
    return "; ".join(parts) + f" (ECE {expected_calibration_error(run):.3f})"


def expected_calibration_error(run: Run, bins: int = 10) -> float:
    """The mean gap between confidence and accuracy over ten equal-width bins, weighted by
    how many suggestions fall in each."""
    total = 0.0
    for b in range(bins):
        sel = [
            (g == p, c)
            for g, p, c in zip(run.gold, run.pred, run.conf)
            if b / bins <= c < (b + 1) / bins or (b == bins - 1 and c == 1.0)
        ]
        if sel:
            total += abs(sum(r for r, _ in sel) - sum(c for _, c in sel))
    return total / len(run.gold)


def _percentile(values: list[float], q: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, int(q * len(s)))] if s else float("nan")


def compare_sets(names: list[str], k: int) -> None:
    rows = []
    for name in names:
        ls = load_set(name)
        sizes = Counter(it.label for it in ls.items)
        splits = _splits([it.label for it in ls.items], k)
        lengths = sorted(len(it.title) + len(it.text) for it in ls.items)
        print(f"\n== {name}: {ls.what}")
        print(
            f"   {len(ls.items)} texts, {len(sizes)} classes ({min(sizes.values())}–"
            f"{max(sizes.values())} per class), median {lengths[len(lengths) // 2]} characters; "
            f"{k}-fold cross-validation"
        )
        base = run_baseline(ls, splits)
        ours = run_docsvc(ls, splits)
        print(
            f"   docsvc   accuracy {ours.accuracy:6.1%}   training {statistics.mean(ours.train_s):6.2f} s "
            f"per fold   suggestion p50 {_percentile(ours.latency_ms, 0.5):5.1f} ms  "
            f"p95 {_percentile(ours.latency_ms, 0.95):5.1f} ms"
        )
        if ours.first_pred:
            print(
                f"   at upload, before the vector is made (the words alone): accuracy "
                f"{accuracy(ours.gold, ours.first_pred):6.1%}   suggestion p50 "
                f"{_percentile(ours.first_latency_ms, 0.5):5.1f} ms  p95 {_percentile(ours.first_latency_ms, 0.95):5.1f} ms"
            )
        print(
            f"   baseline accuracy {base.accuracy:6.1%}   training {statistics.mean(base.train_s):6.2f} s "
            f"per fold   (char 1–3-gram TF-IDF + LinearSVC)"
        )
        sure = [g == p for g, p, c in zip(ours.gold, ours.pred, ours.conf) if c >= classify.REVIEW_THRESHOLD]
        print(
            f"   confidence ≥ {classify.REVIEW_THRESHOLD}: {len(sure)}/{len(ours.gold)} suggestions, "
            f"{(sum(sure) / len(sure)) if sure else float('nan'):.1%} right; bands: {calibration(ours)}"
        )
        print(
            "   most confused (gold → suggested, times): "
            + "; ".join(f"{g} → {p} ×{c}" for g, p, c in confused_pairs(ours))
        )
        rows.append(
            (
                name,
                len(ls.items),
                len(sizes),
                lengths[len(lengths) // 2],
                ours.accuracy,
                base.accuracy,
                _percentile(ours.latency_ms, 0.95),
            )
        )
    reading = f", reading meaning with {EMBEDDER.version}" if EMBEDDER is not None else ""
    print(f"\nclassify MODEL_VERSION {classify.MODEL_VERSION}{reading}, {k}-fold cross-validation")
    print(
        "| set | texts | classes | median length | docsvc | baseline | gain | p95 ms |\n"
        "|---|---|---|---|---|---|---|---|"
    )
    for name, n, c, median, a, b, p95 in rows:
        print(f"| {name} | {n:,} | {c} | {median} | {a:.1%} | {b:.1%} | {100 * (a - b):+.1f} | {p95:.1f} |")
    gains = [100 * (a - b) for *_, a, b, _ in rows]
    print(
        f"gain over the baseline: mean {statistics.mean(gains):+.2f}, least {min(gains):+.1f}, most {max(gains):+.1f}"
    )


# Settings --grid tries: each a set of module constants.
GRID: dict[str, dict[str, object]] = {
    "current": {},
    "meaning raw": {"MEANING_CENTRED": False},
    "unit ×0.5": {"MEANING_WEIGHTS": (0.0, 0.5)},
    "unit ×0.75": {"MEANING_WEIGHTS": (0.0, 0.75)},
    "unit ×1.5": {"MEANING_WEIGHTS": (0.0, 1.5)},
    "unit ×2.5": {"MEANING_WEIGHTS": (0.0, 2.5)},
    "unit 0/1/2": {"MEANING_WEIGHTS": (0.0, 1.0, 2.0)},
    "unit 0/1/1.5": {"MEANING_WEIGHTS": (0.0, 1.0, 1.5)},
    "idf only": {"WEIGHTINGS": (classify.Weighting(idf=True, c=0.5),)},
    "tf only": {"WEIGHTINGS": (classify.Weighting(idf=False, c=1.0),)},
    "idf C=1": {"WEIGHTINGS": (classify.Weighting(idf=True, c=1.0),)},
    "tf C=0.5": {"WEIGHTINGS": (classify.Weighting(idf=False, c=0.5),)},
    "words ×0.5": {"WORD_WEIGHT": 0.5},
    "words ×0.7": {"WORD_WEIGHT": 0.7},
    "chars 1–4": {"CHAR_NGRAMS": (1, 4)},
    "one fold": {"CALIBRATION_ROWS": 1},
    "three weightings": {
        "WEIGHTINGS": (
            classify.Weighting(idf=True, c=0.5),
            classify.Weighting(idf=False, c=1.0),
            classify.Weighting(idf=True, c=1.0),
        )
    },
}


def grid(names: list[str], k: int, settings: list[str]) -> None:
    sets = [load_set(n) for n in names]
    splits = {ls.name: _splits([it.label for it in ls.items], k) for ls in sets}
    base = {ls.name: run_baseline(ls, splits[ls.name]).accuracy for ls in sets}
    print(f"{'setting':14s}" + "".join(f"{n[:13]:>14s}" for n in names) + "   mean gain")
    print(f"{'baseline':14s}" + "".join(f"{base[n]:14.1%}" for n in names))
    for setting in settings:
        # Each constant is set in the module of the classifier package that reads it.
        where = {key: next(m for m in (classify.model, classify.features) if hasattr(m, key)) for key in GRID[setting]}
        saved = {key: getattr(where[key], key) for key in GRID[setting]}
        try:
            for key, value in GRID[setting].items():
                setattr(where[key], key, value)
            accs = {ls.name: run_docsvc(ls, splits[ls.name], timed=False).accuracy for ls in sets}
        finally:
            for key, value in saved.items():
                setattr(where[key], key, value)
        gain = statistics.mean(100 * (accs[n] - base[n]) for n in names)
        print(f"{setting:14s}" + "".join(f"{accs[n]:14.1%}" for n in names) + f"   {gain:+.2f}", flush=True)


# --- speed -----------------------------------------------------------------------------------


def timing_samples(n: int, *, median: int = 1500, seed: int = 3) -> Iterator[classify.LabeledSample]:
    """``n`` documents of 100–8,000 characters (``median``), both labels confirmed: word salad
    with a few of each doc type's and category's topic words, and a title naming the type
    with one of them."""
    from corpus import Vocabulary

    from docsvc.core.model import BUILTIN_DOC_TYPES, ServiceCategory

    vocab = Vocabulary.from_jieba()
    rng = random.Random(seed)
    types = [c.code for c in BUILTIN_DOC_TYPES]
    categories = [c.value for c in ServiceCategory]
    pool = vocab.band(rng, 0.3, 0.95, 40 * (len(types) + len(categories)))
    topic = {label: pool[i * 40 : (i + 1) * 40] for i, label in enumerate(types + categories)}
    for i in range(n):
        doc_type, category = rng.choice(types), rng.choice(categories)
        chars = int(min(8000, max(100, rng.lognormvariate(math.log(median), 0.8))))
        words = []
        size = 0
        while size < chars:
            r = rng.random()
            w = (
                rng.choice(topic[doc_type])
                if r < 0.01
                else rng.choice(topic[category])
                if r < 0.02
                else vocab.sample(rng, 1)[0]
            )
            words.append(w + ("。" if rng.random() < 0.08 else ""))
            size += len(words[-1])
        title = "".join(vocab.sample(rng, 2)) + rng.choice(topic[doc_type])
        yield classify.LabeledSample("".join(words), title, doc_type, category, key=str(i))


def timing(n: int, median: int) -> None:
    samples = list(timing_samples(n + 500, median=median))
    train, held = samples[:n], samples[n:]
    if EMBEDDER is not None:
        # The service keeps each content's vector, made in the background as it is indexed:
        # training reads them. Made here first, and timed apart.
        vectors = _meanings(f"timing-{n}-{median}", [s.text for s in train])
        train = [dataclasses.replace(s, meaning=v) for s, v in zip(train, vectors)]
    t0 = time.perf_counter()
    model = classify.train(train, embedder=EMBEDDER)
    took = time.perf_counter() - t0
    print(
        f"trained on {n} documents ({statistics.median(len(s.text) for s in train):.0f} "
        f"characters median) in {took:.1f} s"
    )
    for t in classify.TARGETS:
        tm = model.targets[t]
        if tm is not None:
            print(
                f"  {t}: {len(tm.classes)} classes, held-out accuracy {tm.held_out_accuracy:.1%}, "
                f"temperature {tm.temperature:.3f}, rule weight {tm.rule_weight}, "
                f"naive Bayes weight {tm.nb_weight}, meaning weight {tm.weighting.meaning}"
            )
    latencies = []
    right = Counter()
    for s in held:
        t0 = time.perf_counter()
        sug = classify.suggest(s.text, s.title, model=model, embedder=EMBEDDER)
        latencies.append((time.perf_counter() - t0) * 1000)
        right["doc_type"] += sug.doc_type.value == s.doc_type
        right["service_category"] += sug.service_category.value == s.service_category
    print(
        f"suggestion latency over {len(held)} documents: p50 {_percentile(latencies, 0.5):.1f} ms, "
        f"p95 {_percentile(latencies, 0.95):.1f} ms, max {max(latencies):.1f} ms"
        + (" (each text's meaning read too)" if EMBEDDER is not None else "")
        + "; accuracy "
        + ", ".join(f"{t} {c / len(held):.1%}" for t, c in right.items())
    )
    for chars in (20_000, 100_000):
        s = held[0]
        text = (s.text * (chars // len(s.text) + 1))[:chars]
        t0 = time.perf_counter()
        for _ in range(5):
            classify.suggest(text, s.title, model=model, embedder=EMBEDDER)
        print(f"a {chars:,}-character document: {(time.perf_counter() - t0) / 5 * 1000:.1f} ms")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--cv", type=int, metavar="K", help="k-fold cross-validation on the train split")
    ap.add_argument("--fit-temperature", action="store_true")
    ap.add_argument("--detail", action="store_true", help="per-class figures and misses")
    ap.add_argument(
        "--sets",
        nargs="?",
        const="all",
        metavar="NAMES",
        help="compare docsvc with the baseline on these sets (comma-separated; all)",
    )
    ap.add_argument(
        "--grid", nargs="?", const="all", metavar="SETTINGS", help=f"compare settings ({', '.join(GRID)}) on --sets"
    )
    ap.add_argument("--folds", type=int, default=5)
    ap.add_argument(
        "--timing",
        type=int,
        nargs="?",
        const=5000,
        metavar="N",
        help="train on N generated documents, measure suggestion latency",
    )
    ap.add_argument("--median-chars", type=int, default=1500, help="--timing: the documents' median length")
    ap.add_argument("--meaning", action="store_true", help="docsvc reads meaning with the embedding model too")
    args = ap.parse_args()
    if args.meaning:
        global EMBEDDER
        from docsvc.adapters.embed_e5 import E5Embedder

        EMBEDDER = E5Embedder()

    if args.sets or args.grid:
        names = [n for n in SETS if SETS[n][3]()] if args.sets in (None, "all") else args.sets.split(",")
        missing = [n for n in names if n not in SETS]
        if missing:
            sys.exit(f"unknown sets {missing}; known: {', '.join(SETS)}")
        absent = [n for n in names if not SETS[n][3]()]
        if absent:
            sys.exit(f"sets not on this machine: {absent} (the module docstring says where each comes from)")
        if args.grid:
            grid(names, args.folds, list(GRID) if args.grid == "all" else args.grid.split(","))
        else:
            compare_sets(names, args.folds)
        return
    if args.timing:
        timing(args.timing, args.median_chars)
        return

    docs = load_docs()
    train_docs = [d for d in docs if d.split == "train"]
    test_docs = [d for d in docs if d.split == "test"]
    if args.fit_temperature:
        fit_temperature(train_docs)
        return
    if args.cv:
        cross_validate(train_docs, args.cv, args.detail)
        return

    t0 = time.perf_counter()
    model = classify.train((d.sample() for d in train_docs), embedder=EMBEDDER)
    print(
        f"trained on {model.n_samples} documents in {time.perf_counter() - t0:.1f} s "
        f"(model {classify.MODEL_VERSION}, features {classify.FEATURES_VERSION})"
    )
    report("rules only, test split", test_docs, None, detail=args.detail)
    report("rules + model, test split", test_docs, model, detail=args.detail)
    untitled = [d.untitled() for d in test_docs]
    report("rules only, test split without title or heading", untitled, None, detail=args.detail)
    report("rules + model, test split without title or heading", untitled, model, detail=args.detail)


if __name__ == "__main__":
    main()
