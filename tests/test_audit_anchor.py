"""The audit chain anchored outside the catalog, and tampering reported, never crashed on.

An attacker here holds the catalog (SQL access on SQLite and PostgreSQL) and knows the README's
algorithm, but not the checkpoint signing key, which lives in a file outside the catalog; the
checkpoints are in a folder of their own. Actors and reasons are Chinese, as in real use."""

from __future__ import annotations

import datetime as dt
import json

import pytest
import sqlalchemy as sa
from click.testing import CliRunner

from docsvc.adapters.reports import AuditFilter
from docsvc.app import open_docsvc
from docsvc.cli import cli
from docsvc.core import audit
from docsvc.core.audit import ChainProblemKind as K
from docsvc.core.checkpoints import Signer, new_key_pem
from docsvc.errors import Corrupted, InvalidInput
from docsvc.services.anchoring import CHECKPOINT_JOB
from tests.conftest import add


@pytest.fixture
def anchored(config, tmp_path):
    """Settings with checkpoints on: a key file and a checkpoint folder, both outside the archive."""
    pem, _ = new_key_pem()
    (tmp_path / "keys").mkdir()
    (tmp_path / "keys" / "audit.pem").write_bytes(pem)
    return {
        **config,
        "AUDIT_KEY_FILE": str(tmp_path / "keys" / "audit.pem"),
        "AUDIT_CHECKPOINT_URL": f"file://{tmp_path / 'checkpoints'}",
    }


@pytest.fixture
def svc(anchored):
    s = open_docsvc(anchored)
    yield s
    s.close()


def grow(svc, versions: int) -> int:
    """A document with ``versions`` more versions by 李娜 with Chinese reasons (versions + 2 audit
    entries: the document's creation and its first version come first); its id."""
    doc = add(svc).document.id
    for i in range(versions):
        svc.archive.add_version(
            doc,
            f"第 {i + 2} 版：补充服务等级条款".encode(),
            "合同.txt",
            actor="李娜",
            reason=f"修订第 {i + 1} 次：客户要求调整响应时限",
        )
    return doc


def sql(svc, statement: str, **params) -> None:
    with svc.catalog.engine.begin() as conn:
        conn.execute(sa.text(statement), params)


def kinds(result) -> list[tuple[str, int | None]]:
    return [(p.kind.value, p.seq) for p in result.problems]


def rewrite_from(svc, seq: int, **changes) -> None:
    """What the README's algorithm lets a catalog writer do: change entry ``seq``, recompute every
    later hash and move the head, so the chain alone verifies."""
    entries = list(svc.catalog.audit_entries())
    prev = entries[seq - 2].hash if seq > 1 else audit.GENESIS
    with svc.catalog.engine.begin() as conn:
        for e in entries[seq - 1 :]:
            body = {**e.body(), **(changes if e.seq == seq else {})}
            new_hash = audit.entry_hash(prev, body)
            conn.execute(
                sa.text(
                    "UPDATE audit_log SET actor = :actor, details = :details, prev_hash = :prev, "
                    "hash = :hash WHERE seq = :seq"
                ),
                {
                    "actor": body["actor"],
                    "details": audit.canonical_json(body["details"]),
                    "prev": prev,
                    "hash": new_hash,
                    "seq": e.seq,
                },
            )
            prev = new_hash
        conn.execute(sa.text("UPDATE audit_head SET hash = :hash WHERE id = 1"), {"hash": prev})


# -- signed checkpoints -------------------------------------------------------------------------
def test_checkpoints_are_signed_written_once_and_verified(svc, anchored, tmp_path):
    grow(svc, 2)
    cp = svc.write_checkpoint()
    assert cp is not None and (cp.seq, cp.hash) == svc.catalog.audit_head()
    assert svc.write_checkpoint() is None  # the head has not moved: nothing new to sign
    stored = sorted((tmp_path / "checkpoints").iterdir())
    assert [p.name for p in stored] == [cp.name]
    assert cp.signed_by(Signer.from_file(anchored["AUDIT_KEY_FILE"]).public_key)
    result = svc.verify_audit()
    assert result.ok and result.anchor["latest"]["seq"] == cp.seq and result.anchor["entries_after_latest"] == 0
    grow(svc, 1)
    assert svc.verify_audit().anchor["entries_after_latest"] == 3


