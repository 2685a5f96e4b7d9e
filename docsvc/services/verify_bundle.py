#!/usr/bin/env python3
"""Verify a docsvc audit bundle without docsvc: Python 3.8+, standard library (plus the
``cryptography`` package for the signature of checkpoint.json, when the bundle has one).

    python verify_bundle.py BUNDLE.zip       # or, inside an unpacked bundle:  python verify_bundle.py
    python verify_bundle.py BUNDLE.zip --public-key HEX   # the key the operator gave you

Checks, and prints OK or the first problems found (exit status 0 or 1):
1. every file listed in manifest.json exists and has the SHA-256 recorded there, and no other
   file is present;
2. every archived version's bytes match the SHA-256 the archive recorded for that version;
3. the audit entries: each entry's hash equals sha256(prev_hash + "\\n" + canonical JSON of its
   body), and entries with consecutive seq numbers link (prev_hash = previous hash). A bundle of
   a date range holds a contiguous segment, so a missing seq there is an error too;
4. receipt.json (the "exported" audit entry written when the bundle was made) is a well-formed
   entry whose details name this manifest's SHA-256. Compare that entry with the live audit log
   (docsvc audit log --action exported) to tie the bundle to the archive's chain;
5. checkpoint.json (when the installation signs checkpoints): a valid Ed25519 signature, by the
   key given with --public-key (else the one the manifest names: then compare its fingerprint,
   printed, with the one the operator publishes), over the receipt's seq and hash. The signature
   covers the receipt, which names the manifest, which covers every file. Checkpoints in
   checkpoints/ are checked the same way against the entries of the bundle at their seq.

校验 docsvc 审计包（仅需 Python 标准库）：文件哈希、版本内容哈希、审计链片段、导出回执。
"""

import hashlib
import json
import os
import sys
import zipfile

OUTSIDE_MANIFEST = {"manifest.json", "receipt.json", "checkpoint.json"}
CHECKPOINT_FORMAT = "docsvc-audit-checkpoint/1"


def canonical_json(value):
    return json.dumps(value, sort_keys=True, ensure_ascii=False, separators=(",", ":"))


def entry_hash(entry):
    body = {k: entry[k] for k in ("seq", "ts", "actor", "action", "document_id", "version", "details")}
    return hashlib.sha256((entry["prev_hash"] + "\n" + canonical_json(body)).encode("utf-8")).hexdigest()


class Bundle:
    """A zip file or an unpacked folder, read the same way."""

    def __init__(self, path):
        self.zip = zipfile.ZipFile(path) if os.path.isfile(path) else None
        self.root = path

    def names(self):
        if self.zip:
            return {n for n in self.zip.namelist() if not n.endswith("/")}
        found = set()
        for folder, _dirs, files in os.walk(self.root):
            for f in files:
                rel = os.path.relpath(os.path.join(folder, f), self.root).replace(os.sep, "/")
                if "__pycache__" not in rel:
                    found.add(rel)
        return found

    def read(self, name):
        if self.zip:
            return self.zip.read(name)
        with open(os.path.join(self.root, *name.split("/")), "rb") as fh:
            return fh.read()


def checkpoint_problem(cp, public_key):
    """None when ``cp`` (a parsed checkpoint.json) is validly signed by ``public_key`` (hex)."""
    try:
        from cryptography.exceptions import InvalidSignature
        from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
    except ImportError:
        return (
            "无法校验检查点签名：请先安装 cryptography（pip install cryptography）/ cannot check the checkpoint "
            "signature: install the cryptography package (pip install cryptography)"
        )
    if not isinstance(cp, dict) or cp.get("format") != CHECKPOINT_FORMAT:
        return "不是检查点 / not a checkpoint"
    if cp.get("public_key") != public_key:
        return "不是由指定公钥签署 / not signed by the expected public key"
    body = {k: cp.get(k) for k in ("format", "seq", "hash", "ts", "node", "public_key")}
    try:
        Ed25519PublicKey.from_public_bytes(bytes.fromhex(public_key)).verify(
            bytes.fromhex(cp.get("signature", "")), canonical_json(body).encode("utf-8")
        )
    except (InvalidSignature, ValueError, TypeError):
        return "签名无效 / invalid signature"
    return None


def key_id(public_key):
    return hashlib.sha256(bytes.fromhex(public_key)).hexdigest()[:16]


