"""The trained classifier is shared: kept as a blob and named in the catalog, so every server
suggests with the model that any server (or `docsvc labels train` on any machine) trained last."""

from __future__ import annotations

import pytest

from docsvc.app import open_docsvc
from docsvc.core import classify
from docsvc.errors import Corrupted
from tests.test_classify import TEST, TRAIN

# Every other labelled document: enough for both targets to be trained (MIN_TRAIN_SAMPLES, every
# label present), at a quarter of the training's cost. How well a model suggests is
# tests/test_classify.py's subject; here it is only which model each server uses.
LABELLED = TRAIN[::2]

pytestmark = pytest.mark.slow


def _fill(svc, docs) -> None:
    for d in docs:
        svc.archive.add_document(
            d.text.encode(),
            d.filename,
            {
                "title": d.title or d.filename,
                "doc_type": d.doc_type,
                "service_category": d.service_category,
                "doc_class": "user",
            },
            actor="张伟",
        )


@pytest.fixture
def servers(s3_config, tmp_path):
    a = open_docsvc(s3_config)
    b = open_docsvc({**s3_config, "ARCHIVE_DIR": str(tmp_path / "b-archive"), "INDEX_DIR": str(tmp_path / "b-index")})
    yield a, b
    a.close()
    b.close()


def test_a_model_trained_on_one_server_is_used_by_the_other(servers):
    a, b = servers
    _fill(a, LABELLED)
    assert b.classifier.model() is None  # nothing trained yet: rules only
    trained = a.classifier.train(actor="张伟")
    on_b = b.classifier.model()
    assert on_b is not None and on_b.labels_fingerprint == trained.labels_fingerprint
    for d in TEST[:5]:
        assert b.classifier.suggest(d.text, d.title) == a.classifier.suggest(d.text, d.title)
    current = a.catalog.current_model("classifier")
    assert current["trained_by"] == "张伟" and current["n_samples"] == trained.n_samples
    report = a.check()
    assert report.ok and report.problems == []  # the model's blob is referenced, not an orphan

    # Retrained after a change of labels: B follows, and the old model's blob becomes garbage.
    old_sha = current["sha256"]
    _fill(a, TEST[:3])
    retrained = a.classifier.train()
    assert b.classifier.model().labels_fingerprint == retrained.labels_fingerprint != trained.labels_fingerprint
    assert a.gc(grace_s=0) == [old_sha]
    assert b.classifier.model().labels_fingerprint == retrained.labels_fingerprint


def test_a_tampered_model_is_never_unpickled(servers, s3_server):
    a, b = servers
    _fill(a, LABELLED)
    a.classifier.train()
    sha = a.catalog.current_model("classifier")["sha256"]
    s3_server.client().put_object(Bucket=a.blobs.bucket, Key=a.blobs.key(sha), Body=b"docsvc-classifier\n{}\n!")
    with pytest.raises(Corrupted) as err:
        b.classifier.model()
    assert "docsvc labels train" in err.value.en and "docsvc labels train" in err.value.zh
    # The command the message names exists (it once named `docsvc classify train`, which does not).
    from click.testing import CliRunner

    from docsvc.cli import cli

    assert CliRunner().invoke(cli, ["labels", "train", "--help"]).exit_code == 0


def test_a_model_file_of_an_older_installation_is_shared_once(svc, config):
    _fill(svc, LABELLED)
    model = classify.train([d.sample() for d in LABELLED], embedder=None)
    legacy = svc.classifier.legacy_path
    legacy.parent.mkdir(parents=True, exist_ok=True)
    classify.save(model, legacy)
    fresh = open_docsvc(config)
    try:
        adopted = fresh.classifier.model()
        assert adopted is not None and adopted.labels_fingerprint == model.labels_fingerprint
        assert not legacy.exists()
        assert fresh.catalog.current_model("classifier")["trained_by"] == "legacy"
    finally:
        fresh.close()


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_an_archive_past_the_inline_limit_is_retrained_by_the_hourly_job(svc, monkeypatch):
    """A suggestion retrains on the spot only a small archive's model; past that, the hourly
    background job retrains a stale one (labels confirmed or corrected since, another version)."""
    from docsvc.services import background
    from docsvc.services import classify as service
    from docsvc.services.jobs import JobState

    monkeypatch.setattr(service, "INLINE_TRAIN_LIMIT", len(LABELLED) - 1)
    _fill(svc, LABELLED)
    assert svc.classifier.model(refresh=True) is None  # too many labels to train in a request
    svc.jobs.tick()
    (job,) = [j for j in iter(svc.jobs.run_next, None) if j.kind == background.CLASSIFIER_TRAIN]
    assert job.state is JobState.DONE and job.result == {"trained": True, "suggested_again": 0}
    model = svc.classifier.model(refresh=True)
    assert model is not None and model.n_samples == len(LABELLED) and model.targets["doc_type"] is not None
    assert svc.catalog.current_model("classifier")["trained_by"] == "docsvc"
    assert svc.classifier.retrain_if_stale() is False  # nothing changed since
    _fill(svc, TEST[:1])
    assert svc.classifier.model(refresh=True) is model  # still past the limit: kept as it is
    assert svc.classifier.retrain_if_stale() is True
    assert svc.classifier.model().n_samples == len(LABELLED) + 1


def test_too_few_labels_train_nothing_in_the_background(svc):
    _fill(svc, LABELLED[: classify.MIN_TRAIN_SAMPLES - 1])
    assert svc.classifier.retrain_if_stale() is False
    assert svc.catalog.current_model("classifier") is None