def test_truncating_the_tail_and_moving_the_head_back_is_caught(svc):
    grow(svc, 3)
    svc.write_checkpoint()  # at entry 5
    grow(svc, 1)
    svc.write_checkpoint()  # at entry 8
    # The README's "head record catches a truncated tail" holds only against someone who forgets
    # the head: this attacker moves it back, so the chain alone verifies.
    sql(svc, "DELETE FROM audit_log WHERE seq >= 6")
    sql(svc, "UPDATE audit_head SET seq = 5, hash = (SELECT hash FROM audit_log WHERE seq = 5) WHERE id = 1")
    assert audit.verify(svc.catalog.audit_rows(), svc.catalog.audit_head()).ok
    result = svc.verify_audit()
    assert not result.ok and kinds(result) == [("checkpoint_beyond", 8)]
    assert "截断" in result.problems[0].zh and "at entry 5" in result.problems[0].en


def test_editing_an_entry_and_recomputing_the_later_hashes_is_caught(svc):
    grow(svc, 2)  # entries 1-4
    svc.write_checkpoint()
    grow(svc, 2)  # 5-8
    svc.write_checkpoint()
    grow(svc, 2)  # 9-12
    svc.write_checkpoint()
    rewrite_from(svc, 6, actor="王五", details={"reason": "无"})
    assert audit.verify(svc.catalog.audit_rows(), svc.catalog.audit_head()).ok  # the chain alone says OK
    result = svc.verify_audit()
    assert kinds(result) == [("checkpoint_mismatch", 5)]  # between the checkpoint at 4 (still good) and 12
    assert "第 5–12 条" in result.problems[0].zh and "at entry 4" in result.problems[0].en


def test_a_checkpoint_is_never_signed_over_a_tampered_chain(svc):
    grow(svc, 2)
    svc.write_checkpoint()
    grow(svc, 1)
    rewrite_from(svc, 2, actor="黑客")
    with pytest.raises(Corrupted) as exc:
        svc.write_checkpoint()
    assert "不签署" in exc.value.zh and "no checkpoint signed" in exc.value.en
    assert [p.kind for p in svc.verify_audit().problems] == [K.CHECKPOINT_MISMATCH]


def test_a_forged_or_foreign_checkpoint_in_the_store_is_reported(svc, tmp_path):
    grow(svc, 1)
    svc.write_checkpoint()
    pem, _ = new_key_pem()
    (tmp_path / "other.pem").write_bytes(pem)
    forged = Signer.from_file(tmp_path / "other.pem").sign(5, "a" * 64, ts="2026-12-05T00:00:00+00:00", node="攻击者")
    (tmp_path / "checkpoints" / forged.name).write_bytes(forged.to_bytes())
    (tmp_path / "checkpoints" / f"{9:016d}-{'0' * 16}.json").write_text("不是检查点")
    result = svc.verify_audit()
    assert sorted(kinds(result)) == [("checkpoint_invalid", 5), ("checkpoint_invalid", 9)]
    assert result.anchor["latest"]["seq"] == 3 and result.anchor["latest"]["node"] != "攻击者"


def test_the_server_writes_checkpoints_periodically(svc):
    grow(svc, 1)
    assert CHECKPOINT_JOB in svc.jobs.periodic
    svc.jobs.tick()
    done = svc.jobs.run_next()
    while done is not None and done.kind != CHECKPOINT_JOB:
        done = svc.jobs.run_next()
    assert done is not None and done.result["written"] and done.result["seq"] == svc.catalog.audit_head()[0]


