#!/usr/bin/env python3
"""Verify a docsvc audit bundle without docsvc: standard library only, Python 3.8+.

    python verify_bundle.py BUNDLE.zip       # or, inside an unpacked bundle:  python verify_bundle.py

Checks, and prints OK or the first problems found (exit status 0 or 1):
1. every file listed in manifest.json exists and has the SHA-256 recorded there, and no other
   file is present;
2. every archived version's bytes match the SHA-256 the archive recorded for that version;
3. the audit entries: each entry's hash equals sha256(prev_hash + "\\n" + canonical JSON of its
   body), and entries with consecutive seq numbers link (prev_hash = previous hash). A bundle of
   a date range holds a contiguous segment, so a missing seq there is an error too;
4. receipt.json (the "exported" audit entry written when the bundle was made) is a well-formed
   entry whose details name this manifest's SHA-256. Compare that entry with the live audit log
   (docsvc audit log --action exported) to tie the bundle to the archive's chain.

校验 docsvc 审计包（仅需 Python 标准库）：文件哈希、版本内容哈希、审计链片段、导出回执。
"""

import hashlib
import json
import os
import sys
import zipfile

OUTSIDE_MANIFEST = {"manifest.json", "receipt.json"}


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


def verify(path):
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
                problems.append("审计记录 %s 与前一条不相连 / audit entry %s does not link to %s"
                                % (e["seq"], e["seq"], prev["seq"]))
            elif e["seq"] > prev["seq"] + 1 and manifest.get("audit", {}).get("contiguous"):
                problems.append("审计记录 %s 到 %s 之间缺失 / audit entries missing between %s and %s"
                                % (prev["seq"], e["seq"], prev["seq"], e["seq"]))
        prev = e
    expected = manifest.get("audit", {}).get("entries")
    if expected is not None and expected != len(entries):
        problems.append("审计记录条数不符 / audit entry count differs: manifest %s, found %s" % (expected, len(entries)))

    # 4. the receipt
    if "receipt.json" in names:
        receipt = json.loads(b.read("receipt.json").decode("utf-8"))
        if entry_hash(receipt) != receipt.get("hash"):
            problems.append("导出回执已被修改 / receipt.json was altered")
        if receipt.get("details", {}).get("manifest_sha256") != hashlib.sha256(manifest_bytes).hexdigest():
            problems.append("导出回执与清单不符 / receipt.json does not name this manifest")
    else:
        problems.append("导出回执缺失 / receipt.json is missing")
    return problems


def main(argv):
    path = argv[1] if len(argv) > 1 else os.path.dirname(os.path.abspath(__file__))
    try:
        problems = verify(path)
    except (OSError, ValueError, KeyError, zipfile.BadZipFile) as exc:
        problems = ["无法读取审计包 / cannot read the bundle: %s: %s" % (type(exc).__name__, exc)]
    if problems:
        print("校验失败 / FAILED")
        for p in problems:
            print("  - " + p)
        return 1
    print("校验通过 / OK")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