def verify(path, public_key=None, notes=None):
    notes = [] if notes is None else notes
    problems = []
    b = Bundle(path)
    names = b.names()
    if "manifest.json" not in names:
        return ["manifest.json 缺失 / manifest.json is missing"]
    manifest_bytes = b.read("manifest.json")
    manifest = json.loads(manifest_bytes.decode("utf-8"))
    listed = {f["path"]: f for f in manifest["files"]}

    # 1. files against the manifest
    for name, f in sorted(listed.items()):
        if name not in names:
            problems.append("文件缺失 / missing file: " + name)
            continue
        actual = hashlib.sha256(b.read(name)).hexdigest()
        if actual != f["sha256"]:
            problems.append("文件哈希不符 / hash mismatch: %s (manifest %s, actual %s)" % (name, f["sha256"], actual))
    for name in sorted(names - set(listed) - OUTSIDE_MANIFEST):
        problems.append("清单外的文件 / file not in the manifest: " + name)

    # 2. version bytes against the archive's recorded hashes
    for doc in manifest.get("documents", []):
        for v in doc["versions"]:
            if v["path"] in names and hashlib.sha256(b.read(v["path"])).hexdigest() != v["sha256"]:
                problems.append("版本内容与归档哈希不符 / version bytes do not match the archive's hash: " + v["path"])

    # 3. the audit segment
    entries = []
    if "audit/entries.jsonl" in names:
        for line in b.read("audit/entries.jsonl").decode("utf-8").splitlines():
            if line.strip():
                entries.append(json.loads(line))
    prev = None
    for e in entries:
        if entry_hash(e) != e["hash"]:
            problems.append("审计记录 %s 已被修改 / audit entry %s was altered (hash mismatch)" % (e["seq"], e["seq"]))
        if prev is not None:
            if e["seq"] <= prev["seq"]:
                problems.append("审计记录顺序错乱 / audit entries out of order at seq %s" % e["seq"])
            elif e["seq"] == prev["seq"] + 1 and e["prev_hash"] != prev["hash"]:
                problems.append(
                    "审计记录 %s 与前一条不相连 / audit entry %s does not link to %s"
                    % (e["seq"], e["seq"], prev["seq"])
                )
            elif e["seq"] > prev["seq"] + 1 and manifest.get("audit", {}).get("contiguous"):
                problems.append(
                    "审计记录 %s 到 %s 之间缺失 / audit entries missing between %s and %s"
                    % (prev["seq"], e["seq"], prev["seq"], e["seq"])
                )
        prev = e
    expected = manifest.get("audit", {}).get("entries")
    if expected is not None and expected != len(entries):
        problems.append(
            "审计记录条数不符 / audit entry count differs: manifest %s, found %s" % (expected, len(entries))
        )

    # 4. the receipt
    receipt = None
    if "receipt.json" in names:
        receipt = json.loads(b.read("receipt.json").decode("utf-8"))
        if entry_hash(receipt) != receipt.get("hash"):
            problems.append("导出回执已被修改 / receipt.json was altered")
        if receipt.get("details", {}).get("manifest_sha256") != hashlib.sha256(manifest_bytes).hexdigest():
            problems.append("导出回执与清单不符 / receipt.json does not name this manifest")
    else:
        problems.append("导出回执缺失 / receipt.json is missing")

    # 5. the signed checkpoints
    anchor = manifest.get("anchor")
    key = public_key or (anchor or {}).get("public_key")
    if anchor is None and "checkpoint.json" not in names:
        if public_key:
            problems.append("审计包没有签名检查点 / the bundle has no signed checkpoint (checkpoint.json)")
        else:
            notes.append(
                "未签名：安装未开启审计检查点，审计包仅由哈希校验 / not signed: the installation does not "
                "sign audit checkpoints, so the bundle is checked by its hashes only"
            )
        return problems
    if "checkpoint.json" not in names:
        problems.append("签名检查点缺失 / checkpoint.json is missing")
        return problems
    if public_key and anchor and anchor.get("public_key") != public_key:
        problems.append("清单中的公钥与指定公钥不同 / the manifest names another public key than the one given")
    cp = json.loads(b.read("checkpoint.json").decode("utf-8"))
    why = checkpoint_problem(cp, key)
    if why:
        problems.append("签名检查点未通过 / checkpoint.json: " + why)
    elif receipt is not None and (cp.get("seq"), cp.get("hash")) != (receipt.get("seq"), receipt.get("hash")):
        problems.append("签名检查点与导出回执不符 / checkpoint.json does not sign this receipt")
    by_seq = {e["seq"]: e for e in entries}
    for name in sorted(n for n in names if n.startswith("checkpoints/")):
        other = json.loads(b.read(name).decode("utf-8"))
        why = checkpoint_problem(other, key)
        entry = by_seq.get(other.get("seq") if isinstance(other, dict) else None)
        if why:
            problems.append("检查点 %s 未通过 / checkpoint %s: %s" % (name, name, why))
        elif entry is not None and entry["hash"] != other.get("hash"):
            problems.append(
                "审计记录 %s 与签名检查点不符 / audit entry %s differs from the signed checkpoint %s"
                % (other["seq"], other["seq"], name)
            )
    if not problems:
        notes.append(
            "签名有效：公钥指纹 %s%s / signature valid: public key fingerprint %s%s"
            % (
                key_id(key),
                "（已核对指定公钥）" if public_key else "（请与运营方公布的指纹核对）",
                key_id(key),
                " (the key you gave)" if public_key else " (compare it with the one the operator publishes)",
            )
        )
    return problems


def main(argv):
    args = list(argv[1:])
    public_key = None
    if "--public-key" in args:
        i = args.index("--public-key")
        if i + 1 >= len(args):
            print("用法 / usage: verify_bundle.py [BUNDLE] [--public-key HEX]")
            return 2
        public_key = args[i + 1].strip().lower()
        del args[i : i + 2]
    path = args[0] if args else os.path.dirname(os.path.abspath(__file__))
    notes = []  # type: list[str]
    try:
        problems = verify(path, public_key, notes)
    except (OSError, ValueError, KeyError, TypeError, zipfile.BadZipFile) as exc:
        problems = ["无法读取审计包 / cannot read the bundle: %s: %s" % (type(exc).__name__, exc)]
    if problems:
        print("校验失败 / FAILED")
        for p in problems:
            print("  - " + p)
        return 1
    print("校验通过 / OK")
    for n in notes:
        print("  " + n)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