def test_audit_verify_and_check_exit_1_naming_the_entry(anchored, svc):
    grow(svc, 3)
    runner = CliRunner()
    env = {f"DOCSVC_{k}": str(v) for k, v in anchored.items()}
    out = runner.invoke(cli, ["--as", "审计员", "audit", "checkpoint"], env=env)
    assert out.exit_code == 0 and "已签署检查点" in out.output
    rewrite_from(svc, 2, actor="黑客")
    out = runner.invoke(cli, ["audit", "verify"], env=env)
    assert out.exit_code == 1 and "#1" in out.output and "改写" in out.output, out.output
    out = runner.invoke(cli, ["check", "--json"], env=env)
    assert out.exit_code == 1
    report = json.loads(out.output)
    assert [p["target"] for p in report["problems"] if p["kind"] == "audit_chain"] == ["1"]


def test_settings_must_name_both_the_key_and_the_store(config, tmp_path):
    with pytest.raises(InvalidInput) as exc:
        open_docsvc({**config, "AUDIT_CHECKPOINT_URL": f"file://{tmp_path / 'cps'}"})
    assert exc.value.field == "DOCSVC_AUDIT_KEY_FILE"
    (tmp_path / "not-a-key.pem").write_text("密钥")
    with pytest.raises(InvalidInput) as exc:
        open_docsvc(
            {
                **config,
                "AUDIT_CHECKPOINT_URL": f"file://{tmp_path / 'cps'}",
                "AUDIT_KEY_FILE": str(tmp_path / "not-a-key.pem"),
            }
        )
    assert "Ed25519" in exc.value.en
    with pytest.raises(InvalidInput):
        open_docsvc({**config, "AUDIT_CHECKPOINT_MINUTES": "7"})


def test_keygen_writes_a_private_key_once(tmp_path):
    runner = CliRunner()
    path = tmp_path / "签名密钥.pem"
    out = runner.invoke(cli, ["audit", "keygen", str(path), "--json"])
    assert out.exit_code == 0 and (path.stat().st_mode & 0o777) == 0o600
    assert Signer.from_file(path).public_key == json.loads(out.output)["public_key"]
    again = runner.invoke(cli, ["audit", "keygen", str(path)])
    assert again.exit_code == 2 and "未覆盖" in again.output


# -- tampering reported, never crashed on -------------------------------------------------------
@pytest.fixture
def plain(config):
    """No checkpoints: what the chain and the head alone can tell."""
    s = open_docsvc(config)
    grow(s, 4)  # entries 1-6
    yield s
    s.close()


def test_a_deleted_head_is_reported_and_writes_are_refused_cleanly(plain, config):
    sql(plain, "DELETE FROM audit_head")
    result = plain.verify_audit()
    assert kinds(result) == [("head_missing", 6)]
    with pytest.raises(Corrupted) as exc:
        plain.archive.add_version(1, "新版本".encode(), "合同.txt", actor="张伟", reason="补充")
    assert "链头记录缺失" in exc.value.zh and "refuses" in exc.value.en
    runner = CliRunner()
    env = {f"DOCSVC_{k}": str(v) for k, v in config.items()}
    out = runner.invoke(cli, ["audit", "verify"], env=env)
    assert out.exit_code == 1 and "#6" in out.output
    (config_file := plain.settings["ARCHIVE_DIR"] / "v.txt").write_text("新版本")
    out = runner.invoke(cli, ["--as", "张伟", "doc", "version", "1", str(config_file), "--reason", "补充条款"], env=env)
    assert out.exit_code == 3 and "Traceback" not in out.output and "审计日志已被篡改" in out.output
    assert plain.catalog.counts()["versions"] == 5  # nothing half-written


def test_a_head_moved_back_is_reported_and_writes_are_refused(plain):
    sql(plain, "UPDATE audit_head SET seq = 3, hash = (SELECT hash FROM audit_log WHERE seq = 3) WHERE id = 1")
    assert kinds(plain.verify_audit()) == [("head_mismatch", 4)]
    with pytest.raises(Corrupted):
        plain.archive.add_version(1, "新版本".encode(), "合同.txt", actor="张伟", reason="补充")
    sql(plain, "UPDATE audit_head SET seq = 6, hash = :h WHERE id = 1", h="e" * 64)
    assert kinds(plain.verify_audit()) == [("head_mismatch", 6)]
    with pytest.raises(Corrupted):
        plain.archive.add_version(1, "新版本".encode(), "合同.txt", actor="张伟", reason="补充")


