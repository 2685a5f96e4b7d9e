"""Accuracy of docsvc.core.classify on the labelled set in tests/data/classify/.

    .venv/bin/python bench/eval_classify.py               # held-out test split (the figures)
    .venv/bin/python bench/eval_classify.py --cv 5        # k-fold on the TRAIN split only
    .venv/bin/python bench/eval_classify.py --fit-temperature

Rules and model settings are tuned with --cv and --fit-temperature, which never read the test
split; the default run reports on the test split: rules only, and rules + a model trained on
the train split.
"""

from __future__ import annotations

import argparse
import csv
import math
import sys
import time
from collections import Counter, defaultdict
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from docsvc.core import classify

DATA = ROOT / "tests" / "data" / "classify"


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
        return classify.LabeledSample(self.text, self.title, self.doc_type,
                                      self.service_category, key=self.filename)


def load_docs() -> list[Doc]:
    with (DATA / "labels.csv").open(encoding="utf-8", newline="") as f:
        return [Doc(r["filename"], r["title"], (DATA / r["filename"]).read_text(encoding="utf-8"),
                    r["doc_type"], r["service_category"], r["split"])
                for r in csv.DictReader(f)]


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
        out[target] = (gold, [l.value for l in labels], [l.confidence for l in labels])
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
        print(f"{target:17s} accuracy {acc:6.1%}   "
              f"confident (>= {classify.REVIEW_THRESHOLD}) {len(sure)}/{len(gold)} at {sure_acc:6.1%}")
        if detail:
            print(f"  {'label':18s} {'precision':>9s} {'recall':>7s} {'n':>3s}")
            for label, p, r, n in per_class(gold, pred):
                print(f"  {label:18s} {p:9.0%} {r:7.0%} {n:3d}")
    if detail:
        wrong = [(d.filename, t, g, p) for t, (gold, pred, _) in res.items()
                 for d, g, p in zip(docs, gold, pred) if g != p]
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
        model = classify.train(d.sample() for d in rest)
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
            zone, body = classify._zones(d.title, d.text[:classify.HEAD_CHARS])
            results.append((classify._rule_scores(target, zone, body), getattr(d, target)))
        best = None
        for t10 in range(5, 201, 5):
            t = t10 / 10
            loss = 0.0
            for res, gold in results:
                p = classify._softmax(res.scores, t).get(gold, 0.0)
                loss -= math.log(max(p, 1e-9))
            if best is None or loss < best[1]:
                best = (t, loss)
        print(f"{target}: temperature {best[0]} (log loss {best[1] / len(results):.3f})")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--cv", type=int, metavar="K", help="k-fold cross-validation on the train split")
    ap.add_argument("--fit-temperature", action="store_true")
    ap.add_argument("--detail", action="store_true", help="per-class figures and misses")
    args = ap.parse_args()

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
    model = classify.train(d.sample() for d in train_docs)
    print(f"trained on {model.n_samples} documents in {time.perf_counter() - t0:.1f} s "
          f"(model {classify.MODEL_VERSION}, features {classify.FEATURES_VERSION})")
    report("rules only, test split", test_docs, None, detail=args.detail)
    report("rules + model, test split", test_docs, model, detail=args.detail)
    untitled = [d.untitled() for d in test_docs]
    report("rules only, test split without title or heading", untitled, None, detail=args.detail)
    report("rules + model, test split without title or heading", untitled, model, detail=args.detail)


if __name__ == "__main__":
    main()