def test_an_entry_past_the_head_makes_writes_refuse(plain):
    head_seq, head_hash = plain.catalog.audit_head()
    forged = audit.chain(
        head_seq,
        head_hash,
        ts="2026-12-05T00:00:00.000000+00:00",
        actor="黑客",
        action="version.viewed",
        document_id=1,
        version=1,
        details={},
    )
    sql(
        plain,
        "INSERT INTO audit_log (seq, ts, actor, action, document_id, version, details, prev_hash, hash) "
        "VALUES (:seq, :ts, :actor, :action, :document_id, :version, '{}', :prev_hash, :hash)",
        **{k: v for k, v in forged.to_dict().items() if k != "details"},
    )
    assert kinds(plain.verify_audit()) == [("head_mismatch", 7)]
    with pytest.raises(Corrupted) as exc:
        plain.archive.add_version(1, "新版本".encode(), "合同.txt", actor="张伟", reason="补充")
    assert "第 7 条审计记录已存在" in exc.value.zh


def test_every_problem_is_named_not_only_the_first(plain):
    sql(plain, "DELETE FROM audit_log WHERE seq = 2")
    sql(plain, "UPDATE audit_log SET details = '{不是 JSON' WHERE seq = 4")
    result = plain.verify_audit()
    assert kinds(result) == [("missing", 2), ("unreadable", 4)]
    assert "第 2 条审计记录缺失" in result.problems[0].zh and "Audit entry 4 cannot be read" in result.problems[1].en
    assert result.to_dict()["problems"][1]["seq"] == 4 and result.broken_seq == 2


def test_a_row_the_driver_cannot_decode_is_named(plain):
    if plain.catalog.is_sqlite:  # bytes that are not UTF-8: sqlite3 cannot even fetch the row
        sql(plain, "UPDATE audit_log SET actor = CAST(x'e5ff' AS TEXT) WHERE seq = 3")
    else:  # PostgreSQL stores only valid text: details that are JSON but not an object
        sql(plain, "UPDATE audit_log SET details = '[\"原因\"]' WHERE seq = 3")
    result = plain.verify_audit()
    assert kinds(result) == [("unreadable", 3)]
    assert not plain.check().ok


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_a_listing_that_meets_an_undecodable_row_names_the_damage(plain, config):
    """The audit log, in the CLI and on the page, stops at such a row with what to do, not with a
    driver's traceback or "unavailable, retry later"."""
    sql(plain, "UPDATE audit_log SET actor = CAST(x'e5ff' AS TEXT) WHERE seq = 3")
    with pytest.raises(Corrupted) as exc:
        list(plain.catalog.audit_entries())
    assert "docsvc audit verify" in exc.value.zh and "cannot be decoded" in exc.value.en
    admin = plain.guard(plain.users.principal_for_cli("root"))
    with pytest.raises(Corrupted):
        admin.audit_page(AuditFilter())
    env = {f"DOCSVC_{k}": str(v) for k, v in config.items()}
    out = CliRunner().invoke(cli, ["audit", "log"], env=env)
    assert out.exit_code == 3 and "无法解码" in out.output and "docsvc audit verify" in out.output
    assert "Traceback" not in out.output
    assert kinds(plain.verify_audit()) == [("unreadable", 3)]  # verify still walks past it


def test_gaps_duplicates_and_order_in_the_walk():
    """The walk itself, over entries as a damaged table could yield them."""
    entries, prev = [], audit.GENESIS
    for i in range(1, 7):
        e = audit.chain(
            i - 1,
            prev,
            ts=f"2026-12-05T00:00:0{i}.000000+00:00",
            actor="张三",
            action="version.viewed",
            document_id=1,
            version=1,
            details={"原因": "核对"},
        )
        entries.append(e)
        prev = e.hash
    head = (6, prev)
    assert audit.verify(entries, head).ok
    dup = entries[:3] + [entries[2]] + entries[3:]
    assert kinds(audit.verify(dup, head)) == [("duplicate", 3)]
    gap = entries[:2] + entries[4:]
    assert kinds(audit.verify(gap, head)) == [("missing", 3)]
    assert "3–4" in audit.verify(gap, head).problems[0].zh
    unreadable = entries[:2] + [audit.Unreadable(3, "ValueError")] + entries[3:]
    assert kinds(audit.verify(unreadable, head)) == [("unreadable", 3)]
    assert kinds(audit.verify(entries, None)) == [("head_missing", 6)]
    assert kinds(audit.verify(entries[:4], head)) == [("head_mismatch", 5)]


def test_the_api_answers_a_write_on_a_tampered_chain_with_a_clear_error(config):
    from docsvc.web.factory import create_app

    app = create_app({**config, "TESTING": True, "FSYNC": False})
    try:
        svc = app.extensions["docsvc"]
        svc.users.create_user("zhang", "manager", actor="setup", password="correct-horse-42", display_name="张伟")
        token = svc.users.issue_token("zhang", actor="setup").secret
        doc = add(svc).document.id
        sql(svc, "DELETE FROM audit_head")
        client = app.test_client()
        resp = client.patch(
            f"/api/v1/documents/{doc}",
            json={"metadata": {"status": "effective"}, "reason": "生效"},
            headers={"Authorization": f"Bearer {token}"},
        )
        assert resp.status_code == 500 and resp.json["error"]["code"] == "corrupted"
        assert "审计日志已被篡改" in resp.json["error"]["message"] and "tampered" in resp.json["error"]["message_en"]
        verify = client.get("/api/v1/audit/verify", headers={"Authorization": f"Bearer {token}"})
        assert verify.status_code == 200 and verify.json["problems"][0]["kind"] == "head_missing"
    finally:
        app.extensions["docsvc"].close()


def test_periodic_checkpoint_period_is_a_setting(anchored):
    s = open_docsvc({**anchored, "AUDIT_CHECKPOINT_MINUTES": "15"})
    try:
        assert s.jobs.periodic[CHECKPOINT_JOB].every == dt.timedelta(minutes=15)
    finally:
        s.close()


# -- signed audit bundles -----------------------------------------------------------------------
def _run_verifier(path, *args, site: bool = True):
    """The bundle's own verify_bundle.py in a separate, isolated interpreter (no docsvc; without
    ``site`` not even the cryptography package)."""
    import subprocess
    import sys
    import zipfile

    with zipfile.ZipFile(path) as zf:
        (path.parent / "verify_bundle.py").write_bytes(zf.read("verify_bundle.py"))
    flags = ["-I"] + ([] if site else ["-S"])
    return subprocess.run(
        [sys.executable, *flags, str(path.parent / "verify_bundle.py"), str(path), *args],
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.fixture
def signed_bundle(svc, tmp_path):
    from docsvc.services.export import BundleScope
    from tests.test_export import AUDITOR, bundle

    doc = grow(svc, 2)
    svc.write_checkpoint()  # a stored checkpoint at the document's last entry: shipped too
    data, summary = bundle(svc, BundleScope(document_id=doc), AUDITOR)
    path = tmp_path / summary.filename
    path.write_bytes(data)
    return path, svc.anchor.public_key


def test_a_bundle_carries_a_checkpoint_signed_at_its_receipt(svc, signed_bundle):
    import zipfile

    path, public_key = signed_bundle
    with zipfile.ZipFile(path) as zf:
        cp = json.loads(zf.read("checkpoint.json"))
        receipt = json.loads(zf.read("receipt.json"))
        stored = [n for n in zf.namelist() if n.startswith("checkpoints/")]
    assert (cp["seq"], cp["hash"]) == (receipt["seq"], receipt["hash"]) and len(stored) == 1
    assert svc.verify_audit().anchor["latest"]["seq"] == receipt["seq"]  # and it is in the store
    out = _run_verifier(path)
    assert out.returncode == 0 and "signature valid" in out.stdout and svc.anchor.key_id in out.stdout, out.stdout
    assert _run_verifier(path, "--public-key", public_key).returncode == 0
    _, stranger = new_key_pem()
    out = _run_verifier(path, "--public-key", stranger)
    assert out.returncode == 1 and "not signed by the expected public key" in out.stdout


def test_a_bundle_rewritten_with_recomputed_hashes_fails_its_signature(signed_bundle, tmp_path):
    """Everything a forger can recompute (the manifest, the receipt's hash), the signature still
    pins: checkpoint.json names the original receipt."""
    import hashlib
    import zipfile

    from tests.test_export import rewrite

    path, public_key = signed_bundle
    forged = tmp_path / "forged.zip"
    with zipfile.ZipFile(path) as zf:
        manifest = zf.read("manifest.json").replace("审计员小周".encode(), "别人".encode())
        receipt = json.loads(zf.read("receipt.json"))
    receipt["details"]["manifest_sha256"] = hashlib.sha256(manifest).hexdigest()
    receipt["hash"] = audit.entry_hash(
        receipt["prev_hash"],
        {k: receipt[k] for k in ("seq", "ts", "actor", "action", "document_id", "version", "details")},
    )
    rewrite(
        path,
        forged,
        lambda name, b: (
            manifest
            if name == "manifest.json"
            else (json.dumps(receipt, ensure_ascii=False).encode() if name == "receipt.json" else b)
        ),
    )
    out = _run_verifier(forged, "--public-key", public_key)
    assert out.returncode == 1 and "does not sign this receipt" in out.stdout, out.stdout


def test_without_the_cryptography_package_the_signature_is_not_passed_silently(signed_bundle):
    path, _ = signed_bundle
    out = _run_verifier(path, site=False)
    assert out.returncode == 1 and "pip install cryptography" in out.stdout, out.stdout


def test_checkpoints_in_an_s3_bucket(config, tmp_path, s3_server):
    """The same anchor with the checkpoints in a bucket (a moto S3 server on loopback): written
    once (a second write of a name keeps the first object), listed by seq, tampering caught."""
    pem, _ = new_key_pem()
    (tmp_path / "audit.pem").write_bytes(pem)
    bucket = s3_server.new_bucket()
    s = open_docsvc(
        {
            **config,
            "AUDIT_KEY_FILE": str(tmp_path / "audit.pem"),
            "AUDIT_CHECKPOINT_URL": f"s3://{bucket}/某公司/审计",
            "S3_ENDPOINT_URL": s3_server.endpoint,
        }
    )
    try:
        grow(s, 1)
        first = s.write_checkpoint()
        grow(s, 1)
        second = s.write_checkpoint()
        store = s.anchor.store
        assert store.names() == [first.name, second.name] and store.location.startswith(f"s3://{bucket}/某公司/审计/")
        store.put(first.name, b"{}")  # a name is never written twice
        assert store.read(first.name) == first.to_bytes()
        keys = [o["Key"] for o in s3_server.client().list_objects_v2(Bucket=bucket)["Contents"]]
        assert all(k.startswith("某公司/审计/checkpoints/") for k in keys)
        sql(s, "DELETE FROM audit_log WHERE seq > 3")
        sql(s, "UPDATE audit_head SET seq = 3, hash = (SELECT hash FROM audit_log WHERE seq = 3) WHERE id = 1")
        assert kinds(s.verify_audit()) == [("checkpoint_beyond", 6)]
    finally:
        s.close()


def test_the_log_is_still_listed_with_an_unreadable_row(plain, config):
    """Listing the log (CLI, API, the audit page) shows a hand-edited row as what it is."""
    sql(plain, "UPDATE audit_log SET details = '{不是 JSON' WHERE seq = 4")
    entry = list(plain.catalog.audit_entries())[3]
    assert entry.seq == 4 and entry.details == {"unreadable": "{不是 JSON"}
    out = CliRunner().invoke(
        cli, ["audit", "log", "--format", "json"], env={f"DOCSVC_{k}": str(v) for k, v in config.items()}
    )
    assert out.exit_code == 0 and "不是 JSON" in out.output
